"""quick SOFA (qSOFA), the Sepsis-3 bedside prompt.

Source: Seymour CW, Liu VX, Iwashyna TJ, et al. *Assessment of Clinical Criteria for Sepsis:
For the Third International Consensus Definitions for Sepsis and Septic Shock (Sepsis-3).*
JAMA. 2016;315(8):762-774. doi:10.1001/jama.2016.0288. The qSOFA model: one point each for
respiratory rate >= 22/min, altered mentation (Glasgow Coma Scale score < 15) and systolic
blood pressure <= 100 mmHg; a score of 2 or more is positive (Singer M et al., JAMA.
2016;315(8):801-810, the Sepsis-3 definitions, adopt the same criteria).

Conventions:

* Rounding: respiratory rate and systolic BP are rounded half-up to whole numbers before the
  comparison (the same rule as NEWS2, :mod:`medtwin.models.scores._common`): 21.5/min counts
  as 22. GCS must be a whole number 3-15.
* Altered mentation: GCS < 15. medtwin also accepts an ACVPU/AVPU level and counts any level
  other than A (new confusion, voice, pain, unresponsive) as altered mentation: Seymour et al.
  define altered mentation as any GCS below 15, and each of those levels implies one. If both
  are given, mentation is altered when either says so.
* Missing criteria are never counted as absent: their value in ``criteria`` is ``None``, they
  are listed in ``missing`` (keys ``rr``, ``sbp``, ``mentation``) and the result is
  ``partial``. A partial positive is definite; a partial negative is not (the missing
  criteria could make it positive).
* qSOFA is a prompt to consider sepsis, not a diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.models.scores._common import Consciousness, check_number, parse_consciousness, round_half_up

CRITERIA: tuple[str, ...] = ("rr", "sbp", "mentation")
RR_FROM = 22  # respiratory rate >= 22/min
SBP_AT_MOST = 100  # systolic BP <= 100 mmHg
GCS_NORMAL = 15  # altered mentation: GCS < 15
POSITIVE_FROM = 2
MAX_SCORE = 3


@dataclass(frozen=True, slots=True)
class QsofaResult:
    """One qSOFA assessment; ``criteria`` maps each criterion to met (True), not met, or None."""

    score: int
    positive: bool
    criteria: dict[str, bool | None]
    partial: bool
    missing: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "positive": self.positive,
            "criteria": dict(self.criteria),
            "partial": self.partial,
            "missing": list(self.missing),
        }


def _gcs(value: float) -> int:
    v = check_number(value, "gcs")
    if v != int(v):
        raise ValidationError(f"GCS is a whole number, got {v:g}", field="gcs")
    return int(v)


def altered_mentation(
    gcs: float | None = None, consciousness: Consciousness | str | None = None
) -> bool | None:
    """True if GCS < 15 or the ACVPU level is not A; None when neither is known."""
    found: list[bool] = []
    if gcs is not None:
        found.append(_gcs(gcs) < GCS_NORMAL)
    if consciousness is not None:
        found.append(parse_consciousness(consciousness, "consciousness") is not Consciousness.ALERT)
    return any(found) if found else None


def score_qsofa(
    *,
    rr: float | None = None,
    sbp: float | None = None,
    gcs: float | None = None,
    consciousness: Consciousness | str | None = None,
) -> QsofaResult:
    """Score qSOFA (Seymour et al., JAMA 2016). Raises ValidationError naming a bad field."""
    criteria: dict[str, bool | None] = {
        "rr": None if rr is None else round_half_up(check_number(rr, "rr")) >= RR_FROM,
        "sbp": None if sbp is None else round_half_up(check_number(sbp, "sbp")) <= SBP_AT_MOST,
        "mentation": altered_mentation(gcs, consciousness),
    }
    missing = tuple(k for k in CRITERIA if criteria[k] is None)
    score = sum(1 for met in criteria.values() if met)
    return QsofaResult(
        score=score,
        positive=score >= POSITIVE_FROM,
        criteria=criteria,
        partial=bool(missing),
        missing=missing,
    )
