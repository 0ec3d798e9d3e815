"""Default scoring checklists per condition: weighted expected actions with time targets, and
penalised harmful or contraindicated orders. Every item names the guideline it comes from.

Weights follow the mannequin-checklist convention (2 = essential, 1 = expected); an item done
after its time target earns half its weight (the 2/1/0 "done on time / late / not done" scale of
simulation checklists). Time targets are the guidelines' own (antibiotics within 1 h in possible
septic shock, ``ssc2021``; tranexamic acid within 3 h, ``crash2``; recheck glucose within 15 min,
``jbds_hypo``; furosemide within 60 min, ``matsue2017``; antibiotics within 4 h for pneumonia,
``nice_ng138``); items without a target report the time only. ``when`` makes an item apply only if
the simulated course reached that state (e.g. norepinephrine is expected only if MAP fell below
65 mmHg). Educators may edit a case's copy.

Match forms: ``{"action": kind}`` (optional ``"min": {param: value}``), ``{"order": [tests]}``,
``{"crystalloid_ml_per_kg": x}`` (cumulative), ``{"first": m1, "before": m2}`` (m1 done and
before m2), ``{"after": m1, "then": m2, "within": min}``. Penalty ``if`` = the patient's state when
the order was given (``{"key", "op", "value"}``); ``unless_before`` = not penalised if that was done
earlier.
"""

from __future__ import annotations

import copy
from typing import Any

C = dict[str, Any]
_AB = {"action": "antibiotics"}

