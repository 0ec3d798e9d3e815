"""National Early Warning Score 2 (NEWS2).

Source: Royal College of Physicians. *National Early Warning Score (NEWS) 2: Standardising the
assessment of acute-illness severity in the NHS.* Updated report of a working party. London:
RCP, 2017. Chart 1 (the NEWS scoring system), Chart 2 (NEWS thresholds and triggers) and
Chart 4 (clinical response to the NEWS trigger thresholds). (c) Royal College of Physicians
2017, reproduced without copyright restriction as the RCP permits; the tables below are the
chart's numbers, unmodified.

Chart 1, points per parameter (the module's tables hold these numbers):

* respiration rate /min: <=8 -> 3; 9-11 -> 1; 12-20 -> 0; 21-24 -> 2; >=25 -> 3
* SpO2 scale 1 %: <=91 -> 3; 92-93 -> 2; 94-95 -> 1; >=96 -> 0
* SpO2 scale 2 %: <=83 -> 3; 84-85 -> 2; 86-87 -> 1; 88-92 -> 0; >=93 on air -> 0;
  93-94 on oxygen -> 1; 95-96 on oxygen -> 2; >=97 on oxygen -> 3
* air or oxygen: air -> 0; oxygen -> 2
* systolic BP mmHg: <=90 -> 3; 91-100 -> 2; 101-110 -> 1; 111-219 -> 0; >=220 -> 3
* pulse /min: <=40 -> 3; 41-50 -> 1; 51-90 -> 0; 91-110 -> 1; 111-130 -> 2; >=131 -> 3
* consciousness (ACVPU): A -> 0; C, V, P or U -> 3
* temperature degC: <=35.0 -> 3; 35.1-36.0 -> 1; 36.1-38.0 -> 0; 38.1-39.0 -> 1; >=39.1 -> 2

The total ranges 0-20.

Conventions:

* Rounding: each reading is rounded half-up to the chart's resolution (temperature 0.1 degC,
  whole numbers otherwise) and then compared with the chart's inclusive cut-points; see
  :mod:`medtwin.models.scores._common`. So 38.04 degC scores as 38.0 (0 points) and 38.05 as
  38.1 (1 point); a respiration rate of 20.5 scores as 21.
* SpO2 scale 2 is used only when a clinician has prescribed it for a patient with hypercapnic
  respiratory failure (target 88-92 %); the caller chooses it with ``scale=2``, never the score.
  On scale 2 an SpO2 of 93 % or more scores 0 on air and 1-3 on oxygen, so it cannot be scored
  without knowing air or oxygen: its subscore is then ``None`` (the result is partial because
  ``air_or_oxygen`` is missing).
* Consciousness is ACVPU. ``C`` means *new* confusion, disorientation or agitation; it scores 3
  like V, P and U. A patient's long-standing baseline confusion is not new confusion.
* Missing readings are never scored 0: their subscore is ``None``, they are listed in
  ``missing`` and the result is ``partial``. The total and band of a partial result are
  computed from the parameters present; because every subscore is >= 0 the partial total is a
  lower bound of the full score (a partial "high" is high; a partial "low" reassures nothing).
* Band (Chart 2): high if total >= 7; medium if 5-6; low-medium if any single parameter
  scores 3 and the total is below 5; otherwise low (0-4). Monitoring frequency and clinical
  response follow Chart 4, where a total of 0 and a total of 1-4 differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.models.scores._common import (
    Consciousness,
    Table,
    check_number,
    lookup,
    parse_consciousness,
    round_half_up,
)

INF = math.inf

#: Subscore keys, in chart order.
PARAMETERS: tuple[str, ...] = ("rr", "spo2", "air_or_oxygen", "sbp", "hr", "consciousness", "temp")
MAX_SCORE = 20

# --- Chart 1 ----------------------------------------------------------------------------------
RR_TABLE: Table = ((8, 3), (11, 1), (20, 0), (24, 2), (INF, 3))
SPO2_SCALE1_TABLE: Table = ((91, 3), (93, 2), (95, 1), (INF, 0))
#: Scale 2 below 93 % (the same on air and on oxygen).
SPO2_SCALE2_LOW_TABLE: Table = ((83, 3), (85, 2), (87, 1), (92, 0))
#: Scale 2 at 93 % or more, on oxygen; on air every value >= 93 scores 0.
SPO2_SCALE2_OXYGEN_TABLE: Table = ((92, 0), (94, 1), (96, 2), (INF, 3))
SPO2_SCALE2_AIR_FROM = 93
OXYGEN_POINTS = 2
AIR_POINTS = 0
SBP_TABLE: Table = ((90, 3), (100, 2), (110, 1), (219, 0), (INF, 3))
HR_TABLE: Table = ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (INF, 3))
CONSCIOUSNESS_POINTS: dict[Consciousness, int] = {
    Consciousness.ALERT: 0,
    Consciousness.CONFUSION: 3,
    Consciousness.VOICE: 3,
    Consciousness.PAIN: 3,
    Consciousness.UNRESPONSIVE: 3,
}
TEMP_TABLE: Table = ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (INF, 2))
TEMP_DECIMALS = 1

# --- Charts 2 and 4 ---------------------------------------------------------------------------
SINGLE_PARAMETER_TRIGGER = 3
MEDIUM_FROM = 5
HIGH_FROM = 7


class Band(StrEnum):
    """Clinical risk (Chart 2)."""

    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class ClinicalResponse:
    band: Band
    monitoring_frequency: str
    response: str


#: Chart 4, row by row.
RESPONSE_ZERO = ClinicalResponse(Band.LOW, "minimum 12-hourly", "Continue routine NEWS monitoring.")
RESPONSE_LOW = ClinicalResponse(
    Band.LOW,
    "minimum 4-6-hourly",
    "Inform registered nurse, who must assess the patient. Registered nurse decides whether "
    "increased frequency of monitoring and/or escalation of care is required.",
)
RESPONSE_LOW_MEDIUM = ClinicalResponse(
    Band.LOW_MEDIUM,
    "minimum 1-hourly",
    "Registered nurse to inform medical team caring for the patient, who will review and decide "
    "whether escalation of care is necessary.",
)
RESPONSE_MEDIUM = ClinicalResponse(
    Band.MEDIUM,
    "minimum 1-hourly",
    "Urgent response. Registered nurse to immediately inform the medical team caring for the "
    "patient. Registered nurse to request urgent assessment by a clinician or team with core "
    "competencies in the care of acutely ill patients. Provide clinical care in an environment "
    "with monitoring facilities.",
)
RESPONSE_HIGH = ClinicalResponse(
    Band.HIGH,
    "continuous monitoring of vital signs",
    "Emergency response. Registered nurse to immediately inform the medical team caring for the "
    "patient; this should be at least at specialist registrar level. Emergency assessment by a "
    "team with critical care competencies, including practitioner(s) with advanced airway "
    "management skills. Consider transfer of care to a level 2 or 3 clinical care facility, i.e. "
    "higher-dependency unit or ICU. Clinical care in an environment with monitoring facilities.",
)


def clinical_response(score: int, single_parameter_3: bool) -> ClinicalResponse:
    """Band, minimum monitoring frequency and clinical response for a total (Charts 2 and 4)."""
    if score >= HIGH_FROM:
        return RESPONSE_HIGH
    if score >= MEDIUM_FROM:
        return RESPONSE_MEDIUM
    if single_parameter_3:
        return RESPONSE_LOW_MEDIUM
    return RESPONSE_ZERO if score == 0 else RESPONSE_LOW


@dataclass(frozen=True, slots=True)
class News2Result:
    """One NEWS2 assessment. ``subscores`` has every key of :data:`PARAMETERS`; ``None`` = unscored."""

    score: int
    band: Band
    subscores: dict[str, int | None]
    single_parameter_3: bool
    partial: bool
    missing: tuple[str, ...]
    monitoring_frequency: str
    response: str
    scale: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CLI's ``--json`` object)."""
        return {
            "score": self.score,
            "band": self.band.value,
            "subscores": dict(self.subscores),
            "single_parameter_3": self.single_parameter_3,
            "partial": self.partial,
            "missing": list(self.missing),
            "monitoring_frequency": self.monitoring_frequency,
            "response": self.response,
            "scale": self.scale,
        }


