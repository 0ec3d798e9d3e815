"""How far a personalised twin can be trusted for a what-if: identifiability and confidence. Pure.

A twin can fit the measured levels well and still predict another regimen badly when the data do
not inform the parameters that regimen depends on (troughs only say little about the central
volume, hence about peaks). medtwin makes this visible instead of hiding it:

* **Parameter shrinkage** (per eta): ``1 - sqrt(max(0, 1 - var_post / omega^2))``. In the linear-
  Gaussian case this equals the eta-shrinkage of Savic RM, Karlsson MO. AAPS J 2009;11(3):558-569,
  ``1 - SD(eta_hat)/omega``: 0 when the data pin the parameter down, 1 when the estimate is the
  population value.
* **Prediction shrinkage** of the quantity a decision rests on (log AUC24, log peak, effect...):
  the same formula with the variance of that quantity under the posterior and under the prior,
  from Monte Carlo draws. It asks: did this patient's data narrow the prediction for *this*
  regimen? Savic and Karlsson report that individual estimates stop being informative when
  shrinkage exceeds 20-30 %; medtwin uses the upper end, :data:`SHRINKAGE_LIMIT` = 0.30
  (posterior variance above 51 % of the prior variance), and calls such a prediction *low
  confidence: driven by the population prior, not by this patient*.
* **Misfit**: a weighted residual beyond +-3 (three standard deviations of the residual error
  model) means the model does not describe this patient's levels; confidence is low.

Without measured levels confidence is ``population``. This is about the model's counterfactual
validity for the patient; it says nothing about the model's validity for the population.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from medtwin.models.pharmacology.linear import FloatArray

SHRINKAGE_LIMIT = 0.30  # Savic & Karlsson 2009: 20-30 %; upper end
WRES_LIMIT = 3.0


def shrinkage(post_var: FloatArray | float, prior_var: FloatArray | float) -> FloatArray:
    pv = np.asarray(post_var, dtype=np.float64)
    qv = np.asarray(prior_var, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(qv > 0, pv / qv, 1.0)
    return np.asarray(1.0 - np.sqrt(np.clip(1.0 - r, 0.0, 1.0)), dtype=np.float64)


def parameter_shrinkage(post_cov: FloatArray, omega: FloatArray) -> FloatArray:
    return shrinkage(np.diag(post_cov), np.diag(omega))


@dataclass
class Confidence:
    level: str  # "high" | "low" | "population"
    prediction_shrinkage: float | None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "prediction_shrinkage": self.prediction_shrinkage,
            "reasons": self.reasons,
            "shrinkage_limit": SHRINKAGE_LIMIT,
        }


def _log_or_raw(q: FloatArray) -> FloatArray:
    q = q[np.isfinite(q)]
    return np.log(q) if q.size and np.all(q > 0) else q


def assess(
    q_prior: FloatArray,
    q_post: FloatArray,
    *,
    n_levels: int,
    wres: Sequence[float] = (),
    quantity: str = "the prediction",
) -> Confidence:
    """Confidence in a predicted quantity (draws under the prior and the posterior)."""
    if n_levels == 0:
        return Confidence("population", None, ["no measured levels: this is the population prediction"])
    a, b = _log_or_raw(q_prior), _log_or_raw(q_post)
    reasons: list[str] = []
    s = float(shrinkage(float(np.var(b)), float(np.var(a)))) if a.size > 1 and b.size > 1 else 1.0
    level = "high"
    if s > SHRINKAGE_LIMIT:
        level = "low"
        reasons.append(
            f"the measured levels barely inform {quantity}: prediction shrinkage {s:.0%} > {SHRINKAGE_LIMIT:.0%} "
            "(it is mostly the population prior)"
        )
    bad = [w for w in wres if abs(w) > WRES_LIMIT]
    if bad:
        level = "low"
        reasons.append(
            f"{len(bad)} level(s) lie more than {WRES_LIMIT:g} residual SDs from the fit: the model does not describe this patient"
        )
    if level == "high":
        reasons.append(f"the measured levels inform {quantity} (prediction shrinkage {s:.0%})")
    return Confidence(level, s, reasons)
