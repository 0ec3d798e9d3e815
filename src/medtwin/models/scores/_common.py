"""Shared helpers for the early-warning scores: rounding, input checks, the ACVPU scale.

Rounding rule (all scores): a reading is rounded to the resolution of the chart it is scored
on *before* it is compared with the chart's cut-points. Temperature is rounded to 0.1 degC,
every other parameter to a whole number. Rounding is **round-half-up on the decimal value as
written** (``Decimal(repr(x))`` quantized with ``ROUND_HALF_UP``): 38.05 becomes 38.1 and 38.04
becomes 38.0, 20.5 becomes 21. Python's ``round`` is not used because it rounds half to even
and works on the binary value (``round(38.05, 1) == 38.0``). After rounding, each band is a
closed interval of the chart's own resolution, so there are no gaps such as 35.0 < t < 35.1.

Input checks: a value must be a finite real number (booleans are refused) within the platform's
technical acceptance limits (:data:`medtwin.core.codes.BY_KEY` ``bounds``: these are not
clinical thresholds, they reject sentinels and unit mix-ups such as a temperature in degF).
A check failure raises :class:`medtwin.core.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ValidationError

_ONE = Decimal("1")
_UNIT_TEXT = {"Cel": " degC", "mm[Hg]": " mmHg", "/min": "/min", "%": " %", "{score}": ""}
_TENTH = Decimal("0.1")

#: A scoring table: ``(upper_bound_inclusive, points)`` rows in ascending order of bound; the
#: last row's bound is ``math.inf``. A rounded value scores the points of the first row whose
#: bound it does not exceed.
Table = Sequence[tuple[float, int]]


class Consciousness(StrEnum):
    """ACVPU (NEWS2). AVPU (MEWS, Subbe 2001) is the same scale without ``C``."""

    ALERT = "A"
    CONFUSION = "C"  # *new* confusion, disorientation or agitation (RCP 2017)
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"


_CONSCIOUSNESS_WORDS = {
    "alert": Consciousness.ALERT,
    "confusion": Consciousness.CONFUSION,
    "confused": Consciousness.CONFUSION,
    "new confusion": Consciousness.CONFUSION,
    "voice": Consciousness.VOICE,
    "pain": Consciousness.PAIN,
    "unresponsive": Consciousness.UNRESPONSIVE,
}


def round_half_up(value: float, places: int = 0) -> float:
    """Round ``value`` to ``places`` decimals, halves away from zero, on its decimal repr."""
    quantum = _ONE if places == 0 else _TENTH**places
    return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))


def lookup(table: Table, rounded: float) -> int:
    """Points for an already rounded value in a ``(upper_bound_inclusive, points)`` table."""
    for bound, points in table:
        if rounded <= bound:
            return points
    raise AssertionError("scoring table must end with an infinite bound")  # pragma: no cover


def check_number(value: float, field: str, *, key: str | None = None) -> float:
    """Return ``value`` as a float, or raise ValidationError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"expected a number, got {type(value).__name__}", field=field)
    v = float(value)
    if not math.isfinite(v):
        raise ValidationError("not a finite number", field=field)
    info = BY_KEY.get(key or field)
    if info is not None and info.bounds is not None:
        low, high = info.bounds
        if not low <= v <= high:
            unit = _UNIT_TEXT.get(info.unit, info.unit)
            raise ValidationError(
                f"{v:g} is outside the accepted range {low:g}-{high:g}{unit} for {info.display}",
                field=field,
            )
    return v


def parse_consciousness(
    value: Consciousness | str, field: str, *, allow_confusion: bool = True
) -> Consciousness:
    """Accept a Consciousness, a letter (``"A"``, ``"c"``...) or a word (``"alert"``, ``"pain"``)."""
    if isinstance(value, Consciousness):
        level = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            level = Consciousness(text.upper())
        except ValueError:
            found = _CONSCIOUSNESS_WORDS.get(text.lower())
            if found is None:
                letters = "A, C, V, P, U" if allow_confusion else "A, V, P, U"
                raise ValidationError(f"{value[:20]!r} is not one of {letters}", field=field) from None
            level = found
    else:
        raise ValidationError(f"expected a letter of the scale, got {type(value).__name__}", field=field)
    if level is Consciousness.CONFUSION and not allow_confusion:
        raise ValidationError("'C' (new confusion) is not on the AVPU scale; use A, V, P or U", field=field)
    return level
