"""The true (noise-free) physiology of N patients at T instants, vectorised with numpy.

value(t) = baseline + circadian rhythm(local time) + slow drift(t) + scenario effect(t - onset)

Every term is a pure function of time, so the same code serves the 1 Hz simulation (T = 1,
N = 1,000 monitors) and the ground truth (T = a whole day, N = 1). Rhythms use the local clock
time of the device's start (its UTC offset); temperature peaks about 17:00 and is lowest about
05:00 (Mackowiak et al., JAMA 1992), heart rate and blood pressure are lower at night (see
:mod:`medtwin.devices.patient` for the sources of the baselines).

SpO2 is derived from PaO2 through Severinghaus' oxygen dissociation equation
S = 100 / (23400 / (P^3 + 150 P) + 1) (Severinghaus, J Appl Physiol 1979;46:599), plus each
patient's oximeter bias, so saturation stays flat while PaO2 is high and falls steeply below
~60 mmHg, as on the real curve. MAP = DBP + (SBP - DBP) / 3 (the usual clinical estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medtwin.devices.patient import DRIFT_PARAMS, PatientProfile
from medtwin.devices.rng import seed_key
from medtwin.devices.scenarios import KIND_CODE, Scenario, ScenarioArrays, acvpu_level, apply_scenarios

F64 = NDArray[np.float64]
TWO_PI = 2.0 * np.pi
# Clock hour of the peak of each rhythm (before the patient's own phase shift).
ACROPHASE_H = {"temp": 17.0, "hr": 15.0, "bp": 14.0, "rr": 15.0}


def severinghaus(pao2: F64) -> F64:
    """Oxygen saturation (%) of haemoglobin at arterial PO2 ``pao2`` (mmHg)."""
    p = np.maximum(pao2, 1.0)
    return 100.0 / (23400.0 / (p**3 + 150.0 * p) + 1.0)


def utc_offset_s(when: datetime) -> float:
    off = when.utcoffset()
    if off is None:
        raise ValueError("start must be timezone-aware (its UTC offset sets the local day)")
    return off.total_seconds()


@dataclass(slots=True)
class Cohort:
    """Struct of arrays describing N patients (first axis N everywhere)."""

    keys: NDArray[np.uint64]
    start: F64  # epoch s
    utc_offset: F64  # s
    hr: F64
    rr: F64
    sbp: F64
    dbp: F64
    pao2: F64
    temp: F64
    spo2_bias: F64
    hr_circ: F64
    rr_circ: F64
    bp_dip: F64
    temp_circ: F64
    chrono_h: F64
    drift_omega: F64  # (N, P, K) rad/s
    drift_phase: F64
    drift_amp: F64
    sc_kind: NDArray[np.int8]
    sc_onset: F64  # absolute epoch s, inf for stable
    sc_severity: F64
    sc_duration: F64

    @property
    def n(self) -> int:
        return int(self.keys.shape[0])

    @property
    def scenarios(self) -> ScenarioArrays:
        return ScenarioArrays(self.sc_kind, self.sc_onset, self.sc_severity, self.sc_duration)

    @classmethod
    def build(
        cls, profiles: Sequence[PatientProfile], scenarios: Sequence[Scenario], starts: Sequence[datetime]
    ) -> Cohort:
        if not (len(profiles) == len(scenarios) == len(starts)):
            raise ValueError("profiles, scenarios and starts must have the same length")

        def arr(values: Sequence[float]) -> F64:
            return np.asarray(values, dtype=np.float64)

        start = arr([s.timestamp() for s in starts])
        stable = [sc.is_stable for sc in scenarios]
        return cls(
            keys=np.asarray([seed_key(p.seed) for p in profiles], dtype=np.uint64),
            start=start,
            utc_offset=arr([utc_offset_s(s) for s in starts]),
            hr=arr([p.hr for p in profiles]),
            rr=arr([p.rr for p in profiles]),
            sbp=arr([p.sbp for p in profiles]),
            dbp=arr([p.dbp for p in profiles]),
            pao2=arr([p.pao2 for p in profiles]),
            temp=arr([p.temp for p in profiles]),
            spo2_bias=arr([p.spo2_bias for p in profiles]),
            hr_circ=arr([p.hr_circadian for p in profiles]),
            rr_circ=arr([p.rr_circadian for p in profiles]),
            bp_dip=arr([p.bp_dip for p in profiles]),
            temp_circ=arr([p.temp_circadian for p in profiles]),
            chrono_h=arr([p.chrono_shift_h for p in profiles]),
            drift_omega=np.stack([TWO_PI / p.drift_period_s for p in profiles]),
            drift_phase=np.stack([p.drift_phase for p in profiles]),
            drift_amp=np.stack([p.drift_amp for p in profiles]),
            sc_kind=np.asarray([KIND_CODE[sc.kind] for sc in scenarios], dtype=np.int8),
            sc_onset=np.where(stable, np.inf, start + arr([sc.onset_s for sc in scenarios])),
            sc_severity=arr([0.0 if st else sc.severity for sc, st in zip(scenarios, stable, strict=True)]),
            sc_duration=arr([sc.duration_s for sc in scenarios]),
        )

    def take(self, idx: NDArray[np.intp] | Sequence[int]) -> Cohort:
        index = np.asarray(idx, dtype=np.intp)
        return Cohort(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def concat(cls, parts: Sequence[Cohort]) -> Cohort:
        kw: dict[str, Any] = {
            f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)
        }
        return cls(**kw)


def natural_state(c: Cohort, t: F64) -> dict[str, F64]:
    """Baseline + rhythm + drift for each parameter at times ``t`` (T,): arrays (T, N)."""
    tt = t[:, None]
    hour = ((tt + c.utc_offset[None, :]) / 3600.0 - c.chrono_h[None, :]) % 24.0

    def rhythm(acro: float) -> F64:
        return np.cos(TWO_PI * (hour - acro) / 24.0)

    # drift: sum_k amp * sin(omega * t + phase), shapes (T, N, P, K) -> (T, N, P)
    arg = c.drift_omega[None] * tt[:, :, None, None] + c.drift_phase[None]
    drift = (c.drift_amp[None] * np.sin(arg)).sum(axis=3)
    d = {name: drift[:, :, i] for i, name in enumerate(DRIFT_PARAMS)}
    bp = 1.0 + c.bp_dip[None, :] * rhythm(ACROPHASE_H["bp"])
    return {
        "hr": c.hr[None, :] + c.hr_circ[None, :] * rhythm(ACROPHASE_H["hr"]) + d["hr"],
        "rr": c.rr[None, :] + c.rr_circ[None, :] * rhythm(ACROPHASE_H["rr"]) + d["rr"],
        "sbp": c.sbp[None, :] * bp + d["sbp"],
        "dbp": c.dbp[None, :] * bp + d["dbp"],
        "pao2": c.pao2[None, :] + d["pao2"],
        "temp": c.temp[None, :] + c.temp_circ[None, :] * rhythm(ACROPHASE_H["temp"]) + d["temp"],
    }


def true_state(c: Cohort, t: F64) -> dict[str, Any]:
    """All true values at times ``t`` (T,): hr rr sbp dbp map pao2 spo2 temp blood_loss (float,
    (T, N)), acvpu (int8 level 0-4) and progress (fraction of the scenario course elapsed)."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    sc = c.scenarios
    x = sc.progress(t)
    v: dict[str, Any] = apply_scenarios(sc, x, natural_state(c, t), c.hr, c.rr)
    v["hr"] = np.maximum(v["hr"], 20.0)
    v["rr"] = np.maximum(v["rr"], 4.0)
    v["map"] = v["dbp"] + (v["sbp"] - v["dbp"]) / 3.0
    v["spo2"] = np.minimum(severinghaus(v["pao2"]) + c.spo2_bias[None, :], 100.0)
    v["acvpu"] = acvpu_level(sc, x)
    v["progress"] = x
    return v


def acvpu_at(c: Cohort, t: F64) -> NDArray[np.int8]:
    """Only the consciousness level (cheap: no drift or rhythms), (T, N)."""
    sc = c.scenarios
    return acvpu_level(sc, sc.progress(np.atleast_1d(np.asarray(t, dtype=np.float64))))
