"""UVA/Padova glucose twin: Kovatchev and consensus metrics, agreement with simglucose, steady state,
CGM error, personalisation and its counterfactual validity (boluses doubled), low confidence."""

from __future__ import annotations

import types

import numpy as np
import pytest

from medtwin.models.glucose.cgm import cgm_noise, cgm_readings, noise_sd
from medtwin.models.glucose.cohort import batch, cohort, get_patient, group
from medtwin.models.glucose.compare import compare_insulin
from medtwin.models.glucose.fit import GlucoseFit, GlucoseRecord, fit_glucose, initial_state
from medtwin.models.glucose.metrics import glycaemic_metrics, meets_consensus, risk
from medtwin.models.glucose.scenario import InsulinRegimen, Meal, insulin_inputs, meal_inputs
from medtwin.models.glucose.uva_padova import simulate


def test_kovatchev_risk_vector() -> None:
    rl, rh = risk(np.array([40, 54, 70, 180, 250, 400.0]))
    r = rl + rh
    assert np.allclose(r, [36.418, 18.461, 7.755, 7.729, 22.436, 57.046], atol=1e-3)
    assert float(sum(risk(np.array([112.5]))[0] + risk(np.array([112.5]))[1])) < 1e-5


def test_consensus_metrics_and_lbgi_over_all_readings() -> None:
    g = np.array([[50, 65, 100, 150, 200, 260, 120, 120, 120, 120.0]])
    m = glycaemic_metrics(g)
    assert m["tir"][0] == pytest.approx(0.6) and m["tbr70"][0] == pytest.approx(0.2)
    assert (
        m["tbr54"][0] == pytest.approx(0.1)
        and m["tar180"][0] == pytest.approx(0.2)
        and m["tar250"][0] == pytest.approx(0.1)
    )
    rl, _ = risk(g)
    assert m["lbgi"][0] == pytest.approx(rl.sum() / 10)  # averaged over all 10 readings, not the 2 low ones
    assert not meets_consensus(m)["tir"][0]


def test_cohort_is_the_open_30_patient_set() -> None:
    c = cohort()
    assert len(c) == 30 and len(group("adult")) == 10 and len(group("child")) == 10
    p = get_patient("adult#001")
    assert p.cr == 10 and p.params["BW"] == pytest.approx(102.32, abs=0.01)


def test_basal_steady_state_is_flat() -> None:
    names = group("adult")
    b = batch(names)
    ins = np.asarray([[get_patient(n).basal_u_per_min] * 360 for n in names])
    sim = simulate(b, np.zeros((1, 360)), ins)
    drift = np.abs(sim.sensor[:, -1] - sim.sensor[:, 0])
    assert drift.max() < 1.0


def test_agrees_with_simglucose_patient_model() -> None:
    t1d = pytest.importorskip("simglucose.patient.t1dpatient")
    name = "adolescent#003"
    vp = get_patient(name)
    meals = [Meal(30, 60)]
    cho = meal_inputs(meals, 240)
    ins = insulin_inputs(InsulinRegimen("r", vp.basal_u_per_min * 60, vp.cr), meals, 240)
    p = t1d.T1DPatient.withName(name)
    p._params = types.SimpleNamespace(**p._params.to_dict())  # attribute access without pandas (same numbers)
    ref = [p.observation.Gsub]
    for m in range(240):
        p.step(t1d.Action(CHO=cho[m], insulin=ins[m]))
        ref.append(p.observation.Gsub)
    ours = simulate(batch([name]), cho[None], ins[None], substeps=1).sensor[0]
    assert np.max(np.abs(ours - np.asarray(ref))) < 0.05  # mg/dL


def test_cgm_error_model() -> None:
    n = noise_sd()
    e = cgm_noise(20_000, np.random.default_rng(2))
    assert 8 < n < 16 and np.std(e) == pytest.approx(n, rel=0.15)
    t, y = cgm_readings(np.full(61, 120.0), np.random.default_rng(1))
    assert t[1] - t[0] == 3 and y.min() >= 39


MEALS = [Meal(60, 50), Meal(300, 70)]
TRUTH = "adult#007"


def _record(minutes: int, meals: list[Meal], seed: int = 3) -> tuple[GlucoseRecord, InsulinRegimen]:
    vp = get_patient(TRUTH)
    reg = InsulinRegimen("usual", vp.basal_u_per_min * 60, vp.cr)
    cho = meal_inputs(meals, minutes)
    ins = insulin_inputs(reg, meals, minutes)
    truth = simulate(batch([TRUTH]), cho[None], ins[None])
    t, y = cgm_readings(truth.sensor[0], np.random.default_rng(seed))
    return GlucoseRecord(cho, ins, t, y), reg


def test_personalisation_counterfactual_doubled_boluses() -> None:
    rec, reg = _record(600, MEALS)
    fit = fit_glucose(rec, exclude=(TRUTH,))  # the truth is not among the templates
    assert fit.template != TRUTH and fit.mard < 0.15
    assert GlucoseFit.from_dict(fit.as_dict()).template == fit.template
    doubled = InsulinRegimen("boluses x2", reg.basal_u_per_h, reg.carb_ratio, bolus_scale=2.0)
    cho = meal_inputs(MEALS, 600)
    ins2 = insulin_inputs(doubled, MEALS, 600)
    truth = simulate(batch([TRUTH]), cho[None], ins2[None]).sensor[0]
    b = fit.patient()
    twin = simulate(b, cho[None], ins2[None], x0=initial_state(b, fit.g0)).sensor[0]
    mard = float(np.mean(np.abs(twin - truth) / truth))
    print(
        f"\nglucose twin, boluses doubled: MARD vs truth {mard:.1%}, truth min {truth.min():.0f}, twin min {twin.min():.0f}"
    )
    assert mard < 0.25
    out = compare_insulin(fit, [reg, doubled], MEALS, hours=10, n=30, suggest_from=None)
    by = {r["label"]: r for r in out["results"]}
    assert by["boluses x2"]["metrics"]["tbr70"][1] >= by["usual"]["metrics"]["tbr70"][1]
    assert by["usual"]["rank"] <= by["boluses x2"]["rank"]
    assert len(by["usual"]["curves"]["p50"]) == len(by["usual"]["curves"]["t_h"])


def test_fasting_record_gives_low_confidence_for_meal_regimens() -> None:
    """Eight fasting hours say nothing about carbohydrate absorption: predictions with meals are flagged."""
    rec, reg = _record(480, [])
    fit = fit_glucose(rec, exclude=(TRUTH,), max_iter=8)
    assert np.sqrt(fit.cov[2, 2]) > 0.8 * fit.prior_sd[2]  # kabs stays at its prior
    out = compare_insulin(fit, [reg], [Meal(60, 80), Meal(360, 80)], hours=10, n=30, suggest_from=None)
    assert out["results"][0]["confidence"]["level"] == "low"
