"""The outpatient flow network simulated day by day on the DES engine (:mod:`.des`).

A :class:`FlowModel` is data only (JSON round-trip), built from a log by
:mod:`medtwin.services.operations.calibrate` and edited by what-if scenarios:

* arrivals: a non-homogeneous Poisson process, mean arrivals per (weekday, hour) of an open
  day, times a day factor drawn from the log's own open days (seasonality, holidays, trends);
  or, under an appointment plan, evenly spaced slots with normally distributed unpunctuality;
* routing: a Markov chain on states "activity#k" (k-th occurrence of the activity in the
  journey, capped at 3), so a follow-up consultation routes differently from the first;
* stages: fitted service distributions per state, the rooms where the activity happens (with
  their frequencies), an optional extra delay (waiting not explained by queueing), and the
  resource pool serving it; stages without a pool are pure delays;
* pools: hourly rosters per weekday; after opening, one server stays on while patients wait;
* walking: room-to-room seconds and metres from the building graph.

A replication simulates the given days independently (the department empties every evening)
with one ``random.Random`` per patient, so baseline and what-if runs share their random numbers
patient by patient (common random numbers, Law 2015 §11.2).
"""

from __future__ import annotations

import bisect
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from medtwin.models.flow.des import Station
from medtwin.models.flow.stats import Fit

START, END = "▶", "■"


@dataclass
class Stage:
    activity: str
    pool: str | None
    service: dict[str, Fit]  # state key ("Activity#1") or "*" -> fit (seconds)
    rooms: list[tuple[str, float]] = field(default_factory=list)  # room, probability
    delay_s: float = 0.0  # mean extra exponential delay before the service


@dataclass
class FlowModel:
    stages: dict[str, Stage]
    routing: dict[str, tuple[list[str], list[float]]]  # state -> next states, cumulative probs
    arrivals: list[list[float]]  # [weekday][hour] mean arrivals on an open day
    days: list[tuple[int, float]]  # the log's open days: (weekday, factor)
    rosters: dict[str, list[list[int]]]  # pool -> [weekday][hour] servers
    rooms: list[str]
    walk_s: list[list[float]]
    walk_m: list[list[float]]
    appointments: dict[str, Any] | None = None  # {"start_h", "end_h", "unpunctuality_min"}
    kiosks: list[dict[str, Any]] = field(default_factory=list)  # diversions to a new stage
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for s in d["stages"].values():
            s["service"] = {k: f for k, f in s["service"].items()}
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> FlowModel:
        stages = {
            k: Stage(
                v["activity"],
                v["pool"],
                {sk: Fit.from_dict(f) for sk, f in v["service"].items()},
                [tuple(x) for x in v.get("rooms", [])],
                float(v.get("delay_s", 0.0)),
            )
            for k, v in d["stages"].items()
        }
        routing = {k: (list(v[0]), list(v[1])) for k, v in d["routing"].items()}
        return FlowModel(
            stages,
            routing,
            d["arrivals"],
            [tuple(x) for x in d["days"]],
            d["rosters"],
            d["rooms"],
            d["walk_s"],
            d["walk_m"],
            d.get("appointments"),
            d.get("kiosks", []),
            d.get("meta", {}),
        )


def activity_of(state: str) -> str:
    return state.rsplit("#", 1)[0]


