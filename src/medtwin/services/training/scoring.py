"""Scoring a submitted session and the feedback report.

Three parts, weighted by the case's policy (default diagnosis 30, management 50, outcome 20):

* **diagnosis** (:mod:`.codes`): the submitted primary diagnosis against the real coded one: exact
  (or an educator-accepted equivalent) 100, same ICD-10 category 60; otherwise the real diagnosis
  in the ranked differential earns 40/30/20/10/5 at ranks 1-5 (half for a same-category code);
* **management** (:mod:`.checklists`): weighted checklist, full weight on time, half late, none
  missed; items whose ``when`` state never occurred are not applicable; each harmful or
  contraindicated order subtracts its penalty once; the result is a share of the applicable
  weight, floored at 0. Time to each critical action is reported against its target;
* **outcome** (:mod:`medtwin.models.virtual_patient.outcome`): the virtual patient is run to the end
  of the session plus a horizon (default 30 min) under the trainee's actions, under the real team's
  actions and under none. "Badness" = final NEWS2 + minutes in danger ranges / 15; the score is
  the share of the no-treatment badness the trainee removed, relative to the better of the real
  team's course and the trainee's own (100 = as good as the best of them).

The weights, credits and the badness formula are the scoring policy (educational choices, editable
per case); every clinical threshold and time target inside them is cited.
"""

from __future__ import annotations

import math
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.models.virtual_patient.actions import Action, parse_action
from medtwin.models.virtual_patient.engine import PatientSpec, simulate
from medtwin.models.virtual_patient.outcome import badness, compare, summarise
from medtwin.models.virtual_patient.sources import SOURCES
from medtwin.services.training.codes import Code, match, parse_code
from medtwin.services.training.sessions import treatment_actions

TRACE_KEYS = ("t", "hr", "sbp", "map", "rr", "spo2", "glucose", "news2", "news2_physiology", "acvpu")


def _kinds(v: Any) -> list[str]:
    return list(v) if isinstance(v, list | tuple) else [v]


def first_match(m: dict[str, Any], events: list[dict[str, Any]], weight_kg: float) -> float | None:
    """Simulated minute at which the trainee's events first satisfy ``m`` (None: never)."""
    if "first" in m:
        t1, t2 = first_match(m["first"], events, weight_kg), first_match(m["before"], events, weight_kg)
        return t1 if t1 is not None and (t2 is None or t1 <= t2) else None
    if "after" in m:
        t1 = first_match(m["after"], events, weight_kg)
        if t1 is None:
            return None
        later = [e for e in events if e["t"] >= t1]
        t2 = first_match(m["then"], later, weight_kg)
        return t2 if t2 is not None and t2 - t1 <= float(m.get("within", math.inf)) else None
    if "crystalloid_ml_per_kg" in m or "crystalloid_ml" in m:
        need = float(m.get("crystalloid_ml", 0.0)) or float(m["crystalloid_ml_per_kg"]) * weight_kg
        total = 0.0
        for e in events:
            if e["kind"] == "action" and e["action"]["kind"] == "fluids":
                total += float(e["action"]["params"].get("volume", 0.0))
                if total >= need - 1e-9:
                    return float(e["t"])
        return None
    for e in events:
        if "action" in m and e["kind"] == "action" and e["action"]["kind"] in _kinds(m["action"]):
            p = e["action"]["params"]
            if all(float(p.get(k, 0.0)) >= float(v) for k, v in (m.get("min") or {}).items()):
                return float(e["t"])
        if "order" in m and e["kind"] == "order" and e["test"] in _kinds(m["order"]):
            return float(e["t"])
    return None


def _state_ok(row: dict[str, Any], cond: dict[str, Any]) -> bool:
    v, ref, op = row.get(cond["key"]), cond["value"], cond["op"]
    if v is None:
        return False
    return bool({"<": lambda: v < ref, "<=": lambda: v <= ref, ">": lambda: v > ref, ">=": lambda: v >= ref,
                 "!=": lambda: v != ref, "==": lambda: v == ref}[op]())  # fmt: skip


