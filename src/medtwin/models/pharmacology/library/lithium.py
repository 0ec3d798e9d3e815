"""Lithium (oral): Jin 2022 population model; 12-hour level target. Data with sources.

* Model: Jin Z-b, Wu Z, Cui Y-f et al. Front Pharmacol 2022;13:913935 (268 patients with bipolar
  disorder, trough TDM), Table 2 and Equations 8-10: one compartment with first-order absorption,
  ka 0.293 /h (fixed); CL/F = 0.909 L/h x (TDD/600)^0.354 x (WT/62)^0.33 x (CrCL/116)^0.186, with
  TDD the total daily dose of lithium carbonate (mg/day) and CrCL Cockcroft-Gault with total body
  weight (mL/min); V/F 10.9 L; IIV omega^2 CL 0.027, V 0.162; additive residual error
  SD 0.1476 mmol/L (sqrt of the tabulated variance 0.0218, as read by nlmixr2lib's
  ``Jin_2022_lithium``). Doses: mg of lithium carbonate x 2/73.89 = mmol of lithium ion.
  Clearance depends on the dose itself (saturable reabsorption), so the model is not linear in dose.
* Target: 12-h serum level 0.6-0.8 mmol/L for maintenance (Nolen WA et al., ISBD/IGSLi consensus,
  Bipolar Disord 2019;21(5):394-409).
* Toxicity: 12-h level above 1.5 mmol/L (lithium carbonate US prescribing information: toxic
  signs are expected above 1.5 mEq/L; some patients show them below).
* Levels: LOINC 14334-7 (lithium, serum/plasma, moles/volume; not re-verified here).
"""

from __future__ import annotations

from collections.abc import Mapping

from medtwin.models.pharmacology.covariates import Covariates, cockcroft_gault
from medtwin.models.pharmacology.library.base import Criterion, Drug, PopModel

JIN_2022 = "Jin Z-b et al. Front Pharmacol 2022;13:913935"
NOLEN_2019 = "Nolen WA et al. Bipolar Disord 2019;21(5):394-409"
MMOL_PER_MG_LI2CO3 = 2.0 / 73.89


def jin(cov: Covariates, daily_mg: float = 600.0) -> Mapping[str, float]:
    assert cov.scr is not None
    tdd = daily_mg if daily_mg > 0 else 600.0
    crcl = cockcroft_gault(cov.age, cov.weight, cov.scr, cov.sex)
    cl = 0.909 * (tdd / 600.0) ** 0.354 * (cov.weight / 62.0) ** 0.33 * (crcl / 116.0) ** 0.186
    return {"CL": cl / 60.0, "V1": 10.9, "KA": 0.293 / 60.0, "F": 1.0}


JIN = PopModel(
    key="jin2022",
    drug="lithium",
    label="Jin 2022 (adults with bipolar disorder, oral lithium carbonate)",
    source=JIN_2022,
    typical=jin,
    eta_names=("CL", "V1"),
    omega=((0.027, 0.0), (0.0, 0.162)),
    add_err=0.1476482,
    conc_unit="mmol/L",
    amount_factor=MMOL_PER_MG_LI2CO3,
    routes=("oral",),
    needs_scr=True,
    dose_dependent=True,
    iiv_source="Jin 2022 Table 2",
)

LITHIUM = Drug(
    name="lithium",
    display="Lithium carbonate (oral)",
    models={"jin2022": JIN},
    default_model="jin2022",
    target=Criterion("post_dose", 0.6, 0.8, unit="mmol/L", offset_h=12.0, source=NOLEN_2019),
    toxicity=Criterion(
        "post_dose",
        high=1.5,
        unit="mmol/L",
        offset_h=12.0,
        source="Lithium carbonate, US prescribing information",
    ),
    level_codes=("14334-7",),
    default_route="oral",
    dose_step_mg=200.0,
    default_interval_h=12.0,
    sources=(JIN_2022, NOLEN_2019, "Lithium carbonate, US prescribing information"),
)
