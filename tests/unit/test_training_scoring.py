"""Training scores (issue 12): diagnosis match (exact, category, differential rank), checklist timing
(on time / late / missed / not applicable), penalties for harmful and contraindicated orders, the
outcome part, weights, and the cohort's difficulty from results."""

from __future__ import annotations

from typing import Any

import pytest

from medtwin.core.errors import ValidationError
from medtwin.services.training.cases import apply_edit, from_template
from medtwin.services.training.checklists import checklist
from medtwin.services.training.codes import ICD10, match, parse_code
from medtwin.services.training.instructor import cohort
from medtwin.services.training.scoring import diagnosis_score, evaluate, first_match, score_session


def act(t: float, kind: str, **params: Any) -> dict[str, Any]:
    return {"t": t, "kind": "action", "action": {"kind": kind, "params": params}}


def order(t: float, test: str) -> dict[str, Any]:
    return {"t": t, "kind": "order", "test": test}


def rows(n: int = 120, **over: Any) -> list[dict[str, Any]]:
    base = {"map": 80, "sbp": 120, "spo2": 96, "rr": 18, "acvpu": "A", "glucose": 100}
    return [{"t": float(i), **base, **over} for i in range(n)]


# ------------------------------------------------------------------ diagnosis
def test_code_parsing_and_matching() -> None:
    real = parse_code("K92.2")
    assert real.system == ICD10 and real.category == "K92"
    assert match(real, parse_code("icd-10|k92.2")) == "exact"
    assert match(real, parse_code("K92.0")) == "category"
    assert match(real, parse_code("I21.9")) == "none"
    assert match(real, parse_code("K92.0"), [parse_code("K92.0")]) == "exact"  # educator-accepted
    assert match(parse_code("snomed|91302008"), parse_code("snomed|91302008")) == "exact"
    with pytest.raises(ValidationError) as e:
        parse_code("sepsis", "primary")
    assert e.value.field == "primary"


def test_diagnosis_score_exact_category_and_differential_rank() -> None:
    case = from_template("sepsis")  # real A41.9
    s = lambda p, d=(): diagnosis_score(case, {"primary": p, "differential": list(d)})  # noqa: E731
    assert s("A41.9")["score"] == 100 and s("A41.9")["match"] == "exact"
    assert s("A41.0")["score"] == 60 and s("A41.0")["match"] == "category"
    assert s("N39.0", ["J18.9", "A41.9"]) == {
        **s("N39.0", ["J18.9", "A41.9"]),
        "differential_rank": 2,
        "score": 30.0,
    }
    assert s("N39.0", ["A41.0"])["score"] == 20.0  # same category at rank 1: half of 40
    assert s("N39.0", ["J18.9"])["score"] == 0.0


# ------------------------------------------------------------------ checklist
def test_checklist_on_time_late_missed_and_not_applicable() -> None:
    sc = checklist("sepsis")
    events = [order(5, "blood_cultures"), act(10, "antibiotics", drug="meropenem"), order(70, "lactate"),
              act(20, "fluids", volume=1500, minutes=30), act(100, "fluids", volume=600, minutes=30)]  # fmt: skip
    events.sort(key=lambda e: e["t"])
    r = evaluate(sc, events, rows(), 70.0)
    st = {i["id"]: (i["status"], i["t"]) for i in r["items"]}
    assert st["antibiotics_1h"] == ("on time", 10.0)
    assert st["cultures_first"] == ("on time", 5.0)
    assert st["lactate"] == ("late", 70.0)  # target 60 min: half weight
    assert st["fluids_30"] == ("on time", 100.0)  # 2100 mL = 30 mL/kg x 70 kg reached at minute 100
    assert st["norepinephrine"][0] == "not applicable"  # MAP never < 65
    assert r["possible"] == 6 and r["earned"] == 5.5
    assert r["score"] == pytest.approx(100 * 5.5 / 6, abs=0.1)
    assert [c["id"] for c in r["critical"]] == ["antibiotics_1h", "fluids_30"]
    # antibiotics before cultures: the cultures item is missed; norepinephrine becomes expected at MAP < 65
    r2 = evaluate(
        sc, [act(3, "antibiotics", drug="meropenem"), order(5, "blood_cultures")], rows(map=60), 70.0
    )
    st2 = {i["id"]: i["status"] for i in r2["items"]}
    assert (
        st2["cultures_first"] == "missed"
        and st2["norepinephrine"] == "missed"
        and st2["fluids_30"] == "missed"
    )


