"""Side-by-side agreement with PyTCI 1.2.0 (exact integrator): same patient, same regimen, <= 0.1 %."""

from __future__ import annotations

import numpy as np
import pytest

from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import get_drug
from medtwin.models.pharmacology.linear import PKSystem, simulate
from medtwin.models.pharmacology.predict import predict
from medtwin.models.pharmacology.regimen import Dose

pytci_propofol = pytest.importorskip("PyTCI.models.propofol")

# 2 mg/kg bolus, then 10 mg/kg/h for 30 min, 6 mg/kg/h for 30 min, 30 min washout (70 kg)
REGIMEN = [Dose(0, 140.0), Dose(0, 700.0 * 0.5, 30.0), Dose(30, 420.0 * 0.5, 30.0)]
MINUTES = np.arange(0, 91, 1.0)


def _pytci_run(model: object) -> tuple[np.ndarray, np.ndarray]:
    model.set_integrator("exact")  # type: ignore[attr-defined]
    model.give_drug(140.0)  # type: ignore[attr-defined]
    cp, ce = [model.x1], [model.xeo]  # type: ignore[attr-defined]
    for m in range(90):
        rate = 700 / 3600 if m < 30 else (420 / 3600 if m < 60 else 0.0)
        model.giveoverseconds(rate, 60)  # type: ignore[attr-defined]
        cp.append(model.x1)  # type: ignore[attr-defined]
        ce.append(model.xeo)  # type: ignore[attr-defined]
    return np.asarray(cp), np.asarray(ce)


def _system_of(model: object) -> PKSystem:
    g = model.__dict__
    one = lambda k: np.array([g[k] * (60.0 if k.startswith("k") else 1.0)])  # noqa: E731  PyTCI stores 1/s
    return PKSystem(one("v1"), one("k10"), one("k12"), one("k21"), one("k13"), one("k31"), 3, ke0=one("keo"))


def test_schnider_library_model_matches_pytci() -> None:
    cp_ref, ce_ref = _pytci_run(pytci_propofol.Schnider(40, 70, 170, "m"))
    pred = predict(get_drug("propofol").model("schnider"), Covariates(40, 70, 170, "male"), REGIMEN, MINUTES)
    assert pred.sim.ce is not None
    assert np.max(np.abs(pred.sim.cp[0] - cp_ref) / cp_ref) <= 1e-3
    assert np.max(np.abs(pred.sim.ce[0, 1:] - ce_ref[1:]) / ce_ref[1:]) <= 1e-3


@pytest.mark.parametrize(
    "factory",
    [
        lambda: pytci_propofol.Marsh(70),
        lambda: pytci_propofol.Eleveld(35, 70, 170, "m"),
        lambda: pytci_propofol.Schnider(70, 55, 160, "f"),
    ],
)
def test_engine_matches_pytci_on_its_own_parameter_sets(factory: object) -> None:
    model = factory()  # type: ignore[operator]
    sys_ = _system_of(model)
    cp_ref, ce_ref = _pytci_run(factory())  # type: ignore[operator]
    sim = simulate(sys_, REGIMEN, MINUTES)
    assert sim.ce is not None
    assert np.max(np.abs(sim.cp[0] - cp_ref) / cp_ref) <= 1e-6
    assert np.max(np.abs(sim.ce[0, 1:] - ce_ref[1:]) / ce_ref[1:]) <= 1e-6
