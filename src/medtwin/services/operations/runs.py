"""Stored operations runs (table ``flow_runs``, store migration 9): an analysis or a what-if
simulation with its inputs (log file name, parameters), who ran it, a small summary for lists,
and the full result. Case ids are never part of a result, so a run holds no patient data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from medtwin import __version__
from medtwin.core.errors import NotFoundError


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat()


def summarise(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    if kind == "analysis":
        s = result["summary"]
        w = result.get("walking") or {}
        return {
            "events": s["events"],
            "cases": s["cases"],
            "first": s["first"],
            "last": s["last"],
            "worst": [b["activity"] for b in result["bottlenecks"][:3]],
            "metres_per_journey": w.get("metres_per_journey_mean"),
        }
    return {
        "plans": [p["name"] for p in result.get("plans", [])],
        "validation": f"{result['validation']['passed']}/{result['validation']['total']}",
        "replications": result["settings"]["replications"],
    }


class RunStore:
    def __init__(self, store: Any) -> None:
        self.store = store

    def save(
        self, kind: str, log: str, params: dict[str, Any], result: dict[str, Any], actor: str = ""
    ) -> str:
        rid = uuid.uuid4().hex[:16]
        now = int(datetime.now(UTC).timestamp() * 1e6)
        with self.store.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO flow_runs (id, kind, log, actor, created_us, version, params, summary, result) "
                    "VALUES (:id, :k, :log, :a, :t, :v, :p, :s, :r)"
                ),
                {
                    "id": rid,
                    "k": kind,
                    "log": log,
                    "a": actor,
                    "t": now,
                    "v": __version__,
                    "p": json.dumps(params, default=str),
                    "s": json.dumps(summarise(kind, result), default=str),
                    "r": json.dumps(result, default=str),
                },
            )
        return rid

    def list(self, kind: str | None = None, log: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = "SELECT id, kind, log, actor, created_us, version, params, summary FROM flow_runs WHERE 1 = 1"
        args: dict[str, Any] = {"n": limit}
        if kind:
            q += " AND kind = :k"
            args["k"] = kind
        if log:
            q += " AND log = :log"
            args["log"] = log
        q += " ORDER BY created_us DESC LIMIT :n"
        with self.store.engine.connect() as c:
            rows = c.execute(text(q), args).fetchall()
        return [
            {
                "id": r[0],
                "kind": r[1],
                "log": r[2],
                "actor": r[3],
                "created": _iso(r[4]),
                "version": r[5],
                "params": json.loads(r[6]),
                "summary": json.loads(r[7]),
            }
            for r in rows
        ]

    def get(self, rid: str) -> dict[str, Any]:
        with self.store.engine.connect() as c:
            r = c.execute(
                text(
                    "SELECT id, kind, log, actor, created_us, version, params, result FROM flow_runs WHERE id = :id"
                ),
                {"id": rid},
            ).fetchone()
        if r is None:
            raise NotFoundError(f"no operations run {rid!r}", field="run_id")
        return {
            "id": r[0],
            "kind": r[1],
            "log": r[2],
            "actor": r[3],
            "created": _iso(r[4]),
            "version": r[5],
            "params": json.loads(r[6]),
            "result": json.loads(r[7]),
        }
