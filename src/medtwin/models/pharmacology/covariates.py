"""Patient covariates of the population PK models: body size and renal function. Pure functions.

Sources (each formula is checked against its published numbers in tests/unit/test_pk_covariates.py):

* Lean body mass, James WPT. *Research on obesity*. London: HMSO (DHSS/MRC), 1976:
  male ``1.1 W - 128 (W/H)^2``, female ``1.07 W - 148 (W/H)^2`` (W kg, H cm). Used by Schnider 1998
  (propofol) and Minto 1997 (remifentanil), and therefore required exactly as published there.
* Fat-free mass, Janmahasatian S et al. Clin Pharmacokinet 2005;44(10):1051-1065:
  ``9270 W / (6680 + 216 BMI)`` (male), ``9270 W / (8780 + 244 BMI)`` (female); with the
  age maturation of Al-Sallami HS et al. Clin Pharmacokinet 2015;54(11):1183-1192, as used by
  Eleveld 2018 (propofol). Computed unrounded (PyTCI's ``alsallami`` rounds BMI and FFM to 0.1).
* Ideal body weight, Devine BJ. Drug Intell Clin Pharm 1974;8:650-655: 50 kg (male) or 45.5 kg
  (female) + 2.3 kg per inch over 5 ft (2.3/2.54 kg per cm over 152.4 cm). Adjusted body weight
  ``IBW + 0.4 (TBW - IBW)`` (the 0.4 factor of Bauer LA, *Applied Clinical Pharmacokinetics*,
  for aminoglycosides).
* Creatinine clearance, Cockcroft DW, Gault MH. Nephron 1976;16(1):31-41:
  ``(140 - age) x weight / (72 x SCr[mg/dL])``, x 0.85 for women, in mL/min (not normalised to
  body surface). **Which weight**: :func:`cockcroft_gault` takes the weight explicitly and medtwin
  uses, for each drug model, the weight its authors used to derive the clearance covariate
  (Goti 2018 vancomycin and Jin 2022 lithium: total body weight). Where no model dictates it, the
  platform default is total body weight (the original 1976 derivation), stated in the output.
  medcalc-bench / MDCalc apply a different rule (min(IBW, TBW) unless obese); that is not used.
* eGFR, CKD-EPI 2021 race-free creatinine equation, Inker LA et al. N Engl J Med
  2021;385(19):1737-1749: ``142 x min(SCr/k, 1)^a x max(SCr/k, 1)^-1.200 x 0.9938^age x 1.012
  [female]`` with k = 0.7 (F) / 0.9 (M), a = -0.241 (F) / -0.302 (M); mL/min/1.73 m^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from medtwin.core.errors import ValidationError

Sex = Literal["male", "female"]
SEXES: tuple[str, ...] = ("male", "female")


@dataclass(frozen=True, slots=True)
class Covariates:
    """One patient's covariates. ``scr`` is serum creatinine in mg/dL (None when unknown)."""

    age: float  # years
    weight: float  # kg, total body weight
    height: float  # cm
    sex: Sex
    scr: float | None = None  # mg/dL
    dialysis: bool = False  # intermittent haemodialysis (Goti 2018)
    opioids: bool = False  # opioid co-administration (Eleveld 2018 propofol)

    def __post_init__(self) -> None:
        checks = (
            ("age", self.age, 0.0, 120.0),
            ("weight", self.weight, 0.5, 400.0),
            ("height", self.height, 30.0, 250.0),
        )
        for name, value, lo, hi in checks:
            if not isinstance(value, int | float) or not lo <= float(value) <= hi:
                raise ValidationError(f"must be a number in [{lo:g}, {hi:g}]", field=name)
        if self.sex not in SEXES:
            raise ValidationError("must be 'male' or 'female'", field="sex")
        if self.scr is not None and not 0.05 <= float(self.scr) <= 30.0:
            raise ValidationError("serum creatinine must be in [0.05, 30] mg/dL", field="scr")


