"""Corrections of stored observations: amend or mark entered-in-error, never overwrite.

Status semantics follow FHIR R4 ``Observation.status`` (hl7.org/fhir/R4/valueset-observation-status):
*amended* -- "subsequent to being final, the observation has been modified"; *entered-in-error*
-- "the observation has been withdrawn following previous final release".

How a correction is stored (one transaction, under the store's write lock):

* the original row keeps its value, unit, time, source and meta; only its ``status`` becomes
  ``entered-in-error``, which is what hides it from history, series and latest state (the store
  filters that status everywhere). Its status before the correction is kept in
  ``observation_corrections.previous_status``, so the original is fully recoverable and
  readable with ``include_errors=true``;
* **amend** inserts a *new* row with the corrected value: same twin, code and effective time as
  the original, status ``amended``, source ``user:<by>``, source_id ``correction/<original id>``
  and ``meta = {"replaces": <original id>, "reason", "by"}``;
* **entered-in-error** inserts no new measurement;
* ``observation_corrections`` records who, why, when, the action and the replacement's id
  (one correction per observation: to correct a correction, amend the replacement);
* the ``latest`` row of that twin and code is recomputed from the rows still valid (newest time,
  then newest id), so the latest state shows the corrected value, or the previous reading once
  the newest one is withdrawn, or nothing when no valid reading is left.

The caller (the charting service) validates the new value and publishes the bus events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.core.errors import ConflictError, NotFoundError, ValidationError
from medtwin.core.model import Method, Observation, ObsStatus
from medtwin.security.codec import unseal_opt
from medtwin.store import pg_write
from medtwin.store.sealing import SEALED_CODES
from medtwin.store.sql import OBS_COLUMNS, OBS_SELECT, SqlStore, row_to_obs

AMENDED = "amended"
ENTERED_IN_ERROR = "entered-in-error"
_COLS = "id, obs_id, action, new_obs_id, performer, reason, previous_status, t_us"


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    obs_id: int
    action: str  # "amended" | "entered-in-error"
    new_obs_id: int | None
    by: str
    reason: str
    previous_status: str
    time: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "obs_id": self.obs_id,
            "action": self.action,
            "new_obs_id": self.new_obs_id,
            "by": self.by,
            "reason": self.reason,
            "previous_status": self.previous_status,
            "time": self.time.isoformat().replace("+00:00", "Z"),
        }


def _row_to_correction(r: Any) -> Correction:
    return Correction(
        id=int(r[0]),
        obs_id=int(r[1]),
        action=r[2],
        new_obs_id=None if r[3] is None else int(r[3]),
        by=r[4],
        reason=unseal_opt(r[5], "observation_corrections", "reason", f"obs/{int(r[1])}") or "",
        previous_status=r[6],
        time=from_us(int(r[7])),
    )


def amend(
    store: SqlStore,
    obs_id: int,
    *,
    value: float | None,
    value_text: str | None,
    unit: str,
    by: str,
    reason: str,
    now: datetime,
) -> tuple[Observation, Observation, Correction]:
    """Store a corrected copy of ``obs_id``; returns (original as now stored, replacement, correction)."""
    orig, new, corr = _correct(store, obs_id, AMENDED, by, reason, now, (value, value_text, unit))
    assert new is not None
    return orig, new, corr


def enter_in_error(
    store: SqlStore, obs_id: int, *, by: str, reason: str, now: datetime
) -> tuple[Observation, Correction]:
    """Withdraw ``obs_id``; returns (original as now stored, correction)."""
    original, _none, corr = _correct(store, obs_id, ENTERED_IN_ERROR, by, reason, now, None)
    return original, corr


def _correct(
    store: SqlStore,
    obs_id: int,
    action: str,
    by: str,
    reason: str,
    now: datetime,
    new_value: tuple[float | None, str | None, str] | None,
) -> tuple[Observation, Observation | None, Correction]:
    now_us = to_us(now)
    codec = store.codec  # free text (notes, the reason) is sealed at rest: medtwin.store.sealing
    codec.reserve(3)
    with store.transaction() as c:  # the writer thread takes the same lock
        row = c.execute(text(f"SELECT {OBS_SELECT} FROM observations WHERE id = :i"), {"i": obs_id}).first()
        if row is None:
            raise NotFoundError(f"no observation {obs_id}", field="obs_id")
        orig = row_to_obs(row)
        if orig.status is ObsStatus.ENTERED_IN_ERROR:
            prior = _get(c, obs_id)
            if prior is not None and prior.new_obs_id is not None:
                raise ConflictError(
                    f"observation {obs_id} was already corrected by observation {prior.new_obs_id}; "
                    "correct that one instead",
                    field="obs_id",
                )
            raise ConflictError(f"observation {obs_id} is already entered-in-error", field="obs_id")
        if orig.method is Method.DERIVED:
            raise ValidationError(
                "derived observations (scores) are recomputed, not corrected: correct their inputs",
                field="obs_id",
            )
        n = c.execute(
            text("UPDATE observations SET status = :eie WHERE id = :i AND status = :prev"),
            {"eie": ENTERED_IN_ERROR, "i": obs_id, "prev": orig.status.value},
        ).rowcount
        if n != 1:
            raise ConflictError(f"observation {obs_id} changed while being corrected; retry", field="obs_id")
        new: Observation | None = None
        if new_value is not None:
            value, value_text, unit = new_value
            new = Observation(
                twin_id=orig.twin_id,
                code=orig.code,
                effective=orig.effective,
                received=now,
                source=f"user:{by}",
                source_id=f"correction/{obs_id}",
                value=value,
                value_text=value_text,
                unit=unit,
                method=Method.MANUAL,
                status=ObsStatus.AMENDED,
                meta={"replaces": obs_id, "reason": reason, "by": by},
            )
            params = {
                "twin_id": new.twin_id,
                "code": new.code,
                "t_us": to_us(new.effective),
                "received_us": now_us,
                "value": new.value,
                "value_text": new.value_text
                if new.code not in SEALED_CODES
                else codec.seal_opt(new.value_text, "observations", "value_text", new.twin_id),
                "unit": new.unit,
                "source": new.source,
                "source_id": new.source_id,
                "method": new.method.value,
                "status": new.status.value,
                "meta": json.dumps(
                    {
                        **cast(dict[str, Any], new.meta),
                        "reason": codec.seal_opt(reason, "observation_corrections", "reason", new.twin_id),
                    }
                ),
            }
            cols = [x.strip() for x in OBS_COLUMNS.split(",")]
            new_id = (
                pg_write.insert_one(c, params)  # PostgreSQL: through the key table (pg_schema)
                if store.partitioned
                else c.execute(
                    text(
                        f"INSERT INTO observations ({OBS_COLUMNS}) VALUES ({', '.join(':' + x for x in cols)}) "
                        "ON CONFLICT (source, source_id) DO NOTHING RETURNING id"
                    ),
                    params,
                ).scalar()
            )
            if new_id is None:
                raise ConflictError(f"a correction of observation {obs_id} already exists", field="obs_id")
            new.id = int(new_id)
        cid = c.execute(
            text(
                "INSERT INTO observation_corrections (obs_id, action, new_obs_id, performer, reason, "
                "previous_status, t_us) VALUES (:o, :a, :n, :b, :r, :p, :t) RETURNING id"
            ),
            {
                "o": obs_id,
                "a": action,
                "n": None if new is None else new.id,
                "b": by,
                "r": codec.seal_opt(reason, "observation_corrections", "reason", f"obs/{obs_id}"),
                "p": orig.status.value,
                "t": now_us,
            },
        ).scalar_one()
        recompute_latest(c, orig.twin_id, orig.code)
        if store.partitioned:  # rollups of the bucket, change feed
            pg_write.after_correction(c, store, [orig] if new is None else [orig, new])
    corr = Correction(
        int(cid), obs_id, action, None if new is None else new.id, by, reason, orig.status.value, now
    )
    orig.status = ObsStatus.ENTERED_IN_ERROR
    return orig, new, corr


def recompute_latest(c: Any, twin_id: str, code: str) -> None:
    """Point the latest state of (twin, code) at its newest valid row, or drop it when none is left."""
    r = c.execute(
        text(
            "SELECT id, t_us, value, value_text, unit FROM observations WHERE twin_id = :t AND code = :c "
            "AND status <> 'entered-in-error' ORDER BY t_us DESC, id DESC LIMIT 1"
        ),
        {"t": twin_id, "c": code},
    ).first()
    if r is None:
        c.execute(text("DELETE FROM latest WHERE twin_id = :t AND code = :c"), {"t": twin_id, "c": code})
        return
    c.execute(
        text(
            "INSERT INTO latest (twin_id, code, obs_id, t_us, value, value_text, unit) "
            "VALUES (:t, :c, :i, :u, :v, :x, :n) ON CONFLICT (twin_id, code) DO UPDATE SET "
            "obs_id = excluded.obs_id, t_us = excluded.t_us, value = excluded.value, "
            "value_text = excluded.value_text, unit = excluded.unit"
        ),
        {"t": twin_id, "c": code, "i": r[0], "u": r[1], "v": r[2], "x": r[3], "n": r[4]},
    )


def _get(c: Any, obs_id: int) -> Correction | None:
    r = c.execute(
        text(f"SELECT {_COLS} FROM observation_corrections WHERE obs_id = :i"), {"i": obs_id}
    ).first()
    return None if r is None else _row_to_correction(r)


def correction_of(store: SqlStore, obs_id: int) -> Correction | None:
    """How an observation was corrected, if it was."""
    with store.engine.connect() as c:
        return _get(c, obs_id)


def corrections_for(store: SqlStore, obs_ids: Iterable[int]) -> dict[int, Correction]:
    """Corrections of many observations at once (obs id -> correction)."""
    ids = list(obs_ids)
    if not ids:
        return {}
    with store.engine.connect() as c:
        rows = c.execute(
            text(f"SELECT {_COLS} FROM observation_corrections WHERE obs_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        ).all()
    return {int(r[1]): _row_to_correction(r) for r in rows}
