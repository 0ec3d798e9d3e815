"""Rules over a patient's history: home BP average, weight gain in heart failure, CGM metrics,
sustained CGM events, repeated fever, deviation from the patient's own baseline.

A series is a list of ``(time, value)`` sorted by time (timezone-aware datetimes). ``now`` is the
evaluation time; every function returns the reasons it found (possibly none).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from medtwin.models.triage.model import Reason, Tier
from medtwin.models.triage.point import band_reasons, fmt
from medtwin.models.triage.rules import RuleSet

Series = Sequence[tuple[datetime, float]]


def _since(series: Series, start: datetime, end: datetime | None = None) -> list[tuple[datetime, float]]:
    return [(t, v) for t, v in series if t >= start and (end is None or t < end)]


def bp_home_mean(rid: str, rule: Mapping[str, Any], rules: RuleSet, sbp: Series, dbp: Series,
                 now: datetime, target: Mapping[str, float] | None = None) -> list[Reason]:  # fmt: skip
    """Mean of the last ``days`` of home readings (needs readings on ``min_days`` days):
    >= 135/85 uncontrolled (office 140/90 equivalent); >= the patient's target (default 130/80)
    not at target; both mean the current medication does not suffice."""
    start = now - timedelta(days=float(rule["days"]))
    s, d = _since(sbp, start), _since(dbp, start)
    days = {t.date() for t, _ in s}
    if not s or len(days) < int(rule["min_days"]):
        return []
    ms, md = statistics.fmean(v for _, v in s), statistics.fmean(v for _, v in d) if d else 0.0
    tgt_s = float((target or {}).get("sbp", rule["target_sbp"]))
    tgt_d = float((target or {}).get("dbp", rule["target_dbp"]))
    shown = f"home mean {ms:.0f}/{md:.0f} mmHg over {len(days)} day(s), {len(s)} readings"
    if ms >= rule["uncontrolled_sbp"] or md >= rule["uncontrolled_dbp"]:
        what = f"{shown}: uncontrolled (>= {rule['uncontrolled_sbp']}/{rule['uncontrolled_dbp']})"
        return [Reason(rid, rules.cite(rule), what, Tier(rule["tier"]), "sbp", round(ms, 1), "trend")]
    if ms >= tgt_s or md >= tgt_d:
        what = f"{shown}: above the target < {tgt_s:g}/{tgt_d:g}; review treatment"
        return [Reason(rid, rules.cite(rule), what, Tier(rule["tier"]), "sbp", round(ms, 1), "trend")]
    what = f"{shown}: at target < {tgt_s:g}/{tgt_d:g}; current medication suffices"
    return [Reason(rid, rules.cite(rule), what, Tier.SELF, "sbp", round(ms, 1), "trend")]


def weight_gain(
    rid: str, rule: Mapping[str, Any], rules: RuleSet, weight: Series, now: datetime
) -> list[Reason]:
    """Gain over each window: latest weight minus the lowest weight in the ``days`` before it."""
    if not weight:
        return []
    t_last, w_last = weight[-1]
    out = []
    for win in rule["windows"]:
        earlier = _since(weight, t_last - timedelta(days=float(win["days"])), t_last)
        if not earlier:
            continue
        base = min(v for _, v in earlier)
        gain = w_last - base
        if gain > float(win["kg"]):
            what = f"weight gain {gain:.1f} kg in {win['days']:g} days (> {win['kg']:g} kg): fluid retention?"
            out.append(
                Reason(rid, rules.cite(rule), what, Tier(rule["tier"]), "weight", round(gain, 2), "trend")
            )
    return out[:1]


def cgm_metrics(rid: str, rule: Mapping[str, Any], rules: RuleSet, cgm: Series, now: datetime,
                conditions: set[str]) -> list[Reason]:  # fmt: skip
    """Time in ranges over the last ``days`` (needs ``min_coverage`` of expected readings)."""
    days = float(rule["days"])
    pts = [v for _, v in _since(cgm, now - timedelta(days=days))]
    expected = days * 24 * 60 / float(rule["reading_interval_min"])
    coverage = len(pts) / expected if expected else 0.0
    if coverage < float(rule["min_coverage"]):
        return []
    n = len(pts)
    pct = {
        "tir": 100 * sum(70 <= v <= 180 for v in pts) / n,
        "tbr70": 100 * sum(v < 70 for v in pts) / n,
        "tbr54": 100 * sum(v < 54 for v in pts) / n,
        "tar180": 100 * sum(v > 180 for v in pts) / n,
        "tar250": 100 * sum(v > 250 for v in pts) / n,
    }
    targets = dict(rule["targets"])
    older = bool(conditions & set(rule.get("older_if", [])))
    if older:
        targets.update(rule["older_targets"])
    missed = []
    if pct["tir"] < targets["tir_min"]:
        missed.append(f"time in range {pct['tir']:.0f} % < {targets['tir_min']} %")
    for k in ("tbr70", "tbr54", "tar180", "tar250"):
        lim = targets.get(f"{k}_max")
        if lim is not None and pct[k] > lim:
            missed.append(f"{k} {pct[k]:.1f} % > {lim} %")
    head = f"CGM {days:g} days ({coverage * 100:.0f} % data{', older/high-risk targets' if older else ''})"
    if missed:
        return [Reason(rid, rules.cite(rule), f"{head}: " + "; ".join(missed), Tier(rule["tier"]),
                       "cgm", round(pct["tir"], 1), "trend")]  # fmt: skip
    return [Reason(rid, rules.cite(rule), f"{head}: all targets met (TIR {pct['tir']:.0f} %)", Tier.SELF,
                   "cgm", round(pct["tir"], 1), "trend")]  # fmt: skip


def cgm_sustained(rule: Mapping[str, Any], rules: RuleSet, cgm: Series, conds: set[str]) -> list[Reason]:
    """Apply the glucose band rules to CGM only when the latest run of readings has stayed in the
    band for ``min_minutes`` (a CGM event lasts >= 15 min; single sensor points are noisy)."""
    if not cgm:
        return []
    out: list[Reason] = []
    need = timedelta(minutes=float(rule["min_minutes"]))
    t_last = cgm[-1][0]
    for rid in ("glucose_hhs", "glucose_hyper", "glucose_hypo"):
        br = rules.applies(rid, conds)
        if br is None:
            continue
        hits = [band_reasons(rid, br, rules, v, "cgm") for _, v in cgm]
        if not hits[-1]:
            continue
        label = hits[-1][0].detail.split(": ", 1)[-1]
        start = t_last
        for (t, _v), h in zip(reversed(cgm), reversed(hits), strict=True):
            if not h or h[0].detail.split(": ", 1)[-1] != label:
                break
            start = t
        if t_last - start >= need:
            r = hits[-1][0]
            mins = (t_last - start).total_seconds() / 60
            out.append(Reason(rid, r.source, f"{r.detail} (CGM, sustained {mins:.0f} min)", r.tier, "cgm",
                              r.value, "clinical"))  # fmt: skip
    out.sort(key=lambda r: r.tier.rank)
    return out[:1]


def repeated(
    rid: str, rule: Mapping[str, Any], rules: RuleSet, series: Series, now: datetime
) -> list[Reason]:
    pts = [v for _, v in _since(series, now - timedelta(hours=float(rule["hours"])))]
    hot = [v for v in pts if v > float(rule["above"])]
    if len(hot) >= int(rule["count"]):
        m = str(rule["measure"])
        what = f"{len(hot)} readings of {m} > {rule['above']} in {rule['hours']:g} h (repeated fever)"
        return [Reason(rid, rules.cite(rule), what, Tier(rule["tier"]), m, max(hot), "trend")]
    return []


def _baseline(series: Series, now: datetime, days: float) -> list[float]:
    """Values of the ``days`` before the last 24 hours (the recent day is what is compared)."""
    end = now - timedelta(days=1)
    return [v for _, v in _since(series, end - timedelta(days=days), end)]


def baseline_delta(
    rid: str, rule: Mapping[str, Any], rules: RuleSet, series: Series, now: datetime
) -> list[Reason]:
    base = _baseline(series, now, float(rule["baseline_days"]))
    if len(base) < int(rule["min_points"]) or not series:
        return []
    med, latest = statistics.median(base), series[-1][1]
    delta = latest - med
    m = str(rule["measure"])
    if delta > float(rule["delta_above"]):
        what = f"{m} {fmt(m, latest)} is {delta:.1f} above the patient's baseline {fmt(m, med)}"
        return [Reason(rid, rules.cite(rule), what, Tier(rule["tier"]), m, round(delta, 2), "baseline")]
    return []


def baseline_sd(
    rule: Mapping[str, Any], rules: RuleSet, history: Mapping[str, Series], now: datetime
) -> list[Reason]:
    """Latest value outside mean +/- k SD of the patient's own baseline (Shewhart limits)."""
    out = []
    k = float(rule["k_sd"])
    for m in rule["measures"]:
        series = history.get(m) or []
        base = _baseline(series, now, float(rule["baseline_days"]))
        if len(base) < int(rule["min_points"]) or not series or series[-1][0] < now - timedelta(days=1):
            continue
        mu, sd = statistics.fmean(base), statistics.stdev(base)
        if sd <= 0:
            continue
        latest = series[-1][1]
        z = (latest - mu) / sd
        if abs(z) > k:
            what = (f"{m} {fmt(m, latest)} is {z:+.1f} SD from the patient's {rule['baseline_days']:g}-day "
                    f"baseline {mu:.1f} +/- {sd:.1f}")  # fmt: skip
            out.append(Reason(f"baseline_deviation.{m}", rules.cite(rule), what, Tier(rule["tier"]), m,
                              round(z, 2), "baseline"))  # fmt: skip
    return out
