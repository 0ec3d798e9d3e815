"""Simulated home devices for remote care: BP cuff, glucometer, CGM, weight scale, smart-toilet
urine glucose, bed-occupancy sensor, and an activity sensor that can stop moving (a fall, a day
without movement). Deterministic by seed, counter-based noise like the ward devices
(:mod:`medtwin.devices.rng`), so the output does not depend on how often ``step`` is called.

Scheduled devices measure at local times of day (``times_h``, the home's UTC offset taken from
``start``) with a per-reading jitter of up to ``jitter_min`` minutes, and skip a reading with
probability ``skip_p`` (non-adherence). Each reports its battery once a day (``battery``, with
``"flag": "low-battery"`` at or below 20 %), falling linearly over ``battery_days``.

Clinical courses are given explicitly (a start value and a daily drift from a given day, episodes
at given times), so a test or the demo knows the ground truth: e.g. ``WeightScale(..., weight=82,
gain_kg_per_day=0.8, gain_from=<datetime>)`` gains 2.4 kg in three days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np

from medtwin.devices.activity import ActivitySensor
from medtwin.devices.base import boundaries, epoch, iso, next_boundary
from medtwin.devices.physiology import utc_offset_s
from medtwin.devices.rng import normals, seed_key, stream_id, uniforms

_S_JIT, _S_SKIP, _S_NOISE = stream_id("home-jitter"), stream_id("home-skip"), stream_id("home-noise")
DAY = 86400.0


class ScheduledDevice:
    """Base: readings at local ``times_h`` each day, battery once a day."""

    kind: ClassVar[str] = "obs"

    def __init__(self, device_id: str, seed: int, start: datetime, *, patient_id: str | None = None,
                 times_h: Sequence[float] = (8.0,), jitter_min: float = 20.0, skip_p: float = 0.0,
                 battery_start_pct: float = 100.0, battery_days: float = 90.0,
                 stop_at: datetime | None = None) -> None:  # fmt: skip
        self.device_id, self.patient_id, self.start = device_id, patient_id, start
        self.times_h, self.jitter_s, self.skip_p = tuple(times_h), jitter_min * 60.0, skip_p
        self.battery_start, self.battery_days = battery_start_pct, battery_days
        self._key = seed_key(seed)
        self._t0, self._utc = epoch(start), utc_offset_s(start)
        self._last = self._t0 - 1e-6
        self._stop = epoch(stop_at) if stop_at is not None else math.inf

    # ------------------------------------------------------------------ schedule
    def _u(self, counter: int, stream: int, n: int = 1) -> np.ndarray:
        u: np.ndarray = uniforms(np.array([self._key], dtype=np.uint64), counter, stream, n)[0]
        return u

    def _z(self, counter: int, n: int = 1) -> np.ndarray:
        z: np.ndarray = normals(np.array([self._key], dtype=np.uint64), counter, _S_NOISE, n)[0]
        return z

    def scheduled(self, last: float, now: float) -> list[tuple[int, float]]:
        """(counter, epoch seconds) of the readings taken in (last, now]."""
        out = []
        d0 = math.floor((last + self._utc) / DAY) - 1
        d1 = math.floor((now + self._utc) / DAY) + 1
        for d in range(d0, d1 + 1):
            for i, h in enumerate(self.times_h):
                k = d * 16 + i
                ts = d * DAY - self._utc + h * 3600.0 + (self._u(k, _S_JIT)[0] - 0.5) * 2 * self.jitter_s
                if (
                    last < ts <= now
                    and ts >= self._t0
                    and ts < self._stop
                    and self._u(k, _S_SKIP)[0] >= self.skip_p
                ):
                    out.append((k, ts))
        return sorted(out, key=lambda x: x[1])

    def battery(self, ts: float) -> float:
        return max(0.0, self.battery_start - (ts - self._t0) / (self.battery_days * DAY) * 100.0)

    def measure(self, k: int, ts: float) -> list[dict[str, Any]]:  # overridden
        return []

    def readings_at(self, last: float, now: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for k, ts in self.scheduled(last, now):
            if self.battery(ts) > 0:
                out.extend(self.measure(k, ts))
        for ts in boundaries(last, now, self._t0 + 3600.0, DAY):
            level = self.battery(ts)
            if level > 0 and ts < self._stop:
                r: dict[str, Any] = {
                    "code": "battery",
                    "value": math.ceil(level),
                    "unit": "%",
                    "time": iso(ts),
                }
                if level <= 20:
                    r["flag"] = "low-battery"
                out.append(r)
        return sorted(out, key=lambda r: r["time"])

    def step(self, t: datetime) -> list[dict[str, Any]]:
        ts = epoch(t)
        out = self.readings_at(self._last, ts)
        self._last = max(self._last, ts)
        return out

    def next_due(self) -> float:
        nxt = min(ts for _k, ts in self.scheduled(self._last, self._last + 2 * DAY)) if self.scheduled(
            self._last, self._last + 2 * DAY) else self._last + DAY  # fmt: skip
        return min(nxt, next_boundary(self._last, self._t0 + 3600.0, DAY))

    def ground_truth(self, end: datetime) -> dict[str, Any]:
        taken = self.scheduled(self._t0 - 1e-6, epoch(end))
        return {"device": self.device_id, "patient": self.patient_id, "type": type(self).__name__,
                "readings": [iso(ts) for _k, ts in taken]}  # fmt: skip

    def _drift(self, ts: float, per_day: float, since: datetime | None) -> float:
        if since is None or per_day == 0.0:
            return 0.0
        return per_day * max(0.0, (ts - epoch(since)) / DAY)


class BloodPressureCuff(ScheduledDevice):
    """Home BP monitor: systolic, diastolic and pulse, morning and evening (ACC/AHA 2017 HBPM)."""

    def __init__(self, device_id: str, seed: int, start: datetime, *, sbp: float = 135.0, dbp: float = 85.0,
                 hr: float = 72.0, sd_mmhg: float = 6.0, drift_per_day: float = 0.0,
                 drift_from: datetime | None = None, times_h: Sequence[float] = (7.5, 19.5), **kw: Any) -> None:  # fmt: skip
        super().__init__(device_id, seed, start, times_h=times_h, **kw)
        self.sbp, self.dbp, self.hr, self.sd = sbp, dbp, hr, sd_mmhg
        self.drift, self.drift_from = drift_per_day, drift_from

    def measure(self, k: int, ts: float) -> list[dict[str, Any]]:
        z = self._z(k, 3)
        d = self._drift(ts, self.drift, self.drift_from)
        s = round(float(self.sbp + d + self.sd * z[0]))
        di = round(float(self.dbp + d * 0.5 + self.sd * 0.6 * z[1]))
        t = iso(ts)
        return [{"code": "sbp", "value": s, "unit": "mm[Hg]", "time": t},
                {"code": "dbp", "value": min(di, s - 10), "unit": "mm[Hg]", "time": t},
                {"code": "hr", "value": round(float(self.hr + 4 * z[2])), "unit": "/min", "time": t}]  # fmt: skip


class Glucometer(ScheduledDevice):
    """Finger-stick glucose meter (mg/dL) at the given times; ``lows`` are readings (datetime,
    value) the meter will report instead at the scheduled reading nearest to them."""

    def __init__(self, device_id: str, seed: int, start: datetime, *, mean: float = 140.0, sd: float = 25.0,
                 times_h: Sequence[float] = (7.0, 12.0, 18.0, 22.0), lows: Sequence[tuple[datetime, float]] = (),
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(device_id, seed, start, times_h=times_h, **kw)
        self.mean, self.sd, self.lows = mean, sd, [(epoch(t), v) for t, v in lows]

    def measure(self, k: int, ts: float) -> list[dict[str, Any]]:
        v = max(40.0, self.mean + self.sd * self._z(k)[0])
        for t_low, low in self.lows:
            if abs(ts - t_low) < 3 * 3600:
                v = low
        return [{"code": "glucose", "value": round(float(v)), "unit": "mg/dL", "time": iso(ts)}]


class Cgm:
    """Continuous glucose monitor: interstitial glucose every 5 min (meal peaks at 8, 13, 19 h
    local), and ``episodes`` (start, minutes, level) where glucose is held at ``level``."""

    kind: ClassVar[str] = "obs"

    def __init__(self, device_id: str, seed: int, start: datetime, *, patient_id: str | None = None,
                 mean: float = 130.0, meal_rise: float = 60.0, interval_s: float = 300.0,
                 episodes: Sequence[tuple[datetime, float, float]] = (), stop_at: datetime | None = None) -> None:  # fmt: skip
        self.device_id, self.patient_id, self.start = device_id, patient_id, start
        self.mean, self.rise, self.interval_s = mean, meal_rise, interval_s
        self.episodes = [(epoch(t), m * 60.0, v) for t, m, v in episodes]
        self._key, self._t0, self._utc = seed_key(seed), epoch(start), utc_offset_s(start)
        self._last = self._t0 - 1e-6
        self._stop = epoch(stop_at) if stop_at is not None else math.inf

    def value(self, ts: float) -> float:
        h = ((ts + self._utc) / 3600.0) % 24.0
        meals = sum(math.exp(-((((h - m) % 24.0) - 1.0) ** 2) / 0.8) for m in (8.0, 13.0, 19.0))
        z = normals(np.array([self._key], dtype=np.uint64), int(ts // self.interval_s), _S_NOISE, 1)[0, 0]
        v = self.mean + self.rise * meals + 6.0 * z
        for s, dur, level in self.episodes:
            if s <= ts < s + dur:
                v = level + 2.0 * z
        return float(np.clip(v, 40, 400))

    def step(self, t: datetime) -> list[dict[str, Any]]:
        ts = epoch(t)
        times = [x for x in boundaries(self._last, ts, self._t0, self.interval_s) if x < self._stop]
        self._last = max(self._last, ts)
        return [
            {"code": "cgm", "value": round(float(self.value(x))), "unit": "mg/dL", "time": iso(x)}
            for x in times
        ]

    def next_due(self) -> float:
        n = next_boundary(self._last, self._t0, self.interval_s)
        return n if n < self._stop else math.inf

    def ground_truth(self, end: datetime) -> dict[str, Any]:
        return {"device": self.device_id, "patient": self.patient_id, "type": "Cgm",
                "episodes": [[iso(s), d / 60.0, v] for s, d, v in self.episodes]}  # fmt: skip


class WeightScale(ScheduledDevice):
    """Bathroom scale, each morning (ESC HFA: weigh daily); ``gain_kg_per_day`` from ``gain_from``."""

    def __init__(self, device_id: str, seed: int, start: datetime, *, weight: float = 80.0,
                 gain_kg_per_day: float = 0.0, gain_from: datetime | None = None,
                 times_h: Sequence[float] = (7.25,), **kw: Any) -> None:  # fmt: skip
        super().__init__(device_id, seed, start, times_h=times_h, jitter_min=kw.pop("jitter_min", 10.0), **kw)
        self.weight, self.gain, self.gain_from = weight, gain_kg_per_day, gain_from

    def measure(self, k: int, ts: float) -> list[dict[str, Any]]:
        w = self.weight + self._drift(ts, self.gain, self.gain_from) + 0.25 * self._z(k)[0]
        return [{"code": "weight", "value": float(round(w, 1)), "unit": "kg", "time": iso(ts)}]


class SmartToilet(ScheduledDevice):
    """Urine glucose (mg/dL, test-strip scale) at each use; 0 = negative."""

    def __init__(self, device_id: str, seed: int, start: datetime, *, positive_from: datetime | None = None,
                 level: float = 250.0, times_h: Sequence[float] = (7.0, 11.0, 15.0, 20.0), **kw: Any) -> None:  # fmt: skip
        super().__init__(device_id, seed, start, times_h=times_h, **kw)
        self.positive_from, self.level = positive_from, level

    def measure(self, k: int, ts: float) -> list[dict[str, Any]]:
        pos = self.positive_from is not None and ts >= epoch(self.positive_from)
        return [
            {
                "code": "urine_glucose",
                "value": float(self.level) if pos else 0,
                "unit": "mg/dL",
                "time": iso(ts),
            }
        ]


class BedSensor:
    """Bed-occupancy mat: ``in_bed`` "in"/"out" on every change, and every 30 min as a heartbeat.
    In bed from ``bedtime_h`` to ``wake_h`` (local), with a 5-10 min toilet trip at 02:30 on
    about half the nights; ``fall_at``: out of bed at that time and never back."""

    kind: ClassVar[str] = "obs"

    def __init__(self, device_id: str, seed: int, start: datetime, *, patient_id: str | None = None,
                 bedtime_h: float = 22.5, wake_h: float = 7.0, fall_at: datetime | None = None) -> None:  # fmt: skip
        self.device_id, self.patient_id, self.start = device_id, patient_id, start
        self.bedtime_h, self.wake_h = bedtime_h, wake_h
        self._key, self._t0, self._utc = seed_key(seed), epoch(start), utc_offset_s(start)
        self._fall = epoch(fall_at) if fall_at is not None else math.inf
        self._last = self._t0 - 1e-6

    def in_bed(self, ts: float) -> bool:
        if ts >= self._fall:
            return False
        h = ((ts + self._utc) / 3600.0) % 24.0
        night = h >= self.bedtime_h or h < self.wake_h
        day = math.floor((ts + self._utc - self.wake_h * 3600) / DAY)
        u = uniforms(np.array([self._key], dtype=np.uint64), day, _S_SKIP, 2)[0]
        trip = u[0] < 0.5 and 2.5 <= h < 2.5 + (5 + 5 * u[1]) / 60.0
        return night and not trip

    def step(self, t: datetime) -> list[dict[str, Any]]:
        ts = epoch(t)
        out = []
        for x in boundaries(self._last, ts, self._t0, 60.0):
            now, before = self.in_bed(x), self.in_bed(x - 60.0)
            if now != before or (x - self._t0) % 1800.0 < 1e-6:
                out.append({"code": "in_bed", "value": "in" if now else "out", "time": iso(x)})
        self._last = max(self._last, ts)
        return out

    def next_due(self) -> float:
        return next_boundary(self._last, self._t0, 60.0)

    def ground_truth(self, end: datetime) -> dict[str, Any]:
        return {"device": self.device_id, "patient": self.patient_id, "type": "BedSensor",
                "fall_at": iso(self._fall) if math.isfinite(self._fall) else None}  # fmt: skip


class HomeActivitySensor(ActivitySensor):
    """The actigraphy sensor of :mod:`medtwin.devices.activity`, plus ``still`` periods
    ``(start, end or None)`` without any movement (a fall, a day spent motionless)."""

    def __init__(self, *args: Any, still: Sequence[tuple[datetime, datetime | None]] = (), **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.still = [(epoch(a), epoch(b) if b is not None else math.inf) for a, b in still]

    def activity(self, t: Any) -> Any:
        act = super().activity(t)
        tt = np.atleast_1d(np.asarray(t, dtype=np.float64))
        for a, b in self.still:
            act = np.where((tt >= a) & (tt < b), 0.0, act)
        return act


def days_later(t: datetime, days: float) -> datetime:
    return t + timedelta(days=days)
