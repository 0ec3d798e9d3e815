"""Outcome of a simulated (or observed) course: where the patient ended and how long they spent in
danger. Used to compare the course under a trainee's actions with the course under the real
team's actions and with what really happened.

Danger ranges (each cited): MAP < 65 mmHg (``ssc2021`` target), SpO2 < 90 % (``esc2021_hf``
oxygen trigger; ``bts_oxygen`` targets 94-98 %), respiratory rate <= 8 /min and systolic
BP <= 90 mmHg (3 points each on NEWS2, ``rcp_news2``), glucose < 54 mg/dL (level 2
hypoglycaemia, ``ada2024``), new confusion or worse (ACVPU not A; 3 points on NEWS2).

Where guidelines differ the threshold is a choice, overridable per case (the scoring policy's
``danger`` map, e.g. ``{"glucose": 72}``): SpO2 < 90 % (ESC's oxygen trigger) rather than BTS's
94 % target floor, because the range counts danger, not a missed target; glucose < 54 mg/dL (ADA
level 2, clinically significant) rather than JBDS's treatment threshold of 72 mg/dL (4.0 mmol/L).

The end state is banded on NEWS2 (``rcp_news2`` Chart 2: 0-4 low, 5-6 medium, >= 7 high; a
single parameter scoring 3 makes it low-medium). "Stabilised" = low band at the end and no danger
range in the last 15 minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DANGER: tuple[tuple[str, str, str, float, str], ...] = (
    ("map<65", "map", "<", 65.0, "ssc2021"),
    ("spo2<90", "spo2", "<", 90.0, "esc2021_hf"),
    ("rr<=8", "rr", "<=", 8.0, "rcp_news2"),
    ("sbp<=90", "sbp", "<=", 90.0, "rcp_news2"),
    ("glucose<54", "glucose", "<", 54.0, "ada2024"),
)
DANGER_KEYS = tuple(d[1] for d in DANGER)


def danger_ranges(overrides: dict[str, Any] | None = None) -> list[tuple[str, str, str, float, str]]:
    """The danger ranges with a case's threshold overrides (``{"glucose": 72}``) applied."""
    out = []
    for name, key, op, thr, src in DANGER:
        v = (overrides or {}).get(key)
        if v is not None and float(v) != thr:
            name, thr, src = f"{key}{op}{float(v):g}", float(v), f"{src} (threshold set by the case)"
        out.append((name, key, op, thr, src))
    return out


def _hit(row: dict[str, Any], key: str, op: str, thr: float) -> bool:
    v = row.get(key)
    if v is None:
        return False
    return float(v) < thr if op == "<" else float(v) <= thr


def summarise(
    history: Sequence[dict[str, Any]], label: str = "", thresholds: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Summary of per-minute rows ``{t, hr, sbp, map, rr, spo2, glucose, acvpu, news2, news2_band}``
    (``thresholds``: overrides by vital, :func:`danger_ranges`)."""
    ranges = danger_ranges(thresholds)
    if not history:
        return {"label": label, "minutes": 0, "danger_minutes": {}, "stabilised": False, "end": {}}
    rows = list(history)
    t_end = float(rows[-1].get("t", len(rows) - 1))
    danger: dict[str, float] = {}
    recent = False
    for name, key, op, thr, _src in ranges:
        hits = [r for r in rows if _hit(r, key, op, thr)]
        danger[name] = float(len(hits))
        if any(float(r.get("t", 0)) >= t_end - 15 for r in hits):
            recent = True
    confused = [r for r in rows if r.get("acvpu") not in (None, "A")]
    danger["acvpu>A"] = float(len(confused))
    if any(float(r.get("t", 0)) >= t_end - 15 for r in confused):
        recent = True
    end = {
        k: rows[-1].get(k)
        for k in ("hr", "sbp", "map", "rr", "spo2", "temp", "acvpu", "glucose", "news2", "news2_physiology")
    }
    band = str(rows[-1].get("news2_band", ""))
    first = rows[0]
    return {
        "label": label,
        "minutes": round(t_end - float(first.get("t", 0)), 1),
        "start": {k: first.get(k) for k in end},
        "end": end,
        "end_band": band,
        "worst": {
            "map": min((r["map"] for r in rows if r.get("map") is not None), default=None),
            "spo2": min((r["spo2"] for r in rows if r.get("spo2") is not None), default=None),
            "news2": max((r["news2"] for r in rows if r.get("news2") is not None), default=None),
        },
        "danger_minutes": danger,
        "stabilised": band == "low" and not recent,
        "sources": sorted({"rcp_news2", *(d[4].split(" ")[0] for d in ranges)}),
        "danger_ranges": [{"name": d[0], "source": d[4]} for d in ranges],
    }


def _news(s: dict[str, Any]) -> Any:
    end = s["end"]
    return end.get("news2_physiology") if end.get("news2_physiology") is not None else end.get("news2")


def badness(s: dict[str, Any]) -> float:
    """Final NEWS2 (without its air-or-oxygen point, which marks the therapy given, not the patient's
    state) + minutes in danger ranges / 15: a summary for comparing courses (lower is better)."""
    return float(_news(s) or 0) + float(sum(s["danger_minutes"].values())) / 15.0


def compare(trainee: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """How the trainee's course compares with a reference course (both from :func:`summarise`):
    "better than" / "worse than" when their :func:`badness` differs by more than half a point."""
    d_news = None
    if trainee["end"].get("news2") is not None and reference["end"].get("news2") is not None:
        d_news = int(trainee["end"]["news2"]) - int(reference["end"]["news2"])
    danger_diff = {
        k: round(trainee["danger_minutes"].get(k, 0.0) - reference["danger_minutes"].get(k, 0.0), 1)
        for k in trainee["danger_minutes"]
    }
    bt, br = badness(trainee), badness(reference)
    verdict = "as good as" if abs(bt - br) <= 0.5 else ("better than" if bt < br else "worse than")
    return {
        "reference": reference.get("label", ""),
        "news2_difference": d_news,
        "danger_minutes_difference": danger_diff,
        "verdict": verdict,
        "badness": {"trainee": round(bt, 2), "reference": round(br, 2)},
        "text": f"End state {verdict} the {reference.get('label', 'reference')} (NEWS2 without the oxygen point "
        f"{_news(trainee)} vs {_news(reference)}; minutes in danger ranges "
        f"{sum(trainee['danger_minutes'].values()):g} vs {sum(reference['danger_minutes'].values()):g}).",
    }
