"""Drug kinetics and effects of the virtual patient, on the platform's compartmental PK engine.

Each drug is a :class:`~medtwin.models.pharmacology.linear.PKSystem` built with
``from_clearances`` and advanced exactly over the engine's fixed step with the matrix exponential
of its system matrix (the same solution :func:`medtwin.models.pharmacology.linear.simulate` uses).

* Fentanyl (``shafer1990``), 3 compartments, scaled to weight (V x W/70, CL x (W/70)^0.75); the
  effect-site rate constant ke0 is solved so that the effect site peaks 3.694 min after a bolus
  (the Shafer/Varvel time to peak). Ventilatory depression (``algera2021``):
  ``E = Ce^g / (Ce^g + C50'^g)`` with C50 0.42 ng/mL (opioid-naive) or 1.82 ng/mL (chronic
  users); the Hill coefficient 1.25 is remifentanil's (``bouillon2003``), fentanyl's is not in
  the source we cite.
* Naloxone (``dowling2008``), 3 compartments; biophase half-life 6.5 min (``yassen2007``).
  Competitive antagonism (``yassen2007``; Gaddum): ``C50' = C50 (1 + Cn_e / Kn)``. Kn, naloxone's
  effect-site concentration for 50 % receptor occupancy, is derived here from ``melichar2003``:
  the mean effect-site concentration over the 30 min after 13 ug/kg IV (70 kg), under the PK above.
* Norepinephrine (``beloeil2005``): one compartment, V 8.84 L, CL 59.6 / SAPS II L/min with
  SAPS II 30 (a moderate severity, as in the Python Anesthesia Simulator); MAP effect
  ``98.7 C^1.8 / (70.4^1.8 + C^1.8)`` mmHg, C in nmol/L (MW 169.18 g/mol).
* Furosemide (``lasix_label``): no PK model in the library; its diuretic effect is a Bateman
  curve of unit height peaking at 30 min and mostly gone by 2 h (onset within 5 min), scaled by
  dose up to 80 mg (a modelling choice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.linalg import expm

from medtwin.models.pharmacology.linear import PKSystem, from_clearances, simulate
from medtwin.models.pharmacology.pd import sigmoid_emax
from medtwin.models.pharmacology.regimen import Dose

FENTANYL_TPEAK_MIN = 3.694  # shafer1990
FENTANYL_C50 = {"naive": 0.42, "tolerant": 1.82}  # ng/mL, algera2021
OPIOID_HILL = 1.25  # bouillon2003 (remifentanil)
NALOXONE_KE0 = math.log(2) / 6.5  # yassen2007
NE_MW = 169.18
NE_EMAX, NE_C50, NE_HILL = 98.7, 70.4, 1.8  # beloeil2005
NE_SAPS2 = 30.0


def fentanyl_system(weight_kg: float, ke0: float | None = None) -> PKSystem:
    w = weight_kg / 70.0
    return from_clearances(
        0.632 * w**0.75, 12.1 * w, 2.8 * w**0.75, 35.7 * w, 1.55 * w**0.75, 224.0 * w,
        ke0=ke0 if ke0 is not None else fentanyl_ke0(),
    )  # fmt: skip


def naloxone_system() -> PKSystem:
    return from_clearances(91 / 60, 2.87, 5.66 / 60, 1.49, 29.8 / 60, 33.6, ke0=NALOXONE_KE0)


def norepinephrine_system() -> PKSystem:
    return from_clearances(59.6 / NE_SAPS2, 8.84)


def _ce_after_bolus(system: PKSystem, dose: float, times: np.ndarray) -> np.ndarray:
    """Effect-site concentrations (P, T) after a bolus at 0 (exact, every patient of ``system``)."""
    sim = simulate(system, [Dose(0.0, dose)], times)
    assert sim.ce is not None
    return sim.ce


@lru_cache(maxsize=1)
def fentanyl_ke0() -> float:
    """ke0 (1/min) giving the effect-site peak at 3.694 min after a bolus: the time to peak falls
    as ke0 rises, so a fine grid of candidates (solved together) brackets it; linear between."""
    times = np.linspace(1.0, 8.0, 1401)
    grid = np.geomspace(0.05, 2.0, 400)
    sys_ = from_clearances(0.632, np.full(grid.shape, 12.1), 2.8, 35.7, 1.55, 224.0, ke0=grid)
    tpeak = times[np.argmax(_ce_after_bolus(sys_, 1.0, times), axis=1)]
    return float(np.interp(-FENTANYL_TPEAK_MIN, -tpeak, grid))


@lru_cache(maxsize=1)
def naloxone_k50_ng_ml() -> float:
    """Naloxone effect-site concentration for 50 % occupancy (ng/mL), from melichar2003."""
    times = np.linspace(0.0, 30.0, 121)
    ce = _ce_after_bolus(naloxone_system(), 0.013 * 70.0, times)[0]  # mg -> mg/L
    return float(np.trapezoid(ce, times) / 30.0 * 1000.0)


@lru_cache(maxsize=64)
def _transition(a_bytes: bytes, n: int, dt_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Phi and Gamma of one step (Van Loan's augmented matrix exponential), cached per system."""
    a = np.frombuffer(a_bytes).reshape(n, n)
    aug = np.zeros((n + 1, n + 1))
    aug[:n, :n] = a
    aug[0, n] = 1.0  # infusions enter the central compartment
    m = expm(aug * dt_min)
    return m[:n, :n].copy(), m[:n, n].copy()


