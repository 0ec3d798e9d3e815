"""Linear one- to three-compartment PK with effect site and oral depot, solved exactly. Pure, vectorised.

Structure (amounts A in mg or the drug's amount unit, concentrations in amount/L, time in min)::

    dA1/dt  = -(k10 + k12 + k13) A1 + k21 A2 + k31 A3 + ka Ad + u(t)
    dA2/dt  =  k12 A1 - k21 A2                 (2- and 3-compartment models)
    dA3/dt  =  k13 A1 - k31 A3                 (3-compartment models)
    dCe/dt  =  ke0 (A1/V1 - Ce)                (effect site, Sheiner 1979)
    dAd/dt  = -ka Ad                           (oral depot; doses enter as F x dose after tlag)
    dAUC/dt =  A1/V1                           (exact area under the plasma curve)

For a piecewise-constant input the solution over a step of length h is exact:
``x(t+h) = Phi(h) x(t) + Gamma(h) u`` with ``[[Phi, Gamma], [0, 1]] = expm([[A, b], [0, 0]] h)``
(Van Loan's augmented matrix exponential; the approach of PyTCI's ``exact`` integrator), so the
result does not depend on a step size. Every patient of a batch shares the time grid (dose times,
infusion starts/stops and the requested output times); ``expm`` is evaluated once per distinct
step length for the whole batch (``scipy.linalg.expm`` on a (P, n, n) stack), then the states of
all P patients advance together. The lag time is therefore one value for the batch (no IIV on it).

Convention: outputs are right-continuous, i.e. an output requested at the instant of a bolus
includes that bolus (as PyTCI's ``give_drug`` then read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg import expm

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.regimen import Dose

FloatArray = npt.NDArray[np.float64]


def _arr(x: float | FloatArray | Sequence[float], n: int | None = None) -> FloatArray:
    a = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if n is not None and a.shape[0] == 1 and n > 1:
        a = np.repeat(a, n)
    return a


@dataclass(frozen=True)
class PKSystem:
    """Per-patient micro-constants (arrays of shape (P,)), 1/min; V1 in L."""

    v1: FloatArray
    k10: FloatArray
    k12: FloatArray
    k21: FloatArray
    k13: FloatArray
    k31: FloatArray
    n_cmt: int
    ke0: FloatArray | None = None
    ka: FloatArray | None = None
    f: FloatArray | None = None
    tlag: float = 0.0

    @property
    def n(self) -> int:
        return int(self.v1.shape[0])

    @property
    def size(self) -> int:
        """State size: compartments, effect site, depot, AUC."""
        return self.n_cmt + (self.ke0 is not None) + (self.ka is not None) + 1

    @property
    def i_ce(self) -> int | None:
        return self.n_cmt if self.ke0 is not None else None

    @property
    def i_depot(self) -> int | None:
        return self.n_cmt + (self.ke0 is not None) if self.ka is not None else None

    @property
    def i_auc(self) -> int:
        return self.size - 1

    def matrices(self) -> FloatArray:
        """The system matrices A, shape (P, n, n)."""
        p, n = self.n, self.size
        a = np.zeros((p, n, n))
        a[:, 0, 0] = -(self.k10 + self.k12 + self.k13)
        if self.n_cmt >= 2:
            a[:, 0, 1], a[:, 1, 0], a[:, 1, 1] = self.k21, self.k12, -self.k21
        if self.n_cmt >= 3:
            a[:, 0, 2], a[:, 2, 0], a[:, 2, 2] = self.k31, self.k13, -self.k31
        if self.ke0 is not None and self.i_ce is not None:
            a[:, self.i_ce, 0] = self.ke0 / self.v1
            a[:, self.i_ce, self.i_ce] = -self.ke0
        if self.ka is not None and self.i_depot is not None:
            a[:, 0, self.i_depot] = self.ka
            a[:, self.i_depot, self.i_depot] = -self.ka
        a[:, self.i_auc, 0] = 1.0 / self.v1
        return a


def from_clearances(
    cl: FloatArray | float,
    v1: FloatArray | float,
    q2: FloatArray | float | None = None,
    v2: FloatArray | float | None = None,
    q3: FloatArray | float | None = None,
    v3: FloatArray | float | None = None,
    *,
    ke0: FloatArray | float | None = None,
    ka: FloatArray | float | None = None,
    f: FloatArray | float | None = None,
    tlag: float = 0.0,
) -> PKSystem:
    """Build a system from clearances (L/min) and volumes (L)."""
    v1a = _arr(v1)
    cla = _arr(cl)
    n = max(v1a.shape[0], cla.shape[0])
    v1a, cla = _arr(v1a, n), _arr(cla, n)
    zeros = np.zeros(n)
    k12 = k21 = k13 = k31 = zeros
    n_cmt = 1
    if q2 is not None and v2 is not None:
        n_cmt = 2
        k12, k21 = _arr(q2, n) / v1a, _arr(q2, n) / _arr(v2, n)
    if q3 is not None and v3 is not None:
        if n_cmt != 2:
            raise ValidationError("a third compartment needs a second", field="model")
        n_cmt = 3
        k13, k31 = _arr(q3, n) / v1a, _arr(q3, n) / _arr(v3, n)
    sys_ = PKSystem(
        v1=v1a,
        k10=cla / v1a,
        k12=k12,
        k21=k21,
        k13=k13,
        k31=k31,
        n_cmt=n_cmt,
        ke0=None if ke0 is None else _arr(ke0, n),
        ka=None if ka is None else _arr(ka, n),
        f=None if f is None else _arr(f, n),
        tlag=float(tlag),
    )
    for name in ("v1", "k10", "k12", "k21", "k13", "k31"):
        v = getattr(sys_, name)
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValidationError(f"{name} must be finite and not negative", field=name)
    if np.any(sys_.v1 <= 0):
        raise ValidationError("V1 must be positive", field="v1")
    return sys_


@dataclass(frozen=True)
class Simulation:
    """Concentrations at the output times: arrays (P, T); ``auc`` cumulative, amount.min/L."""

    t: FloatArray
    cp: FloatArray
    ce: FloatArray | None
    auc: FloatArray


def _expm_transitions(a: FloatArray, steps: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Phi (U, P, n, n) and Gamma (U, P, n) for each step length (Van Loan's augmented expm)."""
    p, n, _ = a.shape
    aug = np.zeros((steps.shape[0], p, n + 1, n + 1))
    aug[:, :, :n, :n] = a[None]
    aug[:, :, 0, n] = 1.0  # infusion enters the central compartment
    m = expm(aug * steps[:, None, None, None])
    return m[:, :, :n, :n], m[:, :, :n, n]


