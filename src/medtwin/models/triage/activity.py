"""Activity rules for an older person living alone: no movement during the day, and a night
pattern suggesting a fall (out of bed and still for a long time).

Inputs: ``activity`` is the wrist/room sensor's movement index per epoch (``(time, index)``),
``in_bed`` the bed sensor's occupancy (``(time, 1.0)`` in bed, ``(time, 0.0)`` out). Times are
aware datetimes; day and night windows are local hours of the home's time zone. Movement is an
epoch with an index at or above ``movement_index_min`` (the activity sensor's own awake level).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from medtwin.models.triage.model import Reason, Tier
from medtwin.models.triage.rules import RuleSet

Series = Sequence[tuple[datetime, float]]


def _in_window(local_h: float, start_h: float, end_h: float) -> bool:
    return start_h <= local_h < end_h if start_h < end_h else local_h >= start_h or local_h < end_h


def _day_start(now_local: datetime, start_h: float) -> datetime:
    return now_local.replace(hour=int(start_h), minute=int(start_h % 1 * 60), second=0, microsecond=0)


def longest_still(activity: Series, start: datetime, end: datetime, threshold: float) -> float:
    """Longest run (hours) without a movement epoch in [start, end]; None-safe on empty data."""
    moves = [t for t, v in activity if start <= t <= end and v >= threshold]
    edges = [start, *moves, end]
    return max((b - a).total_seconds() for a, b in itertools.pairwise(edges)) / 3600.0


def profile_hours(rule: Mapping[str, Any], activity: Series, now: datetime, tz: tzinfo) -> float | None:
    """The person's own longest daytime stillness over the previous ``profile_days`` days (each
    day needs data across its window), or None while the profile is incomplete."""
    local = now.astimezone(tz)
    worst: list[float] = []
    for back in range(1, int(rule["profile_days"]) + 1):
        day = local - timedelta(days=back)
        s = _day_start(day, float(rule["day_start_h"]))
        e = _day_start(day, float(rule["day_end_h"]))
        pts = [t for t, _ in activity if s <= t <= e]
        if not pts or (pts[0] - s) > timedelta(hours=1) or (e - pts[-1]) > timedelta(hours=1):
            return None
        worst.append(longest_still(activity, s, e, float(rule["movement_index_min"])))
    return max(worst) if worst else None


def inactivity_day(rid: str, rule: Mapping[str, Any], rules: RuleSet, activity: Series, now: datetime,
                   tz: tzinfo) -> list[Reason]:  # fmt: skip
    local = now.astimezone(tz)
    if not _in_window(local.hour + local.minute / 60, float(rule["day_start_h"]), float(rule["day_end_h"])):
        return []
    if not activity or activity[-1][0] < now - timedelta(minutes=30):
        return []  # no data: the gap rule reports it
    thr = float(rule["movement_index_min"])
    start = _day_start(local, float(rule["day_start_h"]))
    moves = [t for t, v in activity if t >= start and v >= thr]
    since = moves[-1] if moves else start
    still_h = (now - since).total_seconds() / 3600.0
    limit = rule.get("hours")
    basis = "set by the care team"
    if limit is None:
        limit = profile_hours(rule, activity, now, tz)
        basis = f"the person's own {rule['profile_days']}-day maximum"
        if limit is None:
            return []
    if still_h > float(limit):
        what = f"no movement for {still_h:.1f} h during the day (limit {float(limit):.1f} h, {basis})"
        return [
            Reason(rid, rules.cite(rule), what, Tier(rule["tier"]), "activity", round(still_h, 2), "activity")
        ]
    return []


def night_fall(rid: str, rule: Mapping[str, Any], rules: RuleSet, in_bed: Series, activity: Series,
               now: datetime, tz: tzinfo) -> list[Reason]:  # fmt: skip
    """Out of bed at night and no movement for ``minutes``: possibly on the floor (a long lie)."""
    if not in_bed or in_bed[-1][1] >= 0.5:
        return []
    t_out = in_bed[-1][0]
    for t, v in reversed(in_bed):  # the start of the current out-of-bed period
        if v >= 0.5:
            break
        t_out = t
    lo = t_out.astimezone(tz)
    if not _in_window(lo.hour + lo.minute / 60, float(rule["night_start_h"]), float(rule["night_end_h"])):
        return []
    thr = float(rule["movement_index_min"])
    moves = [t for t, v in activity if t >= t_out and v >= thr]
    still_since = moves[-1] if moves else t_out
    still_min = (now - still_since).total_seconds() / 60.0
    if still_min >= float(rule["minutes"]):
        out_min = (now - t_out).total_seconds() / 60.0
        what = (f"out of bed at night since {lo:%H:%M} ({out_min:.0f} min) and no movement for "
                f"{still_min:.0f} min (>= {rule['minutes']:g}): possible fall")  # fmt: skip
        return [
            Reason(rid, rules.cite(rule), what, Tier(rule["tier"]), "in_bed", round(still_min, 1), "activity")
        ]
    return []
