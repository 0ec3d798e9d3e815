"""The instructor's view: cohort results per case, per-case difficulty from the results, replays.

Difficulty is estimated from the cohort with classical item analysis: the difficulty index ``p``
is the share of trainees who got the diagnosis exactly right (the proportion-correct index of
classical test theory), reported with the mean total score and, per checklist item, the share of
trainees who did it (on time or late). The verbal band uses the conventional item-analysis cut-offs
(p > 0.7 easy, 0.3-0.7 moderate, < 0.3 hard); with fewer than 3 scored sessions no band is given.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from medtwin.models.virtual_patient.actions import describe
from medtwin.services.training.investigations import INVESTIGATIONS

MIN_COHORT = 3


def cohort(case: dict[str, Any], scores: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(scores)
    out: dict[str, Any] = {"case_id": case["id"], "title": case["title"], "n": n, "sessions": []}
    if not n:
        return {**out, "difficulty": None}
    exact = sum(1 for s in scores if s["diagnosis"]["match"] == "exact")
    p = exact / n
    totals = [float(s["total"]) for s in scores]
    done: dict[str, list[int]] = defaultdict(list)
    times: dict[str, list[float]] = defaultdict(list)
    labels: dict[str, str] = {}
    for s in scores:
        for it in s["management"]["items"]:
            if it["status"] == "not applicable":
                continue
            labels[it["id"]] = it["label"]
            done[it["id"]].append(1 if it["status"] in ("on time", "late") else 0)
            if it.get("critical") and it.get("t") is not None:
                times[it["id"]].append(float(it["t"]))
    band = None
    if n >= MIN_COHORT:
        band = "easy" if p > 0.7 else ("hard" if p < 0.3 else "moderate")
    out.update({
        "difficulty": {"p_exact_diagnosis": round(p, 3), "band": band, "mean_total": round(statistics.fmean(totals), 1),
                       "median_total": round(statistics.median(totals), 1),
                       "method": "classical item analysis (proportion correct); bands p > 0.7 easy, < 0.3 hard"},
        "items": [{"id": k, "label": labels[k], "done_share": round(sum(v) / len(v), 3),
                   "median_time_min": round(statistics.median(times[k]), 1) if times.get(k) else None}
                  for k, v in done.items()],
        "sessions": [{"session_id": s["session_id"], "trainee": s["trainee"], "total": s["total"],
                      "diagnosis": s["diagnosis"]["submitted"], "match": s["diagnosis"]["match"],
                      "parts": s["parts"], "created": s["created"]} for s in scores],
    })  # fmt: skip
    return out


def replay(session: dict[str, Any], events: list[dict[str, Any]], score: dict[str, Any] | None,
           trace: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """Everything that happened in a session, in order, with the course it produced."""
    steps = []
    for e in events:
        what = e["kind"]
        if what == "reveal":
            text = f"opened {e['stage']}"
        elif what == "action":
            text = describe(e["action"]["kind"], e["action"]["params"])
        elif what == "order":
            inv = INVESTIGATIONS.get(e["test"])
            text = f"ordered {inv.label if inv else e['test']}"
        elif what == "clock":
            text = (f"clock moved on {e['advance_min']:g} min" if e.get("advance_min") else
                    f"clock {'running' if e.get('running') else 'paused'} at {e.get('speed'):g}x")  # fmt: skip
        elif what == "diagnosis":
            d = e.get("primary") or {}
            text = f"diagnosis {d.get('code', '')} {d.get('display', '')}".strip()
        else:
            text = what
        steps.append({"seq": e["seq"], "t": e["t"], "wall": e["wall"], "kind": what, "text": text})
    return {"session": session, "steps": steps, "trace": trace, "score": score}
