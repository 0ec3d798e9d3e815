"""Simulated room environment sensor: air temperature and relative humidity, one reading a minute.

Model. The room is held near its set-point (21-24 degC is the design range for patient rooms in
ANSI/ASHRAE/ASHE Standard 170-2021, with relative humidity at most 60 %), with a daily swing of
about 0.6 degC peaking mid-afternoon (solar and occupancy gains), a thermostat cycle of 20-40 min
and +-0.15 degC, and sensor noise (sd 0.05 degC, 0.7 % RH; typical digital sensors specify about
+-0.2 degC and +-2 % RH). Humidity is physical rather than independent: the room air keeps its
water-vapour pressure (which drifts slowly with the outside air) and relative humidity follows
from temperature through the Magnus formula e_s(T) = 6.112 exp(17.62 T / (243.12 + T)) hPa
(WMO Guide to Instruments and Methods of Observation, WMO-No. 8, Annex 4.B), so a warmer room
reads drier.

Fault. :class:`HvacFault` models a failed air-handling unit: temperature and vapour pressure move
exponentially (time constant ``tau_s``) towards set-point + ``delta_temp`` and the humidity
``delta_humidity`` points higher, then recover with the same time constant when the fault ends.
Readings are ``room_temp`` (Cel, 0.1) and ``room_humidity`` (%, integer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from medtwin.core.clock import Clock
from medtwin.devices.base import boundaries, epoch, iso, next_boundary, phase_s
from medtwin.devices.physiology import utc_offset_s
from medtwin.devices.rng import normals, seed_key, stream_id

F64 = NDArray[np.float64]
_S_ENV = stream_id("environment")
COMFORT_RULES: tuple[tuple[str, str, float], ...] = (
    ("room_temp>24", "room_temp", 24.0),  # above ASHRAE 170 patient-room range
    ("room_temp>26", "room_temp", 26.0),
    ("room_humidity>60", "room_humidity", 60.0),  # above ASHRAE 170 maximum
)


def magnus_es(temp_c: F64) -> F64:
    """Saturation vapour pressure over water, hPa (Magnus formula, WMO-No. 8)."""
    return 6.112 * np.exp(17.62 * temp_c / (243.12 + temp_c))


@dataclass(frozen=True, slots=True)
class HvacFault:
    """Air handling fails ``start_s`` after the sensor's start, for ``duration_s``."""

    start_s: float
    duration_s: float = 6 * 3600.0
    delta_temp: float = 6.0
    delta_humidity: float = 15.0
    tau_s: float = 5400.0


