"""Modelling choices where the sources give a range or disagree: the value used, and the override.

Each entry names the value the virtual patient uses by default, the bounds an override must stay
within (the range the source gives, or the physical bounds of the quantity where the source gives
none), the source keys (:mod:`.sources`) and why this value. A case overrides any of them in its
physiology parameters (``PatientSpec.params``, ``PUT /api/training/cases/{id} {"params": {...}}``,
``medtwin training edit CASE --patch '{"params": {...}}'``); the outcome thresholds that differ
between guidelines are in :mod:`.outcome` and overridden in the case's scoring policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medtwin.core.errors import ValidationError


@dataclass(frozen=True)
class Choice:
    key: str
    default: float
    lo: float
    hi: float
    unit: str
    sources: tuple[str, ...]
    why: str


CHOICES: dict[str, Choice] = {
    c.key: c
    for c in (
        Choice("reservoir_fio2", 0.75, 0.60, 0.90, "1", ("bts_oxygen",),
               "BTS gives ~60-90 % for a reservoir mask at 15 L/min; the middle of the range is used."),
        Choice("crystalloid_retained", 0.25, 0.05, 0.50, "1", ("hahn2010",),
               "Hahn: a minority of infused crystalloid stays intravascular once distributed (< 0.5); "
               "a quarter is used."),
        Choice("opioid_hill", 1.25, 0.5, 5.0, "1", ("bouillon2003", "algera2021"),
               "Algera 2021 gives fentanyl's C50 but not its steepness; remifentanil's Hill coefficient "
               "(Bouillon 2003) is used."),
        Choice("naloxone_k50_ng_ml", 0.0, 0.0, 1000.0, "ng/mL", ("melichar2003", "dowling2008"),
               "No published effect-site Kn for naloxone; 0 means derived from Melichar 2003's 50 % "
               "occupancy dose under Dowling 2008's kinetics (drugs.naloxone_k50_ng_ml)."),
    )
}  # fmt: skip


def value(params: dict[str, Any], key: str) -> float:
    """The value of choice ``key`` for a patient whose parameters are ``params``."""
    v = params.get(key)
    return float(v) if v is not None else CHOICES[key].default


def validate(params: dict[str, Any]) -> None:
    """Overrides must be numbers within the choice's bounds (field named)."""
    tol = params.get("tolerance")
    if tol is not None and tol not in ("naive", "tolerant"):
        raise ValidationError("tolerance is naive or tolerant (algera2021)", field="params.tolerance")
    for key, c in CHOICES.items():
        if key not in params or params[key] is None:
            continue
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not c.lo <= float(v) <= c.hi:
            unit = "" if c.unit == "1" else f" {c.unit}"
            raise ValidationError(f"must be a number within {c.lo:g}-{c.hi:g}{unit}", field=f"params.{key}")


def catalogue() -> list[dict[str, Any]]:
    return [
        {"key": c.key, "default": c.default, "min": c.lo, "max": c.hi, "unit": c.unit, "sources": list(c.sources),
         "why": c.why}
        for c in CHOICES.values()
    ]  # fmt: skip
