"""Replication statistics and service-time distributions fitted from sufficient statistics.

* Confidence intervals over independent replications use Student's t on the replication means
  (A. M. Law, *Simulation Modeling and Analysis*, 5th ed., McGraw-Hill 2015, §9.4.1); what-if
  plans are compared with the baseline by paired differences under common random numbers
  (Law §10.2.1, the paired-t interval).
* Durations are fitted by maximum likelihood as exponential, gamma or lognormal and the one
  with the lowest AIC is kept. Every estimate needs only n, Σx, Σln x and Σ(ln x)², which
  DuckDB computes in one pass over millions of events. The gamma shape uses Minka's
  approximation refined by Newton steps (T. P. Minka, "Estimating a Gamma distribution",
  Microsoft Research 2002). Lognormal consultation and procedure durations are the usual
  finding (D. P. Strum, J. H. May, L. G. Vargas, "Modeling the uncertainty of surgical
  procedure times: comparison of log-normal and normal models", Anesthesiology 92:1160-1167,
  2000; T. Cayirli, E. Veral, "Outpatient scheduling in health care: a review of literature",
  Production and Operations Management 12(4):519-549, 2003, who report service-time
  coefficients of variation of about 0.35-0.85).
* Zero durations (instant events such as "car park exit") are a point mass ``p_zero``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special, stats


@dataclass(frozen=True, slots=True)
class Interval:
    mean: float
    lo: float
    hi: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2.0

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci95": [self.lo, self.hi], "n": self.n}


def mean_ci(values: Any, level: float = 0.95) -> Interval:
    """t-interval of the mean of independent replication outputs (NaNs dropped)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    m = float(x.mean())
    if n == 1:
        return Interval(m, math.nan, math.nan, 1)
    h = float(stats.t.ppf(0.5 + level / 2.0, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(m, m - h, m + h, n)


def paired_ci(a: Any, b: Any, level: float = 0.95) -> Interval:
    """Paired-t interval of mean(b - a) (same seeds per replication: common random numbers)."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return mean_ci(xb - xa, level)


@dataclass(frozen=True, slots=True)
class Fit:
    """A fitted duration distribution; parameters in seconds."""

    family: str  # "exponential" | "gamma" | "lognormal" | "constant"
    params: dict[str, float]
    mean: float
    cv: float
    p_zero: float = 0.0
    n: int = 0
    aic: float = math.nan

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Fit:
        return Fit(
            d["family"],
            dict(d["params"]),
            float(d["mean"]),
            float(d["cv"]),
            float(d.get("p_zero", 0.0)),
            int(d.get("n", 0)),
            float(d.get("aic", math.nan)),
        )

    def scaled(self, factor: float) -> Fit:
        """The same shape with every duration multiplied by ``factor``."""
        p = dict(self.params)
        if self.family == "exponential":
            p["mean"] *= factor
        elif self.family == "gamma":
            p["scale"] *= factor
        elif self.family == "lognormal":
            p["mu"] += math.log(factor)
        elif self.family == "constant":
            p["value"] *= factor
        return Fit(self.family, p, self.mean * factor, self.cv, self.p_zero, self.n, self.aic)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if size == 0:
            return np.empty(0)
        p = self.params
        if self.family == "exponential":
            x = rng.exponential(p["mean"], size)
        elif self.family == "gamma":
            x = rng.gamma(p["shape"], p["scale"], size)
        elif self.family == "lognormal":
            x = rng.lognormal(p["mu"], p["sigma"], size)
        else:
            x = np.full(size, p.get("value", 0.0))
        if self.p_zero > 0:
            x[rng.random(size) < self.p_zero] = 0.0
        return x


def constant(value: float) -> Fit:
    return Fit("constant", {"value": float(value)}, float(value), 0.0, 0.0 if value > 0 else 1.0)


def _gamma_shape(s: float) -> float:
    """MLE gamma shape from s = ln(mean) − mean(ln x) > 0 (Minka 2002, then Newton)."""
    k = (3.0 - s + math.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)
    for _ in range(6):
        num = math.log(k) - float(special.digamma(k)) - s
        den = 1.0 / k - float(special.polygamma(1, k))
        step = num / den
        k = max(k - step, 1e-6)
        if abs(step) < 1e-10 * k:
            break
    return k


def fit_sufficient(
    n: int, sum_x: float, sum_lnx: float, sum_lnx2: float, *, n_zero: int = 0, sum_x2: float | None = None
) -> Fit:
    """Best of exponential / gamma / lognormal by AIC from the positive values' sums.

    ``n`` counts the positive values; ``n_zero`` the exact zeros (kept as a point mass).
    ``sum_x2`` (Σx²) gives the empirical CV when present.
    """
    total = n + n_zero
    p_zero = n_zero / total if total else 1.0
    if n < 2 or sum_x <= 0:
        mean = sum_x / n if n else 0.0
        return Fit("constant", {"value": mean}, mean * (1 - p_zero), 0.0, p_zero, total)
    m = sum_x / n
    ml = sum_lnx / n
    var_l = max(sum_lnx2 / n - ml * ml, 1e-12)
    sig = math.sqrt(var_l)
    cands: list[tuple[float, str, dict[str, float]]] = []
    # exponential
    ll_exp = -n * math.log(m) - n
    cands.append((2 * 1 - 2 * ll_exp, "exponential", {"mean": m}))
    # lognormal: LL = −Σln x − n/2·ln(2πσ²) − n/2
    ll_ln = -sum_lnx - 0.5 * n * math.log(2 * math.pi * var_l) - 0.5 * n
    cands.append((2 * 2 - 2 * ll_ln, "lognormal", {"mu": ml, "sigma": sig}))
    s = math.log(m) - ml
    if s > 1e-9:
        k = _gamma_shape(s)
        th = m / k
        ll_g = (k - 1) * sum_lnx - sum_x / th - n * k * math.log(th) - n * math.lgamma(k)
        cands.append((2 * 2 - 2 * ll_g, "gamma", {"shape": k, "scale": th}))
    aic, fam, params = min(cands, key=lambda c: c[0])
    if sum_x2 is not None and n > 1:
        cv = math.sqrt(max(sum_x2 / n - m * m, 0.0)) / m
    elif fam == "lognormal":
        cv = math.sqrt(math.exp(var_l) - 1)
    elif fam == "gamma":
        cv = 1 / math.sqrt(params["shape"])
    else:
        cv = 1.0
    mean = m if fam != "lognormal" else math.exp(ml + var_l / 2)
    return Fit(fam, params, mean * (1 - p_zero), cv, p_zero, total, aic)


def fit_sample(x: Any) -> Fit:
    """Fit from raw durations (tests and small logs)."""
    a = np.asarray(x, dtype=float)
    pos = a[a > 0]
    return fit_sufficient(
        int(pos.size),
        float(pos.sum()),
        float(np.log(pos).sum()),
        float((np.log(pos) ** 2).sum()),
        n_zero=int((a <= 0).sum()),
        sum_x2=float((pos**2).sum()),
    )