class EnvironmentSensor:
    kind: ClassVar[str] = "obs"

    def __init__(
        self,
        device_id: str,
        seed: int,
        start: datetime | None = None,
        *,
        room_id: str | None = None,
        interval_s: float = 60.0,
        setpoint_c: float | None = None,
        humidity_pct: float | None = None,
        fault: HvacFault | None = None,
        clock: Clock | None = None,
    ) -> None:
        if start is None:
            if clock is None:
                raise ValueError("give a start time or a clock")
            start = clock.now()
        self.device_id, self.room_id, self.patient_id = device_id, room_id, None
        self.start, self.clock, self.fault = start, clock, fault
        self._t0, self._utc = epoch(start), utc_offset_s(start)
        self.interval_s = interval_s
        rng = np.random.default_rng(seed & ((1 << 64) - 1))
        self.setpoint = (
            float(np.clip(22.0 + 0.5 * rng.standard_normal(), 20.5, 23.5))
            if setpoint_c is None
            else setpoint_c
        )
        self.humidity = (
            float(np.clip(45.0 + 5.0 * rng.standard_normal(), 30.0, 55.0))
            if humidity_pct is None
            else humidity_pct
        )
        self._cycle = (float(rng.uniform(1200, 2400)), float(rng.uniform(0, 2 * math.pi)))
        self._vp_drift = (float(rng.uniform(4 * 3600, 12 * 3600)), float(rng.uniform(0, 2 * math.pi)))
        self._key = seed_key(seed)
        self._origin = self._t0 + phase_s(self._key, interval_s)
        self._last = self._t0 - 1e-6

    def _fault_level(self, t: F64) -> F64:
        f = self.fault
        if f is None:
            return np.zeros_like(t)
        a, b = self._t0 + f.start_s, self._t0 + f.start_s + f.duration_s
        rising = 1.0 - np.exp(-np.clip(t - a, 0.0, None) / f.tau_s)
        peak = 1.0 - math.exp(-f.duration_s / f.tau_s)
        after = peak * np.exp(-np.clip(t - b, 0.0, None) / f.tau_s)
        return np.where(t < a, 0.0, np.where(t < b, rising, after))

    def true_values(self, t: F64) -> tuple[F64, F64]:
        """(temperature degC, relative humidity %) at epoch seconds ``t``."""
        t = np.asarray(t, dtype=np.float64)
        hour = ((t + self._utc) / 3600.0) % 24.0
        temp = (
            self.setpoint
            + 0.6 * np.cos(2 * math.pi * (hour - 15.0) / 24.0)
            + 0.15 * np.sin(2 * math.pi * t / self._cycle[0] + self._cycle[1])
        )
        vp = magnus_es(np.asarray(self.setpoint)) * self.humidity / 100.0
        vp = vp * (1.0 + 0.08 * np.sin(2 * math.pi * t / self._vp_drift[0] + self._vp_drift[1]))
        level = self._fault_level(t)
        if self.fault is not None:
            temp = temp + self.fault.delta_temp * level
            vp = vp + magnus_es(np.asarray(self.setpoint)) * self.fault.delta_humidity / 100.0 * level
        rh = np.clip(100.0 * vp / magnus_es(temp), 5.0, 100.0)
        return temp, rh

    def readings_at(self, times: list[float]) -> list[dict[str, Any]]:
        if not times:
            return []
        t = np.asarray(times)
        temp, rh = self.true_values(t)
        z = normals(np.full(t.shape, self._key, dtype=np.uint64), np.rint(t).astype(np.int64), _S_ENV, 2)
        tq = (np.rint((temp + 0.05 * z[:, 0]) * 10) / 10).tolist()
        hq = np.clip(np.rint(rh + 0.7 * z[:, 1]), 0, 100).astype(np.int64).tolist()
        out: list[dict[str, Any]] = []
        for ts, a, b in zip(times, tq, hq, strict=True):
            stamp = iso(ts)
            out.append({"code": "room_temp", "value": a, "unit": "Cel", "time": stamp})
            out.append({"code": "room_humidity", "value": b, "unit": "%", "time": stamp})
        return out

    def step(self, t: datetime | None = None) -> list[dict[str, Any]]:
        if t is None:
            if self.clock is None:
                raise ValueError("no time given and no clock injected")
            t = self.clock.now()
        ts = epoch(t)
        times = boundaries(self._last, ts, self._origin, self.interval_s)
        self._last = max(self._last, ts)
        return self.readings_at(times)

    def next_due(self) -> float:
        return next_boundary(self._last, self._origin, self.interval_s)

    def ground_truth(self, end: datetime) -> dict[str, Any]:
        """Fault window and when the true room conditions left the comfort range."""
        t = np.arange(self._origin, epoch(end) + 1e-9, self.interval_s)
        temp, rh = self.true_values(t)
        series = {"room_temp": temp, "room_humidity": rh}
        crossings = []
        for name, param, thr in COMFORT_RULES:
            above = np.flatnonzero(series[param] > thr)
            if above.size:
                crossings.append({"rule": name, "first": iso(float(t[above[0]]))})
        f = self.fault
        return {
            "device": self.device_id,
            "room": self.room_id,
            "setpoint_c": round(self.setpoint, 2),
            "fault": None
            if f is None
            else {
                "kind": "hvac-failure",
                "start": iso(self._t0 + f.start_s),
                "end": iso(self._t0 + f.start_s + f.duration_s),
                "delta_temp": f.delta_temp,
                "delta_humidity": f.delta_humidity,
                "tau_s": f.tau_s,
            },
            "crossings": crossings,
        }
