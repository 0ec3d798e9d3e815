"""What a trainee can do to the virtual patient: the action catalogue and its validation.

Each action kind has a parameter schema with units and accepted ranges. The ranges are those of
the usual adult preparations and doses (they bound input, they are not clinical advice). Oxygen
devices deliver approximate FiO2 values (``bts_oxygen``: nasal cannulae ~24-44 % at 1-6 L/min,
simple face mask ~40-60 % at 5-10 L/min, Venturi masks their labelled FiO2, reservoir mask
~60-90 % at 15 L/min: 0.75 is used, the middle of that range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from medtwin.core.errors import ValidationError

OXYGEN_DEVICES = ("nasal_cannula", "simple_mask", "venturi", "reservoir_mask", "off")
ANTIBIOTICS = (
    "piperacillin-tazobactam", "meropenem", "ceftriaxone", "co-amoxiclav", "amoxicillin", "cefuroxime",
    "clarithromycin", "gentamicin", "vancomycin", "doxycycline",
)  # fmt: skip


@dataclass(frozen=True)
class Param:
    name: str
    unit: str
    lo: float
    hi: float
    default: float | None = None


@dataclass(frozen=True)
class ActionKind:
    key: str
    label: str
    params: tuple[Param, ...] = ()
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""


ACTIONS: dict[str, ActionKind] = {
    a.key: a
    for a in (
        ActionKind("oxygen", "Oxygen", (Param("flow", "L/min", 0, 15, 2), Param("fio2", "%", 24, 60, 28)),
                   {"device": OXYGEN_DEVICES}, "Nasal cannulae, simple mask, Venturi (set FiO2) or reservoir "
                   "mask; device 'off' stops oxygen."),
        ActionKind("fluids", "IV crystalloid bolus", (Param("volume", "mL", 100, 2000, 500),
                                                      Param("minutes", "min", 5, 120, 15))),
        ActionKind("transfusion", "Red cell transfusion", (Param("units", "{unit}", 1, 4, 1),)),
        ActionKind("vasopressor", "Norepinephrine infusion", (Param("rate", "ug/kg/min", 0, 1.0, 0.1),),
                   description="Rate 0 stops the infusion."),
        ActionKind("insulin", "Insulin (rapid-acting, subcutaneous)", (Param("units", "U", 1, 50, 6),)),
        ActionKind("glucose_iv", "IV glucose", (Param("grams", "g", 5, 50, 15), Param("minutes", "min", 1, 60, 10)),
                   description="e.g. 150 mL of 10 % = 15 g; 75 mL of 20 % = 15 g."),
        ActionKind("glucose_oral", "Oral glucose", (Param("grams", "g", 10, 40, 15),),
                   description="Only if the patient is alert and can swallow."),
        ActionKind("naloxone", "Naloxone IV", (Param("dose", "mg", 0.04, 2.0, 0.4),)),
        ActionKind("antibiotics", "IV antibiotics", (), {"drug": ANTIBIOTICS}),
        ActionKind("furosemide", "Furosemide IV", (Param("dose", "mg", 20, 250, 40),)),
        ActionKind("nitrate", "Glyceryl trinitrate infusion", (Param("rate", "ug/min", 0, 200, 20),),
                   description="Rate 0 stops the infusion."),
        ActionKind("cpap", "CPAP / non-invasive ventilation", (Param("peep", "cm[H2O]", 0, 10, 5),),
                   description="PEEP 0 takes the mask off."),
        ActionKind("ventilate", "Assisted ventilation (bag-valve-mask)", (Param("on", "1", 0, 1, 1),)),
        ActionKind("haemorrhage_control", "Definitive haemorrhage control (theatre / endoscopy / IR)"),
        ActionKind("tranexamic_acid", "Tranexamic acid 1 g IV",
                   description="Scored (crash2); no modelled effect on the bleeding rate."),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Action:
    """One action at simulated minute ``t`` (minutes from the start of the case)."""

    t: float
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, "params": dict(self.params)}


def fio2_of(params: dict[str, Any], reservoir: float = 0.75) -> float:
    """Approximate FiO2 (fraction) of an oxygen order (bts_oxygen; the reservoir mask's value is a
    choice within BTS's range, :mod:`.choices`)."""
    dev = params.get("device", "nasal_cannula")
    flow = float(params.get("flow") or 0)
    if dev == "off" or (dev != "venturi" and flow <= 0):
        return 0.21
    if dev == "nasal_cannula":
        return min(0.21 + 0.04 * min(flow, 6.0), 0.45)
    if dev == "simple_mask":
        return min(0.40 + 0.04 * (min(max(flow, 5.0), 10.0) - 5.0), 0.60)
    if dev == "venturi":
        return float(params.get("fio2") or 28) / 100.0
    return reservoir  # reservoir mask


def parse_action(data: dict[str, Any], t: float) -> Action:
    """Validate ``{"kind", ...params}`` into an :class:`Action` at minute ``t`` (fields named)."""
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in ACTIONS:
        raise ValidationError(f"unknown action (one of {', '.join(ACTIONS)})", field="kind")
    spec = ACTIONS[kind]
    params: dict[str, Any] = {}
    raw: dict[str, Any] = data["params"] if isinstance(data.get("params"), dict) else data
    for name, options in spec.choices.items():
        v = raw.get(name)
        if v is None and kind == "oxygen":
            v = "nasal_cannula"
        if v not in options:
            raise ValidationError(f"must be one of {', '.join(options)}", field=name)
        params[name] = v
    for p in spec.params:
        v = raw.get(p.name, p.default)
        if kind == "oxygen" and p.name == "fio2" and params.get("device") != "venturi":
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise ValidationError(f"must be a number ({p.unit})", field=p.name)
        if not p.lo <= float(v) <= p.hi:
            raise ValidationError(f"must be within {p.lo:g}-{p.hi:g} {p.unit}", field=p.name)
        params[p.name] = float(v)
    if kind == "oxygen" and params["device"] == "venturi" and params.get("fio2") not in (24, 28, 35, 40, 60):
        raise ValidationError("Venturi masks deliver 24, 28, 35, 40 or 60 %", field="fio2")
    return Action(round(float(t), 3), kind, params)


def describe(kind: str, params: dict[str, Any]) -> str:
    """A readable line for an action: ``"Naloxone IV: 0.8 mg"``, ``"Oxygen: reservoir mask, 15 L/min"``."""
    spec = ACTIONS.get(kind)
    if spec is None:
        return kind
    parts = [str(params[c]).replace("_", " ") for c in spec.choices if params.get(c) is not None]
    for p in spec.params:
        v = params.get(p.name)
        if v is None or (kind == "oxygen" and p.name == "flow" and params.get("device") == "venturi"):
            continue
        parts.append(("on" if float(v) else "off") if p.unit == "1" else f"{float(v):g} {p.unit}")
    return spec.label + (": " + ", ".join(parts) if parts else "")


def catalogue() -> list[dict[str, Any]]:
    return [
        {
            "kind": a.key, "label": a.label, "description": a.description,
            "params": [{"name": p.name, "unit": p.unit, "min": p.lo, "max": p.hi, "default": p.default} for p in a.params],
            "choices": {k: list(v) for k, v in a.choices.items()},
        }
        for a in ACTIONS.values()
    ]  # fmt: skip
