"""Technical events: motion artefacts and sensor-off / lead-off periods, as pure functions of time.

Time is cut into fixed slots (5 min for artefacts, 1 h for sensor-off) aligned on the epoch.
Each slot of each patient holds at most one episode, decided by counter-based uniforms keyed on
(patient, slot), so an episode can be recomputed for any instant (the 1 Hz simulation) or listed
for a whole horizon (the ground truth) with identical results.

Artefact kinds and what the monitor shows (the other signals contradict the false one, which is
what multi-signal false-alarm detection exploits; PhysioNet/CinC Challenge 2015, Clifford et al.,
Physiol Meas 2016;37:1237):

* ``motion``: patient movement corrupts ECG, impedance and pleth together: HR spikes +25-70/min,
  RR +8-28/min, SpO2 falsely low by 3-18 %; the arterial line (if any) stays true.
* ``spo2_dropout``: probe slipping or poor perfusion: SpO2 reads 8-28 % low while the ECG heart
  rate stays true (a classic false desaturation alarm).
* ``ecg_noise``: QRS detection fails: HR doubled (T waves counted) or a false bradycardia of
  25-40/min, while SpO2 stays true (false brady/tachy alarms; Drew et al., PLoS One 2014;
  9:e110274: 88.8 % of arrhythmia alarms were false).
* ``art_flush``: arterial line flushed or sampled: pressures read a square wave of 250-290 mm[Hg]
  (only on monitors with an arterial line).

Durations are log-uniform 3-40 s (median alarm duration in a PICU was 17 s; Goerges et al.,
Anesth Analg 2009;108:1546). Sensor-off episodes last 20 s - 10 min (log-uniform). The rates are
configurable; the defaults are chosen to give a realistic share of false alarms, not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medtwin.devices.base import iso
from medtwin.devices.rng import stream_id, uniforms

F64 = NDArray[np.float64]
ARTIFACT_KINDS: tuple[str, ...] = ("motion", "spo2_dropout", "ecg_noise", "art_flush")
ARTIFACT_PARAMS: dict[str, tuple[str, ...]] = {
    "motion": ("hr", "rr", "spo2"),
    "spo2_dropout": ("spo2",),
    "ecg_noise": ("hr",),
    "art_flush": ("sbp", "dbp", "map"),
}
_KIND_CUM = np.array([0.45, 0.75, 0.95, 1.0])  # motion, spo2_dropout, ecg_noise, art_flush
SENSORS: tuple[str, ...] = ("ecg", "spo2", "temp", "nibp")
SENSOR_PARAMS: dict[str, tuple[str, ...]] = {
    "ecg": ("hr", "rr"),  # ECG electrodes also carry impedance respiration
    "spo2": ("spo2",),
    "temp": ("temp",),
    "nibp": ("sbp", "dbp", "map"),
}
SENSOR_FLAG: dict[str, str] = {
    "ecg": "lead-off",
    "spo2": "sensor-off",
    "temp": "sensor-off",
    "nibp": "sensor-off",
}
ARTIFACT_SLOT_S = 300.0
ARTIFACT_DURATION_S = (3.0, 40.0)
SENSOR_SLOT_S = 3600.0
SENSOR_DURATION_S = (20.0, 600.0)
_S_ART = stream_id("artifact")
_S_OFF = {s: stream_id(f"sensor-off/{s}") for s in SENSORS}


@dataclass(frozen=True, slots=True)
class TechnicalEvent:
    """A technical condition: an artefact, a sensor-off/lead-off period, or a battery state."""

    kind: str  # "artifact", "lead-off", "sensor-off", "low-battery", "battery-depleted"
    detail: str  # artefact kind or sensor name
    params: tuple[str, ...]
    start: float  # epoch s
    end: float  # epoch s (exclusive)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "detail": self.detail,
            "params": list(self.params),
            "start": iso(self.start),
            "end": iso(self.end),
            "duration_s": round(self.end - self.start, 1),
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """A scheduled sensor-off/lead-off period, ``start_s`` seconds after the device's start."""

    sensor: str
    start_s: float
    duration_s: float

    def __post_init__(self) -> None:
        if self.sensor not in SENSORS:
            raise ValueError(f"sensor must be one of {SENSORS}")
        if self.duration_s <= 0 or self.start_s < 0:
            raise ValueError("fault needs start_s >= 0 and duration_s > 0")


