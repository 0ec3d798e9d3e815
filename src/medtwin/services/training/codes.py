"""Coded diagnoses of training cases (ICD-10, WHO 2019 edition; SNOMED CT accepted as given) and
how a trainee's diagnosis is matched against the real one.

Matching (the scoring policy of :mod:`.scoring`, configurable per case):

* exact: same system and code, or a code the educator listed as accepted for the case;
* same category: ICD-10 codes sharing the three-character category (``K92.2`` and ``K92.0``);
  SNOMED CT has no offline hierarchy here, so only exact or educator-accepted codes match;
* differential: the real code (exact or same category) at rank k of the trainee's ranked list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from medtwin.core.errors import ValidationError

ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
SYSTEMS = {"icd-10": ICD10, "icd10": ICD10, ICD10: ICD10, "snomed": SNOMED, "sct": SNOMED, SNOMED: SNOMED}
_ICD = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
_SCT = re.compile(r"^[0-9]{6,18}$")

# The pick list offered to trainees (diagnoses and differentials of the training conditions).
PICK_LIST: tuple[tuple[str, str], ...] = (
    ("A41.9", "Sepsis, unspecified"), ("R57.2", "Septic shock"), ("J18.9", "Pneumonia, unspecified"),
    ("J69.0", "Pneumonitis due to food and vomit (aspiration)"), ("N39.0", "Urinary tract infection, site not specified"),
    ("L03.9", "Cellulitis, unspecified"), ("J96.0", "Acute respiratory failure"), ("J80", "Adult respiratory distress syndrome"),
    ("J44.1", "COPD with acute exacerbation, unspecified"), ("J46", "Status asthmaticus"),
    ("J93.9", "Pneumothorax, unspecified"), ("I26.9", "Pulmonary embolism without mention of acute cor pulmonale"),
    ("I21.9", "Acute myocardial infarction, unspecified"), ("I50.1", "Left ventricular failure"),
    ("I50.9", "Heart failure, unspecified"), ("J81", "Pulmonary oedema"), ("R57.0", "Cardiogenic shock"),
    ("R57.1", "Hypovolaemic shock"), ("K92.0", "Haematemesis"), ("K92.1", "Melaena"),
    ("K92.2", "Gastrointestinal haemorrhage, unspecified"), ("I71.3", "Abdominal aortic aneurysm, ruptured"),
    ("T81.0", "Haemorrhage and haematoma complicating a procedure, not elsewhere classified"),
    ("T78.2", "Anaphylactic shock, unspecified"), ("E16.0", "Drug-induced hypoglycaemia without coma"),
    ("E16.2", "Hypoglycaemia, unspecified"), ("E10.1", "Type 1 diabetes mellitus with ketoacidosis"),
    ("T40.1", "Poisoning by heroin"), ("T40.2", "Poisoning by other opioids"),
    ("T40.4", "Poisoning by other synthetic narcotics"), ("T42.4", "Poisoning by benzodiazepines"),
    ("F10.0", "Mental and behavioural disorders due to use of alcohol: acute intoxication"),
    ("I63.9", "Cerebral infarction, unspecified"), ("R56.8", "Other and unspecified convulsions"),
    ("S06.9", "Intracranial injury, unspecified"),
)  # fmt: skip
DISPLAY = dict(PICK_LIST)


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str = ""

    @property
    def category(self) -> str | None:
        return self.code.split(".")[0] if self.system == ICD10 else None

    def as_dict(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}

    def same(self, other: Code) -> bool:
        return self.system == other.system and self.code == other.code


def parse_code(value: Any, field: str = "code") -> Code:
    """``"K92.2"`` (ICD-10), ``"icd-10|K92.2"``, ``"snomed|91302008"`` or ``{"system", "code", "display"?}``."""
    system, code, display = ICD10, "", ""
    if isinstance(value, dict):
        system = SYSTEMS.get(str(value.get("system", "icd-10")).lower(), "")
        code, display = str(value.get("code", "")).strip(), str(value.get("display", ""))[:200]
    elif isinstance(value, str):
        if "|" in value:
            sys_, _, code = value.partition("|")
            system = SYSTEMS.get(sys_.strip().lower(), "")
        else:
            code = value
        code = code.strip()
    else:
        raise ValidationError("a diagnosis is a code string or {system, code}", field=field)
    if not system:
        raise ValidationError("code system must be ICD-10 or SNOMED CT", field=field)
    if system == ICD10:
        code = code.upper()
        if not _ICD.match(code):
            raise ValidationError(f"{code[:20]!r} is not an ICD-10 code (e.g. K92.2)", field=field)
    elif not _SCT.match(code):
        raise ValidationError(f"{code[:20]!r} is not a SNOMED CT concept id", field=field)
    return Code(system, code, display or DISPLAY.get(code, ""))


def match(real: Code, guess: Code, accepted: list[Code] | None = None) -> str:
    """``"exact"``, ``"category"`` or ``"none"``."""
    if guess.same(real) or any(guess.same(a) for a in accepted or ()):
        return "exact"
    if real.category is not None and guess.category == real.category:
        return "category"
    return "none"


def pick_list() -> list[dict[str, str]]:
    return [{"system": ICD10, "code": c, "display": d} for c, d in PICK_LIST]