CHECKLISTS: dict[str, dict[str, list[C]]] = {
    "sepsis": {
        "items": [
            {"id": "antibiotics_1h", "label": "IV antibiotics within 1 hour", "weight": 2, "critical": True,
             "deadline_min": 60, "match": _AB, "source": "ssc2021"},
            {"id": "cultures_first", "label": "Blood cultures before antibiotics", "weight": 1,
             "match": {"first": {"order": ["blood_cultures"]}, "before": _AB}, "source": "ssc2021"},
            {"id": "lactate", "label": "Lactate measured", "weight": 1, "deadline_min": 60,
             "match": {"order": ["lactate", "blood_gas"]}, "source": "ssc2021"},
            {"id": "fluids_30", "label": "30 mL/kg crystalloid within 3 hours", "weight": 2, "critical": True,
             "deadline_min": 180, "match": {"crystalloid_ml_per_kg": 30}, "source": "ssc2021"},
            {"id": "norepinephrine", "label": "Norepinephrine for MAP < 65 mmHg", "weight": 1,
             "when": {"key": "map", "op": "<", "value": 65}, "match": {"action": "vasopressor", "min": {"rate": 0.01}},
             "source": "ssc2021"},
        ],
        "penalties": [],
    },
    "haemorrhage": {
        "items": [
            {"id": "control", "label": "Definitive haemorrhage control", "weight": 2, "critical": True,
             "match": {"action": "haemorrhage_control"}, "source": "spahn2019"},
            {"id": "red_cells", "label": "Red cell transfusion", "weight": 2, "critical": True,
             "match": {"action": "transfusion"}, "source": "spahn2019"},
            {"id": "crossmatch", "label": "Group and crossmatch", "weight": 1,
             "match": {"order": ["group_and_crossmatch"]}, "source": "atls"},
            {"id": "txa_3h", "label": "Tranexamic acid within 3 hours", "weight": 1, "deadline_min": 180,
             "match": {"action": "tranexamic_acid"}, "source": "crash2"},
            {"id": "hb", "label": "Haemoglobin measured", "weight": 1, "match": {"order": ["fbc", "blood_gas"]},
             "source": "spahn2019"},
        ],
        "penalties": [
            {"id": "crystalloid_1500", "label": "1.5 L or more of crystalloid", "penalty": 1,
             "match": {"crystalloid_ml": 1500}, "source": "ley2011"},
            {"id": "pressor_before_volume", "label": "Vasopressor before any volume or blood", "penalty": 1,
             "match": {"action": "vasopressor", "min": {"rate": 0.01}},
             "unless_before": {"action": ["fluids", "transfusion"]}, "source": "spahn2019"},
        ],
    },
    "hypoglycaemia": {
        "items": [
            {"id": "glucose_check", "label": "Capillary glucose checked", "weight": 2, "critical": True,
             "match": {"order": ["capillary_glucose", "blood_gas"]}, "source": "jbds_hypo"},
            {"id": "iv_glucose", "label": "IV glucose", "weight": 2, "critical": True,
             "match": {"action": "glucose_iv"}, "source": "jbds_hypo"},
            {"id": "recheck_15", "label": "Glucose rechecked within 15 min of treatment", "weight": 1,
             "match": {"after": {"action": ["glucose_iv", "glucose_oral"]},
                       "then": {"order": ["capillary_glucose", "blood_gas"]}, "within": 15}, "source": "jbds_hypo"},
        ],
        "penalties": [
            {"id": "insulin", "label": "Insulin given to a hypoglycaemic patient", "penalty": 2,
             "match": {"action": "insulin"}, "source": "ada2024"},
            {"id": "oral_unconscious", "label": "Oral glucose to a patient who cannot swallow safely", "penalty": 1,
             "match": {"action": "glucose_oral"}, "if": {"key": "acvpu", "op": "!=", "value": "A"},
             "source": "jbds_hypo"},
        ],
    },
    "opioid_overdose": {
        "items": [
            {"id": "ventilation", "label": "Airway and ventilation supported", "weight": 2, "critical": True,
             "match": {"action": "ventilate", "min": {"on": 1}}, "source": "who_opioid2014"},
            {"id": "naloxone", "label": "Naloxone given", "weight": 2, "critical": True,
             "match": {"action": "naloxone"}, "source": "who_opioid2014"},
            {"id": "oxygen", "label": "Oxygen given", "weight": 1, "match": {"action": "oxygen"},
             "source": "who_opioid2014"},
            {"id": "glucose", "label": "Capillary glucose checked", "weight": 1,
             "match": {"order": ["capillary_glucose", "blood_gas"]}, "source": "jbds_hypo"},
        ],
        "penalties": [],
    },
    "acute_heart_failure": {
        "items": [
            {"id": "furosemide_1h", "label": "IV furosemide within 60 min", "weight": 2, "critical": True,
             "deadline_min": 60, "match": {"action": "furosemide"}, "source": "matsue2017"},
            {"id": "oxygen", "label": "Oxygen for SpO2 < 90 %", "weight": 1, "match": {"action": "oxygen"},
             "when": {"key": "spo2", "op": "<", "value": 90}, "source": "esc2021_hf"},
            {"id": "niv", "label": "CPAP / NIV in respiratory distress", "weight": 1, "match": {"action": "cpap",
             "min": {"peep": 1}}, "when": {"key": "rr", "op": ">", "value": 25}, "source": "esc2021_hf"},
            {"id": "ecg", "label": "ECG", "weight": 1, "match": {"order": ["ecg"]}, "source": "esc2021_hf"},
            {"id": "cxr", "label": "Chest X-ray", "weight": 1, "match": {"order": ["chest_xray"]}, "source": "esc2021_hf"},
            {"id": "natriuretic", "label": "Natriuretic peptide or troponin", "weight": 1,
             "match": {"order": ["ntprobnp", "troponin"]}, "source": "esc2021_hf"},
        ],
        "penalties": [
            {"id": "fluids", "label": "IV fluid bolus in pulmonary oedema", "penalty": 2, "match": {"action": "fluids"},
             "source": "esc2021_hf"},
            {"id": "pressor", "label": "Vasopressor without cardiogenic shock", "penalty": 1,
             "match": {"action": "vasopressor", "min": {"rate": 0.01}}, "if": {"key": "sbp", "op": ">=", "value": 90},
             "source": "esc2021_hf"},
            {"id": "nitrate_low_sbp", "label": "Nitrate with SBP < 90 mmHg", "penalty": 2,
             "match": {"action": "nitrate", "min": {"rate": 1}}, "if": {"key": "sbp", "op": "<", "value": 90},
             "source": "esc2021_hf"},
        ],
    },
    "respiratory_failure": {
        "items": [
            {"id": "oxygen", "label": "Oxygen to target saturation", "weight": 2, "critical": True,
             "match": {"action": "oxygen"}, "source": "bts_oxygen"},
            {"id": "abg", "label": "Arterial blood gas", "weight": 1, "match": {"order": ["blood_gas"]},
             "source": "bts_oxygen"},
            {"id": "cxr", "label": "Chest X-ray", "weight": 1, "match": {"order": ["chest_xray"]}, "source": "nice_ng138"},
            {"id": "antibiotics_4h", "label": "Antibiotics within 4 hours", "weight": 2, "deadline_min": 240,
             "match": _AB, "source": "nice_ng138"},
        ],
        "penalties": [],
    },
}  # fmt: skip


def checklist(condition: str) -> dict[str, list[C]]:
    return copy.deepcopy(CHECKLISTS[condition])
