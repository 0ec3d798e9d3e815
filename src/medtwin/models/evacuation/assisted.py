"""Staff-assisted evacuation: staff are resources that walk to a patient, prepare, move the bed or
evacuation chair at device speed to safety, and come back for the next one.

Each bed-bound or critical patient is a *job* needing a device and a team
(:data:`~medtwin.models.evacuation.classes.ASSIST`: bed 2 staff, critical bed 3, evacuation chair
1 on stairs). Jobs are served in order of urgency: first the patients whose room turns untenable
soonest, then the quicker jobs (bed-bound before critical), then in the order of the census (the
scenario's agents; a pseudonym never decides, so results do not depend on who asks). For each job
the team is the set of free staff who can be at the bed first (each from where their last job
left them, walking at their own speed); the move starts when the last of them arrives (and not
before the alarm plus the staff response time), takes the preparation time, then the route at
the device's speed (slowed by smoke as people are), stairs at the device's stair speed. This is
list scheduling (a greedy heuristic, not an optimum): the order is the one the module states, so
results are reproducible and explainable.

Patients who cannot be carried down the stairs (critical, ventilated) leave an upper floor by an
evacuation lift (:mod:`.lifts`: the car is a shared resource, one bed per trip, the team rides
along). Those who need a lift that the building does not have, or whose every route is cut off,
are not moved and are reported (``stranded``) rather than given a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from medtwin.models.evacuation.classes import ASSIST, Mobility
from medtwin.models.evacuation.routes import Leg, Route


@dataclass
class Helper:
    key: str
    floor: str
    xy: tuple[float, float]
    speed: float
    free_s: float = 0.0
    moves: int = 0
    busy_s: float = 0.0
    walked_m: float = 0.0
    fed: float = 0.0
    heat: float = 0.0


@dataclass
class Job:
    key: str
    cls: Mobility
    floor: str
    xy: tuple[float, float]
    space: str
    urgency_s: float = math.inf  # when the patient's space turns untenable
    order: int = 0  # place in the census: the last tie-break (never the pseudonym)


@dataclass
class Move:
    patient: str
    staff: list[str]
    device: str
    called_s: float
    arrive_s: float
    start_s: float
    end_s: float
    target: str
    metres: float
    stair_metres: float
    points: list[tuple[str, float, float]] = field(default_factory=list)
    legs: list[Leg] = field(default_factory=list)
    move_fed: float = 0.0  # dose collected during the move (the patient's wait is added by the caller)
    move_heat: float = 0.0


@dataclass
class Plan:
    moves: list[Move]
    stranded: list[tuple[str, str]]  # (patient, reason)
    helpers: list[Helper]


RouteFn = Callable[[Job], Route | None]  # patient to safety (device route)
WalkFn = Callable[[str, tuple[float, float], str, tuple[float, float]], list[Leg] | None]
DoseFn = Callable[
    [list[Leg], float, float], tuple[float, float, float]
]  # legs, start, speed -> fed, heat, seconds
RideFn = Callable[[str, str, float], tuple[float, float, float]]  # lift, to, at -> out at, fed, heat


def schedule(
    jobs: list[Job],
    helpers: list[Helper],
    route_to_safety: RouteFn,
    walk: WalkFn,
    travel: DoseFn,
    *,
    ready_s: float = 0.0,
    ride: RideFn | None = None,
) -> Plan:
    order = sorted(jobs, key=lambda j: (j.urgency_s, 0 if j.cls is Mobility.BED_BOUND else 1, j.order))
    moves: list[Move] = []
    stranded: list[tuple[str, str]] = []
    for job in order:
        needs = ASSIST[job.cls]
        route = route_to_safety(job)
        if route is None:
            stranded.append((job.key, "no route to safety (cut off)"))
            continue
        uses_stairs = any(leg.stairs for leg in route.legs)
        if uses_stairs and needs.stairs_device is None:
            stranded.append((job.key, "needs a lift to leave the floor; the plan has no usable lift "
                                      "(a lift space with speed_m_s and door_s) that reaches it"))  # fmt: skip
            continue
        team_size = max(
            needs.device.staff, needs.stairs_device.staff if uses_stairs and needs.stairs_device else 0
        )
        cands = []
        for h in helpers:
            legs = walk(h.floor, h.xy, job.floor, job.xy)
            if legs is None:
                continue
            fed, heat, secs = travel(legs, max(h.free_s, ready_s), h.speed)
            cands.append((max(h.free_s, ready_s) + secs, h, legs, fed, heat, secs))
        if len(cands) < team_size:
            stranded.append((job.key, f"needs {team_size} staff, {len(cands)} can reach the bed"))
            continue
        cands.sort(key=lambda c: (c[0], c[1].key))
        team = cands[:team_size]
        arrive = max(c[0] for c in team)
        start = arrive + needs.prep_s
        level = [leg for leg in route.legs if not leg.stairs]
        stairs = [leg for leg in route.legs if leg.stairs]
        if route.lift is not None and ride is not None:  # to the lift, the car's trip, on from the lift
            f1, h1, s1 = travel(route.legs[: route.lift_at], start, needs.device.speed_m_s)
            out, fw, hw = ride(*route.lift, start + s1)
            f2, h2, s2 = travel(route.legs[route.lift_at :], out, needs.device.speed_m_s)
            f1, h1, end = f1 + fw, h1 + hw, out + s2
        else:
            f1, h1, s1 = travel(level, start, needs.device.speed_m_s)
            stair_speed = needs.stairs_device.stair_speed_m_s if (stairs and needs.stairs_device) else None
            f2, h2, s2 = travel(stairs, start + s1, stair_speed or needs.device.speed_m_s)
            end = start + s1 + s2
        for c in team:
            h = c[1]
            h.fed += c[3] + f1 + f2
            h.heat += c[4] + h1 + h2
            h.busy_s += c[5] + (end - arrive)
            h.walked_m += sum(x.metres for x in c[2]) + route.metres
            h.moves += 1
            h.free_s, h.floor, h.xy = end, route.end_floor, route.end_xy
        device = (f"{needs.device.name}+lift" if route.lift else needs.device.name if not stairs
                  else f"{needs.device.name}+{needs.stairs_device.name}")  # type: ignore[union-attr]  # fmt: skip
        moves.append(Move(
            job.key, [c[1].key for c in team], device, min(c[0] - c[5] for c in team), arrive, start, end,
            route.target, sum(x.metres for x in level), sum(x.metres for x in stairs), route.points, route.legs,
            f1 + f2, h1 + h2,
        ))  # fmt: skip
    return Plan(moves, stranded, helpers)
