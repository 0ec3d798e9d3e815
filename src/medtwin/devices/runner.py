"""Pace a simulation to the wall clock in a background thread (live demo, load tests).

:class:`SimulationRunner` steps ``sim`` (a :class:`~medtwin.devices.ward.Ward`, a
:class:`~medtwin.devices.ward.HospitalSimulator`, anything with ``start`` and ``step(t)``) every
``step_s`` simulated seconds, ``speed`` times faster than real time (``math.inf``: as fast as
possible), and hands each step's batches to ``publish_fn``. If publishing falls behind by more
than ``max_lag_s`` simulated seconds, the runner skips ahead rather than building an ever-growing
backlog, and counts the skipped steps. A failing ``publish_fn`` is logged and counted; the
runner keeps going (a broker outage must not kill the demo).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from medtwin.devices.base import DeviceBatch

log = logging.getLogger(__name__)


class Steppable(Protocol):
    start: datetime

    def step(self, t: datetime) -> list[DeviceBatch]: ...


@dataclass(slots=True)
class RunnerStats:
    steps: int = 0
    batches: int = 0
    readings: int = 0
    skipped_steps: int = 0
    errors: int = 0
    last_error: str | None = None
    sim_time: datetime | None = None


class SimulationRunner:
    def __init__(
        self,
        sim: Steppable,
        publish_fn: Callable[[Sequence[DeviceBatch]], Any],
        speed: float = 1.0,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        step_s: float = 1.0,
        max_lag_s: float = 60.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be > 0 (math.inf: as fast as possible)")
        if step_s <= 0:
            raise ValueError("step_s must be > 0")
        self.sim, self.publish_fn, self.speed = sim, publish_fn, speed
        self.start_time = start or sim.start
        self.end, self.step_s, self.max_lag_s, self._wall = end, step_s, max_lag_s, wall
        self.stats = RunnerStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SimulationRunner:
        if self.running:
            raise RuntimeError("runner already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="medtwin-sim-runner", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> SimulationRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        k = 0  # steps since start_time
        w0 = self._wall()
        while not self._stop.is_set():
            t = self.start_time + timedelta(seconds=k * self.step_s)
            if self.end is not None and t > self.end:
                break
            if math.isfinite(self.speed):
                delay = w0 + k * self.step_s / self.speed - self._wall()
                if delay > 0:
                    if self._stop.wait(delay):
                        break
                    continue
                behind = -delay * self.speed
                if behind > self.max_lag_s:
                    skip = int(behind // self.step_s)
                    self.stats.skipped_steps += skip
                    k += skip
                    continue
            batches = self.sim.step(t)
            try:
                self.publish_fn(batches)
            except Exception as exc:  # keep the simulation alive through transport failures
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("publish failed at %s: %s", t.isoformat(), self.stats.last_error)
            self.stats.steps += 1
            self.stats.batches += len(batches)
            self.stats.readings += sum(len(b.readings) + len(b.medications) for b in batches)
            self.stats.sim_time = t
            k += 1
