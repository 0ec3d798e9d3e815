"""One full assessment of a home patient: every rule of the rule set over the patient's data.

:func:`assess` is pure: the caller (``medtwin.services.homecare``) reads the history from the
store into a :class:`PatientData` and stores the :class:`~medtwin.models.triage.model.Decision`.
:func:`triage_once` is the one-shot form the ``medtwin triage`` command and
``POST /api/homecare/triage`` use (latest values only, no history).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from medtwin.models.triage import activity, adherence, trends
from medtwin.models.triage.model import CONDITIONS, Decision, Reason, Tier
from medtwin.models.triage.point import evaluate_point
from medtwin.models.triage.rules import DEFAULT_SCHEDULES, RuleSet

Series = list[tuple[datetime, float]]
SINGLE = ("sbp", "dbp", "hr", "spo2", "temp", "glucose", "urine_glucose")
CLI_KEYS = {
    "sbp": "sbp",
    "dbp": "dbp",
    "hr": "hr",
    "spo2": "spo2",
    "temp_c": "temp",
    "glucose_mg_dl": "glucose",
}
CLI_RANGES = {"sbp": (0, 350), "dbp": (0, 300), "hr": (0, 350), "spo2": (0, 100), "temp_c": (10, 50),
              "glucose_mg_dl": (0, 3000)}  # fmt: skip


class TriageInputError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass
class PatientData:
    conditions: set[str]
    now: datetime
    history: dict[str, Series] = field(default_factory=dict)  # measure key -> (time, value), by time
    medications: list[str] = field(default_factory=list)
    targets: dict[str, Any] = field(default_factory=dict)  # e.g. {"bp": {"sbp": 130, "dbp": 80}}
    schedule: dict[str, float] = field(default_factory=dict)  # measure -> hours between readings
    batteries: dict[str, tuple[datetime, float, bool]] = field(default_factory=dict)
    tz: tzinfo = UTC
    enrolled: datetime | None = None
    symptoms: bool = False
    hypo_needs_assistance: bool = False
    max_age_h: float = 24.0  # single-reading rules look at values at most this old

    def latest(self) -> dict[str, float]:
        out = {}
        for m in SINGLE:
            s = self.history.get(m)
            if s and (self.now - s[-1][0]).total_seconds() <= self.max_age_h * 3600:
                out[m] = s[-1][1]
        return out


def default_schedule(conditions: set[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in sorted(conditions):
        out.update(DEFAULT_SCHEDULES.get(c, {}))
    return out


def check_conditions(conditions: Any, field_: str = "conditions") -> set[str]:
    if not isinstance(conditions, list | tuple | set) or not all(isinstance(c, str) for c in conditions):
        raise TriageInputError(field_, "a list of condition names")
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad:
        raise TriageInputError(field_, f"unknown condition {bad[0]!r}; known: {', '.join(CONDITIONS)}")
    return set(conditions)


def assess(p: PatientData, rules: RuleSet) -> Decision:
    c, now, h = p.conditions, p.now, p.history
    reasons: list[Reason] = evaluate_point(
        p.latest(), c, rules, symptoms=p.symptoms, hypo_needs_assistance=p.hypo_needs_assistance,
        medications=p.medications,
    )  # fmt: skip
    if (r := rules.applies("cgm_sustained", c)) is not None:
        reasons += trends.cgm_sustained(r, rules, h.get("cgm", []), c)
    if (r := rules.applies("bp_home_mean", c)) is not None:
        reasons += trends.bp_home_mean("bp_home_mean", r, rules, h.get("sbp", []), h.get("dbp", []), now,
                                       p.targets.get("bp"))  # fmt: skip
    if (r := rules.applies("weight_gain_hf", c)) is not None:
        reasons += trends.weight_gain("weight_gain_hf", r, rules, h.get("weight", []), now)
    if (r := rules.applies("cgm_metrics", c)) is not None:
        reasons += trends.cgm_metrics("cgm_metrics", r, rules, h.get("cgm", []), now, c)
    for rid in rules.of_kind("repeated"):
        if (r := rules.applies(rid, c)) is not None:
            reasons += trends.repeated(rid, r, rules, h.get(r["measure"], []), now)
    for rid in rules.of_kind("baseline_delta"):
        if (r := rules.applies(rid, c)) is not None:
            reasons += trends.baseline_delta(rid, r, rules, h.get(r["measure"], []), now)
    if (r := rules.applies("baseline_deviation", c)) is not None:
        reasons += trends.baseline_sd(r, rules, h, now)
    if (r := rules.applies("inactivity_day", c)) is not None:
        reasons += activity.inactivity_day("inactivity_day", r, rules, h.get("activity", []), now, p.tz)
    if (r := rules.applies("night_fall_pattern", c)) is not None:
        reasons += activity.night_fall("night_fall_pattern", r, rules, h.get("in_bed", []),
                                       h.get("activity", []), now, p.tz)  # fmt: skip
    if (r := rules.applies("reading_gap", c)) is not None:
        last = {m: (h[m][-1][0] if h.get(m) else None) for m in p.schedule}
        reasons += adherence.gaps(r, rules, p.schedule, last, now, p.enrolled or now)
    if (r := rules.applies("device_battery", c)) is not None:
        reasons += adherence.battery(r, rules, p.batteries, now)
    return Decision.of(_dedupe(reasons))


def _dedupe(reasons: list[Reason]) -> list[Reason]:
    """One reason per rule id (the most urgent)."""
    best: dict[str, Reason] = {}
    for r in reasons:
        if r.rule not in best or r.tier.rank < best[r.rule].tier.rank:
            best[r.rule] = r
    return list(best.values())


def triage_once(payload: Mapping[str, Any], rules: RuleSet | None = None) -> Decision:
    """``{"conditions": [...], "sbp": .., "dbp": .., "hr": .., "spo2": .., "temp_c": ..,
    "glucose_mg_dl": ..}`` (any subset) -> Decision. Unknown keys and conditions are errors."""
    if not isinstance(payload, Mapping):
        raise TriageInputError("json", "expected a JSON object")
    rules = rules or RuleSet()
    extra = [k for k in payload if k not in CLI_KEYS and k != "conditions"]
    if extra:
        raise TriageInputError(
            extra[0], f"unknown key {extra[0]!r}; known: conditions, {', '.join(CLI_KEYS)}"
        )
    conditions = check_conditions(payload.get("conditions", []))
    values: dict[str, float] = {}
    for k, m in CLI_KEYS.items():
        if k not in payload or payload[k] is None:
            continue
        v = payload[k]
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
            raise TriageInputError(k, "must be a number")
        lo, hi = CLI_RANGES[k]
        if not lo <= v <= hi:
            raise TriageInputError(k, f"{v} is outside {lo}-{hi}: not a physiological reading")
        values[m] = float(v)
    reasons = evaluate_point(values, conditions, rules)
    if not reasons:
        what = "no rule triggered: " + (", ".join(sorted(values)) or "no readings given")
        detail = what + " within thresholds; current medication suffices" if values else what
        reasons = [
            Reason("no_rule_triggered", "medtwin default rule set " + rules.version, detail, Tier.SELF)
        ]
    return Decision.of(reasons)
