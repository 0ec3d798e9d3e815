"""Alarm limits: the built-in defaults with their sources, per-ward and per-patient overrides,
validation, and the priority of each condition derived from IEC 60601-1-8 Table 1.

Limits are *configuration*: a ward twin's ``attributes["alarm_limits"]`` overrides the defaults
below for every patient of the ward, and a clinician overrides them per patient in the patient
twin's ``attributes["alarm_limits"]`` (same shape, field by field; ``null`` switches a limit
off). Shape::

    {"hr": {"low": 50, "high": 120, "critical_low": 41, "critical_high": 130}, "spo2": {"low": 88}}

Semantics, as on bedside monitors ("measuring value is below the low alarm limit" / "above the
high alarm limit"): a condition holds while the value is *below* ``low`` or *above* ``high``.
``low``/``high`` are the alert tier, ``critical_low``/``critical_high`` the critical tier (a
higher priority). A NEWS2 boundary "<= 40 scores 3" therefore becomes ``critical_low: 41``.

Default adult limits (every number cited; none invented):

==========  =================  =====================================================================
code        alert / critical   source
==========  =================  =====================================================================
hr          50-120 / 41-130    alert: factory adult HR/PR defaults 50/120 of the Edan M3A and Contec
                               CMS8000 manuals and of Mindray TMS60 (PR); critical: NEWS2 pulse
                               3 points (<= 40, >= 131), RCP 2017 Chart 1
rr          9-24 / 5-30        alert: NEWS2 respiration 3 points (<= 8, >= 25); critical: LIFEPAK 15
                               operating instructions Table A-3 default limits 5/30
spo2        92 / 85            alert: NEWS2 SpO2 scale 1 3 points (<= 91); critical: LIFEPAK 15
                               default low limit 85 (a clinician sets 88 etc. for scale-2 patients)
sbp         91-219 / 71        alert: NEWS2 systolic 3 points (<= 90, >= 220); critical: MEWS
                               3 points (<= 70), Subbe et al., QJM 2001
map         65                 Sepsis-3 septic-shock MAP target (Singer et al., JAMA 2016)
temp        35.1-39.0          NEWS2 temperature <= 35.0 (3 points) and >= 39.1 (2 points)
battery     30 / 20            Nightscout uploader battery warn 30 %, urgent 20 %
room_temp   21-24              ANSI/ASHRAE/ASHE Standard 170-2017 Table 7.1, patient room and
                               critical/intensive care design temperature 21-24 degC
room_hum.   60 (ward), 30-60   same table: patient room RH max 60 %; critical care 30-60 %
            (critical care)
==========  =================  =====================================================================

The environment profile is "critical care" when the ward twin's ``attributes["specialty"]``
mentions critical/intensive care (or ``attributes["environment_profile"] == "critical_care"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from medtwin.core.codes import BY_KEY, ValueKind
from medtwin.core.errors import ValidationError
from medtwin.services.monitoring.alarms.model import Consequence, Derivation, Onset, Priority

FIELDS = ("low", "high", "critical_low", "critical_high")
Limits = dict[str, dict[str, float | None]]

DEFAULT_LIMITS: Limits = {
    "hr": {"low": 50, "high": 120, "critical_low": 41, "critical_high": 130},
    "rr": {"low": 9, "high": 24, "critical_low": 5, "critical_high": 30},
    "spo2": {"low": 92, "critical_low": 85},
    "sbp": {"low": 91, "high": 219, "critical_low": 71},
    "map": {"low": 65},
    "temp": {"low": 35.1, "high": 39.0},
    "battery": {"low": 30, "critical_low": 20},
}
ENVIRONMENT_LIMITS: dict[str, Limits] = {
    "patient_room": {"room_temp": {"low": 21, "high": 24}, "room_humidity": {"high": 60}},
    "critical_care": {"room_temp": {"low": 21, "high": 24}, "room_humidity": {"low": 30, "high": 60}},
}
SOURCES: dict[str, str] = {
    "hr.low": "factory adult HR/PR default (Edan M3A, Contec CMS8000, Mindray TMS60 manuals)",
    "hr.high": "factory adult HR/PR default (Edan M3A, Contec CMS8000, Mindray TMS60 manuals)",
    "hr.critical_low": "NEWS2 pulse <= 40 scores 3 (RCP 2017 Chart 1)",
    "hr.critical_high": "NEWS2 pulse >= 131 scores 3 (RCP 2017 Chart 1)",
    "rr.low": "NEWS2 respiration <= 8 scores 3 (RCP 2017 Chart 1)",
    "rr.high": "NEWS2 respiration >= 25 scores 3 (RCP 2017 Chart 1)",
    "rr.critical_low": "LIFEPAK 15 operating instructions Table A-3, default RR limit 5",
    "rr.critical_high": "LIFEPAK 15 operating instructions Table A-3, default RR limit 30",
    "spo2.low": "NEWS2 SpO2 scale 1 <= 91 scores 3 (RCP 2017 Chart 1)",
    "spo2.critical_low": "LIFEPAK 15 operating instructions Table A-3, default SpO2 low limit 85",
    "sbp.low": "NEWS2 systolic <= 90 scores 3 (RCP 2017 Chart 1)",
    "sbp.high": "NEWS2 systolic >= 220 scores 3 (RCP 2017 Chart 1)",
    "sbp.critical_low": "MEWS systolic <= 70 scores 3 (Subbe et al., QJM 2001;94:521)",
    "map.low": "Sepsis-3 MAP target 65 mmHg (Singer et al., JAMA 2016;315:801)",
    "temp.low": "NEWS2 temperature <= 35.0 scores 3 (RCP 2017 Chart 1)",
    "temp.high": "NEWS2 temperature >= 39.1 scores 2 (RCP 2017 Chart 1)",
    "battery.low": "Nightscout uploader battery warning 30 %",
    "battery.critical_low": "Nightscout uploader battery urgent 20 %",
    "room_temp.low": "ASHRAE 170-2017 Table 7.1 design temperature 21-24 degC",
    "room_temp.high": "ASHRAE 170-2017 Table 7.1 design temperature 21-24 degC",
    "room_humidity.low": "ASHRAE 170-2017 Table 7.1 critical and intensive care RH 30-60 %",
    "room_humidity.high": "ASHRAE 170-2017 Table 7.1 RH max 60 %",
}
# Readings above a device's measurement range cannot be measurements (technical alarm). Only upper
# bounds: a heart rate of 0-19/min may be asystole or extreme bradycardia and must alarm as such.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "hr": (0.0, 300.0),  # Mindray BeneVision N22/N19 operator's manual A.14.4: PR range up to 300 bpm
}
# "no value" numbers of real Mindray eGateway messages
SENTINELS: frozenset[float] = frozenset({-999.0, -100.0, -99.9})
SCORE_KEYS = frozenset({"news2", "qsofa", "mews"})

# -------------------------------------------------------------------- priorities (Table 1)
D, R, M = Consequence.DEATH, Consequence.REVERSIBLE, Consequence.MINOR
IMM, PROMPT, DEL = Onset.IMMEDIATE, Onset.PROMPT, Onset.DELAYED
# (condition family, tier) -> derivation. Family: "<key>_<low|high>", or a technical family.
DERIVATIONS: dict[tuple[str, int], Derivation] = {
    ("spo2_low", 1): Derivation(R, PROMPT, "hypoxaemia at the NEWS2 red-score level; harm over minutes"),
    ("spo2_low", 2): Derivation(D, PROMPT, "severe hypoxaemia: hypoxic injury or arrest within minutes"),
    ("hr_high", 1): Derivation(R, PROMPT, "tachycardia above the monitor default limit"),
    ("hr_high", 2): Derivation(D, PROMPT, "NEWS2 red-score tachycardia: shock or tachyarrhythmia"),
    ("hr_low", 1): Derivation(R, PROMPT, "bradycardia below the monitor default limit"),
    ("hr_low", 2): Derivation(D, PROMPT, "NEWS2 red-score bradycardia: low cardiac output"),
    ("rr_high", 1): Derivation(R, PROMPT, "tachypnoea at the NEWS2 red-score level"),
    ("rr_high", 2): Derivation(D, PROMPT, "severe tachypnoea: respiratory failure"),
    ("rr_low", 1): Derivation(R, PROMPT, "bradypnoea at the NEWS2 red-score level (e.g. opioids)"),
    ("rr_low", 2): Derivation(D, IMM, "near-apnoea: hypoxaemia follows within minutes"),
    ("sbp_low", 1): Derivation(R, PROMPT, "hypotension at the NEWS2 red-score level"),
    ("sbp_low", 2): Derivation(D, PROMPT, "severe hypotension: organ hypoperfusion"),
    ("sbp_high", 1): Derivation(R, PROMPT, "severe hypertension at the NEWS2 red-score level"),
    ("map_low", 1): Derivation(R, PROMPT, "MAP below the Sepsis-3 target"),
    ("temp_low", 1): Derivation(R, DEL, "hypothermia develops over hours"),
    ("temp_high", 1): Derivation(R, DEL, "high fever: treatable, develops over hours"),
    ("trend", 1): Derivation(R, DEL, "early warning of a change; no limit crossed yet"),
    ("news2", 1): Derivation(R, PROMPT, "NEWS2 low-medium/medium: urgent ward-based review (RCP Chart 4)"),
    ("news2", 2): Derivation(D, PROMPT, "NEWS2 high: emergency response (RCP Chart 4)"),
    ("sensor_off", 1): Derivation(D, DEL, "a continuously monitored parameter is no longer seen"),
    ("stale", 1): Derivation(D, DEL, "no data: a deterioration would go undetected"),
    ("slow_sensor", 1): Derivation(R, DEL, "temperature monitoring lost; changes take hours"),
    ("battery_low", 1): Derivation(R, DEL, "device will stop reporting in hours"),
    ("battery_low", 2): Derivation(D, DEL, "device about to stop reporting: monitoring lost"),
    ("implausible", 1): Derivation(R, DEL, "values discarded; the other parameters are still watched"),
    ("environment", 1): Derivation(M, DEL, "room outside its design range: comfort and equipment"),
}
GENERIC = {
    1: Derivation(R, PROMPT, "outside the alert limit"),
    2: Derivation(D, PROMPT, "outside the critical limit"),
}


def derivation(family: str, tier: int) -> Derivation:
    return DERIVATIONS.get((family, tier)) or DERIVATIONS.get((family, 1)) or GENERIC[2 if tier >= 2 else 1]


def priority_of(family: str, tier: int) -> Priority:
    return derivation(family, tier).priority


# -------------------------------------------------------------------- merging and validation
def environment_profile(ward_attributes: Mapping[str, Any] | None) -> str:
    attrs = ward_attributes or {}
    if attrs.get("environment_profile") in ENVIRONMENT_LIMITS:
        return str(attrs["environment_profile"])
    spec = str(attrs.get("specialty", "")).lower()
    return "critical_care" if ("critical" in spec or "intensive" in spec) else "patient_room"


def merge(*layers: Mapping[str, Any] | None) -> Limits:
    """Field-by-field overlay: later layers win; ``None`` values switch a limit off."""
    out: Limits = {}
    for layer in layers:
        for key, spec in (layer or {}).items():
            if not isinstance(spec, Mapping):
                continue
            cur = out.setdefault(key, {})
            for f in FIELDS:
                if f in spec:
                    cur[f] = spec[f]
    return {k: {f: v for f, v in spec.items() if v is not None} for k, spec in out.items()}


def effective_limits(
    ward_attributes: Mapping[str, Any] | None, patient_attributes: Mapping[str, Any] | None = None
) -> Limits:
    """Defaults, then the ward's environment profile and overrides, then the patient's."""
    ward = ward_attributes or {}
    return merge(
        DEFAULT_LIMITS,
        ENVIRONMENT_LIMITS[environment_profile(ward)],
        ward.get("alarm_limits"),
        (patient_attributes or {}).get("alarm_limits"),
    )


def validate_limits(
    raw: Any, inherited: Mapping[str, Any] | None = None, field: str = "alarm_limits"
) -> Limits:
    """Check an override mapping; return it cleaned. Errors name the field, e.g.
    ``alarm_limits.hr.low``. ``inherited`` (the limits the override sits on) is used to check
    the order low < high and critical_low <= low, high <= critical_high of the result."""
    if not isinstance(raw, Mapping):
        raise ValidationError("expected an object of code -> limits", field=field)
    clean: Limits = {}
    for key, spec in raw.items():
        where = f"{field}.{key}"
        info = BY_KEY.get(key) if isinstance(key, str) else None
        if info is None or info.kind is not ValueKind.QUANTITY or key in SCORE_KEYS:
            raise ValidationError(f"{key!r} is not a measured quantity with alarm limits", field=where)
        if not isinstance(spec, Mapping):
            raise ValidationError("expected an object with low/high/critical_low/critical_high", field=where)
        out: dict[str, float | None] = {}
        for f, v in spec.items():
            if f not in FIELDS:
                raise ValidationError(
                    f"unknown limit {f!r} (expected one of {', '.join(FIELDS)})", field=where
                )
            if v is None:
                out[f] = None
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValidationError("a limit must be a finite number or null", field=f"{where}.{f}")
            lo, hi = info.bounds or (-math.inf, math.inf)
            if not lo <= v <= hi:
                raise ValidationError(f"{v:g} is outside {lo:g}-{hi:g} {info.unit}", field=f"{where}.{f}")
            out[f] = float(v)
        clean[key] = out
    eff = merge(inherited, clean)
    for key in clean:
        _check_order(eff.get(key, {}), f"{field}.{key}")
    return clean


def _check_order(spec: Mapping[str, float | None], where: str) -> None:
    lo, hi, clo, chi = (spec.get(f) for f in FIELDS)
    if lo is not None and hi is not None and not lo < hi:
        raise ValidationError(f"low ({lo:g}) must be below high ({hi:g})", field=f"{where}.low")
    if clo is not None and lo is not None and clo > lo:
        raise ValidationError(
            f"critical_low ({clo:g}) must not be above low ({lo:g})", field=f"{where}.critical_low"
        )
    if chi is not None and hi is not None and chi < hi:
        raise ValidationError(
            f"critical_high ({chi:g}) must not be below high ({hi:g})", field=f"{where}.critical_high"
        )
    if clo is not None and chi is not None and not clo < chi:
        raise ValidationError("critical_low must be below critical_high", field=f"{where}.critical_low")


def sources_for(limits: Mapping[str, Mapping[str, Any]], overridden: set[str]) -> dict[str, str]:
    """Where each effective limit comes from ("default: <citation>" or "override")."""
    out = {}
    for key, spec in limits.items():
        for f in spec:
            ref = f"{key}.{f}"
            out[ref] = "override" if ref in overridden else f"default: {SOURCES.get(ref, 'configuration')}"
    return out
