"""Exact linear PK engine: closed-form one-compartment values, infusions, oral absorption, batches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.linear import _expm_transitions, _transitions, from_clearances, simulate
from medtwin.models.pharmacology.regimen import Dose, parse_cli_regimen, repeated


def test_one_compartment_bolus_closed_form() -> None:
    # D 500 mg, V 50 L, CL 5 L/h: C0 10 mg/L, t1/2 6.931 h, C(6 h) 5.4881 mg/L, AUC = D/CL = 100 mg.h/L
    s = from_clearances(5 / 60, 50)
    sim = simulate(s, [Dose(0, 500)], [0, 6 * 60, math.log(2) / (5 / 50) * 60, 1e6])
    assert sim.cp[0, 0] == pytest.approx(10.0, rel=1e-12)
    assert sim.cp[0, 1] == pytest.approx(5.4881, abs=1e-4)
    assert sim.cp[0, 2] == pytest.approx(5.0, rel=1e-9)  # half-life 6.931 h
    assert sim.auc[0, -1] / 60 == pytest.approx(100.0, rel=1e-9)


def test_zero_order_infusion_closed_form() -> None:
    cl, v, dose, dur = 5 / 60, 50.0, 1000.0, 60.0
    k, r = cl / v, dose / dur
    sim = simulate(from_clearances(cl, v), [Dose(0, dose, dur)], [30, 60, 120])
    expect = [r / cl * (1 - math.exp(-k * 30)), r / cl * (1 - math.exp(-k * 60))]
    expect.append(expect[1] * math.exp(-k * 60))
    assert np.allclose(sim.cp[0], expect, rtol=1e-10)


def test_oral_first_order_absorption_closed_form() -> None:
    cl, v, ka, f, dose = 5 / 60, 50.0, 1 / 60, 0.8, 500.0
    k = cl / v
    sim = simulate(from_clearances(cl, v, ka=ka, f=f), [Dose(0, dose, route="oral")], [60, 240, 600])
    bateman = [
        f * dose * ka / (v * (ka - k)) * (math.exp(-k * t) - math.exp(-ka * t)) for t in (60, 240, 600)
    ]
    assert np.allclose(sim.cp[0], bateman, rtol=1e-10)


def test_degenerate_ka_equal_k_falls_back_to_expm() -> None:
    # ka == k10: repeated eigenvalue; C(t) = F D k t exp(-k t) / V
    cl, v, f, dose = 5 / 60, 50.0, 1.0, 100.0
    k = cl / v
    sim = simulate(from_clearances(cl, v, ka=k, f=f), [Dose(0, dose, route="oral")], [30, 300])
    expect = [f * dose * k * t * math.exp(-k * t) / v for t in (30, 300)]
    assert np.allclose(sim.cp[0], expect, rtol=1e-8)


def test_eigen_and_expm_transitions_agree() -> None:
    rng = np.random.default_rng(4)
    a = -rng.random((20, 5, 5)) * 0.1 - np.eye(5) * 0.3
    steps = np.array([0.01, 1.0, 37.5, 600.0])
    p1, g1 = _transitions(a, steps)
    p2, g2 = _expm_transitions(a, steps)
    assert np.abs(p1 - p2).max() < 1e-12
    assert np.abs(g1 - g2).max() < 1e-10


def test_batch_equals_individual_runs_and_superposition() -> None:
    cls = np.array([0.05, 0.1, 0.2])
    sys3 = from_clearances(cls, 40.0, 0.1, 30.0, ke0=0.3)
    doses = [*repeated(500, 720, 3, duration=60)]
    t = np.arange(0, 2160, 30.0)
    batch = simulate(sys3, doses, t)
    for i, cl in enumerate(cls):
        one = simulate(from_clearances(cl, 40.0, 0.1, 30.0, ke0=0.3), doses, t)
        assert np.allclose(batch.cp[i], one.cp[0], rtol=1e-12)
    single = [simulate(sys3, [d], t).cp for d in doses]
    assert np.allclose(batch.cp, sum(single), rtol=1e-9, atol=1e-12)


def test_effect_site_lags_plasma_and_outputs_are_right_continuous() -> None:
    s = from_clearances(1.6, 4.27, 1.6, 24.0, 0.84, 239.0, ke0=0.456)
    sim = simulate(s, [Dose(0, 100)], [0.0, 1.5, 10.0])
    assert sim.cp[0, 0] == pytest.approx(100 / 4.27)  # the bolus is included at its own instant
    assert sim.ce is not None and sim.ce[0, 0] == 0.0 and 0 < sim.ce[0, 1] < sim.cp[0, 1] * 2


def test_cli_regimen_shape_and_errors() -> None:
    doses = parse_cli_regimen(
        [
            {"type": "bolus", "dose_mg": 100, "at_min": 0, "duration_s": 30},
            {"type": "infusion", "rate_mg_per_h": 600, "start_min": 1, "end_min": 61},
        ]
    )
    assert doses[0].duration == 0.5 and doses[1].amount == pytest.approx(600.0)
    with pytest.raises(ValidationError) as e:
        parse_cli_regimen([{"type": "infusion", "rate_mg_per_h": 1, "start_min": 5, "end_min": 1}])
    assert e.value.field == "end_min"
    with pytest.raises(ValidationError):
        parse_cli_regimen([{"type": "push"}])
    with pytest.raises(ValidationError):
        simulate(from_clearances(1, 10), [Dose(0, 1, route="oral")], [1])  # no depot
    with pytest.raises(ValidationError):
        simulate(from_clearances(1, 10), [Dose(0, 1)], [5, 1])


def test_per_patient_dose_scaling_is_exact_superposition() -> None:
    # mg/kg regimens: one schedule, each patient's amounts scaled (amount_factor per patient)
    s = from_clearances(np.array([0.1, 0.2]), np.array([30.0, 40.0]), 0.1, 20.0, ke0=0.3)
    doses = [Dose(0, 100), Dose(0, 300, 60)]
    t = [1, 30, 90]
    scaled = simulate(s, doses, t, amount_factor=np.array([0.5, 2.0]))
    base = simulate(s, doses, t)
    assert np.allclose(scaled.cp, base.cp * np.array([[0.5], [2.0]]), rtol=1e-12)
