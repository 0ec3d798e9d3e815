"""Gentamicin (aminoglycoside): Hodiamont 2017 adult ICU population model. Data with sources.

* Model: Hodiamont CJ, Janssen JM, de Jong MD, Mathot RA, Juffermans NP, van Hest RM.
  Ther Drug Monit 2017;39(5):522-530 (59 critically ill adults, 30-min infusions), Table 2 final
  model: CL 2.3 L/h, V1 21.6 L, Q 1.3 L/h, V2 10.2 L; no covariates retained; IIV CL 75.0 % CV,
  V1 27.0 % CV, correlation 0.21 (omega^2 0.446287 and 0.070365, covariance 0.037214); residual
  error proportional 19.4 % + additive 0.13 mg/L (as transcribed in nlmixr2lib's
  ``Hodiamont_2017_gentamicin``). Renal function was not a covariate: the patient's own clearance
  is learned from measured levels.
* Target: peak (Cmax) 15-20 mg/L, the therapeutic range of the same study (first-dose Cmax after a
  30-min infusion; Cmax/MIC 8-10 for MIC <= 2 mg/L).
* Toxicity: trough above 2 mg/L (gentamicin injection US prescribing information: trough levels
  above 2 mcg/mL should be avoided).
* Levels: LOINC 3663-2 (peak) and 3665-7 (trough), seen in laboratory catalogues; 35668-8
  (gentamicin, serum/plasma, unspecified timing) not re-verified here.
"""

from __future__ import annotations

from collections.abc import Mapping

from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library.base import Criterion, Drug, PopModel

HODIAMONT_2017 = "Hodiamont CJ et al. Ther Drug Monit 2017;39(5):522-530"


def hodiamont(_cov: Covariates, _daily: float = 0.0) -> Mapping[str, float]:
    return {"CL": 2.3 / 60.0, "V1": 21.6, "Q2": 1.3 / 60.0, "V2": 10.2}


HODIAMONT = PopModel(
    key="hodiamont2017",
    drug="gentamicin",
    label="Hodiamont 2017 (critically ill adults)",
    source=HODIAMONT_2017,
    typical=hodiamont,
    eta_names=("CL", "V1"),
    omega=((0.446287, 0.037214), (0.037214, 0.070365)),
    prop_err=0.194,
    add_err=0.13,
    iiv_source="Hodiamont 2017 Table 2",
)

GENTAMICIN = Drug(
    name="gentamicin",
    display="Gentamicin",
    models={"hodiamont2017": HODIAMONT},
    default_model="hodiamont2017",
    target=Criterion("peak", 15.0, 20.0, unit="mg/L", source=HODIAMONT_2017),
    toxicity=Criterion(
        "trough", high=2.0, unit="mg/L", source="Gentamicin injection, US prescribing information"
    ),
    level_codes=("35668-8", "3663-2", "3665-7"),
    default_route="iv",
    default_infusion_min=lambda _mg: 30.0,
    dose_step_mg=20.0,
    default_interval_h=24.0,
    sources=(HODIAMONT_2017, "Gentamicin injection, US prescribing information (trough)"),
)