def test_penalties_harmful_and_contraindicated() -> None:
    hypo = checklist("hypoglycaemia")
    events = [act(2, "insulin", units=4), act(3, "glucose_oral", grams=15), order(4, "capillary_glucose"),
              act(5, "glucose_iv", grams=15, minutes=5), order(12, "capillary_glucose")]  # fmt: skip
    r = evaluate(hypo, events, rows(acvpu="C"), 70.0)
    assert {p["id"] for p in r["penalties"]} == {"insulin", "oral_unconscious"}
    assert r["penalty_points"] == 3
    assert {i["id"]: i["status"] for i in r["items"]}["recheck_15"] == "on time"
    # oral glucose to an alert patient is fine
    assert not [p for p in evaluate(hypo, [act(3, "glucose_oral", grams=15)], rows(), 70.0)["penalties"]]
    ahf = checklist("acute_heart_failure")
    r = evaluate(
        ahf, [act(5, "nitrate", rate=30), act(6, "fluids", volume=500, minutes=15)], rows(sbp=85), 70.0
    )
    assert {p["id"] for p in r["penalties"]} == {"nitrate_low_sbp", "fluids"}
    assert not evaluate(ahf, [act(5, "nitrate", rate=30)], rows(sbp=150), 70.0)["penalties"]
    haem = checklist("haemorrhage")
    r = evaluate(haem, [act(2, "vasopressor", rate=0.1), act(3, "fluids", volume=1000, minutes=10),
                        act(8, "fluids", volume=1000, minutes=10)], rows(), 70.0)  # fmt: skip
    assert {p["id"] for p in r["penalties"]} == {
        "pressor_before_volume",
        "crystalloid_1500",
    }  # spahn2019, ley2011
    r = evaluate(haem, [act(2, "transfusion", units=1), act(3, "vasopressor", rate=0.1)], rows(), 70.0)
    assert not r["penalties"]
    assert evaluate(haem, [act(2, "vasopressor", rate=0.1)] * 3, rows(), 70.0)["penalty_points"] == 1  # once


def test_first_match_forms() -> None:
    ev = [act(1, "glucose_iv", grams=10), order(20, "capillary_glucose")]
    m = {"after": {"action": ["glucose_iv"]}, "then": {"order": ["capillary_glucose"]}, "within": 15}
    assert first_match(m, ev, 70) is None  # rechecked after 19 min: too late
    assert (
        first_match({"action": "vasopressor", "min": {"rate": 0.01}}, [act(1, "vasopressor", rate=0.0)], 70)
        is None
    )


# ------------------------------------------------------------------ whole score, weights, outcome
def _session(events: list[dict[str, Any]], primary: str, minute: float) -> dict[str, Any]:
    return {"id": "s1", "case_id": "c1", "trainee": "t", "seed": 3, "submitted_min": minute,
            "diagnosis": {"primary": primary, "differential": []}}  # fmt: skip


def test_score_session_weights_and_outcome_against_the_real_team() -> None:
    case = {**from_template("opioid_overdose"), "id": "c1"}
    good = [act(1, "ventilate", on=1), act(1, "oxygen", device="reservoir_mask", flow=15), act(2, "naloxone", dose=0.4),
            order(3, "capillary_glucose"), act(5, "naloxone", dose=0.8)]  # fmt: skip
    r = score_session(case, _session(good, "T40.4", 15.0), good)
    assert r["parts"]["diagnosis"] == 100 and r["parts"]["management"] == 100
    assert r["outcome"]["score"] >= 90  # at least as good as the real team's course in the model
    assert r["total"] == pytest.approx(
        sum(r["weights"][k] * r["parts"][k] for k in r["parts"]) / 100, abs=0.1
    )
    nothing = score_session(case, _session([], "F10.0", 15.0), [])
    assert nothing["parts"]["management"] == 0 and nothing["parts"]["diagnosis"] == 0
    assert nothing["outcome"]["score"] == 0  # no better than no treatment
    assert nothing["total"] < r["total"]
    assert {c["reference"] for c in r["outcome"]["comparisons"]} >= {
        "no treatment",
        "real team's treatment in the model",
    }
    assert r["feedback"]["real_treatment"] and r["sources"]
    edited = apply_edit(case, {"scoring": {"weights": {"diagnosis": 100, "management": 0, "outcome": 0}}})
    assert score_session(edited, _session([], "T40.4", 15.0), [])["total"] == 100


def test_cohort_difficulty_bands() -> None:
    case = {"id": "c1", "title": "x"}

    def sc(m: str, total: float) -> dict[str, Any]:
        item = {
            "id": "a",
            "label": "A",
            "status": "on time" if m == "exact" else "missed",
            "critical": True,
            "t": 5.0,
        }
        return {"session_id": m + str(total), "trainee": "t", "total": total, "created": "", "parts": {},
                "diagnosis": {"match": m, "submitted": {"code": "X"}}, "management": {"items": [item]}}  # fmt: skip

    assert cohort(case, [sc("exact", 90), sc("exact", 80)])["difficulty"]["band"] is None  # too few
    easy = cohort(case, [sc("exact", 90)] * 4)
    assert easy["difficulty"]["band"] == "easy" and easy["items"][0]["done_share"] == 1.0
    hard = cohort(case, [sc("none", 20)] * 3 + [sc("exact", 80)])
    assert hard["difficulty"]["band"] == "hard" and hard["difficulty"]["p_exact_diagnosis"] == 0.25
    assert cohort(case, [])["difficulty"] is None
