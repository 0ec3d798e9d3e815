"""Vancomycin: Goti 2018 adult population model; AUC24/MIC target of the 2020 consensus guideline.

* Model: Goti V, Chaturvedula A, Fossler MJ, Mok S, Jacob JT. Ther Drug Monit 2018;40(2):212-221
  (1,812 hospitalised adults, 18.5 % on intermittent haemodialysis), Table 2:
  CL = 4.5 L/h x (CrCL/120)^0.8 x 0.7^DIAL; V1 = 58.4 L x (WT/70) x 0.5^DIAL; Q = 6.5 L/h;
  V2 = 38.4 L x (WT/70); IIV CL 39.8 %, V1 81.6 %, V2 57.1 % CV (omega^2 = ln(1 + CV^2) = 0.14705,
  0.51019, 0.28232); residual error proportional 22.7 % + additive 3.4 mg/L. CrCL: Cockcroft-Gault
  in mL/min with total body weight, serum creatinine floored at 1 mg/dL above 60 years, CrCL
  truncated at 150 mL/min (the study's preprocessing, as transcribed with page references in
  nlmixr2lib's ``Goti_2018_vancomycin`` model file; the V2 weight scaling follows that
  transcription of the Methods).
* Target: AUC24/MIC 400-600 (MIC 1 mg/L by broth microdilution), and AUC above 600 mg.h/L as the
  nephrotoxicity threshold: Rybak MJ, Le J, Lodise TP et al. Therapeutic monitoring of vancomycin
  for serious methicillin-resistant Staphylococcus aureus infections: a revised consensus
  guideline (ASHP, IDSA, PIDS, SIDP). Am J Health Syst Pharm 2020;77(11):835-864.
* Infusion time: at least 60 min and no faster than 10 mg/min (vancomycin injection US
  prescribing information), i.e. ``max(60, dose/10)`` minutes by default.
* Levels: LOINC 20578-1 (vancomycin, serum/plasma; code not re-verified here), 4092-3 (trough),
  4090-7 (peak) (both seen in laboratory catalogues).
"""

from __future__ import annotations

from collections.abc import Mapping

from medtwin.models.pharmacology.covariates import Covariates, cockcroft_gault
from medtwin.models.pharmacology.library.base import Criterion, Drug, PopModel

RYBAK_2020 = "Rybak MJ et al. Am J Health Syst Pharm 2020;77(11):835-864 (ASHP/IDSA/PIDS/SIDP)"


def goti_crcl(cov: Covariates) -> float:
    """CrCL (mL/min) as Goti 2018 computed it: CG with TBW, SCr >= 1 above 60 y, capped at 150."""
    assert cov.scr is not None
    scr = max(cov.scr, 1.0) if cov.age > 60 else cov.scr
    return min(cockcroft_gault(cov.age, cov.weight, scr, cov.sex), 150.0)


def goti(cov: Covariates, _daily: float = 0.0) -> Mapping[str, float]:
    dial = 1.0 if cov.dialysis else 0.0
    cl = 4.5 * (goti_crcl(cov) / 120.0) ** 0.8 * 0.7**dial
    v1 = 58.4 * (cov.weight / 70.0) * 0.5**dial
    return {"CL": cl / 60.0, "V1": v1, "Q2": 6.5 / 60.0, "V2": 38.4 * cov.weight / 70.0}


GOTI = PopModel(
    key="goti2018",
    drug="vancomycin",
    label="Goti 2018 (hospitalised adults, with/without haemodialysis)",
    source="Goti V et al. Ther Drug Monit 2018;40(2):212-221",
    typical=goti,
    eta_names=("CL", "V1", "V2"),
    omega=((0.14705, 0.0, 0.0), (0.0, 0.51019, 0.0), (0.0, 0.0, 0.28232)),
    prop_err=0.227,
    add_err=3.4,
    needs_scr=True,
    iiv_source="Goti 2018 Table 2",
)

VANCOMYCIN = Drug(
    name="vancomycin",
    display="Vancomycin",
    models={"goti2018": GOTI},
    default_model="goti2018",
    target=Criterion("auc24", 400.0, 600.0, unit="mg.h/L per MIC", per_mic=True, source=RYBAK_2020),
    toxicity=Criterion("auc24", high=600.0, unit="mg.h/L", source=RYBAK_2020),
    level_codes=("20578-1", "4092-3", "4090-7"),
    default_route="iv",
    default_infusion_min=lambda mg: max(60.0, mg / 10.0),
    dose_step_mg=250.0,
    default_interval_h=12.0,
    sources=(GOTI.source, RYBAK_2020, "Vancomycin injection, US prescribing information (infusion rate)"),
)
