"""The drug library's data types: population models, PD models, targets. Pure data and formulas.

A :class:`PopModel` is one published population PK model: typical parameters as a function of the
patient's covariates (canonical units: clearances L/min, volumes L, rate constants 1/min, lag min),
its inter-individual variability (log-normal, ``P_i = P_typ exp(eta_i)``, ``eta ~ N(0, Omega)``) and
its residual error (``var = (prop f)^2 + add^2``: additive, proportional or combined). A
:class:`Drug` groups its models with the therapeutic target, the toxicity criterion and the
LOINC codes of its measured levels. Every number lives in the drug's module with its source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.linear import FloatArray, PKSystem, from_clearances

Metric = Literal["auc24", "peak", "trough", "post_dose", "effect_window"]
PARAMS = ("CL", "V1", "Q2", "V2", "Q3", "V3", "KE0", "KA", "F")


@dataclass(frozen=True, slots=True)
class Criterion:
    """A therapeutic target or a toxicity criterion on one exposure metric.

    ``auc24``: AUC over the last 24 h of the evaluation window (divided by the MIC when ``per_mic``);
    ``peak`` / ``trough``: highest / lowest concentration in the last dosing interval;
    ``post_dose``: concentration ``offset_h`` hours after the last dose;
    ``effect_window``: the PD effect over the evaluation window (probability = mean fraction of
    time in [low, high]). A value in [low, high] meets a target; a toxicity criterion is met
    above ``high`` (or below ``low``).
    """

    metric: Metric
    low: float | None = None
    high: float | None = None
    unit: str = ""
    per_mic: bool = False
    offset_h: float = 0.0
    source: str = ""

    def inside(self, values: FloatArray) -> FloatArray:
        ok = np.ones_like(values, dtype=bool)
        if self.low is not None:
            ok &= values >= self.low
        if self.high is not None:
            ok &= values <= self.high
        return ok.astype(np.float64)

    def outside(self, values: FloatArray) -> FloatArray:
        """Toxicity: above ``high`` or below ``low``."""
        bad = np.zeros_like(values, dtype=bool)
        if self.high is not None:
            bad |= values > self.high
        if self.low is not None:
            bad |= values < self.low
        return bad.astype(np.float64)

    def describe(self) -> str:
        what = {
            "auc24": "AUC24/MIC" if self.per_mic else "AUC24",
            "peak": "peak",
            "trough": "trough",
            "post_dose": f"{self.offset_h:g}-h post-dose level",
            "effect_window": "effect",
        }[self.metric]
        if self.low is not None and self.high is not None:
            return f"{what} {self.low:g}-{self.high:g} {self.unit}".strip()
        if self.high is not None:
            return f"{what} > {self.high:g} {self.unit}".strip()
        return f"{what} < {self.low:g} {self.unit}".strip()


@dataclass(frozen=True, slots=True)
class PDModel:
    """Sigmoid Emax: ``E = E0 + Emax Ce^g / (EC50^g + Ce^g)`` on the effect-site concentration."""

    name: str
    e0: float
    emax: float
    ec50: float
    gamma: float
    unit: str
    source: str
    ec50_omega2: float = 0.0  # log-normal IIV on EC50


@dataclass(frozen=True)
class PopModel:
    key: str
    drug: str
    label: str
    source: str
    typical: Callable[[Covariates, float], Mapping[str, float]]  # (covariates, mg/day) -> params
    eta_names: tuple[str, ...] = ()
    omega: tuple[tuple[float, ...], ...] = ()
    prop_err: float = 0.0
    add_err: float = 0.0
    conc_unit: str = "mg/L"
    amount_factor: float = 1.0  # model amount units per mg dosed
    routes: tuple[str, ...] = ("iv",)
    needs_scr: bool = False
    dose_dependent: bool = False  # typical parameters depend on the daily dose (not linear in dose)
    pd: PDModel | None = None
    effect_site: bool = False
    iiv_source: str = ""
    notes: str = ""
    version: str = "1"

    @property
    def omega_matrix(self) -> FloatArray:
        k = len(self.eta_names)
        if not self.omega:
            return np.zeros((k, k))
        return np.asarray(self.omega, dtype=np.float64)

    @property
    def has_iiv(self) -> bool:
        return bool(self.eta_names) and bool(np.any(np.diag(self.omega_matrix) > 0))

    def __post_init__(self) -> None:
        om = self.omega_matrix
        if om.shape != (len(self.eta_names), len(self.eta_names)):
            raise ValueError(f"{self.key}: omega must be {len(self.eta_names)}x{len(self.eta_names)}")
        if self.eta_names and not np.allclose(om, om.T):
            raise ValueError(f"{self.key}: omega must be symmetric")

    def typical_params(self, cov: Covariates, daily_dose_mg: float = 0.0) -> dict[str, float]:
        if self.needs_scr and cov.scr is None:
            raise ValidationError(f"{self.label} needs serum creatinine (scr, mg/dL)", field="scr")
        p = dict(self.typical(cov, daily_dose_mg))
        for k, v in p.items():
            if not np.isfinite(v) or v <= 0:
                raise ValidationError(
                    f"{self.label}: parameter {k} = {v:.4g} is outside the model's domain for these covariates",
                    field="covariates",
                )
        return p

    def individual(self, typical: Mapping[str, float], eta: FloatArray) -> dict[str, FloatArray]:
        """Parameters of each virtual patient: eta has shape (P, len(eta_names))."""
        eta = np.atleast_2d(np.asarray(eta, dtype=np.float64))
        out = {k: np.full(eta.shape[0], float(v)) for k, v in typical.items()}
        for j, name in enumerate(self.eta_names):
            if name in out:
                out[name] = out[name] * np.exp(eta[:, j])
        return out

    def system(self, params: Mapping[str, FloatArray]) -> PKSystem:
        g = params.get
        return from_clearances(
            g("CL"),  # type: ignore[arg-type]
            g("V1"),  # type: ignore[arg-type]
            g("Q2"),
            g("V2"),
            g("Q3"),
            g("V3"),
            ke0=g("KE0"),
            ka=g("KA"),
            f=g("F"),
            tlag=float(params.get("TLAG", np.zeros(1))[0]) if "TLAG" in params else 0.0,
        )

    def residual_var(self, f: FloatArray) -> FloatArray:
        return (self.prop_err * f) ** 2 + self.add_err**2


def micro_to_clearances(
    v1: float, k10: float, k12: float, k21: float, k13: float, k31: float
) -> dict[str, float]:
    """Published micro-constants (1/min) as clearances and volumes (exactly equivalent kinetics)."""
    q2, q3 = k12 * v1, k13 * v1
    return {"CL": k10 * v1, "V1": v1, "Q2": q2, "V2": q2 / k21, "Q3": q3, "V3": q3 / k31}


def cv_to_omega2(cv: float) -> float:
    """Log-normal variance from a coefficient of variation: omega^2 = ln(1 + CV^2)."""
    return float(np.log1p(cv * cv))


@dataclass(frozen=True)
class Drug:
    name: str
    display: str
    models: Mapping[str, PopModel]
    default_model: str
    target: Criterion | None = None
    toxicity: Criterion | None = None
    window: Criterion | None = None  # time-in-window criterion where the drug has one
    level_codes: tuple[str, ...] = ()
    default_route: str = "iv"
    default_infusion_min: Callable[[float], float] = field(default=lambda _mg: 0.0)
    dose_step_mg: float = 1.0
    default_interval_h: float = 24.0
    sources: tuple[str, ...] = ()
    notes: str = ""

    def model(self, key: str | None) -> PopModel:
        k = (key or self.default_model).strip().lower()
        if k not in self.models:
            raise ValidationError(
                f"unknown model {key!r} for {self.name}; one of: {', '.join(self.models)}", field="model"
            )
        return self.models[k]
