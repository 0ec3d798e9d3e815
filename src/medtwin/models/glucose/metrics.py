"""Glycaemic metrics of a glucose trace. Pure.

* Time in ranges and variability (Battelino T, Danne T, Bergenstal RM et al. Clinical targets
  for continuous glucose monitoring data interpretation: recommendations from the International
  Consensus on Time in Range. Diabetes Care 2019;42(8):1593-1603): TIR 70-180 mg/dL, TBR < 70 and
  < 54, TAR > 180 and > 250, CV = SD/mean. Targets for most adults with type 1 diabetes: TIR > 70 %,
  < 70 below 4 %, < 54 below 1 %, > 180 below 25 %, > 250 below 5 %, CV <= 36 %.
* Risk indices (Kovatchev BP, Cox DJ, Gonder-Frederick LA, Clarke W. Diabetes Care
  1997;20(11):1655-1658; LBGI: Kovatchev BP et al. Diabetes Care 1998;21(11):1870-1875):
  ``f(BG) = 1.509 ((ln BG)^1.084 - 5.381)``, ``r = 10 f^2``; rl = r when f < 0 else 0, rh = r when
  f > 0 else 0; LBGI = mean(rl), HBGI = mean(rh) over *all* readings. Test vector: r(40) = 36.418,
  r(54) = 18.461, r(70) = 7.755, r(112.5) ~ 0, r(180) = 7.729, r(250) = 22.436, r(400) = 57.046.
  (simglucose's ``risk_index`` with a horizon > 1 averages rl over the low readings only; that is
  not Kovatchev's definition and is not used.)
* Time fractions treat readings as equally spaced samples of the trace.
"""

from __future__ import annotations

import numpy as np

from medtwin.models.glucose.cohort import FloatArray

CONSENSUS_2019 = {
    "tir": (">", 0.70),
    "tbr70": ("<", 0.04),
    "tbr54": ("<", 0.01),
    "tar180": ("<", 0.25),
    "tar250": ("<", 0.05),
    "cv": ("<=", 0.36),
}


def risk(bg: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Kovatchev (rl, rh) per reading."""
    g = np.maximum(np.asarray(bg, dtype=np.float64), 1.0)
    f = 1.509 * (np.log(g) ** 1.084 - 5.381)
    r = 10.0 * f * f
    return np.where(f < 0, r, 0.0), np.where(f > 0, r, 0.0)


def glycaemic_metrics(bg: FloatArray) -> dict[str, FloatArray]:
    """Metrics along the last axis (one value per trace)."""
    g = np.atleast_2d(np.asarray(bg, dtype=np.float64))
    rl, rh = risk(g)
    mean = g.mean(axis=1)
    return {
        "mean": mean,
        "tir": ((g >= 70) & (g <= 180)).mean(axis=1),
        "tbr70": (g < 70).mean(axis=1),
        "tbr54": (g < 54).mean(axis=1),
        "tar180": (g > 180).mean(axis=1),
        "tar250": (g > 250).mean(axis=1),
        "cv": g.std(axis=1) / mean,
        "lbgi": rl.mean(axis=1),
        "hbgi": rh.mean(axis=1),
        "min": g.min(axis=1),
        "max": g.max(axis=1),
    }


def meets_consensus(m: dict[str, FloatArray]) -> dict[str, FloatArray]:
    out: dict[str, FloatArray] = {}
    for k, (op, v) in CONSENSUS_2019.items():
        x = m[k]
        out[k] = ((x > v) if op == ">" else (x < v) if op == "<" else (x <= v)).astype(np.float64)
    return out
