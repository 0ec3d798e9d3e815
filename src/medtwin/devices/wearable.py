"""Simulated wearable band (wrist PPG): heart rate and SpO2 once a minute, battery level, running
on the same patient physiology and scenarios as the bedside monitor.

Wrist photoplethysmography is less accurate than a bedside monitor, above all during movement
(Bent et al., "Investigating sources of inaccuracy in wearable optical heart rate sensors",
npj Digit Med 2020;3:18): here HR error sd 3/min and SpO2 sd 1.5 %, and 5 % of the minutes give
no reading at all (poor skin contact; the band sends nothing for them).

Battery: the level falls linearly from its start value over ``battery_life_h``; it is reported
every ``battery_interval_s`` (default 10 min) as ``battery`` (%), with ``"flag": "low-battery"``
at or below ``low_battery_pct`` (default 20 %, the urgent level Nightscout uses for uploader
batteries). At 0 % the band stops sending anything until ``recharge`` is called. The ground
truth holds the times the battery went low and flat.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from medtwin.core.clock import Clock
from medtwin.devices.base import boundaries, epoch, iso, next_boundary, phase_s
from medtwin.devices.monitor import BedsideMonitor, MonitorConfig
from medtwin.devices.patient import PatientProfile, sample_profile
from medtwin.devices.physiology import Cohort, true_state
from medtwin.devices.rng import normals, seed_key, stream_id, uniforms
from medtwin.devices.scenarios import Scenario

_S_BAND, _S_BAT = stream_id("band"), stream_id("battery")


class WearableBand:
    kind: ClassVar[str] = "obs"

    def __init__(
        self,
        device_id: str,
        patient_seed: int,
        scenario: Scenario | None = None,
        start: datetime | None = None,
        *,
        patient_id: str | None = None,
        interval_s: float = 60.0,
        battery_start_pct: float | None = None,
        battery_life_h: float = 48.0,
        low_battery_pct: float = 20.0,
        battery_interval_s: float = 600.0,
        profile: PatientProfile | None = None,
        clock: Clock | None = None,
    ) -> None:
        if start is None:
            if clock is None:
                raise ValueError("give a start time or a clock")
            start = clock.now()
        self.device_id, self.patient_id, self.start, self.clock = device_id, patient_id, start, clock
        self.patient_seed = patient_seed
        self.profile = profile or sample_profile(patient_seed)
        self.scenario = scenario or Scenario.stable()
        self.interval_s, self.battery_interval_s = interval_s, battery_interval_s
        self.low_battery_pct, self.battery_life_s = low_battery_pct, battery_life_h * 3600.0
        key = seed_key(patient_seed)
        self._key = key
        u = float(uniforms(np.array([key], dtype=np.uint64), 0, _S_BAT, 1)[0, 0])
        self.battery_start = 30.0 + 70.0 * u if battery_start_pct is None else battery_start_pct
        self._cohort = Cohort.build([self.profile], [self.scenario], [start])
        self._t0 = epoch(start)
        self._charged_at, self._charge_level = self._t0, self.battery_start
        self._origin = self._t0 + phase_s(key, interval_s)
        self._last = self._t0 - 1e-6

    def battery(self, ts: float) -> float:
        """Battery level (%) at epoch seconds ``ts``."""
        used = (ts - self._charged_at) / self.battery_life_s * 100.0
        return max(0.0, min(100.0, self._charge_level - used))

    def _flat_at(self) -> float:
        return self._charged_at + self._charge_level / 100.0 * self.battery_life_s

    def recharge(self, t: datetime, level_pct: float = 100.0) -> None:
        """Someone charged (or swapped) the band at ``t``."""
        self._charged_at, self._charge_level = epoch(t), level_pct

    def readings_at(self, times: list[float], battery_times: list[float]) -> list[dict[str, Any]]:
        out: list[tuple[float, dict[str, Any]]] = []
        live = [ts for ts in times if self.battery(ts) > 0]
        if live:
            t = np.asarray(live)
            s = true_state(self._cohort, t)
            keys = np.full(t.shape, self._key, dtype=np.uint64)
            ctr = np.rint(t).astype(np.int64)
            z = normals(keys, ctr, _S_BAND, 2)
            gap = uniforms(keys, ctr, _S_BAND + 1, 1)[:, 0] < 0.05
            hr = np.clip(np.rint(s["hr"][:, 0] + 3.0 * z[:, 0]), 25, 250).astype(np.int64).tolist()
            spo2 = np.clip(np.rint(s["spo2"][:, 0] + 1.5 * z[:, 1]), 50, 100).astype(np.int64).tolist()
            for ts, h, o, g in zip(live, hr, spo2, gap.tolist(), strict=True):
                if not g:
                    stamp = iso(ts)
                    out.append((ts, {"code": "hr", "value": h, "unit": "/min", "time": stamp}))
                    out.append((ts, {"code": "spo2", "value": o, "unit": "%", "time": stamp}))
        for ts in battery_times:
            level = self.battery(ts)
            if level <= 0:
                continue
            r: dict[str, Any] = {"code": "battery", "value": math.ceil(level), "unit": "%", "time": iso(ts)}
            if level <= self.low_battery_pct:
                r["flag"] = "low-battery"
            out.append((ts, r))
        return [r for _, r in sorted(out, key=lambda x: x[0])]

    def step(self, t: datetime | None = None) -> list[dict[str, Any]]:
        if t is None:
            if self.clock is None:
                raise ValueError("no time given and no clock injected")
            t = self.clock.now()
        ts = epoch(t)
        times = boundaries(self._last, ts, self._origin, self.interval_s)
        bat = boundaries(self._last, ts, self._origin, self.battery_interval_s)
        self._last = max(self._last, ts)
        return self.readings_at(times, bat)

    def next_due(self) -> float:
        nxt = min(
            next_boundary(self._last, self._origin, self.interval_s),
            next_boundary(self._last, self._origin, self.battery_interval_s),
        )
        return nxt if nxt < self._flat_at() else math.inf

    def ground_truth(self, end: datetime) -> dict[str, Any]:
        """Battery events and the patient's physiological events (same rules as the monitor)."""
        t_end = epoch(end)
        low_at = self._charged_at + (self._charge_level - self.low_battery_pct) / 100.0 * self.battery_life_s
        flat_at = self._flat_at()
        quiet = MonitorConfig(
            nibp_interval_s=None,
            artifact_rate_per_h=0.0,
            lead_off_per_h=0.0,
            spo2_off_per_h=0.0,
            temp_off_per_h=0.0,
            cuff_off_per_h=0.0,
            acvpu_interval_s=None,
        )
        twin = BedsideMonitor(
            self.device_id,
            self.patient_seed,
            self.scenario,
            self.start,
            patient_id=self.patient_id,
            config=quiet,
            profile=self.profile,
        )
        physio = twin.ground_truth(end, resolution_s=self.interval_s).as_dict()
        return {
            "device": self.device_id,
            "patient": self.patient_id,
            "battery_start_pct": round(self._charge_level, 1),
            "low_battery": iso(max(low_at, self._charged_at)) if low_at <= t_end else None,
            "battery_depleted": iso(flat_at) if flat_at <= t_end else None,
            "scenario": physio["scenario"],
            "onset": physio["onset"],
            "crossings": physio["crossings"],
        }
