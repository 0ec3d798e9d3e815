"""A patient's daily summary: readings per measure against the schedule, the day's decisions and
worklist items, activity (active minutes, longest daytime stillness, nights out of bed)."""

from __future__ import annotations

import itertools
import statistics
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from medtwin.models.triage.adherence import expected_per_day
from medtwin.services.homecare.collect import WINDOWS, series
from medtwin.services.homecare.repository import HomecareRepository

MEASURES = [k for k in WINDOWS if k not in ("activity", "in_bed")]


def daily_summary(
    repo: HomecareRepository, twin: str, day: date | None = None, now: datetime | None = None
) -> dict[str, Any]:
    e = repo.require(twin)
    tz = ZoneInfo(e.get("timezone") or "UTC")
    now = now or datetime.now(tz)
    day = day or now.astimezone(tz).date()
    start = datetime.combine(day, time(0), tz)
    end = start + timedelta(days=1)
    store = repo.store
    expected = expected_per_day(e.get("schedule", {}))
    measures: dict[str, Any] = {}
    for k in MEASURES:
        s = series(store, twin, k, start, end)
        if not s and k not in expected:
            continue
        vals = [v for _, v in s]
        m: dict[str, Any] = {"count": len(vals)}
        if vals:
            m.update(min=min(vals), max=max(vals), mean=round(statistics.fmean(vals), 1), last=vals[-1])
        if k in expected:
            m.update(expected=expected[k], missed=max(0, expected[k] - len(vals)))
        measures[k] = m
    act = series(store, twin, "activity", start, end)
    activity = None
    if act:
        moving = [t for t, v in act if v >= 12]
        day_pts = [t for t, _ in act if 7 <= t.astimezone(tz).hour < 22]
        edges = [t for t in moving if 7 <= t.astimezone(tz).hour < 22]
        still = 0.0
        if day_pts:
            marks = [day_pts[0], *edges, day_pts[-1]]
            still = max((b - a).total_seconds() for a, b in itertools.pairwise(marks)) / 3600
        activity = {"active_minutes": len(moving), "longest_daytime_stillness_h": round(still, 2)}
    bed = series(store, twin, "in_bed", start, end)
    if bed:
        outs = sum(1 for (_, a), (_, b) in itertools.pairwise(bed) if a == 1.0 and b == 0.0)
        activity = {**(activity or {}), "times_out_of_bed": outs}
    decisions = [d for d in repo.decisions(twin, 200) if start.isoformat() <= d["time"] < end.isoformat()]
    items = [i for i in repo.worklist(include_closed=True, twin_ids={twin}) if i["opened"] and
             start <= datetime.fromisoformat(i["opened"]) < end]  # fmt: skip
    return {
        "twin": twin,
        "date": day.isoformat(),
        "timezone": str(tz),
        "tier_now": e["tier"],
        "conditions": e["conditions"],
        "measures": measures,
        "activity": activity,
        "decisions": [
            {
                "time": d["time"],
                "tier": d["tier"],
                "rules": [r["rule"] for r in d["reasons"] if r["tier"] != "self"],
            }
            for d in reversed(decisions)
        ],
        "worklist": [
            {
                "id": i["id"],
                "kind": i["kind"],
                "tier": i["tier"],
                "status": i["status"],
                "outcome": (i["outcome"] or {}).get("disposition"),
            }
            for i in items
        ],
    }