def _transitions(a: FloatArray, steps: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Phi and Gamma via the eigendecomposition ``A = V diag(l) V^-1`` (one per patient):
    ``Phi(h) = V diag(exp(l h)) V^-1``, ``Gamma(h) = V diag((exp(l h) - 1)/l) V^-1 e1`` (= h for l = 0).
    The same matrix exponential as :func:`_expm_transitions`, 10-50x cheaper for many step lengths;
    patients whose eigenvectors are ill-conditioned (repeated eigenvalues, e.g. ka = k10) fall back
    to ``expm``."""
    lam, vec = np.linalg.eig(a)
    lam, vec = lam.real, vec.real
    cond = np.linalg.cond(vec)
    bad = ~np.isfinite(cond) | (cond > 1e8)
    vinv = np.linalg.inv(np.where(bad[:, None, None], np.eye(a.shape[1]), vec))
    z = lam[None] * steps[:, None, None]  # (U, P, n)
    e = np.exp(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(np.abs(lam[None]) > 1e-14, np.expm1(z) / lam[None], steps[:, None, None])
    phi = np.einsum("pij,upj,pjk->upik", vec, e, vinv)
    gamma = np.einsum("pij,upj,pj->upi", vec, g, vinv[:, :, 0])
    if np.any(bad):
        ph, gm = _expm_transitions(a[bad], steps)
        phi[:, bad], gamma[:, bad] = ph, gm
    return phi, gamma


def simulate(
    system: PKSystem,
    doses: Sequence[Dose],
    times: Sequence[float] | FloatArray,
    *,
    amount_factor: float | FloatArray = 1.0,
) -> Simulation:
    """Exact concentrations of every patient of ``system`` at ``times`` (min) under ``doses``.

    ``amount_factor`` converts dosed mg to the model's amount unit; an array (P,) scales each
    patient's doses (e.g. mg/kg regimens: the same schedule, amounts proportional to weight)."""
    t_out = np.asarray(times, dtype=np.float64)
    if t_out.ndim != 1 or t_out.size == 0 or not np.all(np.isfinite(t_out)):
        raise ValidationError("times must be a non-empty list of numbers", field="times")
    if np.any(np.diff(t_out) < 0):
        raise ValidationError("times must be in increasing order", field="times")
    oral = [d for d in doses if d.route == "oral"]
    if oral and system.ka is None:
        raise ValidationError("this model has no oral absorption", field="route")
    events = [d.time + (system.tlag if d.route == "oral" else 0.0) for d in doses]
    events += [d.end for d in doses if d.duration > 0]
    start = min([0.0, float(t_out[0]), *events])
    grid = np.unique(np.concatenate([[start], t_out, np.asarray(events, dtype=np.float64)]))
    steps = np.diff(grid)
    rates = np.zeros(steps.shape[0])
    for d in doses:
        if d.duration > 0:
            on = (grid[:-1] >= d.time - 1e-12) & (grid[1:] <= d.end + 1e-12)
            rates[on] += d.rate
    bolus_at: dict[int, list[Dose]] = {}
    for d in doses:
        if d.duration == 0 and d.amount > 0:
            t = d.time + (system.tlag if d.route == "oral" else 0.0)
            bolus_at.setdefault(int(np.searchsorted(grid, t)), []).append(d)
    key = np.asarray(np.round(steps, 9), dtype=np.float64)
    uniq, inv = np.unique(key[key > 0], return_inverse=True)
    uniq = np.asarray(uniq, dtype=np.float64)
    phi, gamma = _transitions(system.matrices(), uniq) if uniq.size else (None, None)
    step_index = np.full(steps.shape[0], -1)
    step_index[key > 0] = inv
    out_index = np.searchsorted(grid, t_out)
    p = system.n
    x = np.zeros((p, system.size))
    want: dict[int, list[int]] = {}
    for j, gi in enumerate(out_index):
        want.setdefault(int(gi), []).append(j)
    states = np.zeros((t_out.shape[0], p, system.size))
    f = system.f if system.f is not None else np.ones(p)
    af = np.broadcast_to(np.asarray(amount_factor, dtype=np.float64), (p,))
    for gi in range(grid.shape[0]):
        for d in bolus_at.get(gi, ()):
            if d.route == "oral":
                assert system.i_depot is not None
                x[:, system.i_depot] += f * d.amount * af
            else:
                x[:, 0] += d.amount * af
        for j in want.get(gi, ()):
            states[j] = x
        if gi < steps.shape[0] and step_index[gi] >= 0:
            assert phi is not None and gamma is not None
            k = step_index[gi]
            x = np.einsum("pij,pj->pi", phi[k], x)
            if rates[gi]:
                x += gamma[k] * (rates[gi] * af)[:, None]
    cp = states[:, :, 0].T / system.v1[:, None]
    ce = states[:, :, system.i_ce].T if system.i_ce is not None else None
    auc = states[:, :, system.i_auc].T
    return Simulation(t=t_out, cp=cp, ce=ce, auc=auc)