class _DayRun:
    """One simulated day; accumulates into ``acc`` (shared across the replication's days)."""

    def __init__(self, m: FlowModel, weekday: int, factor: float, seed: int, acc: dict[str, Any]) -> None:
        self.m, self.acc = m, acc
        self.env = simpy.Environment()
        self.room_ix = {r: i for i, r in enumerate(m.rooms)}
        self.stations = {p: Station(self.env, p) for p in m.rosters}
        self.weekday = weekday
        rnd = random.Random(seed)
        self.seed = seed
        rates = m.arrivals[weekday]
        times: list[float] = []
        if m.appointments:
            a = m.appointments
            n = _poisson(rnd, sum(rates) * factor)
            h0, h1 = float(a["start_h"]), float(a["end_h"])
            sd = float(a.get("unpunctuality_min", 5.0)) * 60
            slot = (h1 - h0) * 3600 / max(n, 1)
            times = sorted(max(0.0, h0 * 3600 + (i + 0.5) * slot + rnd.gauss(0, sd)) for i in range(n))
        else:
            for h, lam in enumerate(rates):
                k = _poisson(rnd, lam * factor)
                times.extend(h * 3600 + rnd.random() * 3600 for _ in range(k))
            times.sort()
        self.opened: dict[str, bool] = dict.fromkeys(m.rosters, False)
        for p in m.rosters:
            for h in range(25):

                def roster(_e: Any, p: str = p, h: int = h) -> None:
                    self._roster(p, h)

                self.env.timeout(h * 3600).callbacks.append(roster)
        for i, t in enumerate(times):

            def start(_e: Any, i: int = i, t: float = t) -> None:
                self._start_journey(i, t)

            self.env.timeout(t).callbacks.append(start)
        self.n = len(times)

    def _roster(self, pool: str, h: int) -> None:
        st = self.stations[pool]
        n = self.m.rosters[pool][self.weekday][h] if h < 24 else 0
        if n > 0:
            self.opened[pool] = True
        on_call = 1 if (n == 0 and self.opened[pool]) else 0
        st.set_capacity(max(n, on_call), rostered=n)

    def _start_journey(self, i: int, t: float) -> None:
        rnd = random.Random(self.seed * 7_919 + i)
        p = {"rnd": rnd, "state": START, "room": None, "t0": t, "metres": 0.0}
        self.acc["journeys"] += 1
        self._next(p, t)

    def _next(self, p: dict[str, Any], t: float) -> None:
        rnd: random.Random = p["rnd"]
        nxt, cum = self.m.routing.get(p["state"], ([END], [1.0]))
        state = nxt[min(bisect.bisect_left(cum, rnd.random() * cum[-1]), len(nxt) - 1)]
        if state == END:
            self.acc["journey_s"] += t - p["t0"]
            self.acc["metres"] += p["metres"]
            return
        act = activity_of(state)
        stage = self.m.stages[act]
        for k in self.m.kiosks:
            if k["activity"] == act and rnd.random() < k["share"]:
                stage = self.m.stages[k["stage"]]
                act = stage.activity
                break
        first = p["state"] == START  # the journey's first activity has no waiting before it
        p["state"] = state
        room = _pick_room(rnd, stage.rooms)
        walk = 0.0
        if room is not None and p["room"] is not None:
            a, b = self.room_ix[p["room"]], self.room_ix[room]
            walk = self.m.walk_s[a][b]
            p["metres"] += self.m.walk_m[a][b]
        if room is not None:
            p["room"] = room
        delay = rnd.expovariate(1.0 / stage.delay_s) if stage.delay_s > 0 else 0.0
        fit = stage.service.get(state) or stage.service["*"]
        service = _sample(rnd, fit)
        st = (
            self.acc["stage"].setdefault(act, [0, 0.0, 0.0, 0.0, 0.0]) if not first else []
        )  # visits, wait, queue, walk, service
        pre = walk + delay

        def done(queue_wait: float, end: float) -> None:
            if first:
                self._next(p, end)
                return
            st[0] += 1
            st[1] += pre + queue_wait
            st[2] += queue_wait
            st[3] += walk
            st[4] += service
            self._next(p, end)

        def arrive(_e: Any = None) -> None:
            if stage.pool is None:
                self.env.timeout(service).callbacks.append(lambda _e: done(0.0, self.env.now))
            else:
                self.stations[stage.pool].arrive(service, done)

        if pre > 0:
            self.env.timeout(pre).callbacks.append(arrive)
        else:
            arrive()

    def run(self) -> None:
        self.env.run()
        for name, st in self.stations.items():
            r = st.close()
            a = self.acc["pool"].setdefault(name, {"busy": 0.0, "roster": 0.0, "little": 0.0, "served": 0})
            a["busy"] += r["busy_time"]
            a["roster"] += r["roster_time"]
            a["served"] += int(r["served"])
            a["little"] = max(a["little"], r["little_error"])


def _poisson(rnd: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:  # normal approximation is plenty for day totals of hundreds
        return max(0, round(rnd.gauss(lam, lam**0.5)))
    import math

    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


def _pick_room(rnd: random.Random, rooms: list[tuple[str, float]]) -> str | None:
    if not rooms:
        return None
    u = rnd.random()
    acc = 0.0
    for r, pr in rooms:
        acc += pr
        if u < acc:
            return r
    return rooms[-1][0]


def _sample(rnd: random.Random, f: Fit) -> float:
    if f.p_zero and rnd.random() < f.p_zero:
        return 0.0
    p = f.params
    if f.family == "lognormal":
        return rnd.lognormvariate(p["mu"], p["sigma"])
    if f.family == "gamma":
        return rnd.gammavariate(p["shape"], p["scale"])
    if f.family == "exponential":
        return rnd.expovariate(1.0 / p["mean"]) if p["mean"] > 0 else 0.0
    return float(p.get("value", 0.0))


def run_replication(m: FlowModel, days: list[tuple[int, float]], seed: int) -> dict[str, Any]:
    """Simulate ``days`` (weekday, factor) and return totals per stage and pool."""
    acc: dict[str, Any] = {"journeys": 0, "journey_s": 0.0, "metres": 0.0, "stage": {}, "pool": {}}
    for d, (wd, factor) in enumerate(days):
        _DayRun(m, wd, factor, seed * 100_003 + d, acc).run()
    acc["days"] = len(days)
    return acc
