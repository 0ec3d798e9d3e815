"""Many simulated devices stepped together: a :class:`Ward`, and a :class:`HospitalSimulator` of wards.

All bedside monitors of a ward are stepped at once by one vectorised
:class:`~medtwin.devices.monitor.MonitorBank`; the low-rate devices (environment, activity,
medication records, wearables) sit in a priority queue on their next due time, so a step only
touches the devices that have something to send. ``step(t)`` returns one :class:`DeviceBatch`
per device with output at ``t``: what one MQTT message carries.

:meth:`Ward.generate` builds a ward of synthetic patients from one seed: a scenario mix (mostly
stable, some deteriorating with random onset and severity), one environment sensor per room,
a medication record and a movement sensor per bed, optionally arterial lines and wearable bands.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from medtwin.devices.activity import ActivitySensor
from medtwin.devices.base import DeviceBatch, epoch, iso
from medtwin.devices.environment import EnvironmentSensor, HvacFault
from medtwin.devices.medication import (
    MedicationOrder,
    MedicationRecorder,
    paracetamol,
    piperacillin_tazobactam,
    tranexamic_acid,
)
from medtwin.devices.monitor import BedsideMonitor, MonitorBank, MonitorConfig
from medtwin.devices.scenarios import Scenario, ScenarioKind, haemorrhage_max_fraction
from medtwin.devices.truth import truth_for_bank
from medtwin.devices.wearable import WearableBand

__all__ = ["DEFAULT_MIX", "DeviceBatch", "HospitalSimulator", "Ward"]

DEFAULT_MIX: dict[str, float] = {
    "stable": 0.85,
    "sepsis": 0.06,
    "haemorrhage": 0.04,
    "respiratory_failure": 0.05,
}


class Ward:
    def __init__(
        self, devices: Sequence[Any], *, ward_id: str = "ward", start: datetime | None = None
    ) -> None:
        if not devices:
            raise ValueError("a ward needs at least one device")
        ids = [d.device_id for d in devices]
        if len(set(ids)) != len(ids):
            raise ValueError("device ids must be unique")
        self.ward_id = ward_id
        self.monitors = [d for d in devices if isinstance(d, BedsideMonitor)]
        self.others = [d for d in devices if not isinstance(d, BedsideMonitor)]
        self.bank = MonitorBank(self.monitors) if self.monitors else None
        self.start = start or min(d.start for d in devices)
        self._queue = [(d.next_due(), i) for i, d in enumerate(self.others)]
        heapq.heapify(self._queue)

    @property
    def devices(self) -> list[Any]:
        return [*self.monitors, *self.others]

    def step(self, t: datetime) -> list[DeviceBatch]:
        """Output of every device at ``t``; call with non-decreasing times."""
        out: list[DeviceBatch] = []
        if self.bank is not None:
            for m, rows in zip(self.monitors, self.bank.step(t), strict=True):
                if rows:
                    out.append(DeviceBatch(m.device_id, m.patient_id, t, "obs", rows))
        ts, done = epoch(t), []
        while self._queue and self._queue[0][0] <= ts:
            _, i = heapq.heappop(self._queue)
            d = self.others[i]
            items = d.step(t)
            if items:
                if d.kind == "med":
                    out.append(DeviceBatch(d.device_id, d.patient_id, t, "med", medications=items))
                else:
                    out.append(DeviceBatch(d.device_id, d.patient_id, t, "obs", readings=items))
            done.append(i)
        for i in done:
            heapq.heappush(self._queue, (max(self.others[i].next_due(), ts + 1e-3), i))
        return out

    def run(self, end: datetime, step_s: float = 1.0) -> Iterator[tuple[datetime, list[DeviceBatch]]]:
        t = self.start
        while t <= end:
            yield t, self.step(t)
            t += timedelta(seconds=step_s)

    def ground_truth(self, end: datetime, resolution_s: float = 5.0) -> dict[str, Any]:
        """Ground truth of every device, as JSON-ready data."""
        mons = truth_for_bank(self.bank, end, resolution_s) if self.bank is not None else []
        return {
            "ward": self.ward_id,
            "start": iso(epoch(self.start)),
            "end": iso(epoch(end)),
            "resolution_s": resolution_s,
            "monitors": [g.as_dict() for g in mons],
            "devices": [d.ground_truth(end) for d in self.others],
        }

    @classmethod
    def generate(
        cls,
        n_beds: int,
        *,
        start: datetime,
        seed: int = 0,
        ward_id: str = "w1",
        mix: Mapping[str, float] | None = None,
        onset_window_h: tuple[float, float] = (1.0, 8.0),
        severity_range: tuple[float, float] = (0.6, 1.0),
        beds_per_room: int = 4,
        arterial_fraction: float = 0.0,
        monitor_config: MonitorConfig | None = None,
        environment: bool = True,
        hvac_fault: HvacFault | None = None,
        medications: bool = True,
        activity: bool = True,
        wearables: bool = False,
    ) -> Ward:
        """A ward of ``n_beds`` synthetic patients, fully determined by ``seed``."""
        if n_beds < 1 or beds_per_room < 1:
            raise ValueError("n_beds and beds_per_room must be >= 1")
        mix = dict(mix or DEFAULT_MIX)
        kinds = [ScenarioKind(k) for k in mix]
        p = np.array([mix[k] for k in mix], dtype=np.float64)
        if (p < 0).any() or p.sum() <= 0:
            raise ValueError("mix weights must be >= 0 with a positive sum")
        rng = np.random.default_rng(seed & ((1 << 64) - 1))
        base = monitor_config or MonitorConfig()
        devices: list[Any] = []
        for bed in range(1, n_beds + 1):
            # the same draws for every bed whatever the options, so options never change the patients
            pseed = int(rng.integers(1 << 62))
            kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
            onset = float(rng.uniform(*onset_window_h)) * 3600.0
            severity = float(rng.uniform(*severity_range))
            art_u, para_u = rng.random(2)
            scenario = Scenario() if kind is ScenarioKind.STABLE else Scenario(kind, onset, severity)
            cfg = replace(base, arterial=True, nibp_interval_s=None) if art_u < arterial_fraction else base
            pid = f"{ward_id}-pt-{bed:03d}"
            mon = BedsideMonitor(
                f"{ward_id}-mon-{bed:03d}", pseed, scenario, start, patient_id=pid, config=cfg
            )
            devices.append(mon)
            if medications:
                orders = [paracetamol(float(para_u) * 6 * 3600.0), *_scenario_orders(mon)]
                devices.append(MedicationRecorder(f"{ward_id}-mar-{bed:03d}", pid, pseed + 1, start, orders))
            if activity:
                devices.append(ActivitySensor(f"{ward_id}-act-{bed:03d}", pseed + 2, start, patient_id=pid))
            if wearables:
                devices.append(
                    WearableBand(
                        f"{ward_id}-band-{bed:03d}",
                        pseed,
                        scenario,
                        start,
                        patient_id=pid,
                        profile=mon.profile,
                    )
                )
        if environment:
            env_rng = np.random.default_rng([seed & ((1 << 64) - 1), 1])
            for room in range(1, (n_beds + beds_per_room - 1) // beds_per_room + 1):
                devices.append(
                    EnvironmentSensor(
                        f"{ward_id}-env-{room:02d}",
                        int(env_rng.integers(1 << 62)),
                        start,
                        room_id=f"{ward_id}-room-{room:02d}",
                        fault=hvac_fault if room == 1 else None,
                    )
                )
        return cls(devices, ward_id=ward_id, start=start)


def _scenario_orders(mon: BedsideMonitor) -> list[MedicationOrder]:
    """Treatment a ward team would start once the deterioration is recognised."""
    sc = mon.scenario
    if sc.kind is ScenarioKind.SEPSIS and not sc.is_stable:
        horizon = mon.start + timedelta(seconds=sc.onset_s + sc.duration_s + 7200)
        first = mon.ground_truth(horizon, resolution_s=60.0).first("news2>=5")
        recognised = (first - mon.start).total_seconds() if first else sc.onset_s + sc.duration_s / 2
        return [piperacillin_tazobactam(recognised + 2700.0)]
    if sc.kind is ScenarioKind.HAEMORRHAGE and not sc.is_stable:
        fmax = float(haemorrhage_max_fraction(sc.severity))
        if fmax >= 0.15:
            return [tranexamic_acid(sc.onset_s + sc.duration_s * 0.15 / fmax + 1200.0)]
    return []


class HospitalSimulator:
    """Several wards stepped together (each keeps its own vectorised monitor bank)."""

    def __init__(self, wards: Sequence[Ward]) -> None:
        if not wards:
            raise ValueError("at least one ward")
        self.wards = list(wards)
        self.start = min(w.start for w in self.wards)

    @classmethod
    def generate(
        cls, n_wards: int, beds_per_ward: int, *, start: datetime, seed: int = 0, **ward_kw: Any
    ) -> HospitalSimulator:
        rng = np.random.default_rng(seed & ((1 << 64) - 1))
        return cls(
            [
                Ward.generate(
                    beds_per_ward,
                    start=start,
                    seed=int(rng.integers(1 << 62)),
                    ward_id=f"w{w + 1}",
                    **ward_kw,
                )
                for w in range(n_wards)
            ]
        )

    @property
    def devices(self) -> list[Any]:
        return [d for w in self.wards for d in w.devices]

    def step(self, t: datetime) -> list[DeviceBatch]:
        return [b for w in self.wards for b in w.step(t)]

    def run(self, end: datetime, step_s: float = 1.0) -> Iterator[tuple[datetime, list[DeviceBatch]]]:
        t = self.start
        while t <= end:
            yield t, self.step(t)
            t += timedelta(seconds=step_s)

    def ground_truth(self, end: datetime, resolution_s: float = 5.0) -> dict[str, Any]:
        return {"wards": [w.ground_truth(end, resolution_s) for w in self.wards]}