def evaluate(scoring: dict[str, Any], events: list[dict[str, Any]], history: list[dict[str, Any]],
             weight_kg: float) -> dict[str, Any]:  # fmt: skip
    items, possible, earned = [], 0.0, 0.0
    for it in scoring.get("items", []):
        when = it.get("when")
        if when and not any(_state_ok(r, when) for r in history):
            items.append({**_pub(it), "status": "not applicable", "t": None, "earned": 0.0})
            continue
        t = first_match(it["match"], events, weight_kg)
        w = float(it.get("weight", 1.0))
        deadline = it.get("deadline_min")
        status = (
            "missed" if t is None else ("late" if deadline is not None and t > float(deadline) else "on time")
        )
        got = {"on time": w, "late": w / 2.0, "missed": 0.0}[status]
        possible, earned = possible + w, earned + got
        items.append({**_pub(it), "status": status, "t": t, "earned": got})
    pen, lost = [], 0.0
    for p in scoring.get("penalties", []):
        cands = [e for e in events if first_match(p["match"], [e], weight_kg) is not None]
        if "crystalloid_ml" in p["match"] or "crystalloid_ml_per_kg" in p["match"]:
            t = first_match(p["match"], events, weight_kg)
            cands = [e for e in events if t is not None and e["t"] == t][:1]
        hit = None
        for e in cands:
            row = history[min(math.floor(e["t"]), len(history) - 1)] if history else {}
            if p.get("if") and not _state_ok(row, p["if"]):
                continue
            if (
                p.get("unless_before")
                and first_match(p["unless_before"], [x for x in events if x["t"] < e["t"]], weight_kg)
                is not None
            ):
                continue
            hit = e
            break
        if hit is not None:
            lost += float(p.get("penalty", 1.0))
            pen.append({**_pub(p), "t": hit["t"], "penalty": float(p.get("penalty", 1.0))})
    score = 100.0 * max(earned - lost, 0.0) / possible if possible else 100.0
    crit = [{"id": i["id"], "label": i["label"], "t": i["t"], "deadline_min": i.get("deadline_min"),
             "status": i["status"]} for i in items if i.get("critical")]  # fmt: skip
    return {"score": round(score, 1), "earned": earned, "possible": possible, "penalty_points": lost,
            "items": items, "penalties": pen, "critical": crit}  # fmt: skip


def _pub(it: dict[str, Any]) -> dict[str, Any]:
    out = {k: it.get(k) for k in ("id", "label", "weight", "critical", "deadline_min", "source")}
    out["citation"] = SOURCES.get(str(it.get("source")), "")
    return out


def diagnosis_score(case: dict[str, Any], submitted: dict[str, Any]) -> dict[str, Any]:
    real = parse_code(case["diagnosis"])
    accepted = [parse_code(a) for a in case.get("accepted", [])]
    credit = case["scoring"]["diagnosis_credit"]
    primary = parse_code(submitted["primary"], "primary")
    m = match(real, primary, accepted)
    score = {"exact": float(credit["exact"]), "category": float(credit["category"]), "none": 0.0}[m]
    rank, diff_credit, ranks = None, 0.0, credit.get("differential", [])
    for k, d in enumerate(submitted.get("differential", [])):
        md = match(real, parse_code(d, f"differential[{k}]"), accepted)
        if md != "none" and k < len(ranks):
            rank, diff_credit = k + 1, float(ranks[k]) * (1.0 if md == "exact" else 0.5)
            break
    return {"real": real.as_dict(), "submitted": primary.as_dict(), "match": m, "differential_rank": rank,
            "score": max(score, diff_credit if m == "none" else 0.0)}  # fmt: skip


def reference_actions(case: dict[str, Any]) -> list[Action]:
    out = []
    for a in case.get("real", {}).get("treatment", []):
        if not a.get("replayed") or not a.get("kind") or a["t"] < 0:
            continue
        try:
            out.append(parse_action({"kind": a["kind"], **(a.get("params") or {})}, a["t"]))
        except ValidationError:
            continue  # a real record the model cannot replay (shown in the report, not simulated)
    return out


def _trace(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: h.get(k) for k in TRACE_KEYS} for h in history]


