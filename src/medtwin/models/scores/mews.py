"""Modified Early Warning Score (MEWS).

Source: Subbe CP, Kruger M, Rutherford P, Gemmel L. *Validation of a modified Early Warning
Score in medical admissions.* QJM. 2001;94(10):521-526, Table 1 (points 3 2 1 0 1 2 3):

* systolic BP mmHg: <=70 -> 3; 71-80 -> 2; 81-100 -> 1; 101-199 -> 0; >=200 -> 2
* heart rate /min: <=40 -> 2; 41-50 -> 1; 51-100 -> 0; 101-110 -> 1; 111-129 -> 2; >=130 -> 3
* respiratory rate /min: <9 -> 2; 9-14 -> 0; 15-20 -> 1; 21-29 -> 2; >=30 -> 3
* temperature degC: <35 -> 2; 35.0-38.4 -> 0; >=38.5 -> 2
* AVPU: alert -> 0; reacting to voice -> 1; reacting to pain -> 2; unresponsive -> 3

The total ranges 0-14. Subbe et al. found a score of 5 or more associated with an increased
risk of death and of ICU or HDU admission; :data:`HIGHER_RISK_FROM` flags it. MEWS has many
local variants (different bands, urine output, other triggers); this module is Subbe 2001 only.

Boundary conventions (copies of the table differ; each choice is a field of
:class:`MewsBoundaries`, defaulting to :data:`SUBBE_2001`):

* Heart rate 40: the table is quoted with "<40" (2 points) next to "41-50" (1 point), which
  leaves 40 unscored; other copies print "<=40". medtwin scores HR <= 40 as 2
  (``hr_2_at_most=40``); ``hr_2_at_most=39`` gives 40 one point instead.
* Heart rate 130: quoted as "111-129" (2 points) and ">=130" (3 points); other copies print
  "111-130" and ">130". Default ``hr_3_from=130``; ``hr_3_from=131`` selects the other reading.
* Systolic BP 70: quoted as "<=70" (3 points) next to "71-80"; copies that print "<70" leave
  70 unscored. medtwin scores SBP <= 70 as 3 (``sbp_3_at_most=70``); ``sbp_3_at_most=69``
  gives 70 two points.
* Respiratory rate "<9" is <= 8 and temperature "<35" is <= 34.9 after rounding, so those
  bands have no gap.

Other conventions:

* Rounding: readings are rounded half-up to the table's resolution (temperature 0.1 degC,
  whole numbers otherwise) before comparison, as for NEWS2 (:mod:`._common`).
* AVPU has no ``C``: new confusion is a NEWS2 (ACVPU) level and is refused here rather than
  mapped to a guessed MEWS score.
* Missing readings are never scored 0: subscore ``None``, listed in ``missing``, result
  ``partial``; the partial total is a lower bound of the full score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
PARAMETERS: tuple[str, ...] = ("sbp", "hr", "rr", "temp", "avpu")
MAX_SCORE = 14
HIGHER_RISK_FROM = 5

RR_TABLE: Table = ((8, 2), (14, 0), (20, 1), (29, 2), (INF, 3))
TEMP_TABLE: Table = ((34.9, 2), (38.4, 0), (INF, 2))
TEMP_DECIMALS = 1
AVPU_POINTS: dict[Consciousness, int] = {
    Consciousness.ALERT: 0,
    Consciousness.VOICE: 1,
    Consciousness.PAIN: 2,
    Consciousness.UNRESPONSIVE: 3,
}


@dataclass(frozen=True, slots=True)
class MewsBoundaries:
    """The cut-points where copies of Subbe's Table 1 differ (see the module docstring)."""

    sbp_3_at_most: int = 70
    hr_2_at_most: int = 40
    hr_3_from: int = 130

    def __post_init__(self) -> None:
        for name, allowed in (
            ("sbp_3_at_most", (69, 70)),
            ("hr_2_at_most", (39, 40)),
            ("hr_3_from", (130, 131)),
        ):
            if getattr(self, name) not in allowed:
                raise ValidationError(f"must be one of {allowed} (the published readings)", field=name)

    @property
    def sbp_table(self) -> Table:
        return ((self.sbp_3_at_most, 3), (80, 2), (100, 1), (199, 0), (INF, 2))

    @property
    def hr_table(self) -> Table:
        return ((self.hr_2_at_most, 2), (50, 1), (100, 0), (110, 1), (self.hr_3_from - 1, 2), (INF, 3))


SUBBE_2001 = MewsBoundaries()


@dataclass(frozen=True, slots=True)
class MewsResult:
    """One MEWS assessment. ``subscores`` has every key of :data:`PARAMETERS`; ``None`` = unscored."""

    score: int
    subscores: dict[str, int | None]
    higher_risk: bool
    partial: bool
    missing: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "subscores": dict(self.subscores),
            "higher_risk": self.higher_risk,
            "partial": self.partial,
            "missing": list(self.missing),
        }


def score_mews(
    *,
    sbp: float | None = None,
    hr: float | None = None,
    rr: float | None = None,
    temp: float | None = None,
    avpu: Consciousness | str | None = None,
    boundaries: MewsBoundaries = SUBBE_2001,
) -> MewsResult:
    """Score MEWS (Subbe et al., QJM 2001, Table 1). Raises ValidationError naming a bad field."""
    sub: dict[str, int | None] = {
        "sbp": None if sbp is None else lookup(boundaries.sbp_table, round_half_up(check_number(sbp, "sbp"))),
        "hr": None if hr is None else lookup(boundaries.hr_table, round_half_up(check_number(hr, "hr"))),
        "rr": None if rr is None else lookup(RR_TABLE, round_half_up(check_number(rr, "rr"))),
        "temp": None
        if temp is None
        else lookup(TEMP_TABLE, round_half_up(check_number(temp, "temp"), TEMP_DECIMALS)),
        "avpu": None
        if avpu is None
        else AVPU_POINTS[parse_consciousness(avpu, "avpu", allow_confusion=False)],
    }
    missing = tuple(k for k in PARAMETERS if sub[k] is None)
    total = sum(p for p in sub.values() if p is not None)
    return MewsResult(
        score=total,
        subscores=sub,
        higher_risk=total >= HIGHER_RISK_FROM,
        partial=bool(missing),
        missing=missing,
    )
