"""Rules on single readings: blood pressure category, band rules (SpO2, pulse, temperature,
glucose, low systolic), urine glucose, hypoglycaemia level 3.

``evaluate_point(values, conditions, rules)`` takes the latest value of each measure (keys of
:mod:`medtwin.core.codes`: ``sbp``, ``dbp``, ``hr``, ``spo2``, ``temp``, ``glucose``,
``urine_glucose``) and returns one reason per rule that looked at something, including the
reassuring ones (tier ``self``), so a ``self`` decision is explained too.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from medtwin.models.triage.model import Reason, Tier
from medtwin.models.triage.rules import RuleSet

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
UNITS = {"sbp": "mmHg", "dbp": "mmHg", "hr": "/min", "spo2": "%", "temp": "C", "glucose": "mg/dL",
         "cgm": "mg/dL", "urine_glucose": "mg/dL", "weight": "kg"}  # fmt: skip


def fmt(measure: str, v: float) -> str:
    s = f"{v:.1f}" if measure in ("temp", "weight", "skin_temp") else f"{v:g}"
    return f"{s} {UNITS.get(measure, '')}".strip()


def band_reasons(
    rid: str, rule: Mapping[str, Any], rules: RuleSet, value: float, measure: str | None = None
) -> list[Reason]:
    """Every band of a band rule that ``value`` falls in, most urgent first."""
    m = measure or str(rule["measure"])
    out = []
    for op, limit, tier, label in rule.get("bands", []):
        if _OPS[op](value, float(limit)):
            out.append(Reason(rid, rules.cite(rule), f"{m} {fmt(m, value)}: {label}", Tier(tier), m, value))
    out.sort(key=lambda r: r.tier.rank)
    return out[:1]


def bp_reason(rid: str, rule: Mapping[str, Any], rules: RuleSet, sbp: float | None, dbp: float | None,
              symptoms: bool = False) -> Reason | None:  # fmt: skip
    """ACC/AHA 2017 category of one reading; when SBP and DBP fall in different categories the
    higher one counts. A crisis (> 180 and/or > 120) is an emergency with target-organ symptoms."""
    if sbp is None and dbp is None:
        return None
    s = sbp if sbp is not None else float("-inf")
    d = dbp if dbp is not None else float("-inf")
    shown = f"{f'{sbp:g}' if sbp is not None else '?'}/{f'{dbp:g}' if dbp is not None else '?'} mmHg"
    if s > rule["crisis_sbp_above"] or d > rule["crisis_dbp_above"]:
        tier = Tier(rule["crisis_with_symptoms_tier"] if symptoms else rule["crisis_tier"])
        what = (
            "hypertensive crisis with target-organ symptoms (emergency)"
            if symptoms
            else "hypertensive crisis without reported target-organ symptoms (urgency): repeat after "
            "5 minutes and contact the patient today"
        )
        return Reason(rid, rules.cite(rule), f"BP {shown}: {what}", tier, "sbp", sbp)
    if s >= rule["stage2_sbp"] or d >= rule["stage2_dbp"]:
        cat = "stage 2 hypertension"
    elif s >= rule["stage1_sbp"] or d >= rule["stage1_dbp"]:
        cat = "stage 1 hypertension"
    elif s >= rule["elevated_sbp"]:
        cat = "elevated"
    else:
        cat = "normal"
    note = "" if cat == "normal" else " (single reading; the home average decides control)"
    return Reason(rid, rules.cite(rule), f"BP {shown}: {cat}{note}", Tier.SELF, "sbp", sbp)


def evaluate_point(
    values: Mapping[str, float],
    conditions: Iterable[str],
    rules: RuleSet,
    *,
    symptoms: bool = False,
    hypo_needs_assistance: bool = False,
    medications: Iterable[str] = (),
) -> list[Reason]:
    conds = set(conditions)
    out: list[Reason] = []
    r = rules.applies("bp_category", conds)
    if r is not None:
        bp = bp_reason("bp_category", r, rules, values.get("sbp"), values.get("dbp"), symptoms)
        if bp is not None:
            out.append(bp)
    for rid in rules.of_kind("band"):
        rule = rules.applies(rid, conds)
        if rule is None or rule["measure"] not in values:
            continue
        out.extend(band_reasons(rid, rule, rules, float(values[rule["measure"]])))
    if hypo_needs_assistance:
        rule = rules.applies("glucose_hypo", conds)
        if rule is not None:
            detail = "level 3 hypoglycaemia: a severe event needing another person's assistance"
            out.append(Reason("glucose_hypo_level3", rules.cite(rule), detail, Tier.EMERGENCY, "glucose"))
    ug = rules.applies("urine_glucose", conds)
    if ug is not None and "urine_glucose" in values:
        out.extend(urine_glucose(ug, rules, float(values["urine_glucose"]), conds, medications))
    return out


def urine_glucose(
    rule: Mapping[str, Any], rules: RuleSet, value: float, conds: set[str], medications: Iterable[str]
) -> list[Reason]:
    """Glycosuria: expected on an SGLT2 inhibitor (not interpreted), a same-day contact without
    known diabetes (needs plasma glucose or HbA1c), otherwise noted for the diabetes review."""
    if value <= float(rule["detect_above"]):
        return []
    words = {w for m in medications for w in m.lower().replace(",", " ").split()}
    expected = sorted(words & {m.lower() for m in rule.get("expected_with", [])})
    shown = fmt("urine_glucose", value)
    if expected:
        return [Reason("urine_glucose", rules.sources["sglt2_label"],
                       f"urine glucose {shown}: expected on {expected[0]} (not interpreted)", Tier.SELF,
                       "urine_glucose", value)]  # fmt: skip
    if "diabetes" in conds:
        return [Reason("urine_glucose", rules.cite(rule),
                       f"urine glucose {shown} in known diabetes: see blood glucose", Tier.SELF,
                       "urine_glucose", value)]  # fmt: skip
    return [Reason("urine_glucose", rules.cite(rule),
                   f"urine glucose {shown} without known diabetes: check plasma glucose or HbA1c",
                   Tier(rule["tier"]), "urine_glucose", value)]  # fmt: skip