def score_session(
    case: dict[str, Any], session: dict[str, Any], events: list[dict[str, Any]]
) -> dict[str, Any]:
    if not session.get("diagnosis"):
        raise ValidationError("submit a diagnosis first", field="diagnosis")
    sc = case["scoring"]
    spec = PatientSpec.from_dict({**case["physiology"], "seed": session["seed"]})
    end = float(session.get("submitted_min") or 0.0) + float(sc.get("horizon_min", 30.0))
    end = min(max(end, 30.0), 24 * 60.0)
    mine = simulate(spec, treatment_actions(events), end)
    team = simulate(spec, reference_actions(case), end)
    none = simulate(spec, [], end)
    dz = sc.get("danger")
    s_mine, s_team, s_none = summarise(mine.history, "your course", dz), summarise(team.history, "real team's treatment in the model", dz), summarise(none.history, "no treatment", dz)  # fmt: skip
    observed = [r for r in case.get("real", {}).get("observed", []) if 0 <= r["t"] <= end]
    s_obs = summarise(observed, "real patient (observed)", dz) if observed else None
    b_none, b_mine, b_team = badness(s_none), badness(s_mine), badness(s_team)
    best = min(b_team, b_mine)
    outcome_score = 100.0 if b_none - best <= 1e-9 and b_mine <= b_none + 1e-9 else (
        100.0 * min(max((b_none - b_mine) / max(b_none - best, 1e-9), 0.0), 1.0))  # fmt: skip
    dx = diagnosis_score(case, session["diagnosis"])
    mg = evaluate(sc, events, mine.history, spec.weight_kg)
    w = sc["weights"]
    parts = {"diagnosis": dx["score"], "management": mg["score"], "outcome": round(outcome_score, 1)}
    total = sum(w[k] * parts[k] for k in parts) / sum(w.values())
    comparisons = [compare(s_mine, s_team), compare(s_mine, s_none)] + (
        [compare(s_mine, s_obs)] if s_obs else []
    )
    keys = sorted({it.get("source") for it in [*mg["items"], *mg["penalties"]] if it.get("source")}
                  | {t.get("source") for t in case.get("teaching", []) if t.get("source")} | set(case.get("sources", [])))  # fmt: skip
    return {
        "total": round(total, 1), "parts": parts, "weights": w, "diagnosis": dx, "management": mg,
        "outcome": {"score": round(outcome_score, 1), "horizon_end_min": end, "courses": {
            "trainee": s_mine, "real_team_in_model": s_team, "no_treatment": s_none, "real_observed": s_obs},
            "comparisons": comparisons, "badness": {"trainee": round(b_mine, 2), "real_team": round(b_team, 2),
                                                    "no_treatment": round(b_none, 2)}},
        "feedback": {
            "real_diagnosis": case["diagnosis"], "real_treatment": case.get("real", {}).get("treatment", []),
            "real_outcome": case.get("real", {}).get("outcome_text", ""), "teaching": case.get("teaching", []),
            "your_actions": [{"t": e["t"], "kind": e["kind"], **{k: e[k] for k in ("action", "test", "stage") if k in e}}
                             for e in events if e["kind"] in ("action", "order")],
        },
        "trajectories": {"trainee": _trace(mine.history), "real_team": _trace(team.history),
                         "no_treatment": _trace(none.history), "real_observed": observed},
        "sources": [{"key": k, "text": SOURCES[k]} for k in keys if k in SOURCES],
    }  # fmt: skip


def parse_submission(body: dict[str, Any]) -> dict[str, Any]:
    primary = parse_code(body.get("primary"), "primary")
    diff = body.get("differential") or []
    if not isinstance(diff, list) or len(diff) > 10:
        raise ValidationError("differential is a ranked list of up to 10 codes", field="differential")
    codes: list[Code] = [parse_code(d, f"differential[{i}]") for i, d in enumerate(diff)]
    return {"primary": primary.as_dict(), "differential": [c.as_dict() for c in codes],
            "reasoning": str(body.get("reasoning") or "")[:2000]}  # fmt: skip
