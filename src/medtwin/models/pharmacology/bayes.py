"""Bayesian MAP personalisation from measured levels, with a Laplace posterior. Pure.

Objective (minus twice the log posterior, up to a constant; the Bayesian objective of TDM tools,
Sheiner LB, Beal SL. J Pharmacokinet Biopharm 1982;10:553-571):

    OFV(eta) = sum_i [ (y_i - f_i)^2 / v_i + ln v_i ] + eta' Omega^-1 eta,   v_i = (prop f_i)^2 + add^2

``f_i`` is the model prediction at the level's time under the patient's real doses and
covariates, with ``P = P_typ exp(eta)``. The MAP estimate minimises OFV (BFGS, gradient by
central differences evaluated as one batch of simulations). The posterior is approximated by a
normal distribution at the mode with covariance ``2 H^-1``, H the Hessian of OFV there (Laplace;
Tierney L, Kadane JB. J Am Stat Assoc 1986;81:82-86), also by central differences in one batch.
Without levels the posterior is the prior (eta = 0, covariance Omega).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library.base import PopModel
from medtwin.models.pharmacology.linear import FloatArray
from medtwin.models.pharmacology.predict import predict, regimen_daily_dose
from medtwin.models.pharmacology.regimen import Dose


@dataclass(frozen=True, slots=True)
class Level:
    time: float  # min, on the doses' time axis
    value: float  # concentration in the model's unit


@dataclass
class Fit:
    model_key: str
    eta_names: tuple[str, ...]
    eta: FloatArray
    cov: FloatArray
    omega: FloatArray
    typical: dict[str, float]
    individual: dict[str, float]
    ofv: float
    converged: bool
    n_levels: int
    daily_dose_mg: float
    residuals: list[dict[str, float]] = field(default_factory=list)
    method: str = "map-laplace"
    message: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model_key,
            "method": self.method,
            "eta_names": list(self.eta_names),
            "eta": [float(x) for x in self.eta],
            "cov": [[float(x) for x in row] for row in self.cov],
            "omega": [[float(x) for x in row] for row in self.omega],
            "typical": self.typical,
            "individual": self.individual,
            "ofv": self.ofv,
            "converged": self.converged,
            "n_levels": self.n_levels,
            "daily_dose_mg": self.daily_dose_mg,
            "residuals": self.residuals,
            "message": self.message,
        }

    @staticmethod
    def from_dict(d: dict[str, object]) -> Fit:
        def arr(x: object) -> FloatArray:
            return np.asarray(x, dtype=np.float64)

        return Fit(
            model_key=str(d["model"]),
            eta_names=tuple(d["eta_names"]),  # type: ignore[arg-type]
            eta=arr(d["eta"]),
            cov=arr(d["cov"]).reshape(len(d["eta_names"]), -1),  # type: ignore[arg-type]
            omega=arr(d["omega"]).reshape(len(d["eta_names"]), -1),  # type: ignore[arg-type]
            typical=dict(d["typical"]),  # type: ignore[call-overload]
            individual=dict(d["individual"]),  # type: ignore[call-overload]
            ofv=float(d["ofv"]),  # type: ignore[arg-type]
            converged=bool(d["converged"]),
            n_levels=int(d["n_levels"]),  # type: ignore[call-overload]
            daily_dose_mg=float(d.get("daily_dose_mg", 0.0)),  # type: ignore[arg-type]
            residuals=list(d.get("residuals", [])),  # type: ignore[call-overload]
            method=str(d.get("method", "map-laplace")),
            message=str(d.get("message", "")),
        )


class _Objective:
    def __init__(
        self,
        model: PopModel,
        cov: Covariates,
        doses: Sequence[Dose],
        levels: Sequence[Level],
        prop: float,
        add: float,
    ) -> None:
        self.model, self.cov, self.doses = model, cov, list(doses)
        order = np.argsort([lv.time for lv in levels])
        self.t = np.asarray([levels[i].time for i in order], dtype=np.float64)
        self.y = np.asarray([levels[i].value for i in order], dtype=np.float64)
        self.prop, self.add = prop, add
        om = model.omega_matrix
        self.free = np.flatnonzero(np.diag(om) > 0)
        self.omega_inv = np.linalg.inv(om[np.ix_(self.free, self.free)])
        self.k = len(model.eta_names)
        self.daily = regimen_daily_dose(doses)

    def full(self, x: FloatArray) -> FloatArray:
        x = np.atleast_2d(x)
        eta = np.zeros((x.shape[0], self.k))
        eta[:, self.free] = x
        return eta

    def predictions(self, x: FloatArray) -> FloatArray:
        return predict(
            self.model, self.cov, self.doses, self.t, self.full(x), daily_dose_mg=self.daily
        ).sim.cp

    def __call__(self, x: FloatArray) -> FloatArray:
        """OFV for each row of x (shape (B, k_free))."""
        x = np.atleast_2d(x)
        f = self.predictions(x)
        v = (self.prop * f) ** 2 + self.add**2
        data = ((self.y[None, :] - f) ** 2 / v + np.log(v)).sum(axis=1)
        prior = np.einsum("bi,ij,bj->b", x, self.omega_inv, x)
        return np.asarray(data + prior, dtype=np.float64)

    def value_and_grad(self, x: FloatArray, h: float = 1e-5) -> tuple[float, FloatArray]:
        k = x.shape[0]
        pts = np.vstack([x, x + h * np.eye(k), x - h * np.eye(k)])
        vals = self(pts)
        return float(vals[0]), (vals[1 : k + 1] - vals[k + 1 :]) / (2 * h)

    def hessian(self, x: FloatArray, h: float = 1e-3) -> FloatArray:
        k = x.shape[0]
        pts = [x]
        for i in range(k):
            e = np.zeros(k)
            e[i] = h
            pts += [x + e, x - e]
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        for i, j in pairs:
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                e = np.zeros(k)
                e[i], e[j] = si * h, sj * h
                pts.append(x + e)
        v = self(np.vstack(pts))
        f0 = v[0]
        hess = np.zeros((k, k))
        for i in range(k):
            hess[i, i] = (v[1 + 2 * i] - 2 * f0 + v[2 + 2 * i]) / h**2
        base = 1 + 2 * k
        for n, (i, j) in enumerate(pairs):
            a, b, c, d = v[base + 4 * n : base + 4 * n + 4]
            hess[i, j] = hess[j, i] = (a - b - c + d) / (4 * h * h)
        return hess


def fit_map(
    model: PopModel,
    cov: Covariates,
    doses: Sequence[Dose],
    levels: Sequence[Level],
    *,
    prop: float | None = None,
    add: float | None = None,
) -> Fit:
    """MAP estimate of the patient's etas from measured levels, with a Laplace covariance."""
    if not model.has_iiv:
        raise ValidationError(
            f"{model.label} has no published inter-individual variability: it cannot be personalised",
            field="model",
        )
    prop = model.prop_err if prop is None else prop
    add = model.add_err if add is None else add
    if prop <= 0 and add <= 0:
        raise ValidationError("a residual error model is needed to fit levels", field="model")
    for i, lv in enumerate(levels):
        if not (np.isfinite(lv.value) and lv.value >= 0 and np.isfinite(lv.time)):
            raise ValidationError(f"level {i} must be a non-negative number at a finite time", field="levels")
    omega = model.omega_matrix
    typical = dict(model.typical_params(cov, regimen_daily_dose(doses)))
    k = len(model.eta_names)
    if not levels:
        return Fit(
            model.key,
            model.eta_names,
            np.zeros(k),
            omega.copy(),
            omega,
            typical,
            typical,
            0.0,
            True,
            0,
            regimen_daily_dose(doses),
            method="prior",
            message="no levels: population prior",
        )
    obj = _Objective(model, cov, doses, levels, prop, add)
    x0 = np.zeros(obj.free.shape[0])
    res = minimize(lambda x: obj.value_and_grad(x), x0, jac=True, method="BFGS", options={"maxiter": 200})
    x = np.asarray(res.x, dtype=np.float64)
    hess = obj.hessian(x)
    w, vecs = np.linalg.eigh((hess + hess.T) / 2.0)
    note = str(res.message)
    if np.any(w <= 1e-10):
        note += "; Hessian not positive definite at the mode (clipped)"
    w = np.clip(w, 1e-10, None)
    post_free = 2.0 * (vecs / w) @ vecs.T
    eta = np.zeros(k)
    eta[obj.free] = x
    post = np.zeros((k, k))
    post[np.ix_(obj.free, obj.free)] = post_free
    ind = model.individual(typical, eta[None, :])
    f = obj.predictions(x)[0]
    v = (prop * f) ** 2 + add**2
    residuals = [
        {"time": float(t), "observed": float(y), "predicted": float(p), "wres": float((y - p) / np.sqrt(s))}
        for t, y, p, s in zip(obj.t, obj.y, f, v, strict=True)
    ]
    return Fit(
        model_key=model.key,
        eta_names=model.eta_names,
        eta=eta,
        cov=post,
        omega=omega,
        typical=typical,
        individual={k_: float(v_[0]) for k_, v_ in ind.items()},
        ofv=float(res.fun),
        converged=bool(res.success),
        n_levels=len(levels),
        daily_dose_mg=obj.daily,
        residuals=residuals,
        message=note,
    )


def posterior_samples(fit: Fit, n: int, rng: np.random.Generator) -> FloatArray:
    """Draws of eta from the Laplace posterior (the prior when the fit has no levels)."""
    from medtwin.models.pharmacology.variability import sample_etas

    return sample_etas(fit.cov, n, rng, mean=fit.eta)
