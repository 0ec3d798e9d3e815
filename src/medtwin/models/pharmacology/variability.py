"""Inter-individual variability and residual error. Pure; randomness comes from a given Generator.

IIV is log-normal: ``P_i = P_typ exp(eta_i)`` with ``eta ~ N(0, Omega)`` (Beal SL, Sheiner LB,
NONMEM Users Guides). Residual error: ``y = f (1 + eps_prop) + eps_add`` with
``eps_prop ~ N(0, s_prop^2)``, ``eps_add ~ N(0, s_add^2)``: additive (s_prop = 0), proportional
(s_add = 0) or combined; the variance of y given f is ``(s_prop f)^2 + s_add^2``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def sample_etas(
    omega: FloatArray, n: int, rng: np.random.Generator, mean: FloatArray | None = None
) -> FloatArray:
    """``n`` draws of eta ~ N(mean, omega); shape (n, k). Zero-variance dimensions stay at the mean."""
    k = omega.shape[0]
    mu = np.zeros(k) if mean is None else np.asarray(mean, dtype=np.float64)
    if k == 0:
        return np.zeros((n, 0))
    w, v = np.linalg.eigh((omega + omega.T) / 2.0)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    z = rng.standard_normal((n, k))
    return np.asarray(mu + z @ root.T, dtype=np.float64)


def add_residual(f: FloatArray, prop: float, add: float, rng: np.random.Generator) -> FloatArray:
    """Observations with residual error around predictions ``f`` (truncated at 0)."""
    y = f * (1.0 + prop * rng.standard_normal(f.shape)) + add * rng.standard_normal(f.shape)
    return np.asarray(np.maximum(y, 0.0), dtype=np.float64)


def lognormal_cv(omega2: float) -> float:
    """The coefficient of variation of a log-normal parameter: sqrt(exp(omega^2) - 1)."""
    return float(np.sqrt(np.expm1(omega2)))
