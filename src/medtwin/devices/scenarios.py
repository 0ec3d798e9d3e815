"""Deterioration scenarios: how sepsis, haemorrhage and respiratory failure move the vital signs.

A :class:`Scenario` has a kind, an onset (seconds after the device's start), a severity in
[0, 1] and a time to full development. The effect functions below are vectorised over monitors
and time and are applied on top of each patient's own baseline, rhythms and drift
(:mod:`medtwin.devices.physiology`). Directions follow the literature; the magnitudes are
modelling choices sized so that a severity-1 course crosses the published criteria and a
milder one may not. Whatever a run actually crosses is recorded in the ground truth
(:mod:`medtwin.devices.truth`), so benchmarks never rely on these constants.

Sepsis (default 8 h to full development). Fever first, then tachycardia and tachypnoea, then
hypotension and hypoxaemia, then new confusion: at severity 1 temperature +2.3 degC, HR +55/min,
RR +13/min, SBP -45 and DBP -28 mm[Hg] (MAP < 65: septic-shock physiology), PaO2 -25 mmHg; new
confusion (ACVPU "C") in the last half of the course when severity >= ~0.5, "V" when >= 0.85.
Criteria the course is sized to cross: SIRS (T > 38 degC, HR > 90, RR > 20; Bone et al.,
Chest 1992;101:1644), qSOFA (RR >= 22, SBP <= 100, altered mentation; Seymour et al.,
JAMA 2016;315:762), Sepsis-3 shock MAP < 65 mmHg (Singer et al., JAMA 2016;315:801). Vital-sign
derangement typically precedes ward cardiac arrest and ICU transfer by hours (Churpek et al.,
Chest 2012;141:1170; Kause et al., Resuscitation 2004;62:275).

Haemorrhage (default 2 h to full development, constant bleeding). The blood-loss fraction rises
linearly to 0.08 + 0.42 x severity of the blood volume (70 mL/kg) and is mapped on the ATLS
classes of haemorrhagic shock (ATLS Student Course Manual, 9th ed., 2012, Table 3-1):
class I < 15 % (HR < 100, BP and pulse pressure normal, RR 14-20), class II 15-30 % (HR 100-120,
SBP normal, pulse pressure narrowed, RR 20-30), class III 30-40 % (HR 120-140, SBP falls, RR
30-40, anxious and confused), class IV > 40 % (HR > 140, SBP markedly low, RR > 35, confused or
lethargic). The 10th edition (2018) keeps the classes with arrows instead of numbers; real
patients follow the table loosely (Mutschler et al., Resuscitation 2013;84:309).

Respiratory failure (default 4 h). Tachypnoea first (the earliest and most predictive sign;
Cretikos et al., Med J Aust 2008;188:657), then falling PaO2 with SpO2 following the oxygen
dissociation curve, so saturation holds at first and then falls steeply below ~60 mmHg (8 kPa,
the usual definition of respiratory failure; BTS oxygen guideline, O'Driscoll et al.,
Thorax 2017;72:i1), a sympathetic rise in HR and BP, and late confusion. At severity 1: RR
+18/min, PaO2 -45 mmHg, HR +30/min, SBP +12 mm[Hg].

"stable" adds nothing: the patient keeps baseline, rhythms and drift (and still has artefacts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
ACVPU_LETTERS = "ACVPU"


class ScenarioKind(StrEnum):
    STABLE = "stable"
    SEPSIS = "sepsis"
    HAEMORRHAGE = "haemorrhage"
    RESPIRATORY_FAILURE = "respiratory_failure"


KIND_CODE: dict[ScenarioKind, int] = {k: i for i, k in enumerate(ScenarioKind)}
DEFAULT_DURATION_S: dict[ScenarioKind, float] = {
    ScenarioKind.STABLE: 1.0,
    ScenarioKind.SEPSIS: 8 * 3600.0,
    ScenarioKind.HAEMORRHAGE: 2 * 3600.0,
    ScenarioKind.RESPIRATORY_FAILURE: 4 * 3600.0,
}
# ATLS classes of haemorrhagic shock: blood-loss fraction where each class starts.
ATLS_CLASS_START: dict[str, float] = {"II": 0.15, "III": 0.30, "IV": 0.40}
_F = np.array([0.0, 0.15, 0.30, 0.40, 0.50])
_HAEM_HR = np.array([0.0, 98.0, 120.0, 140.0, 160.0])  # HR reached from a typical rest
_HAEM_RR = np.array([0.0, 19.0, 30.0, 36.0, 42.0])  # RR reached from a typical rest
_HAEM_SBP = np.array([0.0, 0.0, -8.0, -30.0, -55.0])  # delta
_HAEM_DBP = np.array([0.0, 4.0, 6.0, -6.0, -25.0])  # delta: early rise narrows pulse pressure


@dataclass(frozen=True, slots=True)
class Scenario:
    """What happens to a patient: ``kind`` from ``onset_s`` after start, at ``severity`` (0-1)."""

    kind: ScenarioKind = ScenarioKind.STABLE
    onset_s: float = 0.0
    severity: float = 0.0
    duration_s: float = field(default=0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ScenarioKind(self.kind))
        if not 0.0 <= self.severity <= 1.0:
            raise ValueError("severity must be within 0-1")
        if self.onset_s < 0:
            raise ValueError("onset_s must be >= 0 (seconds after the device's start)")
        if self.duration_s <= 0:
            object.__setattr__(self, "duration_s", DEFAULT_DURATION_S[self.kind])

    @classmethod
    def stable(cls) -> Scenario:
        return cls()

    @classmethod
    def sepsis(cls, onset_s: float = 3600.0, severity: float = 0.8, duration_s: float = 0.0) -> Scenario:
        return cls(ScenarioKind.SEPSIS, onset_s, severity, duration_s)

    @classmethod
    def haemorrhage(cls, onset_s: float = 3600.0, severity: float = 0.8, duration_s: float = 0.0) -> Scenario:
        return cls(ScenarioKind.HAEMORRHAGE, onset_s, severity, duration_s)

    @classmethod
    def respiratory_failure(
        cls, onset_s: float = 3600.0, severity: float = 0.8, duration_s: float = 0.0
    ) -> Scenario:
        return cls(ScenarioKind.RESPIRATORY_FAILURE, onset_s, severity, duration_s)

    @property
    def is_stable(self) -> bool:
        return self.kind is ScenarioKind.STABLE or self.severity == 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "onset_s": self.onset_s,
            "severity": self.severity,
            "duration_s": self.duration_s,
        }


def haemorrhage_max_fraction(severity: F64 | float) -> F64:
    return 0.08 + 0.42 * np.asarray(severity, dtype=np.float64)


def ramp(x: F64, lag: float) -> F64:
    """0 before ``lag`` (fraction of the course), smoothstep to 1 at the end of the course."""
    s = np.clip((x - lag) / (1.0 - lag), 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


@dataclass(slots=True)
class ScenarioArrays:
    """Struct of arrays, shape (N,), for N monitors; onset is absolute epoch seconds (inf: none)."""

    kind: NDArray[np.int8]
    onset: F64
    severity: F64
    duration: F64

    def progress(self, t: F64) -> F64:
        """Fraction of the course elapsed, (T, N); negative before onset."""
        with np.errstate(invalid="ignore"):
            x = (t[:, None] - self.onset[None, :]) / self.duration[None, :]
        return np.nan_to_num(x, nan=-1.0, neginf=-1.0)

    def mask(self, kind: ScenarioKind) -> NDArray[np.bool_]:
        return np.asarray((self.kind == KIND_CODE[kind]) & (self.severity > 0), dtype=bool)


def acvpu_level(sc: ScenarioArrays, x: F64) -> NDArray[np.int8]:
    """True consciousness level, 0=A 1=C 2=V 3=P 4=U, shape of ``x`` (T, N)."""
    level = np.zeros(x.shape, dtype=np.int8)
    sev = sc.severity[None, :]
    for kind, lag, c_at, v_at in (
        (ScenarioKind.SEPSIS, 0.5, 0.45, 0.85),
        (ScenarioKind.RESPIRATORY_FAILURE, 0.6, 0.7, 0.95),
    ):
        m = sc.mask(kind)
        if m.any():
            score = np.where(m[None, :], sev * ramp(x, lag), 0.0)
            level = np.maximum(level, (score >= c_at).astype(np.int8) + (score >= v_at).astype(np.int8))
    m = sc.mask(ScenarioKind.HAEMORRHAGE)
    if m.any():
        f = np.where(m[None, :], haemorrhage_max_fraction(sev) * np.clip(x, 0.0, 1.0), 0.0)
        level = np.maximum(level, (f >= 0.30).astype(np.int8) + (f >= 0.42).astype(np.int8))
    return level


def apply_scenarios(
    sc: ScenarioArrays, x: F64, v: dict[str, F64], base_hr: F64, base_rr: F64
) -> dict[str, F64]:
    """Add scenario effects to natural values ``v`` (hr rr sbp dbp pao2 temp; each (T, N)).

    ``base_hr``/``base_rr`` (N,) are the patients' resting means: in haemorrhage the ATLS table
    sets how far above a typical resting value HR and RR climb, keeping each patient's rhythm.
    Returns the modified values plus ``blood_loss`` (fraction, 0 unless haemorrhage).
    """
    out = {k: a.copy() for k, a in v.items()}
    sev = sc.severity[None, :]
    blood = np.zeros_like(x)
    m = sc.mask(ScenarioKind.SEPSIS)
    if m.any():
        mm = m[None, :]
        for name, size, lag in (
            ("temp", 2.3, 0.0),
            ("hr", 55.0, 0.05),
            ("rr", 13.0, 0.1),
            ("sbp", -45.0, 0.3),
            ("dbp", -28.0, 0.3),
            ("pao2", -25.0, 0.4),
        ):
            out[name] += np.where(mm, size * sev * ramp(x, lag), 0.0)
    m = sc.mask(ScenarioKind.HAEMORRHAGE)
    if m.any():
        mm = m[None, :]
        f = np.where(mm, haemorrhage_max_fraction(sev) * np.clip(x, 0.0, 1.0), 0.0)
        blood = f
        out["hr"] += np.maximum(np.interp(f, _F, _HAEM_HR) - base_hr[None, :], 0.0)
        out["rr"] += np.maximum(np.interp(f, _F, _HAEM_RR) - base_rr[None, :], 0.0)
        out["sbp"] += np.interp(f, _F, _HAEM_SBP)
        out["dbp"] += np.interp(f, _F, _HAEM_DBP)
        out["temp"] -= 1.2 * f
        out["pao2"] -= 10.0 * f
    m = sc.mask(ScenarioKind.RESPIRATORY_FAILURE)
    if m.any():
        mm = m[None, :]
        for name, size, lag in (
            ("rr", 18.0, 0.0),
            ("temp", 0.5, 0.0),
            ("pao2", -45.0, 0.1),
            ("hr", 30.0, 0.2),
            ("sbp", 12.0, 0.2),
            ("dbp", 6.0, 0.2),
        ):
            out[name] += np.where(mm, size * sev * ramp(x, lag), 0.0)
    out["dbp"] = np.minimum(out["dbp"], out["sbp"] - 12.0)
    out["pao2"] = np.maximum(out["pao2"], 25.0)
    out["blood_loss"] = blood
    return out