def score_rr(rr: float) -> int:
    return lookup(RR_TABLE, round_half_up(check_number(rr, "rr")))


def score_spo2(spo2: float, scale: int = 1, on_oxygen: bool | None = None) -> int | None:
    """SpO2 points; ``None`` only on scale 2 at >= 93 % when air/oxygen is unknown."""
    value = round_half_up(check_number(spo2, "spo2"))
    if _check_scale(scale) == 1:
        return lookup(SPO2_SCALE1_TABLE, value)
    if value < SPO2_SCALE2_AIR_FROM:
        return lookup(SPO2_SCALE2_LOW_TABLE, value)
    if on_oxygen is None:
        return None
    return lookup(SPO2_SCALE2_OXYGEN_TABLE, value) if on_oxygen else 0


def score_air_or_oxygen(on_oxygen: bool) -> int:
    if not isinstance(on_oxygen, bool):
        raise ValidationError("expected true (oxygen) or false (air)", field="air_or_oxygen")
    return OXYGEN_POINTS if on_oxygen else AIR_POINTS


def score_sbp(sbp: float) -> int:
    return lookup(SBP_TABLE, round_half_up(check_number(sbp, "sbp")))


def score_hr(hr: float) -> int:
    return lookup(HR_TABLE, round_half_up(check_number(hr, "hr")))


