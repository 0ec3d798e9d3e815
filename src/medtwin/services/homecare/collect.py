"""Read a home patient's history from the store into a :class:`~medtwin.models.triage.PatientData`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from medtwin.core.codes import BY_KEY
from medtwin.models.triage import PatientData
from medtwin.store.sql import SqlStore

# measure key -> days of history the rules need (CGM metrics 14 d + today; baselines 14 d + 1;
# the activity profile 7 d + today)
WINDOWS = {"sbp": 15, "dbp": 15, "hr": 15, "spo2": 15, "temp": 15, "glucose": 15, "cgm": 15, "weight": 15,
           "urine_glucose": 2, "skin_temp": 15, "activity": 8, "in_bed": 2}  # fmt: skip
CODED = {"in_bed": {"in": 1.0, "out": 0.0}}


def series(
    store: SqlStore, twin: str, key: str, start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    obs = store.history(twin, BY_KEY[key].ref, start, end, limit=100_000)
    if key in CODED:
        m = CODED[key]
        return [(o.effective, m[o.value_text]) for o in obs if o.value_text in m]
    return [(o.effective, float(o.value)) for o in obs if o.value is not None]


def patient_data(store: SqlStore, enrolment: dict[str, Any], now: datetime) -> PatientData:
    twin = enrolment["twin"]
    end = now + timedelta(seconds=1)
    hist = {k: series(store, twin, k, now - timedelta(days=d), end) for k, d in WINDOWS.items()}
    batteries: dict[str, tuple[datetime, float, bool]] = {}
    for o in store.history(twin, BY_KEY["battery"].ref, now - timedelta(days=2), end, limit=10_000):
        if o.value is not None:
            batteries[o.source] = (o.effective, float(o.value), False)
    enrolled = enrolment.get("enrolled")
    return PatientData(
        conditions=set(enrolment["conditions"]),
        now=now,
        history={k: v for k, v in hist.items() if v},
        medications=list(enrolment.get("medications", [])),
        targets=dict(enrolment.get("targets", {})),
        schedule=dict(enrolment.get("schedule", {})),
        batteries=batteries,
        tz=ZoneInfo(enrolment.get("timezone") or "UTC"),
        enrolled=datetime.fromisoformat(enrolled) if enrolled else None,
    )


def inputs_snapshot(p: PatientData) -> dict[str, Any]:
    """What a stored decision saw: the latest value and count of every series, the schedule."""
    out: dict[str, Any] = {"latest": {}, "counts": {}}
    for k, s in p.history.items():
        out["latest"][k] = {"time": s[-1][0].isoformat(), "value": s[-1][1]}
        out["counts"][k] = len(s)
    out["batteries"] = {d: v[1] for d, v in p.batteries.items()}
    out["conditions"] = sorted(p.conditions)
    return out