def _episodes(
    keys: NDArray[np.uint64],
    slot: NDArray[np.int64] | int,
    stream: int,
    prob: F64,
    slot_s: float,
    dur: tuple[float, float],
    extra: int,
) -> tuple[NDArray[np.bool_], F64, F64, F64]:
    """(present, start, end, extra uniforms) of the episode in ``slot`` for each key."""
    u = uniforms(keys, slot, stream, 3 + extra)
    present = u[:, 0] < prob
    d = np.exp(np.log(dur[0]) + u[:, 1] * (np.log(dur[1]) - np.log(dur[0])))
    start = np.floor(np.asarray(slot, dtype=np.float64) * slot_s + u[:, 2] * (slot_s - d))
    return present, start, start + np.ceil(d), u[:, 3:]


def artifact_state(
    keys: NDArray[np.uint64], rate_h: F64, arterial: NDArray[np.bool_], t: float
) -> tuple[NDArray[np.bool_], NDArray[np.int64], F64]:
    """At time ``t``: (active, kind index into ARTIFACT_KINDS, two magnitudes in (0, 1))."""
    slot = int(t // ARTIFACT_SLOT_S)
    prob = np.minimum(rate_h * ARTIFACT_SLOT_S / 3600.0, 1.0)
    present, start, end, u = _episodes(keys, slot, _S_ART, prob, ARTIFACT_SLOT_S, ARTIFACT_DURATION_S, 3)
    active = present & (start <= t) & (t < end)
    kind = np.searchsorted(_KIND_CUM, u[:, 0], side="right").astype(np.int64)
    kind = np.where((kind == 3) & ~arterial, 0, np.minimum(kind, 3))
    return active, kind, u[:, 1:]


def sensor_off_state(keys: NDArray[np.uint64], rates_h: F64, t: float) -> NDArray[np.bool_]:
    """(N, len(SENSORS)) whether each sensor is off at time ``t``; ``rates_h`` is (N, S)."""
    slot = int(t // SENSOR_SLOT_S)
    out = np.zeros(rates_h.shape, dtype=bool)
    for j, s in enumerate(SENSORS):
        if not rates_h[:, j].any():
            continue
        present, start, end, _ = _episodes(
            keys, slot, _S_OFF[s], np.minimum(rates_h[:, j], 1.0), SENSOR_SLOT_S, SENSOR_DURATION_S, 0
        )
        out[:, j] = present & (start <= t) & (t < end)
    return out


def _slots(t0: float, t1: float, slot_s: float) -> NDArray[np.int64]:
    return np.arange(int(t0 // slot_s), int(t1 // slot_s) + 1, dtype=np.int64)


def artifact_events(key: int, rate_h: float, arterial: bool, t0: float, t1: float) -> list[TechnicalEvent]:
    """All artefact episodes of one patient overlapping [t0, t1)."""
    if rate_h <= 0:
        return []
    slots = _slots(t0, t1, ARTIFACT_SLOT_S)
    keys = np.full(slots.shape, key, dtype=np.uint64)
    prob = np.full(slots.shape, min(rate_h * ARTIFACT_SLOT_S / 3600.0, 1.0))
    present, start, end, u = _episodes(keys, slots, _S_ART, prob, ARTIFACT_SLOT_S, ARTIFACT_DURATION_S, 3)
    kinds = np.minimum(np.searchsorted(_KIND_CUM, u[:, 0], side="right"), 3)
    out = []
    for p, s, e, k in zip(present, start, end, kinds, strict=True):
        if p and e > t0 and s < t1:
            name = ARTIFACT_KINDS[int(k)] if (k != 3 or arterial) else "motion"
            out.append(TechnicalEvent("artifact", name, ARTIFACT_PARAMS[name], float(s), float(e)))
    return out


def sensor_off_events(key: int, rates_h: dict[str, float], t0: float, t1: float) -> list[TechnicalEvent]:
    """All random sensor-off/lead-off episodes of one patient overlapping [t0, t1)."""
    slots = _slots(t0, t1, SENSOR_SLOT_S)
    keys = np.full(slots.shape, key, dtype=np.uint64)
    out = []
    for s in SENSORS:
        rate = min(rates_h.get(s, 0.0), 1.0)
        if rate <= 0:
            continue
        present, start, end, _ = _episodes(
            keys, slots, _S_OFF[s], np.full(slots.shape, rate), SENSOR_SLOT_S, SENSOR_DURATION_S, 0
        )
        for p, a, b in zip(present, start, end, strict=True):
            if p and b > t0 and a < t1:
                out.append(TechnicalEvent(SENSOR_FLAG[s], s, SENSOR_PARAMS[s], float(a), float(b)))
    return sorted(out, key=lambda ev: ev.start)
