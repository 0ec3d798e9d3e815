"""UCUM units and the conversions medtwin accepts at its edges.

Inside medtwin every quantity is held in the canonical UCUM unit of its code (see
:mod:`medtwin.core.codes`). Adapters call :func:`to_canonical` once; nothing else converts.

Conversion factors:
* temperature: degF = degC x 9/5 + 32 (exact);
* pressure: 1 kPa = 7.500617 mmHg (1 mmHg = 133.322387 Pa, ISO 80000-4 / BIPM);
* glucose: molar mass of glucose 180.156 g/mol, so 1 mmol/L = 18.0156 mg/dL;
* mass: 1 lb (avoirdupois) = 0.45359237 kg (exact, international yard and pound agreement 1959);
* length: 1 in = 2.54 cm (exact); volume: 1 L = 1000 mL.
"""

from __future__ import annotations

from collections.abc import Callable

from medtwin.core.errors import ValidationError

MMHG_PER_KPA = 1000.0 / 133.322387
MGDL_PER_MMOLL_GLUCOSE = 18.0156
KG_PER_LB = 0.45359237

# Spellings devices and people send, mapped to UCUM case-sensitive codes.
UNIT_ALIASES: dict[str, str] = {
    "/min": "/min",
    "bpm": "/min",
    "beats/min": "/min",
    "breaths/min": "/min",
    "{beats}/min": "/min",
    "{breaths}/min": "/min",
    "1/min": "/min",
    "min-1": "/min",
    "/ min": "/min",
    "%": "%",
    "percent": "%",
    "pct": "%",
    "cel": "Cel",
    "degc": "Cel",
    "°c": "Cel",
    "c": "Cel",
    "celsius": "Cel",
    "[degf]": "[degF]",
    "degf": "[degF]",
    "°f": "[degF]",
    "f": "[degF]",
    "fahrenheit": "[degF]",
    "mm[hg]": "mm[Hg]",
    "mmhg": "mm[Hg]",
    "mm hg": "mm[Hg]",
    "kpa": "kPa",
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "mg/l": "mg/L",  # drug levels (treatment): ug/mL and mcg/mL are the same quantity
    "ug/ml": "ug/mL",
    "mcg/ml": "ug/mL",
    "µg/ml": "ug/mL",
    "meq/l": "meq/L",  # lithium (monovalent: 1 mEq/L = 1 mmol/L)
    "kg": "kg",
    "g": "g",
    "[lb_av]": "[lb_av]",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "cm": "cm",
    "m": "m",
    "[in_i]": "[in_i]",
    "in": "[in_i]",
    "ml": "mL",
    "l": "L",
    "l/min": "L/min",
    "lpm": "L/min",
    "h": "h",
    "hours": "h",
    "min": "min",
    "{score}": "{score}",
    "score": "{score}",
    "{index}": "{index}",
    "{steps}": "{steps}",
    "steps": "{steps}",
    "1": "1",
    "": "",
}

_CONVERT: dict[tuple[str, str], Callable[[float], float]] = {
    ("[degF]", "Cel"): lambda v: (v - 32.0) * 5.0 / 9.0,
    ("Cel", "[degF]"): lambda v: v * 9.0 / 5.0 + 32.0,
    ("kPa", "mm[Hg]"): lambda v: v * MMHG_PER_KPA,
    ("mm[Hg]", "kPa"): lambda v: v / MMHG_PER_KPA,
    ("mmol/L", "mg/dL"): lambda v: v * MGDL_PER_MMOLL_GLUCOSE,
    ("mg/dL", "mmol/L"): lambda v: v / MGDL_PER_MMOLL_GLUCOSE,
    ("[lb_av]", "kg"): lambda v: v * KG_PER_LB,
    ("g", "kg"): lambda v: v / 1000.0,
    ("[in_i]", "cm"): lambda v: v * 2.54,
    ("m", "cm"): lambda v: v * 100.0,
    ("L", "mL"): lambda v: v * 1000.0,
    ("min", "h"): lambda v: v / 60.0,
    ("ug/mL", "mg/L"): lambda v: v,
    ("meq/L", "mmol/L"): lambda v: v,  # lithium only among medtwin's mmol/L codes; glucose has no mEq
}


_CANONICAL = frozenset(UNIT_ALIASES.values())


def normalise_unit(unit: str | None) -> str:
    """Map a unit spelling to its UCUM code, or raise naming the unit."""
    if unit is None:
        return ""
    if unit in _CANONICAL:
        return unit
    key = unit.strip().lower()
    if key in UNIT_ALIASES:
        return UNIT_ALIASES[key]
    raise ValidationError(f"unknown unit {unit!r}", field="unit")


def to_canonical(value: float, unit: str | None, canonical: str) -> float:
    """Convert ``value`` from ``unit`` to ``canonical``; an empty unit means 'already canonical'."""
    u = normalise_unit(unit)
    if u == canonical or u == "" or (canonical in ("", "1") and u in ("", "1")):
        return value
    fn = _CONVERT.get((u, canonical))
    if fn is None:
        raise ValidationError(f"unit {unit!r} cannot be converted to {canonical!r}", field="unit")
    return fn(value)


def convert(value: float, unit: str, target: str) -> float:
    """Edge conversion for display (e.g. mg/dL shown as mmol/L)."""
    return to_canonical(value, unit, normalise_unit(target))