def parse_sex(value: str) -> Sex:
    v = value.strip().lower()
    if v in ("m", "male"):
        return "male"
    if v in ("f", "female"):
        return "female"
    raise ValidationError("must be 'male' or 'female'", field="sex")


def bmi(weight: float, height: float) -> float:
    return weight / (height / 100.0) ** 2


def lbm_james(weight: float, height: float, sex: Sex) -> float:
    """Lean body mass (kg), James 1976."""
    if sex == "male":
        return 1.1 * weight - 128.0 * (weight / height) ** 2
    return 1.07 * weight - 148.0 * (weight / height) ** 2


def ffm_janmahasatian(weight: float, height: float, sex: Sex) -> float:
    """Fat-free mass (kg), Janmahasatian 2005 (unrounded)."""
    b = bmi(weight, height)
    if sex == "male":
        return 9270.0 * weight / (6680.0 + 216.0 * b)
    return 9270.0 * weight / (8780.0 + 244.0 * b)


def ffm_al_sallami(age: float, weight: float, height: float, sex: Sex) -> float:
    """Fat-free mass (kg), Al-Sallami 2015 (Janmahasatian with age maturation), unrounded."""
    base = ffm_janmahasatian(weight, height, sex)
    if age <= 0:
        return (0.88 if sex == "male" else 1.11) * base
    if sex == "male":
        return float((0.88 + (1.0 - 0.88) / (1.0 + (age / 13.4) ** -12.7)) * base)
    return float((1.11 + (1.0 - 1.11) / (1.0 + (age / 7.1) ** -1.1)) * base)


def ibw_devine(height: float, sex: Sex) -> float:
    """Ideal body weight (kg), Devine 1974."""
    return (50.0 if sex == "male" else 45.5) + (2.3 / 2.54) * (height - 152.4)


def adjusted_body_weight(weight: float, height: float, sex: Sex) -> float:
    ibw = ibw_devine(height, sex)
    return ibw + 0.4 * (weight - ibw)


def cockcroft_gault(age: float, weight: float, scr: float, sex: Sex) -> float:
    """Creatinine clearance (mL/min), Cockcroft-Gault 1976, with the weight given (see module doc)."""
    if scr <= 0:
        raise ValidationError("serum creatinine must be positive", field="scr")
    crcl = (140.0 - age) * weight / (72.0 * scr)
    return crcl * (0.85 if sex == "female" else 1.0)


def ckd_epi_2021(age: float, scr: float, sex: Sex) -> float:
    """eGFR (mL/min/1.73 m^2), CKD-EPI 2021 race-free creatinine equation (Inker 2021)."""
    if scr <= 0:
        raise ValidationError("serum creatinine must be positive", field="scr")
    k, a = (0.7, -0.241) if sex == "female" else (0.9, -0.302)
    r = scr / k
    egfr = 142.0 * min(r, 1.0) ** a * max(r, 1.0) ** -1.200 * 0.9938**age
    return float(egfr * (1.012 if sex == "female" else 1.0))


def describe(cov: Covariates) -> dict[str, float | str | None]:
    """Derived covariates for display and provenance (CrCl with total body weight, eGFR)."""
    out: dict[str, float | str | None] = {
        "bmi": round(bmi(cov.weight, cov.height), 2),
        "lbm_james": round(lbm_james(cov.weight, cov.height, cov.sex), 3),
        "ffm_al_sallami": round(ffm_al_sallami(cov.age, cov.weight, cov.height, cov.sex), 3),
        "ibw_devine": round(ibw_devine(cov.height, cov.sex), 2),
        "crcl_cg_tbw": None,
        "egfr_ckd_epi_2021": None,
        "crcl_weight": "total body weight",
    }
    if cov.scr is not None:
        out["crcl_cg_tbw"] = round(cockcroft_gault(cov.age, cov.weight, cov.scr, cov.sex), 2)
        out["egfr_ckd_epi_2021"] = round(ckd_epi_2021(cov.age, cov.scr, cov.sex), 2)
    return out


def finite(x: float) -> bool:
    return math.isfinite(x)
