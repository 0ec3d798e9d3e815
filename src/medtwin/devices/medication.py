"""Simulated medication administration record (eMAR / smart-pump events).

Each :class:`MedicationOrder` is a scheduled regimen; the recorder emits one administration per
dose given: drug, dose, unit, route, time, performer (a pseudonymous staff id) and a stable id
for idempotent ingest. Real administration times scatter around the schedule: here by a normal
jitter (sd 10 min) clipped to +-30 min, the window the ISMP "Acute care guidelines for timely
administration of scheduled medications" (2011) allow for time-critical drugs; a small share of
doses is missed (recorded in the ground truth, never sent).

Default regimens (adult doses from the BNF):

* paracetamol 1 g orally every 6 h (BNF: 0.5-1 g every 4-6 h, max 4 g daily) for every patient;
* sepsis: piperacillin with tazobactam 4.5 g IV every 8 h (BNF), first dose within 1 h of
  recognition (Surviving Sepsis Campaign 2021, Evans et al., Crit Care Med 2021;49:e1063;
  NICE NG51), recognition being when NEWS2 first reaches 5 in the patient's ground truth;
* haemorrhage: tranexamic acid 1 g IV within 3 h of injury (CRASH-2, Lancet 2010;376:23), given
  here 20 min after ATLS class II begins, then 1 g over 8 h is modelled as a second dose.

The simulator does not change the physiology in response to drugs (no PK/PD here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from medtwin.core.clock import Clock
from medtwin.devices.base import epoch, iso
from medtwin.devices.rng import seed_key, stream_id, uniforms

_S_MED = stream_id("medication")
PERFORMERS: tuple[str, ...] = tuple(f"rn-{i:02d}" for i in range(1, 13))


@dataclass(frozen=True, slots=True)
class MedicationOrder:
    drug: str
    dose: float
    unit: str
    route: str
    interval_s: float
    first_s: float = 0.0  # first scheduled dose, seconds after the recorder's start
    count: int | None = None  # None: until the end of the simulation

    def __post_init__(self) -> None:
        if self.dose <= 0 or self.interval_s <= 0 or self.first_s < 0:
            raise ValueError("dose and interval_s must be > 0, first_s >= 0")


def paracetamol(first_s: float = 0.0) -> MedicationOrder:
    return MedicationOrder("paracetamol", 1000, "mg", "oral", 6 * 3600.0, first_s)


def piperacillin_tazobactam(first_s: float) -> MedicationOrder:
    return MedicationOrder("piperacillin/tazobactam", 4.5, "g", "intravenous", 8 * 3600.0, first_s)


def tranexamic_acid(first_s: float) -> MedicationOrder:
    return MedicationOrder("tranexamic acid", 1, "g", "intravenous", 8 * 3600.0, first_s, count=2)


class MedicationRecorder:
    """Emits the administrations of ``orders`` for one patient, deterministic by ``seed``."""

    kind: ClassVar[str] = "med"

    def __init__(
        self,
        device_id: str,
        patient_id: str | None,
        seed: int,
        start: datetime | None = None,
        orders: Sequence[MedicationOrder] = (),
        *,
        performers: Sequence[str] = PERFORMERS,
        jitter_sd_s: float = 600.0,
        max_jitter_s: float = 1800.0,
        miss_rate: float = 0.02,
        clock: Clock | None = None,
    ) -> None:
        if start is None:
            if clock is None:
                raise ValueError("give a start time or a clock")
            start = clock.now()
        if not performers:
            raise ValueError("at least one performer id")
        self.device_id, self.patient_id, self.start, self.clock = device_id, patient_id, start, clock
        self.orders = list(orders)
        self.performers = tuple(performers)
        self.jitter_sd_s, self.max_jitter_s, self.miss_rate = jitter_sd_s, max_jitter_s, miss_rate
        self._t0 = epoch(start)
        self._key = seed_key(seed)
        self._last = self._t0 - 1e-6

    def _doses(self, j: int, a: float, b: float) -> list[tuple[float, int, bool, str]]:
        """(time, k, missed, performer) of order j's doses with a < time <= b."""
        o = self.orders[j]
        origin = self._t0 + o.first_s
        k0 = max(0, math.floor((a - self.max_jitter_s - origin) / o.interval_s))
        k1 = math.floor((b + self.max_jitter_s - origin) / o.interval_s)
        if o.count is not None:
            k1 = min(k1, o.count - 1)
        if k1 < k0:
            return []
        ks = np.arange(k0, k1 + 1, dtype=np.int64)
        u = uniforms(np.full(ks.shape, self._key, dtype=np.uint64), ks * 64 + j, _S_MED, 4)
        z = np.sqrt(-2 * np.log(u[:, 0])) * np.cos(2 * np.pi * u[:, 1])
        jitter = np.clip(z * self.jitter_sd_s, -self.max_jitter_s, self.max_jitter_s)
        times = np.maximum(np.rint(origin + ks * o.interval_s + jitter), self._t0)
        out = []
        for t, k, miss, p in zip(
            times.tolist(),
            ks.tolist(),
            (u[:, 2] < self.miss_rate).tolist(),
            (u[:, 3] * len(self.performers)).astype(int).tolist(),
            strict=True,
        ):
            if a < t <= b:
                out.append((t, k, miss, self.performers[p]))
        return out

    def administrations(self, a: float, b: float, *, include_missed: bool = False) -> list[dict[str, Any]]:
        """Administrations with epoch time in (a, b], sorted by time."""
        events = []
        for j, o in enumerate(self.orders):
            for t, k, missed, who in self._doses(j, a, b):
                if missed and not include_missed:
                    continue
                ev: dict[str, Any] = {
                    "id": f"{self.device_id}-{j}-{k}",
                    "drug": o.drug,
                    "dose": o.dose,
                    "unit": o.unit,
                    "route": o.route,
                    "time": iso(t),
                    "performer": who,
                }
                if include_missed:
                    ev["missed"] = missed
                events.append((t, ev))
        return [ev for _, ev in sorted(events, key=lambda x: x[0])]

    def step(self, t: datetime | None = None) -> list[dict[str, Any]]:
        if t is None:
            if self.clock is None:
                raise ValueError("no time given and no clock injected")
            t = self.clock.now()
        ts = epoch(t)
        out = self.administrations(self._last, ts) if ts > self._last else []
        self._last = max(self._last, ts)
        return out

    def next_due(self) -> float:
        best = math.inf
        for j, o in enumerate(self.orders):
            horizon = self._last + o.interval_s + 2 * self.max_jitter_s
            doses = [d[0] for d in self._doses(j, self._last, horizon) if not d[2]]
            best = min(best, min(doses) if doses else horizon)  # nothing yet: look again later
        return best

    def ground_truth(self, end: datetime) -> dict[str, Any]:
        return {
            "device": self.device_id,
            "patient": self.patient_id,
            "administrations": self.administrations(self._t0 - 1e-6, epoch(end), include_missed=True),
        }
