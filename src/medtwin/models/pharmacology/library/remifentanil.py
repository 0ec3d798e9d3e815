"""Remifentanil: Minto 1997 population model. Data with sources.

Minto CF, Schnider TW, Egan TD et al. Anesthesiology 1997;86(1):10-23 (PK, ke0), LBM by James:
V1 = 5.1 - 0.0201 (age-40) + 0.072 (LBM-55); V2 = 9.82 - 0.0811 (age-40) + 0.108 (LBM-55); V3 5.42 L;
CL = 2.6 - 0.0162 (age-40) + 0.0191 (LBM-55); Q2 = 2.05 - 0.0301 (age-40); Q3 = 0.076 - 0.00113
(age-40) L/min; ke0 = 0.595 - 0.007 (age-40) /min. Reference vector (40 y, 70 kg, 170 cm, male):
LBM 55.298 kg, V1 5.1214, V2 9.8521, V3 5.42 L, ke0 0.595. Inter-individual variability (CV):
V1 26 %, V2 29 %, V3 66 %, CL 14 %, Q2 36 %, Q3 41 %, ke0 68 % (Minto 1997 as tabulated by the
Python Anesthesia Simulator, JOSS 2023; omega^2 = ln(1 + CV^2)).

Units: doses in mg, concentrations in mg/L (= ug/mL; 0.001 mg/L = 1 ng/mL). No therapeutic window
or toxicity criterion is stored: remifentanil is titrated to effect in combination with a hypnotic,
and a single-drug target would be an invention. Simulation and Bayesian fitting work; regimen
comparison needs a target and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from medtwin.models.pharmacology.covariates import Covariates, lbm_james
from medtwin.models.pharmacology.library.base import Drug, PopModel, cv_to_omega2


def minto(cov: Covariates, _daily: float = 0.0) -> Mapping[str, float]:
    lbm = lbm_james(cov.weight, cov.height, cov.sex)
    a = cov.age - 40
    return {
        "V1": 5.1 - 0.0201 * a + 0.072 * (lbm - 55),
        "V2": 9.82 - 0.0811 * a + 0.108 * (lbm - 55),
        "V3": 5.42,
        "CL": 2.6 - 0.0162 * a + 0.0191 * (lbm - 55),
        "Q2": 2.05 - 0.0301 * a,
        "Q3": 0.076 - 0.00113 * a,
        "KE0": 0.595 - 0.007 * a,
    }


_CV = (0.26, 0.29, 0.66, 0.14, 0.36, 0.41, 0.68)
MINTO = PopModel(
    key="minto",
    drug="remifentanil",
    label="Minto 1997",
    source="Minto CF et al. Anesthesiology 1997;86(1):10-23",
    typical=minto,
    eta_names=("V1", "V2", "V3", "CL", "Q2", "Q3", "KE0"),
    omega=tuple(tuple(cv_to_omega2(c) if i == j else 0.0 for j in range(7)) for i, c in enumerate(_CV)),
    prop_err=0.0,
    effect_site=True,
    iiv_source="Minto 1997 as tabulated by the Python Anesthesia Simulator (JOSS 2023)",
    notes="No residual error model is stored: Bayesian fitting needs a proportional error given by the user.",
)

REMIFENTANIL = Drug(
    name="remifentanil",
    display="Remifentanil",
    models={"minto": MINTO},
    default_model="minto",
    default_route="iv",
    dose_step_mg=0.01,
    default_interval_h=1.0,
    sources=(MINTO.source,),
)
