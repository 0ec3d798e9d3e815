"""Persistence of training cases, sessions, actions and scores (store migration 12), SQLite and
PostgreSQL. Records are JSON; the columns beside them are what lists filter and sort on.

* ``training_cases``: the case (de-identified; its identifier guard is a list of keyed HMACs);
* ``training_sessions``: one trainee working one case (clock, disclosed stages, submission);
* ``training_actions``: append-only, time-stamped (simulated minute and wall time) events of a
  session: reveals, treatments, orders, clock changes, the submitted diagnosis;
* ``training_scores``: the score of a submitted session (recomputable from its actions).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.core.errors import NotFoundError
from medtwin.core.ids import new_id
from medtwin.store.sql import SqlStore


def _iso(us: int) -> str:
    return from_us(int(us)).isoformat()


class TrainingRepository:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ cases
    def add_case(self, case: dict[str, Any], *, actor: str, when: datetime) -> dict[str, Any]:
        cid = case.get("id") or new_id("case-")
        case = {**case, "id": cid}
        with self.store.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO training_cases (id, title, condition, specialty, difficulty, status, source, "
                    "created_by, created_us, updated_us, record) VALUES (:i, :t, :c, :s, :d, :st, :src, :by, :u, :u, :r)"
                ),
                {"i": cid, "t": case["title"], "c": case["condition"], "s": case.get("specialty", ""),
                 "d": case.get("difficulty", ""), "st": case.get("status", "draft"),
                 "src": case.get("source", {}).get("pseudonym", ""), "by": actor, "u": to_us(when),
                 "r": json.dumps(case)},
            )  # fmt: skip
        return self.get_case(cid)

    def update_case(self, case: dict[str, Any], *, when: datetime) -> dict[str, Any]:
        with self.store.transaction() as c:
            n = c.execute(
                text(
                    "UPDATE training_cases SET title = :t, specialty = :s, difficulty = :d, status = :st, "
                    "updated_us = :u, record = :r WHERE id = :i"
                ),
                {"i": case["id"], "t": case["title"], "s": case.get("specialty", ""), "d": case.get("difficulty", ""),
                 "st": case.get("status", "draft"), "u": to_us(when), "r": json.dumps(case)},
            ).rowcount  # fmt: skip
        if not n:
            raise NotFoundError(f"no case {case['id']!r}", field="case_id")
        return self.get_case(case["id"])

    def get_case(self, case_id: str) -> dict[str, Any]:
        with self.store.engine.connect() as c:
            r = c.execute(
                text("SELECT record, created_by, created_us, updated_us FROM training_cases WHERE id = :i"),
                {"i": case_id},
            ).first()
        if r is None:
            raise NotFoundError(f"no case {case_id!r}", field="case_id")
        return {**json.loads(r[0]), "created_by": r[1], "created": _iso(r[2]), "updated": _iso(r[3])}

    def cases(self, *, status: str | None = None, condition: str | None = None) -> list[dict[str, Any]]:
        where, params = ["1 = 1"], {}
        if status:
            where.append("status = :st")
            params["st"] = status
        if condition:
            where.append("condition = :c")
            params["c"] = condition
        q = f"SELECT record, created_by, created_us, updated_us FROM training_cases WHERE {' AND '.join(where)} ORDER BY updated_us DESC"
        with self.store.engine.connect() as c:
            rows = c.execute(text(q), params).all()
        return [
            {**json.loads(r[0]), "created_by": r[1], "created": _iso(r[2]), "updated": _iso(r[3])}
            for r in rows
        ]

    def case_by_source(self, pseudonym: str) -> list[str]:
        with self.store.engine.connect() as c:
            return [
                r[0]
                for r in c.execute(text("SELECT id FROM training_cases WHERE source = :s"), {"s": pseudonym})
            ]

    # ------------------------------------------------------------------ sessions
    def add_session(self, session: dict[str, Any], *, when: datetime) -> dict[str, Any]:
        sid = new_id("ses-")
        session = {**session, "id": sid}
        with self.store.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO training_sessions (id, case_id, trainee, status, created_us, updated_us, record) "
                    "VALUES (:i, :c, :t, :s, :u, :u, :r)"
                ),
                {"i": sid, "c": session["case_id"], "t": session["trainee"], "s": session["status"],
                 "u": to_us(when), "r": json.dumps(session)},
            )  # fmt: skip
        return self.get_session(sid)

    def save_session(self, session: dict[str, Any], *, when: datetime) -> None:
        with self.store.transaction() as c:
            c.execute(
                text("UPDATE training_sessions SET status = :s, updated_us = :u, record = :r WHERE id = :i"),
                {"i": session["id"], "s": session["status"], "u": to_us(when), "r": json.dumps(session)},
            )

    def get_session(self, session_id: str) -> dict[str, Any]:
        with self.store.engine.connect() as c:
            r = c.execute(
                text("SELECT record, created_us, updated_us FROM training_sessions WHERE id = :i"),
                {"i": session_id},
            ).first()
        if r is None:
            raise NotFoundError(f"no session {session_id!r}", field="session_id")
        return {**json.loads(r[0]), "created": _iso(r[1]), "updated": _iso(r[2])}

    def sessions(
        self, *, trainee: str | None = None, case_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        where, params = ["1 = 1"], {}
        for col, v in (("trainee", trainee), ("case_id", case_id), ("status", status)):
            if v:
                where.append(f"{col} = :{col}")
                params[col] = v
        q = f"SELECT record, created_us, updated_us FROM training_sessions WHERE {' AND '.join(where)} ORDER BY created_us DESC"
        with self.store.engine.connect() as c:
            rows = c.execute(text(q), params).all()
        return [{**json.loads(r[0]), "created": _iso(r[1]), "updated": _iso(r[2])} for r in rows]

    # ------------------------------------------------------------------ actions
    def add_action(
        self, session_id: str, t_sim: float, kind: str, payload: dict[str, Any], *, when: datetime
    ) -> None:
        with self.store.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO training_actions (session_id, t_sim, wall_us, kind, payload) VALUES (:s, :t, :w, :k, :p)"
                ),
                {"s": session_id, "t": float(t_sim), "w": to_us(when), "k": kind, "p": json.dumps(payload)},
            )

    def actions(self, session_id: str) -> list[dict[str, Any]]:
        with self.store.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT id, t_sim, wall_us, kind, payload FROM training_actions WHERE session_id = :s ORDER BY id"
                ),
                {"s": session_id},
            ).all()
        return [
            {"seq": r[0], "t": float(r[1]), "wall": _iso(r[2]), "kind": r[3], **json.loads(r[4])}
            for r in rows
        ]

    # ------------------------------------------------------------------ scores
    def put_score(self, session: dict[str, Any], score: dict[str, Any], *, when: datetime) -> None:
        params = {"s": session["id"], "c": session["case_id"], "t": session["trainee"],
                  "v": float(score["total"]), "u": to_us(when), "r": json.dumps(score)}  # fmt: skip
        with self.store.transaction() as c:
            c.execute(text("DELETE FROM training_scores WHERE session_id = :s"), {"s": session["id"]})
            c.execute(
                text(
                    "INSERT INTO training_scores (session_id, case_id, trainee, total, created_us, record) "
                    "VALUES (:s, :c, :t, :v, :u, :r)"
                ),
                params,
            )

    def scores(self, case_id: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT session_id, case_id, trainee, total, created_us, record FROM training_scores"
        params = {}
        if case_id:
            q += " WHERE case_id = :c"
            params["c"] = case_id
        with self.store.engine.connect() as c:
            rows = c.execute(text(q + " ORDER BY created_us"), params).all()
        return [
            {"session_id": r[0], "case_id": r[1], "trainee": r[2], "total": float(r[3]), "created": _iso(r[4]),
             **json.loads(r[5])}
            for r in rows
        ]  # fmt: skip
