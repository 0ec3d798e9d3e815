"""AlarmRepository: the ``alarms`` (current state) and ``alarm_events`` (append-only) tables.

Each state change is one transaction: the alarm row is upserted and the events appended, so the
current state and its history never disagree. ``alarm_events`` refuses UPDATE and DELETE (store
migration 3), which makes the log append-only at the database level. Limit changes are logged
in the same table under the subject ``limits:<twin id>`` (IEC 60601-1-8 §6.12 suggests logging
the alarm limits in force).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.services.monitoring.alarms.model import Alarm, State, Transition, iso
from medtwin.store.sql import SqlStore

_UPSERT = text(
    "INSERT INTO alarms (id, twin_id, condition, kind, priority, state, ward, bed, started_us, updated_us, record) "
    "VALUES (:id, :twin, :cond, :kind, :prio, :state, :ward, :bed, :started, :updated, :record) "
    "ON CONFLICT (id) DO UPDATE SET priority = excluded.priority, state = excluded.state, "
    "ward = excluded.ward, bed = excluded.bed, updated_us = excluded.updated_us, record = excluded.record"
)
_EVENT = text(
    "INSERT INTO alarm_events (alarm_id, t_us, type, actor, state, priority, data) "
    "VALUES (:alarm, :t, :type, :actor, :state, :prio, :data)"
)


def _params(alarm: Alarm) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "twin": alarm.twin,
        "cond": alarm.condition,
        "kind": alarm.kind.value,
        "prio": alarm.priority.value,
        "state": alarm.state.value,
        "ward": alarm.ward,
        "bed": alarm.bed,
        "started": to_us(alarm.started),
        "updated": to_us(alarm.updated),
        "record": json.dumps(alarm.to_record()),
    }


class AlarmRepository:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.engine = store.engine

    def record(self, alarm: Alarm, transitions: Sequence[Transition]) -> None:
        """Store the alarm's current state and append its transitions, atomically."""
        self.record_many([(alarm, transitions)])

    def record_many(self, items: Iterable[tuple[Alarm, Sequence[Transition]]]) -> None:
        rows, events = [], []
        for alarm, transitions in items:
            rows.append(_params(alarm))
            for tr in transitions:
                events.append(
                    {
                        "alarm": alarm.id,
                        "t": to_us(tr.time),
                        "type": tr.type,
                        "actor": tr.actor,
                        "state": alarm.state.value,
                        "prio": alarm.priority.value,
                        "data": json.dumps(tr.data, default=str),
                    }
                )
        if not rows:
            return
        with self.store.transaction() as c:
            c.execute(_UPSERT, rows)
            if events:
                c.execute(_EVENT, events)

    def log(self, subject: str, type_: str, actor: str, when_us: int, data: dict[str, Any]) -> None:
        """Append a non-alarm entry (e.g. a limits change) to the alarm system log."""
        with self.store.transaction() as c:
            c.execute(
                _EVENT,
                {
                    "alarm": subject,
                    "t": when_us,
                    "type": type_,
                    "actor": actor,
                    "state": None,
                    "prio": None,
                    "data": json.dumps(data, default=str),
                },
            )

    # ------------------------------------------------------------------ reads
    def open_alarms(self) -> list[Alarm]:
        with self.engine.connect() as c:
            rows = c.execute(
                text("SELECT record FROM alarms WHERE state <> :r ORDER BY started_us"),
                {"r": State.RESOLVED.value},
            ).all()
        return [Alarm.from_record(json.loads(r[0])) for r in rows]

    def get(self, alarm_id: str) -> Alarm | None:
        with self.engine.connect() as c:
            r = c.execute(text("SELECT record FROM alarms WHERE id = :id"), {"id": alarm_id}).first()
        return Alarm.from_record(json.loads(r[0])) if r else None

    def list(
        self,
        *,
        ward: str | None = None,
        twin: str | None = None,
        states: Iterable[str] | None = None,
        limit: int = 500,
    ) -> builtins.list[Alarm]:
        where: list[str] = []
        params: dict[str, Any] = {"n": limit}
        if ward is not None:
            where.append("ward = :ward")
            params["ward"] = ward
        if twin is not None:
            where.append("twin_id = :twin")
            params["twin"] = twin
        wanted = [*states] if states is not None else None
        if wanted is not None:
            names = []
            for i, s in enumerate(wanted):
                params[f"s{i}"] = s
                names.append(f":s{i}")
            where.append(f"state IN ({', '.join(names) or 'NULL'})")
        q = "SELECT record FROM alarms" + (" WHERE " + " AND ".join(where) if where else "")
        q += " ORDER BY updated_us DESC LIMIT :n"
        with self.engine.connect() as c:
            rows = c.execute(text(q), params).all()
        return [Alarm.from_record(json.loads(r[0])) for r in rows]

    def history(self, subject: str) -> builtins.list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT id, t_us, type, actor, state, priority, data FROM alarm_events "
                    "WHERE alarm_id = :a ORDER BY id"
                ),
                {"a": subject},
            ).all()
        return [
            {
                "seq": r[0],
                "time": iso(from_us(int(r[1]))),
                "type": r[2],
                "actor": r[3],
                "state": r[4],
                "priority": r[5],
                "data": json.loads(r[6]) if r[6] else {},
            }
            for r in rows
        ]

    def count_events(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM alarm_events")).scalar() or 0)
