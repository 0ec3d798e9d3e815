"""The virtual patient (issue 12): published test vectors of its sub-models, responses to treatment in
the direction the sources give, and determinism by seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.linear import simulate as pk_simulate
from medtwin.models.pharmacology.regimen import Dose
from medtwin.models.virtual_patient import PatientSpec, parse_action, simulate
from medtwin.models.virtual_patient import drugs as D
from medtwin.models.virtual_patient.circulation import atls_class, atls_response
from medtwin.models.virtual_patient.outcome import summarise
from medtwin.models.virtual_patient.respiration import (
    F_GAIN,
    PACO2_0,
    co2_step,
    o2_content,
    po2_from_content,
    severinghaus,
)


def A(t: float, kind: str, **params: object) -> object:
    return parse_action({"kind": kind, **params}, t)


def run(cond: str, actions: list[object], minutes: float, severity: float = 0.6, seed: int = 1) -> object:
    return simulate(PatientSpec(cond, severity, seed), actions, minutes)  # type: ignore[arg-type]


def at(vp: object, t: int) -> dict:  # type: ignore[type-arg]
    return vp.history[t]  # type: ignore[attr-defined,no-any-return]


# ------------------------------------------------------------------ sub-models against their sources
def test_severinghaus_and_content_inverse() -> None:
    # Severinghaus 1979: S(26.8) ~ 50 %, S(40) ~ 75 %, S(100) ~ 97.5 %
    assert severinghaus(26.8) == pytest.approx(50.0, abs=1.0)
    assert severinghaus(40.0) == pytest.approx(75.0, abs=1.5)
    assert severinghaus(100.0) == pytest.approx(97.7, abs=0.5)
    for p in (30.0, 60.0, 95.0, 300.0):
        assert po2_from_content(o2_content(p, 12.0), 12.0) == pytest.approx(p, rel=1e-6)


def test_bouillon_steady_state() -> None:
    """At steady state the indirect-response model gives PaCO2 = PaCO2_0 (1 - E)^(-1/(F+1))."""
    for e in (0.0, 0.5, 0.9):
        p = pe = PACO2_0
        for _ in range(400):
            p, pe = co2_step(p, pe, e, False, 1.0)
        assert p == pytest.approx(PACO2_0 * (1 - e) ** (-1 / (F_GAIN + 1)), rel=1e-3)


def test_fentanyl_effect_site_peaks_at_shafer_time() -> None:
    sys_ = D.fentanyl_system(70.0)
    t = np.linspace(0.5, 10.0, 951)
    ce = pk_simulate(sys_, [Dose(0.0, 100.0)], t).ce
    assert ce is not None
    assert t[int(np.argmax(ce[0]))] == pytest.approx(D.FENTANYL_TPEAK_MIN, abs=0.02)


def test_drug_steps_match_the_exact_pk_engine() -> None:
    """The engine's fixed-step propagation equals medtwin.models.pharmacology.linear.simulate."""
    drug = D.Drug(D.naloxone_system(), 0.25)
    drug.bolus(0.4)
    cps = []
    for _ in range(40):
        drug.step()
        cps.append(drug.cp)
    ref = pk_simulate(D.naloxone_system(), [Dose(0.0, 0.4)], np.arange(1, 41) * 0.25).cp[0]
    assert np.allclose(cps, ref, rtol=1e-9)


def test_naloxone_k50_and_norepinephrine_c50() -> None:
    assert 5.0 < D.naloxone_k50_ng_ml() < 40.0  # derived from melichar2003 under dowling2008 PK
    c50_ng_ml = D.NE_C50 * D.NE_MW / 1000.0
    assert D.norepinephrine_map_rise(c50_ng_ml) == pytest.approx(D.NE_EMAX / 2, rel=1e-9)  # beloeil2005
    # competitive antagonism: more naloxone, less depression at the same fentanyl concentration
    assert D.opioid_depression(2.0, 50.0) < D.opioid_depression(2.0, 5.0) < D.opioid_depression(2.0, 0.0)
    assert D.opioid_depression(2.0, 0.0, "tolerant") < D.opioid_depression(2.0, 0.0, "naive")  # algera2021


