"""The discrete-event engine: FIFO multi-server stations on a SimPy environment.

SimPy (https://simpy.readthedocs.io, MIT) keeps the event calendar and the clock; a
:class:`Station` is a first-come-first-served queue whose number of servers can change at any
time (hourly rosters; a server going off shift finishes its patient first). Patients move by
callbacks on SimPy timeouts rather than one generator process each, which halves the events per
visit (arrival timeout, service timeout) and makes the engine fast enough for years of days.

Every station keeps the sample-path quantities of Little's law (Little 1961; Stidham 1974): the
area under its number-waiting curve and the total time its customers waited inside the horizon;
:meth:`Station.close` settles customers still waiting at the horizon so that both sides cover
the same interval and :func:`medtwin.models.flow.erlang.littles_law_error` is ~1e-12 on every
run. :func:`simulate_station` is the single-station (M/M/c) check used by ``medtwin flow
station`` and compared with Erlang C in the tests.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import simpy

from medtwin.models.flow.erlang import littles_law_error, mmc
from medtwin.models.flow.stats import mean_ci


class Station:
    """FCFS queue with a variable number of servers. Times in seconds (any unit works)."""

    __slots__ = (
        "_t",
        "area_q",
        "busy",
        "busy_time",
        "cap",
        "cap_time",
        "env",
        "n_arrived",
        "n_started",
        "n_waited",
        "name",
        "queue",
        "roster_time",
        "rostered",
        "sum_wait",
    )

    def __init__(self, env: simpy.Environment, name: str, capacity: int = 0) -> None:
        self.env = env
        self.name = name
        self.cap = capacity
        self.rostered = capacity
        self.busy = 0
        self.queue: deque[tuple[float, float, Callable[[float, float], None]]] = deque()
        self._t = env.now
        self.area_q = 0.0  # ∫ number waiting dt
        self.busy_time = 0.0  # ∫ busy servers dt
        self.cap_time = 0.0  # ∫ servers on duty (incl. overtime) dt
        self.roster_time = 0.0  # ∫ rostered servers dt
        self.sum_wait = 0.0  # Σ waits of customers who started service
        self.n_arrived = 0
        self.n_started = 0
        self.n_waited = 0  # customers who waited > 0

    def _tick(self) -> None:
        now = self.env.now
        dt = now - self._t
        if dt:
            self.area_q += len(self.queue) * dt
            self.busy_time += self.busy * dt
            self.cap_time += self.cap * dt
            self.roster_time += self.rostered * dt
            self._t = now

    def set_capacity(self, servers: int, rostered: int | None = None) -> None:
        self._tick()
        self.cap = servers
        self.rostered = servers if rostered is None else rostered
        self._start()

    def arrive(self, service: float, done: Callable[[float, float], None]) -> None:
        """Join the queue; ``done(wait, end_time)`` is called when the service ends."""
        self._tick()
        self.n_arrived += 1
        self.queue.append((self.env.now, service, done))
        self._start()

    def _start(self) -> None:
        env = self.env
        while self.queue and self.busy < self.cap:
            t_arr, service, done = self.queue.popleft()
            wait = env.now - t_arr
            self.sum_wait += wait
            self.n_started += 1
            if wait > 0:
                self.n_waited += 1
            self.busy += 1
            ev = env.timeout(service)

            def finish(_e: Any, w: float = wait, d: Callable[[float, float], None] = done) -> None:
                self._finish(w, d)

            ev.callbacks.append(finish)

    def _finish(self, wait: float, done: Callable[[float, float], None]) -> None:
        self._tick()
        self.busy -= 1
        done(wait, self.env.now)
        self._start()

    @property
    def waiting(self) -> int:
        return len(self.queue)

    def close(self) -> dict[str, float]:
        """Settle the horizon: customers still waiting count their wait up to now."""
        self._tick()
        pending = sum(self.env.now - t for t, _s, _d in self.queue)
        total_wait = self.sum_wait + pending
        return {
            "arrived": self.n_arrived,
            "served": self.n_started,
            "waited": self.n_waited,
            "sum_wait": self.sum_wait,
            "area_q": self.area_q,
            "busy_time": self.busy_time,
            "cap_time": self.cap_time,
            "roster_time": self.roster_time,
            "little_error": littles_law_error(self.area_q, total_wait),
        }


@dataclass(frozen=True)
class StationRun:
    wait: float  # mean wait of customers after the warm-up
    p_wait: float
    utilisation: float
    served: int
    little_error: float
    seconds: float


def run_station(
    arrival_rate: float, mean_service: float, servers: int, customers: int, seed: int, warmup: float = 0.1
) -> StationRun:
    """One M/M/c replication of ``customers`` arrivals (rates per time unit)."""
    import time

    t0 = time.perf_counter()
    rnd = random.Random(seed)
    env = simpy.Environment()
    st = Station(env, "station", servers)
    skip = int(customers * warmup)
    acc: dict[str, Any] = {"w": 0.0, "n": 0, "k": 0, "i": 0}
    expo, mu = rnd.expovariate, 1.0 / mean_service

    def done(wait: float, _end: float, idx: int) -> None:
        if idx >= skip:
            acc["w"] += wait
            acc["n"] += 1
            if wait > 0:
                acc["k"] += 1

    def arrival(_e: Any = None) -> None:
        i = acc["i"]
        acc["i"] = i + 1

        def served(w: float, t: float, i: int = i) -> None:
            done(w, t, i)

        st.arrive(expo(mu), served)
        if i + 1 < customers:
            env.timeout(expo(arrival_rate)).callbacks.append(arrival)

    env.timeout(expo(arrival_rate)).callbacks.append(arrival)
    env.run()
    res = st.close()
    n = max(acc["n"], 1)
    return StationRun(
        acc["w"] / n,
        acc["k"] / n,
        res["busy_time"] / max(res["cap_time"], 1e-12),
        int(res["served"]),
        res["little_error"],
        time.perf_counter() - t0,
    )


def simulate_station(
    arrivals_per_hour: float,
    service_minutes: float,
    servers: int,
    *,
    patients: int = 10_000,
    replications: int = 10,
    seed: int = 1,
) -> dict[str, Any]:
    """Erlang C and the DES side by side for one station (``medtwin flow station``)."""
    lam = arrivals_per_hour / 60.0
    mu = 1.0 / service_minutes
    a = mmc(lam, mu, servers)
    runs = [
        run_station(lam, service_minutes, servers, patients, seed * 1_000_003 + r)
        for r in range(replications)
    ]
    ci = mean_ci([r.wait for r in runs])

    def finite(x: float) -> float | None:
        return None if math.isinf(x) or math.isnan(x) else round(x, 4)

    return {
        "analytic": {
            "wait_minutes": finite(a.wq),
            "p_wait": round(a.p_wait, 6),
            "utilisation": round(a.utilisation, 6),
        },
        "simulated": {
            "wait_minutes": round(ci.mean, 4),
            "ci95": [finite(ci.lo), finite(ci.hi)],
            "p_wait": round(sum(r.p_wait for r in runs) / len(runs), 4),
            "utilisation": round(sum(r.utilisation for r in runs) / len(runs), 4),
            "replications": replications,
            "patients_per_replication": patients,
            "little_law_max_rel_error": max(r.little_error for r in runs),
        },
    }
