"""The synthetic log's per-day simulation: a lean event loop (heapq) over one clinic day.

Days are independent (the department empties every evening), so the generator runs them in
parallel worker processes, each with its own seed derived from (seed, day number): the output is
the same whatever the number of workers. The loop is written for speed (millions of events in
minutes): plain lists, pre-sampled service times, no object per event. Queues are FIFO
multi-server queues whose number of servers follows the hourly roster; a server that goes off
shift finishes its patient first; after a station has opened, one server stays on (overtime)
so patients who arrive late are still served the same day.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from medtwin.services.operations.genconfig import WEEKDAYS, Bottleneck, GeneratorConfig, StationSpec

ARR, EXIT = 0, 1  # station indices of the instant car-park events


@dataclass
class Plan:
    """Everything a worker needs, picklable: stations, rooms, distances, rosters."""

    labels: list[str]  # station index -> activity label
    roles: dict[str, int]  # registration/lab/imaging/payment/pharmacy -> station index
    dept_station: list[int]  # department index -> consultation station index
    dept_shares: np.ndarray
    dept_probs: np.ndarray  # (departments, 4): lab, imaging, followup, pharmacy
    dept_names: list[str]
    server_room: list[list[int]]  # station -> room index per server
    server_res: list[list[int]]  # station -> resource index per server
    target_room: list[int]  # station -> room a patient walks to
    svc: list[tuple[float, float, float, float]]  # station -> (mu, sigma, mu_followup, sigma_followup)
    roster_weekday: list[list[int]]  # station -> 24 staff counts Mon-Fri
    roster_saturday: list[list[int]]
    walk_m: np.ndarray  # room x room metres
    walk_s: np.ndarray  # room x room seconds at the building's speed
    base_speed: float
    park_room: int
    cfg: GeneratorConfig
    bottlenecks: list[tuple[int, Bottleneck]] = field(default_factory=list)


def _lognormal(mean_min: float, cv: float) -> tuple[float, float]:
    s2 = math.log(1.0 + cv * cv)
    return math.log(mean_min * 60.0) - s2 / 2.0, math.sqrt(s2)


def hours_roster(spec: list[list[int]], servers: int) -> list[int]:
    caps = [0] * 24
    for h0, h1, n in spec:
        for h in range(int(h0), int(h1)):
            caps[h] = min(int(n), servers)
    return caps


def station_params(st: StationSpec) -> tuple[float, float, float, float]:
    mu, sg = _lognormal(st.service_min, st.service_cv)
    fu = st.followup_service_min or st.service_min
    mu2, sg2 = _lognormal(fu, st.service_cv)
    return mu, sg, mu2, sg2


def day_rosters(plan: Plan, day: date) -> list[list[int]]:
    wd = day.weekday()
    base = plan.roster_weekday if wd < 5 else plan.roster_saturday if wd == 5 else None
    out = [[0] * 24 for _ in plan.labels] if base is None else [list(r) for r in base]
    for s, b in plan.bottlenecks:
        if b.staff_delta and b.active(day):
            n = len(plan.server_room[s])
            for h in range(b.hours[0], b.hours[1]):
                if out[s][h] > 0:
                    out[s][h] = max(0, min(n, out[s][h] + b.staff_delta))
    return out


def simulate_day(plan: Plan, day: date, day_no: int, n: int, truth: dict[str, Any]) -> dict[str, list[Any]]:
    """One clinic day with ``n`` patients -> event columns (local case index, times in seconds)."""
    cfg = plan.cfg
    rng = np.random.default_rng([cfg.seed, day_no])
    ev: dict[str, list[Any]] = {k: [] for k in ("case", "act", "start", "end", "res", "loc", "dept")}
    if n == 0:
        return ev
    hours = np.array(sorted(cfg.hour_profile))
    w = np.array([cfg.hour_profile[h] for h in hours], dtype=float)
    arr = np.sort(rng.choice(hours, n, p=w / w.sum()) * 3600.0 + rng.random(n) * 3600.0)
    dept = rng.choice(len(plan.dept_names), n, p=plan.dept_shares)
    u = rng.random((n, 6))
    speed = np.clip(rng.normal(cfg.walking_speed, 0.2, n), 0.5, 1.8)
    nst = len(plan.labels)
    # pre-sampled service times per station (first visit, follow-up)
    svc = [
        (rng.lognormal(p[0], p[1], 3 * n + 8).tolist(), rng.lognormal(p[2], p[3], n + 8).tolist())
        for p in plan.svc
    ]
    ptr = [[0, 0] for _ in range(nst)]
    R = plan.roles
    reg, lab, img, pay, pha = R["registration"], R["lab"], R["imaging"], R["payment"], R["pharmacy"]
    paths: list[list[tuple[int, int]]] = []  # (station, follow-up flag)
    for i in range(n):
        d = int(dept[i])
        pl, pi, pf, pp = plan.dept_probs[d]
        c = plan.dept_station[d]
        p = [(ARR, 0), (reg, 0), (c, 0)]
        if u[i, 4] < cfg.reregistration:
            p.append((reg, 0))
        tests = False
        if u[i, 0] < pl:
            p.append((lab, 0))
            if u[i, 5] < cfg.lab_redraw:
                p.append((lab, 0))
            tests = True
        if u[i, 1] < pi:
            p.append((img, 0))
            tests = True
        if tests and u[i, 2] < pf:
            p.append((c, 1))
        p.append((pay, 0))
        if u[i, 3] < pp:
            p.append((pha, 0))
        p.append((EXIT, 0))
        paths.append(p)
    delays = {s: b for s, b in plan.bottlenecks if b.delay_min > 0 and b.active(day)}
    roster = day_rosters(plan, day)
    open_h = [next((h for h in range(24) if r[h] > 0), 99) for r in roster]
    cap = [0] * nst
    busy = [[False] * len(plan.server_room[s]) for s in range(nst)]
    queues: list[list[tuple[int, float]]] = [[] for _ in range(nst)]  # FIFO as list + head index
    qhead = [0] * nst
    step = [0] * n
    prev_end = [0.0] * n
    prev_room = [plan.park_room] * n
    heap: list[tuple[float, int, int, int, int]] = []  # (t, seq, kind, patient, server)
    seq = 0
    tr_walk, tr_queue, tr_delay, tr_n = truth["walk"], truth["queue"], truth["delay"], truth["n"]
    walk_m, walk_s, base = plan.walk_m, plan.walk_s, plan.base_speed
    e_case, e_act, e_start, e_end = ev["case"], ev["act"], ev["start"], ev["end"]
    e_res, e_loc, e_dept = ev["res"], ev["loc"], ev["dept"]

    def record(i: int, s: int, t0: float, t1: float, res: int, loc: int) -> None:
        e_case.append(i)
        e_act.append(s)
        e_start.append(t0)
        e_end.append(t1)
        e_res.append(res)
        e_loc.append(loc)
        e_dept.append(int(dept[i]))

    def effective(s: int, h: int) -> int:
        c0 = roster[s][h] if h < 24 else 0
        return c0 if c0 > 0 else (1 if h >= open_h[s] else 0)

    def try_start(s: int, t: float) -> None:
        nonlocal seq
        q = queues[s]
        b = busy[s]
        while qhead[s] < len(q):
            k = next((k for k in range(min(cap[s], len(b))) if not b[k]), -1)
            if k < 0:
                return
            i, t_arr = q[qhead[s]]
            qhead[s] += 1
            b[k] = True
            fu = paths[i][step[i]][1]
            pool = svc[s][fu]
            d_s = pool[ptr[s][fu]]
            ptr[s][fu] += 1
            tr_queue[s] += t - t_arr
            record(i, s, t, t + d_s, plan.server_res[s][k], plan.server_room[s][k])
            seq += 1
            heapq.heappush(heap, (t + d_s, seq, 1, i, k))

    def advance(i: int, t: float) -> None:
        """Patient ``i`` finished a step at ``t``: walk to the next station."""
        nonlocal seq
        step[i] += 1
        s = paths[i][step[i]][0]
        r0 = prev_room[i]
        tgt = plan.park_room if s == EXIT else plan.target_room[s]
        m = walk_m[r0, tgt]
        walk = m / speed[i] + (walk_s[r0, tgt] - m / base)
        t_a = t + walk
        tr_walk[s] += walk
        tr_n[s] += 1
        b = delays.get(s)
        if b is not None and b.hours[0] <= int(t_a // 3600) < b.hours[1]:
            dl = float(rng.exponential(b.delay_min * 60.0))
            tr_delay[s] += dl
            t_a += dl
        if s == EXIT:
            record(i, EXIT, t_a, t_a, -1, plan.park_room)
            return
        seq += 1
        heapq.heappush(heap, (t_a, seq, 0, i, -1))

    for i in range(n):
        t0 = float(arr[i])
        record(i, ARR, t0, t0, -1, plan.park_room)
        tr_n[ARR] += 1
        seq += 1
        heapq.heappush(heap, (t0, seq, 2, i, -1))
    for h in range(25):
        seq += 1
        heapq.heappush(heap, (h * 3600.0, seq, 3, h, -1))
    while heap:
        t, _, kind, i, k = heapq.heappop(heap)
        if kind == 0:  # arrival at a station
            s = paths[i][step[i]][0]
            queues[s].append((i, t))
            try_start(s, t)
        elif kind == 1:  # service done
            s = paths[i][step[i]][0]
            busy[s][k] = False
            prev_end[i] = t
            prev_room[i] = plan.server_room[s][k]
            advance(i, t)
            if qhead[s] < len(queues[s]):
                cap[s] = max(cap[s], effective(s, int(t // 3600)))
                try_start(s, t)
        elif kind == 2:  # car park arrival: leave for registration
            prev_end[i] = t
            advance(i, t)
        else:  # roster tick at hour i
            for s in range(2, nst):
                cap[s] = effective(s, i)
                try_start(s, t)
    return ev


def roster_table(plan: Plan, day: date) -> dict[str, list[int]]:
    return {plan.labels[s]: r for s, r in enumerate(day_rosters(plan, day)) if s >= 2}


__all__ = [
    "ARR",
    "EXIT",
    "WEEKDAYS",
    "Plan",
    "hours_roster",
    "roster_table",
    "simulate_day",
    "station_params",
]
