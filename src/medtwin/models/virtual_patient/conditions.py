"""The conditions a virtual patient can have, with their coded diagnosis and course parameters.

A condition names what drives the course (an infection burden, a bleed, an insulin or opioid
dose, lung water), how fast it progresses untreated, and the default coded diagnosis (ICD-10,
WHO 2019 edition) a case built on it carries unless the real case has its own. Severity is 0-1.

Untreated courses reach full development over the same default times as medtwin's bedside-monitor
scenarios (sepsis 8 h, haemorrhage 2 h, respiratory failure 4 h; ``medtwin.devices.scenarios``);
the rates below are sized to that (modelling choices). Effects of treatment:

* sepsis: appropriate antibiotics stop the growth of the burden after 1 h and then reduce it with
  a 6-h half-life (modelling choices; the value of early antibiotics is ``kumar2006``, scored from
  ``ssc2021``, not simulated as survival);
* respiratory failure (pneumonia): antibiotics stop the progression after 2 h (modelling choice);
* acute heart failure: lung water rises 0.1/h untreated (modelling choice) and falls with diuresis,
  nitrates and CPAP (:mod:`.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Condition:
    key: str
    label: str
    icd10: str
    icd10_display: str
    specialty: str
    course_h: float  # untreated time from onset to full development (reference)
    sources: tuple[str, ...]
    default_severity: float = 0.6
    notes: str = ""
    params: dict[str, Any] = field(default_factory=dict)


CONDITIONS: dict[str, Condition] = {
    c.key: c
    for c in (
        Condition(
            "sepsis", "Sepsis / septic shock", "A41.9", "Sepsis, unspecified", "emergency medicine",
            8.0, ("ssc2021", "kumar2006", "michard2002", "beloeil2005"),
            notes="Infection burden grows logistically; fever, tachycardia, tachypnoea, then vasodilatory "
            "hypotension. Half the fall in blood pressure responds to volume (michard2002: about half "
            "of unstable patients are fluid responsive), half to vasopressor.",
            params={"abx_lag_min": 60.0, "abx_half_life_min": 360.0},
        ),
        Condition(
            "haemorrhage", "Haemorrhagic shock", "K92.2", "Gastrointestinal haemorrhage, unspecified",
            "surgery", 2.0, ("atls", "spahn2019", "crash2", "ley2011", "hahn2010"),
            notes="Whole-blood loss at a pressure-dependent rate until haemorrhage control; the deficit "
            "maps on the ATLS classes; crystalloid dilutes haemoglobin, red cells restore it.",
            params={"control_delay_min": 30.0},
        ),
        Condition(
            "hypoglycaemia", "Insulin-induced hypoglycaemia", "E16.0",
            "Drug-induced hypoglycaemia without coma", "endocrinology", 2.5,
            ("dallaman2007", "mitrakou1991", "ada2024", "jbds_hypo"), default_severity=0.8,
            notes="Adult with type 1 diabetes (UVA/Padova open cohort) after an insulin overdose "
            "without food; the presentation glucose sets the dose.",
            params={"patient": "adult#001", "onset_min": 150.0},  # insulin 15 + 15 x severity U unless given
        ),
        Condition(
            "opioid_overdose", "Opioid overdose", "T40.4", "Poisoning by other synthetic narcotics",
            "emergency medicine", 0.1, ("shafer1990", "algera2021", "bouillon2003", "dowling2008",
                                        "yassen2007", "who_opioid2014"),
            notes="Intravenous fentanyl; ventilatory depression with CO2 retention and hypoxaemia on "
            "air; naloxone antagonises competitively and wears off before fentanyl does.",
            params={"tolerance": "naive", "onset_min": 12.0},  # dose 150 + 200 x severity ug (algera2021: apnoea from 225 ug)
        ),
        Condition(
            "acute_heart_failure", "Acute heart failure (pulmonary oedema)", "I50.1",
            "Left ventricular failure", "cardiology", 6.0, ("esc2021_hf", "gray2008", "matsue2017"),
            notes="Lung water raises venous admixture (hypoxaemia) and drives tachypnoea; hypertensive "
            "presentation. Fluids and vasopressors worsen it; diuretic, nitrate and CPAP relieve it.",
            params={"drift_per_h": 0.1},
        ),
        Condition(
            "respiratory_failure", "Hypoxaemic respiratory failure (pneumonia)", "J96.0",
            "Acute respiratory failure", "respiratory medicine", 4.0, ("bts_oxygen", "nice_ng138", "west"),
            notes="Consolidation raises venous admixture; oxygen corrects the saturation partly (shunt), "
            "CPAP recruits lung.",
            params={"abx_lag_min": 120.0},
        ),
    )
}  # fmt: skip

# Course constants (per minute), sized so that an untreated course goes from onset to full
# development in the condition's course_h (logistic growth from 0.05 to 0.95): r = 2 ln(19) / T.
GROWTH = {k: 2 * 2.944 / (c.course_h * 60.0) for k, c in CONDITIONS.items()}
SEPSIS_EFFECT = {"temp": 2.3, "hr": 55.0, "rr": 13.0, "sbp": -45.0, "dbp": -28.0}  # devices.scenarios
PNEUMONIA_SHUNT, AHF_SHUNT = 0.30, 0.35  # venous admixture added at full severity (modelling)
PNEUMONIA_EFFECT = {"rr": 18.0, "temp": 0.8}  # devices.scenarios respiratory failure (rr); temp modelling
AHF_EFFECT = {"rr": 14.0, "hr": 25.0, "sbp": 40.0, "dbp": 20.0}  # modelling choices (hypertensive AHF)


def get_condition(key: str) -> Condition:
    from medtwin.core.errors import ValidationError

    if key not in CONDITIONS:
        raise ValidationError(
            f"unknown condition {key!r} (one of {', '.join(CONDITIONS)})", field="condition"
        )
    return CONDITIONS[key]