def test_atls_classes() -> None:
    assert [atls_class(f) for f in (0.1, 0.2, 0.35, 0.45)] == ["I", "II", "III", "IV"]
    r = atls_response(0.35, 75.0, 14.0)
    assert 120 <= 75 + r["hr"] <= 140 and r["sbp"] < 0  # class III: HR 120-140, SBP falls


# ------------------------------------------------------------------ responses to treatment
def test_naloxone_reverses_opioid_respiratory_depression() -> None:
    none = run("opioid_overdose", [], 20)
    nal = run(
        "opioid_overdose",
        [A(2, "naloxone", dose=0.4), A(5, "naloxone", dose=0.4), A(8, "naloxone", dose=1.2)],
        20,
    )
    assert at(none, 0)["rr"] <= 8 and at(none, 0)["acvpu"] in "PU"  # presentation: RR <= 8, responds to pain
    assert at(nal, 12)["rr"] > at(none, 12)["rr"] + 2
    assert at(nal, 12)["paco2"] < at(none, 12)["paco2"] - 5
    assert at(nal, 12)["acvpu"] == "A" and at(none, 12)["acvpu"] != "A"
    assert (
        nal.history[12]["state"]["opioid_depression"] < 0.7 < none.history[12]["state"]["opioid_depression"]
    )


def test_oxygen_corrects_saturation_but_not_hypoventilation() -> None:
    none = run("opioid_overdose", [], 15)
    o2 = run("opioid_overdose", [A(1, "oxygen", device="reservoir_mask", flow=15)], 15)
    assert at(o2, 10)["spo2"] > at(none, 10)["spo2"] + 3
    assert at(o2, 10)["paco2"] == pytest.approx(
        at(none, 10)["paco2"], abs=2
    )  # bts_oxygen: O2 masks hypoventilation
    bvm = run("opioid_overdose", [A(1, "ventilate", on=1)], 15)
    assert at(bvm, 15)["paco2"] < at(none, 15)["paco2"] - 5


def test_glucose_corrects_hypoglycaemia_and_insulin_worsens_it() -> None:
    base = run("hypoglycaemia", [], 30, severity=0.8)
    g0 = at(base, 0)["glucose"]
    assert g0 < 54 and at(base, 0)["acvpu"] != "A"  # level 2 hypoglycaemia with neuroglycopenia
    iv = run("hypoglycaemia", [A(2, "glucose_iv", grams=15, minutes=5)], 30, severity=0.8)
    assert at(iv, 15)["glucose"] > 70 and at(iv, 15)["acvpu"] == "A"
    ins = run("hypoglycaemia", [A(2, "insulin", units=6)], 30, severity=0.8)
    assert at(ins, 30)["glucose"] < at(base, 30)["glucose"]
    oral = run(
        "hypoglycaemia", [A(2, "glucose_oral", grams=20)], 30, severity=0.8
    )  # cannot swallow: not taken
    assert at(oral, 30)["glucose"] == at(base, 30)["glucose"]
    assert "cannot swallow" in oral.events[0]["note"]


def test_fluids_raise_blood_pressure_in_haemorrhage_and_red_cells_raise_hb() -> None:
    none = run("haemorrhage", [], 30)
    fl = run("haemorrhage", [A(2, "fluids", volume=1000, minutes=15)], 30)
    assert at(fl, 17)["sbp"] > at(none, 17)["sbp"] + 5
    assert at(fl, 17)["hr"] < at(none, 17)["hr"] - 5
    assert at(fl, 17)["hb"] < at(none, 17)["hb"]  # crystalloid dilutes
    rbc = run("haemorrhage", [A(2, "transfusion", units=2)], 40)
    assert at(rbc, 40)["hb"] > at(fl, 30)["hb"] and at(rbc, 40)["hb"] > at(none, 30)["hb"]
    ctl = run("haemorrhage", [A(2, "haemorrhage_control")], 90)
    assert ctl.history[-1]["state"]["bled_ml"] < run("haemorrhage", [], 90).history[-1]["state"]["bled_ml"]


