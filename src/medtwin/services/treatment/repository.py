"""Persistence of treatment fits and runs (tables of store migration 8), SQLite and PostgreSQL.

* ``treatment_fits``: one row per personalisation of a twin for a drug (``drug`` is ``insulin`` for
  the glucose twin). The newest is ``current``; adding one marks the earlier ones ``superseded``
  in the same transaction, so the history of how the twin evolved is kept. ``record`` is JSON:
  the estimate and its covariance, the covariates, the doses and levels used (with their store
  ids), the model and library versions, what triggered the fit and who.
* ``treatment_runs``: a simulation or regimen comparison with its inputs and outputs, and the
  regimen a clinician then picked (``selected``, ``selected_by``, ``selected_us``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.core.ids import new_id
from medtwin.store.sql import SqlStore

_FIT_COLS = "id, twin_id, drug, model, status, confidence, created_us, record"
_RUN_COLS = "id, twin_id, kind, drug, fit_id, actor, created_us, record, selected, selected_by, selected_us"


def _fit_row(r: Any) -> dict[str, Any]:
    return {
        "id": r[0],
        "twin_id": r[1],
        "drug": r[2],
        "model": r[3],
        "status": r[4],
        "confidence": r[5],
        "created": from_us(int(r[6])).isoformat(),
        **json.loads(r[7]),
    }


def _run_row(r: Any) -> dict[str, Any]:
    return {
        "id": r[0],
        "twin_id": r[1],
        "kind": r[2],
        "drug": r[3],
        "fit_id": r[4],
        "actor": r[5],
        "created": from_us(int(r[6])).isoformat(),
        **json.loads(r[7]),
        "selected": None if r[8] is None else json.loads(r[8]),
        "selected_by": r[9],
        "selected_at": None if r[10] is None else from_us(int(r[10])).isoformat(),
    }


class TreatmentRepository:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ fits
    def add_fit(
        self, twin_id: str, drug: str, model: str, record: dict[str, Any], *, confidence: str, when: datetime
    ) -> dict[str, Any]:
        fid = new_id()
        with self.store.transaction() as c:
            c.execute(
                text(
                    "UPDATE treatment_fits SET status = 'superseded' "
                    "WHERE twin_id = :t AND drug = :d AND status = 'current'"
                ),
                {"t": twin_id, "d": drug},
            )
            c.execute(
                text(
                    f"INSERT INTO treatment_fits ({_FIT_COLS}) "
                    "VALUES (:id, :t, :d, :m, 'current', :c, :u, :r)"
                ),
                {
                    "id": fid,
                    "t": twin_id,
                    "d": drug,
                    "m": model,
                    "c": confidence,
                    "u": to_us(when),
                    "r": json.dumps(record),
                },
            )
        return self.get_fit(fid)

    def get_fit(self, fit_id: str) -> dict[str, Any]:
        with self.store.engine.connect() as c:
            r = c.execute(
                text(f"SELECT {_FIT_COLS} FROM treatment_fits WHERE id = :i"), {"i": fit_id}
            ).first()
        if r is None:
            raise NotFoundError(f"no fit {fit_id!r}", field="fit_id")
        return _fit_row(r)

    def current_fit(self, twin_id: str, drug: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as c:
            r = c.execute(
                text(
                    f"SELECT {_FIT_COLS} FROM treatment_fits WHERE twin_id = :t AND drug = :d "
                    "AND status = 'current' ORDER BY created_us DESC LIMIT 1"
                ),
                {"t": twin_id, "d": drug},
            ).first()
        return None if r is None else _fit_row(r)

    def fits(self, twin_id: str, drug: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        where, params = "twin_id = :t", {"t": twin_id, "n": limit}
        if drug is not None:
            where += " AND drug = :d"
            params["d"] = drug
        with self.store.engine.connect() as c:
            rows = c.execute(
                text(
                    f"SELECT {_FIT_COLS} FROM treatment_fits WHERE {where} ORDER BY created_us DESC LIMIT :n"
                ),
                params,
            ).all()
        return [_fit_row(r) for r in rows]

    def drugs_with_fits(self, twin_id: str) -> list[str]:
        with self.store.engine.connect() as c:
            rows = c.execute(
                text("SELECT DISTINCT drug FROM treatment_fits WHERE twin_id = :t AND status = 'current'"),
                {"t": twin_id},
            ).all()
        return sorted(str(r[0]) for r in rows)

    # ------------------------------------------------------------------ runs
    def add_run(
        self,
        *,
        twin_id: str | None,
        kind: str,
        drug: str,
        fit_id: str | None,
        actor: str,
        record: dict[str, Any],
        when: datetime,
    ) -> dict[str, Any]:
        rid = new_id()
        with self.store.transaction() as c:
            c.execute(
                text(
                    f"INSERT INTO treatment_runs ({_RUN_COLS}) "
                    "VALUES (:id, :t, :k, :d, :f, :a, :u, :r, NULL, NULL, NULL)"
                ),
                {
                    "id": rid,
                    "t": twin_id,
                    "k": kind,
                    "d": drug,
                    "f": fit_id,
                    "a": actor,
                    "u": to_us(when),
                    "r": json.dumps(record),
                },
            )
        return self.get_run(rid)

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.store.engine.connect() as c:
            r = c.execute(
                text(f"SELECT {_RUN_COLS} FROM treatment_runs WHERE id = :i"), {"i": run_id}
            ).first()
        if r is None:
            raise NotFoundError(f"no treatment run {run_id!r}", field="run_id")
        return _run_row(r)

    def runs(self, twin_id: str, limit: int = 20) -> list[dict[str, Any]]:
        with self.store.engine.connect() as c:
            rows = c.execute(
                text(
                    f"SELECT {_RUN_COLS} FROM treatment_runs WHERE twin_id = :t ORDER BY created_us DESC LIMIT :n"
                ),
                {"t": twin_id, "n": limit},
            ).all()
        return [_run_row(r) for r in rows]

    def select(self, run_id: str, label: str, by: str, when: datetime) -> dict[str, Any]:
        run = self.get_run(run_id)
        results = run.get("output", {}).get("results", [])
        chosen = next((r for r in results if r.get("label") == label), None)
        if chosen is None:
            raise ValidationError(f"run {run_id} has no regimen {label!r}", field="label")
        pick = {
            "label": label,
            "rank": chosen.get("rank"),
            "regimen": chosen.get("doses") or chosen.get("regimen"),
        }
        with self.store.transaction() as c:
            c.execute(
                text(
                    "UPDATE treatment_runs SET selected = :s, selected_by = :b, selected_us = :u WHERE id = :i"
                ),
                {"s": json.dumps(pick), "b": by, "u": to_us(when), "i": run_id},
            )
        return self.get_run(run_id)
