"""Predictions of a population model for one patient and a batch of parameter draws. Pure.

``predict(model, cov, doses, times, etas)`` evaluates the model at the patient's covariates, applies
each draw of eta (log-normal IIV), simulates exactly (:mod:`.linear`) and adds the PD effect when
the model has one. For dose-dependent models (lithium: clearance depends on the total daily
dose) the daily dose is taken from the regimen itself: the sum of the doses in the 24 h up to and
including the last dose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library.base import PopModel
from medtwin.models.pharmacology.linear import FloatArray, Simulation, simulate
from medtwin.models.pharmacology.pd import sigmoid_emax
from medtwin.models.pharmacology.regimen import Dose


@dataclass(frozen=True)
class Prediction:
    sim: Simulation
    effect: FloatArray | None  # (P, T) when the model has a PD model
    daily_dose_mg: float

    @property
    def t(self) -> FloatArray:
        return self.sim.t


def regimen_daily_dose(doses: Sequence[Dose]) -> float:
    """mg in the 24 h window ending at the last dose (0 without doses)."""
    if not doses:
        return 0.0
    last = max(d.time for d in doses)
    return float(sum(d.amount for d in doses if last - 1440.0 < d.time <= last))


def predict(
    model: PopModel,
    cov: Covariates,
    doses: Sequence[Dose],
    times: Sequence[float] | FloatArray,
    etas: FloatArray | None = None,
    *,
    ec50_etas: FloatArray | None = None,
    daily_dose_mg: float | None = None,
) -> Prediction:
    """Concentrations (and effect) for each row of ``etas`` (shape (P, k)); typical patient if None."""
    daily = regimen_daily_dose(doses) if daily_dose_mg is None else daily_dose_mg
    typical = model.typical_params(cov, daily)
    k = len(model.eta_names)
    eta = np.zeros((1, k)) if etas is None else np.atleast_2d(np.asarray(etas, dtype=np.float64))
    params = model.individual(typical, eta)
    sim = simulate(model.system(params), doses, times, amount_factor=model.amount_factor)
    effect = None
    if model.pd is not None and sim.ce is not None:
        ec50: FloatArray | float = model.pd.ec50
        if ec50_etas is not None:
            ec50 = model.pd.ec50 * np.exp(np.asarray(ec50_etas, dtype=np.float64))[:, None]
        effect = sigmoid_emax(sim.ce, model.pd.e0, model.pd.emax, ec50, model.pd.gamma)
    return Prediction(sim=sim, effect=effect, daily_dose_mg=daily)