def test_sepsis_fluids_vasopressor_and_antibiotics() -> None:
    none = run("sepsis", [], 120)
    fl = run("sepsis", [A(2, "fluids", volume=2000, minutes=30)], 120)
    ne = run("sepsis", [A(2, "vasopressor", rate=0.2)], 30)
    assert at(fl, 40)["map"] > at(none, 40)["map"]
    assert at(ne, 20)["map"] > at(none, 20)["map"] + 10
    abx = run("sepsis", [A(2, "antibiotics", drug="meropenem")], 240)
    late = run("sepsis", [], 240)
    assert (
        abx.history[-1]["state"]["sepsis"] < abx.history[60]["state"]["sepsis"]
    )  # burden falls after the lag
    assert late.history[-1]["state"]["sepsis"] > late.history[60]["state"]["sepsis"]


def test_acute_heart_failure_treatment_and_harmful_fluids() -> None:
    none = run("acute_heart_failure", [], 60)
    rx = run(
        "acute_heart_failure",
        [A(2, "furosemide", dose=40), A(2, "cpap", peep=8), A(3, "nitrate", rate=50)],
        60,
    )
    fl = run("acute_heart_failure", [A(2, "fluids", volume=1000, minutes=15)], 60)
    assert at(rx, 45)["spo2"] > at(none, 45)["spo2"] + 3 and at(rx, 45)["rr"] < at(none, 45)["rr"]
    assert at(fl, 30)["spo2"] < at(none, 30)["spo2"]  # esc2021_hf: fluids worsen congestion


def test_oxygen_in_hypoxaemic_respiratory_failure() -> None:
    none = run("respiratory_failure", [], 20)
    o2 = run("respiratory_failure", [A(1, "oxygen", device="venturi", fio2=40)], 20)
    assert at(o2, 10)["spo2"] > at(none, 10)["spo2"] + 2


# ------------------------------------------------------------------ determinism and validation
def test_deterministic_by_seed() -> None:
    acts = [A(3, "fluids", volume=500, minutes=10), A(4, "transfusion", units=1)]
    a, b = run("haemorrhage", acts, 30, seed=7), run("haemorrhage", acts, 30, seed=7)
    assert a.history == b.history
    c = run("haemorrhage", acts, 30, seed=8)
    assert [h["hr"] for h in a.history] == [h["hr"] for h in c.history]  # the course is the same
    assert [h["shown"] for h in a.history] != [h["shown"] for h in c.history]  # measurement noise differs


def test_action_validation_names_the_field() -> None:
    with pytest.raises(ValidationError) as e:
        parse_action({"kind": "naloxone", "dose": 20}, 0)
    assert e.value.field == "dose"
    with pytest.raises(ValidationError) as e:
        parse_action({"kind": "oxygen", "device": "venturi", "fio2": 33}, 0)
    assert e.value.field == "fio2"
    with pytest.raises(ValidationError) as e:
        parse_action({"kind": "surgery"}, 0)
    assert e.value.field == "kind"
    with pytest.raises(ValidationError):
        PatientSpec("sepsis", 1.5)


def test_outcome_summary_danger_minutes() -> None:
    rows = [{"t": float(i), "map": 60 if i < 10 else 80, "spo2": 97, "rr": 16, "sbp": 100, "glucose": 100,
             "acvpu": "A", "news2": 3, "news2_band": "low"} for i in range(40)]  # fmt: skip
    s = summarise(rows)
    assert s["danger_minutes"]["map<65"] == 10 and s["stabilised"]
    assert not math.isnan(s["minutes"])
