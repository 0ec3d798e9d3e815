"""Personalising the glucose twin from a patient's CGM, insulin and carbohydrate records. Pure.

1. **Template**: every virtual patient of the open cohort (default: the 10 adults) is simulated
   with the patient's recorded inputs, starting from its basal steady state with the glucose
   states scaled to the first CGM reading; the best least-squares match to the CGM is the template
   (model selection, as TDM tools do across population models).
2. **MAP**: log multipliers ``theta`` on the template's insulin sensitivity of utilisation
   (``Vmx``), of production (``kp3``, with ``kp1`` moved so that basal production is unchanged) and
   on the carbohydrate absorption rate (``kabs``), with the prior ``theta ~ N(0, diag(omega^2))``,
   omega = SD of the log parameter across the cohort group (the spread of the open population).
   Objective ``sum ((y - Gs/Vg)/sigma)^2 + sum (theta/omega)^2``, sigma the SD of the CGM error
   model (:func:`~.cgm.noise_sd`); Levenberg-Marquardt with batched finite-difference Jacobians.
   CGM readings are thinned to >= 15 min apart (the error model's own resolution) because
   neighbouring readings share their error; some autocorrelation remains, so the posterior is
   somewhat optimistic.
3. **Laplace**: posterior covariance ``(J'J)^-1`` of the whitened residuals at the mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medtwin.core.errors import ValidationError
from medtwin.models.glucose.cgm import noise_sd
from medtwin.models.glucose.cohort import Batch, FloatArray, batch, cohort, group
from medtwin.models.glucose.uva_padova import simulate

FIT_PARAMS = ("Vmx", "kp3", "kabs")


@dataclass(frozen=True)
class GlucoseRecord:
    """Per-minute inputs over ``minutes`` and CGM readings (minutes from the record start)."""

    cho: FloatArray  # g/min
    insulin: FloatArray  # U/min
    cgm_t: FloatArray
    cgm: FloatArray

    @property
    def minutes(self) -> int:
        return int(self.cho.shape[0])

    def __post_init__(self) -> None:
        if self.insulin.shape != self.cho.shape:
            raise ValidationError("insulin and carbohydrate series must have the same length", field="record")
        if self.cgm.size < 3:
            raise ValidationError("at least 3 CGM readings are needed", field="cgm")


def prior_sd(prefix: str = "adult") -> FloatArray:
    pts = [cohort()[n] for n in group(prefix)]
    return np.asarray(
        [np.std(np.log([p.params[k] for p in pts]), ddof=1) for k in FIT_PARAMS], dtype=np.float64
    )


def with_theta(b: Batch, theta: FloatArray) -> Batch:
    """Copies of the batch's patients with log multipliers theta (P, 3) applied."""
    th = np.atleast_2d(theta)
    p = {k: v.copy() for k, v in b.p.items()}
    for j, k in enumerate(FIT_PARAMS):
        new = b.p[k] * np.exp(th[:, j])
        if k == "kp3":
            p["kp1"] = b.p["kp1"] + (new - b.p["kp3"]) * b.p["Ib"]  # basal production unchanged
        p[k] = new
    return Batch(b.names, p, b.x0)


def initial_state(b: Batch, g0: float | None) -> FloatArray:
    x0 = b.x0.copy()
    if g0 is not None:
        s = g0 / (x0[:, 12] / b.p["Vg"])
        for i in (3, 4, 12):
            x0[:, i] *= s
    return x0


def _thin(t: FloatArray, min_gap: float = 15.0) -> FloatArray:
    keep, last = [], -np.inf
    for i, x in enumerate(t):
        if x - last >= min_gap - 1e-9:
            keep.append(i)
            last = x
    return np.asarray(keep, dtype=np.int64)


