"""The drug library: published population models with targets, toxicity criteria and sources.

``DRUGS`` maps a drug name to its :class:`Drug`; :func:`get_drug` and :func:`drug_for_code` look up.
"""

from __future__ import annotations

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.library.base import (
    Criterion,
    Drug,
    PDModel,
    PopModel,
    cv_to_omega2,
    micro_to_clearances,
)
from medtwin.models.pharmacology.library.gentamicin import GENTAMICIN
from medtwin.models.pharmacology.library.lithium import LITHIUM
from medtwin.models.pharmacology.library.propofol import PROPOFOL
from medtwin.models.pharmacology.library.remifentanil import REMIFENTANIL
from medtwin.models.pharmacology.library.vancomycin import VANCOMYCIN

DRUGS: dict[str, Drug] = {d.name: d for d in (PROPOFOL, REMIFENTANIL, VANCOMYCIN, GENTAMICIN, LITHIUM)}
LIBRARY_VERSION = "2026.1"


def get_drug(name: str) -> Drug:
    key = name.strip().lower()
    if key not in DRUGS:
        raise ValidationError(f"unknown drug {name!r}; one of: {', '.join(DRUGS)}", field="drug")
    return DRUGS[key]


def drug_for_code(code: str) -> Drug | None:
    """The drug whose measured level has this LOINC code."""
    for d in DRUGS.values():
        if code in d.level_codes:
            return d
    return None


def drug_for_medication(name: str) -> Drug | None:
    """Match a medication record's free-text drug name ("Vancomycin 1 g IV") to a library drug."""
    low = name.lower()
    for d in DRUGS.values():
        if d.name in low:
            return d
    return None


__all__ = [
    "DRUGS",
    "LIBRARY_VERSION",
    "Criterion",
    "Drug",
    "PDModel",
    "PopModel",
    "cv_to_omega2",
    "drug_for_code",
    "drug_for_medication",
    "get_drug",
    "micro_to_clearances",
]
