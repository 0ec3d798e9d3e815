"""Circulating volume, red cells and the haemodynamic response to a volume deficit.

* Blood volume 70 mL/kg (``atls``); haemoglobin from the red-cell fraction with the usual
  "rule of three" (Hb g/dL ~ haematocrit % / 3).
* Bleeding removes whole blood at the current haematocrit. Its rate scales with mean arterial
  pressure relative to the patient's baseline (higher pressure, faster bleeding: the rationale of
  permissive hypotension, ``spahn2019``); haemorrhage control stops it.
* Crystalloid enters the plasma and leaves it for the interstitium with a 20-min time constant
  until a quarter of it remains intravascular (``hahn2010``: distribution within ~30 min, a
  minority retained; the quarter is a modelling choice within that range). Red cells
  (``blood_components``: ~280 mL, haematocrit 0.6) stay intravascular.
* The deficit ``f`` (fraction of the normal volume missing) maps onto the ATLS classes of
  haemorrhagic shock (``atls`` Table 3-1): class I < 15 % (HR < 100), II 15-30 % (HR 100-120,
  SBP normal, pulse pressure narrowed, RR 20-30), III 30-40 % (HR 120-140, SBP falls, RR 30-40,
  anxious/confused), IV > 40 % (HR > 140, SBP markedly low, RR > 35, lethargic). The numbers
  between classes are those of medtwin's bedside-monitor scenarios (``medtwin.devices.scenarios``),
  so the virtual patient and the simulated ward agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BLOOD_ML_PER_KG = 70.0  # atls
CRYSTALLOID_RETAINED = 0.25  # hahn2010 (modelling choice within the published range)
CRYSTALLOID_TAU_MIN = 20.0  # hahn2010: distribution within ~30 min
RBC_UNIT_ML, RBC_UNIT_HCT = 280.0, 0.6  # blood_components
_F = (0.0, 0.15, 0.30, 0.40, 0.50)
_HR = (0.0, 98.0, 120.0, 140.0, 160.0)  # HR reached from a typical rest
_RR = (0.0, 19.0, 30.0, 36.0, 42.0)  # RR reached from a typical rest
_SBP = (0.0, 0.0, -8.0, -30.0, -55.0)  # delta
_DBP = (0.0, 4.0, 6.0, -6.0, -25.0)  # delta: early rise narrows the pulse pressure


def _interp(x: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    if x <= xs[0]:
        return ys[0]
    for i in range(1, len(xs)):
        if x <= xs[i]:
            w = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
            return ys[i - 1] + w * (ys[i] - ys[i - 1])
    return ys[-1]


@dataclass
class Circulation:
    weight_kg: float
    hb0: float = 14.0  # g/dL
    bv: float = 0.0  # mL, blood volume (incl. retained crystalloid)
    rbc: float = 0.0  # mL, red-cell volume
    transient: float = 0.0  # mL of crystalloid still leaving the plasma
    bled: float = 0.0  # mL lost so far
    crystalloid_ml: float = 0.0  # given so far
    blood_ml: float = 0.0  # red cells given so far
    retained: float = CRYSTALLOID_RETAINED  # fraction of crystalloid that stays (choices.py)

    def __post_init__(self) -> None:
        self.bv0 = BLOOD_ML_PER_KG * self.weight_kg
        if self.bv == 0.0:
            self.bv = self.bv0
            self.rbc = self.bv0 * self.hb0 * 3.0 / 100.0

    @property
    def hb(self) -> float:
        return 100.0 * self.rbc / max(self.bv, 1.0) / 3.0

    @property
    def deficit(self) -> float:
        """Fraction of the normal blood volume missing (negative: overfilled)."""
        return (self.bv0 - self.bv) / self.bv0

    def bleed(self, ml: float) -> None:
        ml = min(max(ml, 0.0), max(self.bv - 0.3 * self.bv0, 0.0))
        self.rbc -= ml * self.rbc / max(self.bv, 1.0)
        self.bv -= ml
        self.bled += ml

    def crystalloid(self, ml: float) -> None:
        self.bv += ml
        self.transient += ml * (1.0 - self.retained)
        self.crystalloid_ml += ml

    def red_cells(self, ml: float) -> None:
        self.bv += ml
        self.rbc += ml * RBC_UNIT_HCT
        self.blood_ml += ml

    def remove_plasma(self, ml: float) -> None:
        """Diuresis: water leaves the circulation (red cells stay)."""
        self.bv -= min(max(ml, 0.0), max(self.bv - self.rbc - 0.3 * self.bv0, 0.0))

    def step(self, dt_min: float) -> None:
        """Crystalloid redistribution to the interstitium."""
        out = self.transient * (1.0 - math.exp(-dt_min / CRYSTALLOID_TAU_MIN))
        self.transient -= out
        self.bv -= out


def atls_response(deficit: float, base_hr: float, base_rr: float) -> dict[str, float]:
    """Deltas of HR, RR, SBP, DBP for a volume ``deficit`` (fraction) on the ATLS classes."""
    f = min(max(float(deficit), 0.0), 0.5)
    return {
        "hr": max(_interp(f, _F, _HR) - base_hr, 0.0),
        "rr": max(_interp(f, _F, _RR) - base_rr, 0.0),
        "sbp": _interp(f, _F, _SBP),
        "dbp": _interp(f, _F, _DBP),
    }


def atls_class(deficit: float) -> str:
    if deficit >= 0.40:
        return "IV"
    if deficit >= 0.30:
        return "III"
    if deficit >= 0.15:
        return "II"
    return "I"


def acvpu_from_deficit(deficit: float) -> int:
    """0=A, 1=C (ATLS class III: anxious, confused), 2=V (class IV: lethargic; from 42 % as in
    the monitor scenarios)."""
    return int(deficit >= 0.30) + int(deficit >= 0.42)