@dataclass
class Drug:
    """One drug's compartmental state advanced by a fixed step ``dt_min``."""

    system: PKSystem
    dt_min: float
    x: np.ndarray = field(init=False)
    phi: np.ndarray = field(init=False)
    gamma: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        a = self.system.matrices()[0]
        self.phi, self.gamma = _transition(a.tobytes(), a.shape[0], self.dt_min)
        self.x = np.zeros(a.shape[0])

    def bolus(self, amount: float) -> None:
        self.x[0] += amount

    def step(self, rate_per_min: float = 0.0) -> None:
        self.x = self.phi @ self.x + self.gamma * rate_per_min

    @property
    def cp(self) -> float:
        return float(self.x[0] / self.system.v1[0])

    @property
    def ce(self) -> float:
        i = self.system.i_ce
        return float(self.x[i]) if i is not None else self.cp

    def copy_state(self) -> list[float]:
        return [float(v) for v in self.x]


def opioid_depression(
    ce_fentanyl_ng_ml: float, ce_naloxone_ng_ml: float, tolerance: str = "naive",
    hill: float = OPIOID_HILL, k50_ng_ml: float | None = None,
) -> float:  # fmt: skip
    """Fractional ventilatory depression 0-1 with competitive naloxone antagonism (``hill`` and the
    naloxone ``k50_ng_ml`` are choices, :mod:`.choices`; None/0: derived from melichar2003)."""
    kn = k50_ng_ml or naloxone_k50_ng_ml()
    c50 = FENTANYL_C50[tolerance] * (1.0 + max(ce_naloxone_ng_ml, 0.0) / kn)
    return float(sigmoid_emax(ce_fentanyl_ng_ml, 0.0, 1.0, c50, hill))


def norepinephrine_map_rise(cp_ng_ml: float) -> float:
    """MAP rise (mmHg) at plasma norepinephrine ``cp_ng_ml`` (beloeil2005)."""
    nmol_l = max(cp_ng_ml, 0.0) / NE_MW * 1000.0
    return float(sigmoid_emax(nmol_l, 0.0, NE_EMAX, NE_C50, NE_HILL))


def furosemide_effect(minutes_since: float, dose_mg: float) -> float:
    """Relative diuretic effect 0-1 (Bateman curve peaking at 30 min; dose scaling to 80 mg)."""
    if minutes_since <= 0:
        return 0.0
    ka, ke = 0.0433, 0.025  # per min: peak at ln(ka/ke)/(ka-ke) = 30 min
    peak_t = math.log(ka / ke) / (ka - ke)
    t = minutes_since
    shape = (math.exp(-ke * t) - math.exp(-ka * t)) / (math.exp(-ke * peak_t) - math.exp(-ka * peak_t))
    return max(0.0, shape) * min(dose_mg, 80.0) / 80.0
