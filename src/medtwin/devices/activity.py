"""Simulated movement sensor (bed or wrist accelerometer): an activity index per minute and the
sleep/wake state derived from it.

The device reports, every epoch (default 60 s, the usual actigraphy epoch), ``activity``: a
movement index 0-100 (``{index}``), and ``sleep``: "asleep" or "awake" as scored on the device
from the activity alone. Scoring follows the actigraphy principle of Cole et al. ("Automatic
sleep/wake identification from wrist activity", Sleep 1992;15:461) and Sadeh et al.
(Sleep 1994;17:201): low activity over a window of epochs means sleep. Here the rule is causal
(no future epochs): asleep when the mean of the last 10 epochs is below 6 and the current epoch
below 12. Like real actigraphy it misses quiet wakefulness and lags transitions by a few minutes;
the ground truth holds the true state so the error can be measured.

True behaviour: night sleep from about 22:30 to 06:30 local time (per patient +-30 min, per
night +-30/20 min), fragmented by awakenings (hospital sleep is shorter and more interrupted
than at home, mostly from noise and care activity; Wesselius et al., JAMA Intern Med
2018;178:1201): each 15-min slot of sleep has a 12 % chance of a 3-12 min awakening. Afternoon
naps (13:00-17:00) are more likely the less mobile the patient. Awake activity scales with the
patient's mobility (0 bed-bound to 1 walking), with occasional bursts (walking, transfers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from medtwin.core.clock import Clock
from medtwin.devices.base import boundaries, epoch, iso, next_boundary, phase_s
from medtwin.devices.physiology import utc_offset_s
from medtwin.devices.rng import seed_key, stream_id, uniforms

F64 = NDArray[np.float64]
B = NDArray[np.bool_]
_S_NIGHT, _S_WAKE, _S_NAP, _S_ACT = (stream_id(s) for s in ("night", "awakening", "nap", "activity"))
WINDOW = 10  # epochs in the scoring window
SLEEP_MEAN_MAX, SLEEP_EPOCH_MAX = 6.0, 12.0


class ActivitySensor:
    kind: ClassVar[str] = "obs"

    def __init__(
        self,
        device_id: str,
        seed: int,
        start: datetime | None = None,
        *,
        patient_id: str | None = None,
        epoch_s: float = 60.0,
        mobility: float | None = None,
        bedtime_h: float | None = None,
        wake_h: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if start is None:
            if clock is None:
                raise ValueError("give a start time or a clock")
            start = clock.now()
        self.device_id, self.patient_id, self.start, self.clock = device_id, patient_id, start, clock
        self.epoch_s = epoch_s
        rng = np.random.default_rng(seed & ((1 << 64) - 1))
        self.mobility = float(rng.uniform(0.1, 0.9)) if mobility is None else mobility
        self.bedtime_h = (
            float(22.5 + np.clip(0.5 * rng.standard_normal(), -1.0, 1.0)) if bedtime_h is None else bedtime_h
        )
        self.wake_h = (
            float(6.5 + np.clip(0.5 * rng.standard_normal(), -1.0, 1.0)) if wake_h is None else wake_h
        )
        self._key = seed_key(seed)
        self._t0, self._utc = epoch(start), utc_offset_s(start)
        self._origin = self._t0 + phase_s(self._key, epoch_s)  # first epoch ends here
        self._last = self._t0 - 1e-6

    def _u(self, counter: NDArray[np.int64], stream: int, n: int) -> F64:
        return uniforms(np.full(counter.shape, self._key, dtype=np.uint64), counter, stream, n)

    def asleep(self, t: F64) -> B:
        """True sleep state at epoch seconds ``t``."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        local = t + self._utc
        day = np.floor(local / 86400.0).astype(np.int64)
        night = np.zeros(t.shape, dtype=bool)
        for d in (day - 1, day):
            u = self._u(d, _S_NIGHT, 2)
            onset = d * 86400.0 + (self.bedtime_h + (u[:, 0] - 0.5)) * 3600.0
            wake = (d + 1) * 86400.0 + (self.wake_h + 0.66 * (u[:, 1] - 0.5)) * 3600.0
            night |= (local >= onset) & (local < wake)
        slot = np.floor(local / 900.0).astype(np.int64)
        u = self._u(slot, _S_WAKE, 3)
        dur = 180.0 + 540.0 * u[:, 1]
        a = slot * 900.0 + u[:, 2] * (900.0 - dur)
        awakening = (u[:, 0] < 0.12) & (local >= a) & (local < a + dur)
        hour = (local / 3600.0) % 24.0
        hslot = np.floor(local / 3600.0).astype(np.int64)
        u = self._u(hslot, _S_NAP, 3)
        nap_len = 1200.0 + 2400.0 * u[:, 1]
        na = hslot * 3600.0 + u[:, 2] * (3600.0 - nap_len)
        nap = (
            (hour >= 13)
            & (hour < 17)
            & (u[:, 0] < 0.25 * (1.0 - self.mobility))
            & (local >= na)
            & (local < na + nap_len)
        )
        return (night & ~awakening) | nap

    def activity(self, t: F64) -> F64:
        """Activity index (0-100, whole numbers) of the epochs at ``t``."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        e = np.floor((t - self._origin) / self.epoch_s).astype(np.int64)
        u = self._u(e, _S_ACT, 4)
        z = np.sqrt(-2 * np.log(u[:, 0])) * np.cos(2 * np.pi * u[:, 1])
        asleep = self.asleep(t)
        sleep_val = np.where(u[:, 2] < 0.04, 10.0 + 25.0 * u[:, 3], 2.0 * u[:, 3])
        awake_val = (8.0 + 45.0 * self.mobility) * np.exp(0.5 * z)
        awake_val = np.where(u[:, 2] < 0.06 * self.mobility, 60.0 + 40.0 * u[:, 3], awake_val)
        return np.clip(np.rint(np.where(asleep, sleep_val, awake_val)), 0, 100)

    def _window(self, t: F64) -> F64:
        """Activity of the ``WINDOW`` epochs ending at each ``t``: (T, WINDOW), current first."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        lags = np.arange(WINDOW)[None, :] * self.epoch_s
        return self.activity((t[:, None] - lags).ravel()).reshape(t.shape[0], WINDOW)

    @staticmethod
    def _score(act: F64) -> B:
        return np.asarray((act.mean(axis=1) < SLEEP_MEAN_MAX) & (act[:, 0] < SLEEP_EPOCH_MAX), dtype=bool)

    def scored_asleep(self, t: F64) -> B:
        """Sleep state as the device scores it from the last ``WINDOW`` epochs of activity."""
        return self._score(self._window(t))

    def readings_at(self, times: list[float]) -> list[dict[str, Any]]:
        if not times:
            return []
        window = self._window(np.asarray(times))
        act = window[:, 0].astype(np.int64).tolist()
        sleep = self._score(window).tolist()
        out: list[dict[str, Any]] = []
        for ts, a, s in zip(times, act, sleep, strict=True):
            stamp = iso(ts)
            out.append({"code": "activity", "value": a, "unit": "{index}", "time": stamp})
            out.append({"code": "sleep", "value": "asleep" if s else "awake", "time": stamp})
        return out

    def step(self, t: datetime | None = None) -> list[dict[str, Any]]:
        if t is None:
            if self.clock is None:
                raise ValueError("no time given and no clock injected")
            t = self.clock.now()
        ts = epoch(t)
        times = boundaries(self._last, ts, self._origin, self.epoch_s)
        self._last = max(self._last, ts)
        return self.readings_at(times)

    def next_due(self) -> float:
        return next_boundary(self._last, self._origin, self.epoch_s)

    def ground_truth(self, end: datetime) -> dict[str, Any]:
        """True sleep periods and how often the scored state agreed with the truth."""
        t = np.arange(self._origin, epoch(end) + 1e-9, self.epoch_s)
        if t.size == 0:
            return {
                "device": self.device_id,
                "patient": self.patient_id,
                "sleep_periods": [],
                "agreement": None,
            }
        true = self.asleep(t)
        scored = self.scored_asleep(t)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], true.astype(np.int8), [0]])))
        periods = [
            [iso(float(t[a])), iso(float(t[b - 1]) + self.epoch_s)]
            for a, b in zip(edges[::2], edges[1::2], strict=True)
        ]
        return {
            "device": self.device_id,
            "patient": self.patient_id,
            "mobility": round(self.mobility, 2),
            "sleep_periods": periods,
            "asleep_h": round(float(true.sum()) * self.epoch_s / 3600.0, 2),
            "agreement": round(float((true == scored).mean()), 4),
            "epochs": int(t.size),
            "window_epochs": WINDOW,
            "epoch_s": self.epoch_s,
            "bedtime_h": round(self.bedtime_h, 2),
            "wake_h": round(self.wake_h, 2),
            "note": "agreement = share of epochs where the scored state matched the true state",
        }
