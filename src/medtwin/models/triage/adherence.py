"""Adherence and device rules: readings overdue against the schedule, missed measurements per
day, low device batteries."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from medtwin.models.triage.model import Reason, Tier
from medtwin.models.triage.rules import RuleSet


def gaps(rule: Mapping[str, Any], rules: RuleSet, schedule: Mapping[str, float],
         last: Mapping[str, datetime | None], now: datetime, since: datetime) -> list[Reason]:  # fmt: skip
    """A measure is overdue when ``missed_intervals`` whole expected intervals passed after the
    one in which a reading was due (``since``: the enrolment time, for measures never sent)."""
    out = []
    for m, every_h in sorted(schedule.items()):
        if every_h <= 0:
            continue
        t = last.get(m) or since
        elapsed_h = (now - t).total_seconds() / 3600.0
        missed = math.floor(elapsed_h / every_h) - 1 + (1 if last.get(m) is None else 0)
        if missed >= int(rule["missed_intervals"]):
            when = "no reading yet" if last.get(m) is None else f"last reading {elapsed_h:.1f} h ago"
            what = f"{m}: {when} (expected every {every_h:g} h): {missed} measurement(s) missed"
            out.append(Reason(f"reading_gap.{m}", rules.cite(rule), what, Tier(rule["tier"]), m,
                              float(missed), "adherence"))  # fmt: skip
    return out


def expected_per_day(schedule: Mapping[str, float]) -> dict[str, int]:
    return {m: max(1, round(24.0 / h)) for m, h in schedule.items() if h > 0}


def battery(rule: Mapping[str, Any], rules: RuleSet,
            levels: Mapping[str, tuple[datetime, float, bool]], now: datetime) -> list[Reason]:  # fmt: skip
    """``levels``: device -> (time, percent, device's own low-battery flag)."""
    out = []
    for dev, (t, pct, flag) in sorted(levels.items()):
        if now - t > timedelta(days=2):
            continue
        if flag or pct <= float(rule["low_pct"]):
            what = f"device {dev}: battery {pct:.0f} %{' (device flag)' if flag else ''}: charge it"
            out.append(Reason(f"device_battery.{dev}", rules.cite(rule), what, Tier(rule["tier"]), "battery",
                              pct, "device"))  # fmt: skip
    return out
