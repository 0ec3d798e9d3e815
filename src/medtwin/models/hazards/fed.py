"""Tenability: fractional effective dose (FED) of asphyxiant and irritant gases, heat, visibility
and walking speed in smoke.

Sources (rates per minute, concentrations in ppm or volume %):

* Asphyxiants, Purser's model as implemented in FDS (``func.f90``, FED routine) and pyFDS-Evac
  (D. A. Purser, "Assessment of hazards to occupants from smoke, toxic gases and heat", SFPE
  Handbook of Fire Protection Engineering, 4th ed., 2008, ch. 2-6; ISO 13571:2012):

  - CO:  ``2.7641667e-5 * C_CO^1.036``
  - HCN: ``exp(C_CN / 43) / 220 - 0.0045`` with ``C_CN = C_HCN - C_NO2``
  - NOx: ``C_NOx / 1500``
  - CO2 hyperventilation factor: ``HV = exp(0.1903 * CO2% + 2.0004) / 7.1`` (1 without CO2)
  - low O2: ``1 / exp(8.13 - 0.54 * (20.9 - O2%))``, counted only below ambient 20.9 %
  - total: ``(FED_CO + FED_CN + FED_NOx + FLD_irr) * HV + FED_O2``

* Irritants (fractional lethal doses, ppm*min, Purser as in FDS): HCl 114,000; HBr 114,000;
  HF 87,000; SO2 12,000; NO2 1,900; acrolein 4,500; formaldehyde 22,500.
* Convective heat (ISO 13571:2012, eq. for fully clothed occupants): time to incapacitation
  ``t_Iconv = 5e7 * T^-3.4`` min, T in degrees C; kept as a separate dose.
* Design threshold: FED 0.3 (ISO 13571:2012 §5 note: about 11.4 % of a population would be
  incapacitated at FED 0.3, against 50 % at 1.0), the figure the issue asks to report.
* Visibility ``S = C / K`` (m), K the extinction coefficient (1/m), C = 3 for light-reflecting and
  C = 8 for light-emitting signs (T. Jin, "Visibility and human behavior in fire smoke", SFPE
  Handbook, 3rd ed., 2002, ch. 2-4); FDS caps S at 30 m.
* Mass specific extinction coefficient of flaming soot ``K_m = 8700 m2/kg`` (G. W. Mulholland and
  C. Croarkin, "Specific extinction coefficient of flame generated smoke", Fire and Materials 24,
  227-230, 2000).
* Walking speed in smoke (H. Frantzich and D. Nilsson, "Utrymning genom tat rok", Lund 2003,
  data for K 1.9-7.4 1/m: ``v = 0.706 - 0.057 K``), in FDS+Evac's fractional form
  ``v = max(0.1 v0, v0 (1 - 0.057 K / 0.706))`` (T. Korhonen, FDS+Evac technical reference and
  user's guide, VTT 2018, §3.4), the law ISO 20414 test 18 is checked against.
* Jin's allowable extinction for people familiar with the building: K up to 0.4-1.2 1/m (Jin 2002,
  as above); medtwin's routing treats K above :data:`K_FAMILIAR_MAX` as untenable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FED_DESIGN_THRESHOLD = 0.3  # ISO 13571:2012
K_SOOT_M2_PER_KG = 8700.0  # Mulholland & Croarkin 2000
K_FAMILIAR_MAX = 1.2  # 1/m, upper end of Jin's allowable range for occupants familiar with the building
VISIBILITY_C_REFLECTING = 3.0  # Jin 2002
VISIBILITY_C_EMITTING = 8.0  # Jin 2002
VISIBILITY_CAP_M = 30.0  # FDS
SMOKE_SPEED_ALPHA = 0.706  # Frantzich & Nilsson 2003, m/s
SMOKE_SPEED_BETA = -0.057  # Frantzich & Nilsson 2003, m2/s
SMOKE_SPEED_MIN_FRACTION = 0.1  # FDS+Evac
O2_AMBIENT_PCT = 20.9
IRRITANT_FLD_PPM_MIN = {  # Purser, as in FDS func.f90
    "HCl": 114_000.0,
    "HBr": 114_000.0,
    "HF": 87_000.0,
    "SO2": 12_000.0,
    "NO2": 1_900.0,
    "acrolein": 4_500.0,
    "formaldehyde": 22_500.0,
}


@dataclass(frozen=True, slots=True)
class Gas:
    """Gas concentrations at head height: CO, HCN, NOx and irritants in ppm, CO2 and O2 in %."""

    co_ppm: float = 0.0
    co2_pct: float = 0.0
    o2_pct: float = O2_AMBIENT_PCT
    hcn_ppm: float = 0.0
    no2_ppm: float = 0.0
    nox_ppm: float = 0.0
    irritants_ppm: tuple[tuple[str, float], ...] = ()


def fed_co_rate(co_ppm: float) -> float:
    return 2.7641667e-5 * co_ppm**1.036 if co_ppm > 0 else 0.0


def fed_cn_rate(hcn_ppm: float, no2_ppm: float = 0.0) -> float:
    c = hcn_ppm - no2_ppm
    return max(0.0, math.exp(c / 43.0) / 220.0 - 0.0045) if c > 0 else 0.0


def fed_nox_rate(nox_ppm: float) -> float:
    return nox_ppm / 1500.0 if nox_ppm > 0 else 0.0


def hv_co2(co2_pct: float) -> float:
    return math.exp(0.1903 * co2_pct + 2.0004) / 7.1 if co2_pct > 0 else 1.0


def fed_o2_rate(o2_pct: float) -> float:
    if o2_pct >= O2_AMBIENT_PCT:
        return 0.0
    return 1.0 / math.exp(8.13 - 0.54 * (O2_AMBIENT_PCT - o2_pct))


def fld_irritant_rate(irritants_ppm: tuple[tuple[str, float], ...]) -> float:
    total = 0.0
    for name, c in irritants_ppm:
        if name not in IRRITANT_FLD_PPM_MIN:
            raise ValueError(f"unknown irritant {name!r}; known: {', '.join(IRRITANT_FLD_PPM_MIN)}")
        total += c / IRRITANT_FLD_PPM_MIN[name]
    return total


def fed_rate_per_min(g: Gas) -> float:
    """Total asphyxiant/irritant FED accumulated per minute in gas ``g`` (Purser, as in FDS)."""
    toxic = fed_co_rate(g.co_ppm) + fed_cn_rate(g.hcn_ppm, g.no2_ppm) + fed_nox_rate(g.nox_ppm)
    toxic += fld_irritant_rate(g.irritants_ppm)
    return toxic * hv_co2(g.co2_pct) + fed_o2_rate(g.o2_pct)


def time_to_fed(g: Gas, fed: float = 1.0) -> float:
    """Seconds of constant exposure to ``g`` until the dose reaches ``fed`` (inf when harmless)."""
    rate = fed_rate_per_min(g)
    return math.inf if rate <= 0 else 60.0 * fed / rate


def heat_rate_per_min(temp_c: float) -> float:
    """Convective heat dose per minute (ISO 13571: 1 / t_Iconv, t_Iconv = 5e7 T^-3.4 min)."""
    if temp_c <= 0:
        return 0.0
    rate: float = 1.0 / (5.0e7 * temp_c**-3.4)
    return rate


def extinction_from_soot(soot_kg_m3: float) -> float:
    """Extinction coefficient K (1/m) of a soot mass concentration (Mulholland & Croarkin)."""
    return K_SOOT_M2_PER_KG * max(0.0, soot_kg_m3)


def visibility_m(k_per_m: float, c: float = VISIBILITY_C_REFLECTING) -> float:
    """Visibility distance S = C / K (Jin), capped at 30 m as in FDS."""
    return VISIBILITY_CAP_M if k_per_m <= c / VISIBILITY_CAP_M else c / k_per_m


def smoke_speed_factor(k_per_m: float) -> float:
    """Fraction of the free walking speed kept in smoke of extinction K (FDS+Evac form)."""
    if k_per_m <= 0:
        return 1.0
    return max(SMOKE_SPEED_MIN_FRACTION, 1.0 + SMOKE_SPEED_BETA * k_per_m / SMOKE_SPEED_ALPHA)