def score_consciousness(level: Consciousness | str) -> int:
    return CONSCIOUSNESS_POINTS[parse_consciousness(level, "consciousness")]


def score_temp(temp: float) -> int:
    return lookup(TEMP_TABLE, round_half_up(check_number(temp, "temp"), TEMP_DECIMALS))


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or scale not in (1, 2):
        raise ValidationError(f"SpO2 scale must be 1 or 2, got {scale!r}", field="scale")
    return int(scale)


def score_news2(
    *,
    rr: float | None = None,
    spo2: float | None = None,
    on_oxygen: bool | None = None,
    sbp: float | None = None,
    hr: float | None = None,
    consciousness: Consciousness | str | None = None,
    temp: float | None = None,
    scale: int = 1,
) -> News2Result:
    """Score one set of observations on NEWS2 (RCP 2017, Chart 1) and band it (Charts 2 and 4).

    Any argument may be ``None`` (not measured): the result is then partial, never scored 0.
    ``on_oxygen`` is True for supplemental oxygen, False for air. ``scale`` is the SpO2 scale
    (2 only when prescribed for hypercapnic respiratory failure). Raises
    :class:`~medtwin.core.errors.ValidationError` naming the field for an impossible value.
    """
    scale = _check_scale(scale)
    sub: dict[str, int | None] = {
        "rr": None if rr is None else score_rr(rr),
        "spo2": None if spo2 is None else score_spo2(spo2, scale, on_oxygen),
        "air_or_oxygen": None if on_oxygen is None else score_air_or_oxygen(on_oxygen),
        "sbp": None if sbp is None else score_sbp(sbp),
        "hr": None if hr is None else score_hr(hr),
        "consciousness": None if consciousness is None else score_consciousness(consciousness),
        "temp": None if temp is None else score_temp(temp),
    }
    supplied = {
        "rr": rr,
        "spo2": spo2,
        "air_or_oxygen": on_oxygen,
        "sbp": sbp,
        "hr": hr,
        "consciousness": consciousness,
        "temp": temp,
    }
    missing = tuple(k for k in PARAMETERS if supplied[k] is None)
    points = [p for p in sub.values() if p is not None]
    total = sum(points)
    single_3 = any(p >= SINGLE_PARAMETER_TRIGGER for p in points)
    care = clinical_response(total, single_3)
    return News2Result(
        score=total,
        band=care.band,
        subscores=sub,
        single_parameter_3=single_3,
        partial=bool(missing) or None in sub.values(),
        missing=missing,
        monitoring_frequency=care.monitoring_frequency,
        response=care.response,
        scale=scale,
    )
