"""Investigations a trainee can order, their turnaround and where their results come from.

Results of blood gas, glucose, lactate and haemoglobin come from the virtual patient at the time
the sample is taken (so they reflect the trainee's treatment); other laboratory values and reports
(ECG, imaging) come from the case (the real case's values when it has them, otherwise the case
author's). Turnaround times are operational assumptions of a typical hospital (point of care in
minutes, laboratory within the hour), editable per case; they are not clinical thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medtwin.core.errors import ValidationError

# key -> (LOINC, display, UCUM unit)
ANALYTES: dict[str, tuple[str, str, str]] = {
    "glucose": ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL"),
    "ph": ("2744-1", "pH of Arterial blood", "[pH]"),
    "pao2": ("2703-7", "Oxygen [Partial pressure] in Arterial blood", "mm[Hg]"),
    "paco2": ("2019-8", "Carbon dioxide [Partial pressure] in Arterial blood", "mm[Hg]"),
    "lactate": ("32693-4", "Lactate [Moles/volume] in Blood", "mmol/L"),
    "hb": ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL"),
    "wbc": ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*9/L"),
    "platelets": ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*9/L"),
    "creatinine": ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL"),
    "sodium": ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L"),
    "potassium": ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L"),
    "crp": ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L"),
    "troponin": ("89579-7", "Troponin I.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method", "ng/L"),
    "ntprobnp": ("33762-6", "Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma", "pg/mL"),
    "pt": ("5902-2", "Prothrombin time (PT)", "s"),
    "fibrinogen": ("3255-7", "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay", "g/L"),
}  # fmt: skip


@dataclass(frozen=True)
class Investigation:
    key: str
    label: str
    minutes: float
    engine: tuple[str, ...] = ()  # analytes measured on the virtual patient at sampling
    case: tuple[str, ...] = ()  # analytes from the case's laboratory values
    report: bool = False  # a text report from the case


INVESTIGATIONS: dict[str, Investigation] = {
    i.key: i
    for i in (
        Investigation("capillary_glucose", "Capillary blood glucose", 1, ("glucose",)),
        Investigation(
            "blood_gas", "Arterial blood gas", 5, ("ph", "pao2", "paco2", "lactate", "hb", "glucose")
        ),
        Investigation("lactate", "Lactate (point of care)", 5, ("lactate",)),
        Investigation("fbc", "Full blood count", 30, ("hb",), ("wbc", "platelets")),
        Investigation(
            "ue", "Urea, creatinine and electrolytes", 45, (), ("creatinine", "sodium", "potassium")
        ),
        Investigation("crp", "C-reactive protein", 45, (), ("crp",)),
        Investigation("coagulation", "Coagulation screen", 45, (), ("pt", "fibrinogen")),
        Investigation("troponin", "High-sensitivity troponin", 60, (), ("troponin",)),
        Investigation("ntprobnp", "NT-proBNP", 60, (), ("ntprobnp",)),
        Investigation("blood_cultures", "Blood cultures", 60, report=True),
        Investigation("group_and_crossmatch", "Group and crossmatch", 40, report=True),
        Investigation("ecg", "12-lead ECG", 5, report=True),
        Investigation("chest_xray", "Chest X-ray", 30, report=True),
        Investigation("ct_head", "CT head", 45, report=True),
        Investigation("ct_abdomen", "CT abdomen and pelvis", 60, report=True),
        Investigation("urine_dipstick", "Urine dipstick", 5, report=True),
        Investigation("toxicology", "Toxicology screen", 120, report=True),
    )
}


def get_investigation(key: Any) -> Investigation:
    if not isinstance(key, str) or key not in INVESTIGATIONS:
        raise ValidationError(f"unknown investigation (one of {', '.join(INVESTIGATIONS)})", field="test")
    return INVESTIGATIONS[key]


def result(inv: Investigation, engine_row: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """The result of ``inv`` sampled when the virtual patient showed ``engine_row``."""
    values = []
    labs = case.get("labs") or {}
    for k in inv.engine:
        if engine_row.get(k) is not None:
            values.append(_value(k, engine_row[k]))
    for k in inv.case:
        if k in labs and labs[k] is not None:
            values.append(_value(k, labs[k]))
    out: dict[str, Any] = {"test": inv.key, "label": inv.label, "values": values}
    if inv.report:
        out["report"] = str((case.get("reports") or {}).get(inv.key) or "No abnormality reported.")
    elif not values:
        out["report"] = "Not available for this case."
    return out


def _value(key: str, v: Any) -> dict[str, Any]:
    loinc, display, unit = ANALYTES[key]
    return {"key": key, "code": loinc, "display": display, "value": v, "unit": unit}


def catalogue() -> list[dict[str, Any]]:
    return [{"test": i.key, "label": i.label, "minutes": i.minutes} for i in INVESTIGATIONS.values()]
