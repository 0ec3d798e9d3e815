"""Propofol: Marsh, Schnider and Eleveld population models; BIS by Bouillon 2004. Data with sources.

* **Marsh** (Marsh B, White M, Morton N, Kenny GNC. Br J Anaesth 1991;67(1):41-48), with the
  Diprifusor ke0 0.26 /min, as tabulated by Absalom AR, Mani V, De Smet T, Struys MMRF. Br J
  Anaesth 2009;103(1):26-37: V1 = 0.228 L/kg x TBW; k10 0.119, k12 0.112, k13 0.0419, k21 0.055,
  k31 0.0033 /min. Marsh published no inter-individual variability: the model has none (Monte Carlo
  with it is refused rather than invented). PyTCI 1.2.0 uses k13 0.042 and k31 0.0031.
* **Schnider** (Schnider TW et al. Anesthesiology 1998;88(5):1170-1182; ke0 0.456 /min from
  Schnider TW et al. Anesthesiology 1999;90(6):1502-1516), in its published micro-constant form:
  V1 4.27 L; k10 = 0.443 + 0.0107 (W-77) - 0.0159 (LBM-59) + 0.0062 (H-177); k12 = 0.302 -
  0.0056 (age-53); k13 0.196; k21 = (1.29 - 0.024 (age-53)) / (18.9 - 0.391 (age-53)); k31 0.0035
  (LBM by James). Reference vector (40 y, 70 kg, 170 cm, male): LBM 55.298, k10 0.38357, k12
  0.37480, k21 0.06680. IIV omega^2 (V1 0.0404, V2 0.01, V3 0.1435, CL 0.1005, Q2 0.01, Q3 0.1179)
  as tabulated from Schnider 1998 by the Python Anesthesia Simulator (Aubouin-Pairault B et al.
  JOSS 2023;8(88):5480); no IIV on ke0 was published. Not re-checked against the paper's table.
* **Eleveld** (Eleveld DJ, Colin P, Absalom AR, Struys MMRF. Br J Anaesth 2018;120(5):942-959),
  arterial, Table 2 thetas (V1 6.28, V2 25.5, V3 273 L; CL 1.79 (male) / 2.10 (female), Q2 1.75,
  Q3 1.11 L/min; maturation, ageing, FFM by Al-Sallami, opioid effects), ke0 0.146 (W/70)^-0.25;
  reference patient (35 y, 70 kg, 170 cm, male): V1 6.28, V2 25.5, V3 273, CL 1.79, Q3 1.11,
  ke0 0.146, and Q2 = 1.75 x (1 + 1.30 (1 - fQ3mat(PMA))) = 1.8306 L/min, with the un-normalised Q3
  maturation as in the thetas reproduced from the authors' code by the Python Anesthesia Simulator
  (PyTCI 1.2.0 normalises it and gets 1.75 at the reference; opentiva uses theta5 = 1.83 with the
  un-normalised term). Implementations disagree here; this choice is the authors' code's. IIV omega^2 V1 0.610, V2 0.565, V3 0.597, CL 0.265, Q2 0.346, Q3 0.209, ke0
  0.702; residual error 0.191 (log scale, used as proportional).
* **BIS** (pharmacodynamics): Bouillon TW et al. Anesthesiology 2004;100(6):1353-1372, propofol
  alone (remifentanil 0): E0 97.4, Emax -97.4, C50 4.47 ug/mL, gamma 1.43; IIV of C50 18.2 % CV.
  Applied to each model's effect-site concentration.
* **Target**: BIS 40-60 for general anaesthesia; below 40 counts as excessive hypnotic depth
  (the BIS range of adequate general anaesthesia recommended by the manufacturer, as used in
  Punjasawadwong Y et al. Cochrane Database Syst Rev 2014;(6):CD003843).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from medtwin.models.pharmacology.covariates import Covariates, ffm_al_sallami, lbm_james
from medtwin.models.pharmacology.library.base import (
    Criterion,
    Drug,
    PDModel,
    PopModel,
    cv_to_omega2,
    micro_to_clearances,
)

BOUILLON_2004 = "Bouillon TW et al. Anesthesiology 2004;100(6):1353-1372"
BIS = PDModel(
    name="BIS (Bouillon 2004, propofol alone)",
    e0=97.4,
    emax=-97.4,
    ec50=4.47,
    gamma=1.43,
    unit="BIS",
    source=BOUILLON_2004,
    ec50_omega2=cv_to_omega2(0.182),
)


def marsh(cov: Covariates, _daily: float = 0.0) -> Mapping[str, float]:
    p = micro_to_clearances(0.228 * cov.weight, 0.119, 0.112, 0.055, 0.0419, 0.0033)
    return {**p, "KE0": 0.26}


def schnider_micro(cov: Covariates) -> dict[str, float]:
    """The published micro-constants (1/min) and V1 (L)."""
    lbm = lbm_james(cov.weight, cov.height, cov.sex)
    return {
        "V1": 4.27,
        "k10": 0.443 + 0.0107 * (cov.weight - 77) - 0.0159 * (lbm - 59) + 0.0062 * (cov.height - 177),
        "k12": 0.302 - 0.0056 * (cov.age - 53),
        "k13": 0.196,
        "k21": (1.29 - 0.024 * (cov.age - 53)) / (18.9 - 0.391 * (cov.age - 53)),
        "k31": 0.0035,
    }


def schnider(cov: Covariates, _daily: float = 0.0) -> Mapping[str, float]:
    m = schnider_micro(cov)
    return {**micro_to_clearances(m["V1"], m["k10"], m["k12"], m["k21"], m["k13"], m["k31"]), "KE0": 0.456}


def _sig(x: float, e50: float, gamma: float) -> float:
    return float(x**gamma / (x**gamma + e50**gamma))


def eleveld(cov: Covariates, _daily: float = 0.0) -> Mapping[str, float]:
    age, w = cov.age, cov.weight
    pma, pma_ref = age * 52 + 40, 35 * 52 + 40  # post-menstrual age (weeks), born at term
    clmat = _sig(pma, 42.3, 9.06) / _sig(pma_ref, 42.3, 9.06)
    q3mat_raw = _sig(pma, 68.3, 1.0)
    q3mat = q3mat_raw / _sig(pma_ref, 68.3, 1.0)
    ffm_ratio = ffm_al_sallami(age, w, cov.height, cov.sex) / ffm_al_sallami(35, 70, 170, "male")
    opioid_v3 = math.exp(-0.0138 * age) if cov.opioids else 1.0
    opioid_cl = math.exp(-0.00286 * age) if cov.opioids else 1.0
    v1 = 6.28 * _sig(w, 33.6, 1.0) / _sig(70, 33.6, 1.0)
    v2 = 25.5 * (w / 70) * math.exp(-0.0156 * (age - 35))
    v3 = 273 * ffm_ratio * opioid_v3
    cl = (1.79 if cov.sex == "male" else 2.10) * (w / 70) ** 0.75 * clmat * opioid_cl
    q2 = 1.75 * (v2 / 25.5) ** 0.75 * (1 + 1.30 * (1 - q3mat_raw))
    q3 = 1.11 * (v3 / 273) ** 0.75 * q3mat
    return {"CL": cl, "V1": v1, "Q2": q2, "V2": v2, "Q3": q3, "V3": v3, "KE0": 0.146 * (w / 70) ** -0.25}


MARSH = PopModel(
    key="marsh",
    drug="propofol",
    label="Marsh 1991 (Diprifusor ke0 0.26)",
    source="Marsh B et al. Br J Anaesth 1991;67(1):41-48; parameters as in Absalom AR et al. Br J Anaesth 2009;103(1):26-37",
    typical=marsh,
    pd=BIS,
    effect_site=True,
    notes="No published inter-individual variability: simulation only, no Monte Carlo or Bayesian fit.",
)

_SCH_ETAS = ("V1", "V2", "V3", "CL", "Q2", "Q3")
SCHNIDER = PopModel(
    key="schnider",
    drug="propofol",
    label="Schnider 1998/1999",
    source="Schnider TW et al. Anesthesiology 1998;88(5):1170-1182; ke0: Anesthesiology 1999;90(6):1502-1516",
    typical=schnider,
    eta_names=_SCH_ETAS,
    omega=tuple(
        tuple(v if i == j else 0.0 for j in range(6))
        for i, v in enumerate((0.0404, 0.01, 0.1435, 0.1005, 0.01, 0.1179))
    ),
    prop_err=0.191,  # Schnider's residual error is not tabulated here: Eleveld 2018's propofol value
    pd=BIS,
    effect_site=True,
    iiv_source="Schnider 1998 as tabulated by the Python Anesthesia Simulator (JOSS 2023); residual error from Eleveld 2018",
)

ELEVELD = PopModel(
    key="eleveld",
    drug="propofol",
    label="Eleveld 2018 (arterial)",
    source="Eleveld DJ et al. Br J Anaesth 2018;120(5):942-959",
    typical=eleveld,
    eta_names=("V1", "V2", "V3", "CL", "Q2", "Q3", "KE0"),
    omega=tuple(
        tuple(v if i == j else 0.0 for j in range(7))
        for i, v in enumerate((0.610, 0.565, 0.597, 0.265, 0.346, 0.209, 0.702))
    ),
    prop_err=0.191,
    pd=BIS,
    effect_site=True,
    iiv_source="Eleveld 2018 Table 2",
)

PROPOFOL = Drug(
    name="propofol",
    display="Propofol",
    models={"marsh": MARSH, "schnider": SCHNIDER, "eleveld": ELEVELD},
    default_model="eleveld",
    target=Criterion(
        "effect_window",
        40.0,
        60.0,
        unit="BIS",
        source="Punjasawadwong Y et al. Cochrane Database Syst Rev 2014;(6):CD003843",
    ),
    toxicity=Criterion(
        "effect_window",
        low=40.0,
        unit="BIS",
        source="BIS < 40: deeper than the recommended range (same source)",
    ),
    window=Criterion("effect_window", 40.0, 60.0, unit="BIS", source="as target"),
    default_route="iv",
    dose_step_mg=10.0,
    default_interval_h=1.0,
    sources=(MARSH.source, SCHNIDER.source, ELEVELD.source, BOUILLON_2004),
)