@dataclass
class GlucoseFit:
    template: str
    theta: FloatArray
    cov: FloatArray
    prior_sd: FloatArray
    sigma: float
    n_cgm: int
    mard: float
    template_scores: dict[str, float] = field(default_factory=dict)
    converged: bool = True
    g0: float | None = None
    message: str = ""

    @property
    def prior_cov(self) -> FloatArray:
        return np.diag(self.prior_sd**2)

    def patient(self, theta: FloatArray | None = None) -> Batch:
        th = self.theta[None] if theta is None else np.atleast_2d(theta)
        base = batch([self.template] * th.shape[0])
        return with_theta(base, th)

    def as_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "params": list(FIT_PARAMS),
            "theta": self.theta.tolist(),
            "multipliers": np.exp(self.theta).tolist(),
            "cov": self.cov.tolist(),
            "prior_sd": self.prior_sd.tolist(),
            "sigma": self.sigma,
            "n_cgm": self.n_cgm,
            "mard": self.mard,
            "template_scores": self.template_scores,
            "converged": self.converged,
            "g0": self.g0,
            "message": self.message,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> GlucoseFit:
        return GlucoseFit(
            template=str(d["template"]),
            theta=np.asarray(d["theta"], dtype=np.float64),
            cov=np.asarray(d["cov"], dtype=np.float64),
            prior_sd=np.asarray(d["prior_sd"], dtype=np.float64),
            sigma=float(d["sigma"]),
            n_cgm=int(d["n_cgm"]),
            mard=float(d["mard"]),
            template_scores=dict(d.get("template_scores", {})),
            converged=bool(d.get("converged", True)),
            g0=d.get("g0"),
            message=str(d.get("message", "")),
        )


def fit_glucose(
    rec: GlucoseRecord,
    *,
    templates: list[str] | None = None,
    exclude: tuple[str, ...] = (),
    group_prefix: str = "adult",
    max_iter: int = 25,
) -> GlucoseFit:
    """Template selection, MAP estimate and Laplace covariance (see the module docstring)."""
    names = [n for n in (templates or group(group_prefix)) if n not in exclude]
    if not names:
        raise ValidationError("no template patients left", field="templates")
    idx = _thin(rec.cgm_t)
    t_obs, y = rec.cgm_t[idx], rec.cgm[idx]
    col = np.clip(np.round(t_obs).astype(int), 0, rec.minutes)
    g0 = float(rec.cgm[0])
    sigma = noise_sd()
    tb = batch(names)
    sims = simulate(tb, rec.cho[None], rec.insulin[None], x0=initial_state(tb, g0), substeps=1)
    sse = ((sims.sensor[:, col] - y[None]) ** 2).sum(axis=1)
    scores = {n: float(np.sqrt(s / y.size)) for n, s in zip(names, sse, strict=True)}
    template = names[int(np.argmin(sse))]
    omega = prior_sd(group_prefix)
    k = len(FIT_PARAMS)

    def residuals(theta: FloatArray) -> FloatArray:
        b = with_theta(batch([template] * theta.shape[0]), theta)
        g = simulate(b, rec.cho[None], rec.insulin[None], x0=initial_state(b, g0), substeps=1).sensor[:, col]
        return np.concatenate([(y[None] - g) / sigma, theta / omega[None]], axis=1)

    h = 1e-4
    eye = h * np.eye(k)

    def at(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Residuals and forward-difference Jacobian at theta, in one batched simulation."""
        rr = residuals(np.vstack([theta, theta + eye]))
        return rr[0], ((rr[1:] - rr[0][None]) / h).T

    theta = np.zeros(k)
    lam = 1e-2
    r, jac = at(theta)
    converged = False
    iterations, gain = 0, 1.0
    for _ in range(max_iter):
        jtj, jtr = jac.T @ jac, jac.T @ r
        improved = False
        step = np.zeros(k)
        for _try in range(6):
            step = np.asarray(
                -np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-9), jtr), dtype=np.float64
            )
            rc, jc = at(theta + step)
            if rc @ rc < r @ r:
                gain = float((r @ r - rc @ rc) / max(float(r @ r), 1e-12))
                theta, r, jac, lam, improved = theta + step, rc, jc, max(lam / 3.0, 1e-6), True
                break
            lam *= 4.0
        iterations += 1
        if not improved or np.max(np.abs(step)) < 1e-4 or gain < 1e-6:
            converged = True
            break
    cov = np.asarray(np.linalg.pinv(jac.T @ jac), dtype=np.float64)
    b = with_theta(batch([template]), theta[None])
    g = simulate(b, rec.cho[None], rec.insulin[None], x0=initial_state(b, g0), substeps=1).sensor[0, col]
    mard = float(np.mean(np.abs(g - y) / y))
    return GlucoseFit(
        template,
        theta,
        cov,
        omega,
        sigma,
        int(y.size),
        mard,
        scores,
        converged,
        g0,
        f"{iterations} iterations",
    )
