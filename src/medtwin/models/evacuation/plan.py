"""One evacuation run: occupants, strategy, hazards, JuPedSim per floor, staff-assisted moves.

1. Hazards (fire, gas leak) run first in the zone model over ``hazard_horizon_s``; tenability
   gives when each space becomes untenable. Outbreak spaces/compartments are closed throughout.
2. Who moves where: ``full`` sends everyone to the exits (upper floors: to the stairs, then down);
   ``horizontal`` moves the compartments at risk (the fire's or leak's, or those named) into the
   adjacent compartments through the barrier doors (their refuge spaces if any, else the spaces
   beyond the barrier doors); everyone else stays (defend in place) and is still dosed.
3. People who walk (ambulant, walking aid, wheelchair, visitors, staff not needed to help) are
   simulated floor by floor, top floor first: reaching a stair on an upper floor means walking
   down (SFPE stair speed) and joining the floor below from the same stair.
4. Bed-bound and critical patients, and, where stairs are needed, walking-aid and wheelchair
   users, are moved by the floor's staff (:mod:`.assisted`).
5. :mod:`.results` gathers RSET/ASET, times per compartment and exit, door flows, doses, staff
   workload and the heat map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import Point

from medtwin.models.evacuation import assisted as A
from medtwin.models.evacuation import hydraulic as H
from medtwin.models.evacuation.building import Building
from medtwin.models.evacuation.classes import ASSIST, Mobility, draw_speed, radius, stair_speed
from medtwin.models.evacuation.coupling import FloorHooks, zones_and_links
from medtwin.models.evacuation.engine import FloorRun, Outcome, Walker, simulate
from medtwin.models.evacuation.lifts import Lifts
from medtwin.models.evacuation.plan_assist import AssistMixin
from medtwin.models.evacuation.routes import Router
from medtwin.models.evacuation.scenario import Scenario, ScenarioError
from medtwin.models.hazards import zones as Z
from medtwin.models.hazards.tenability import Tenability


@dataclass
class Person:
    idx: int
    key: str
    cls: Mobility
    role: str
    floor: str
    xy: tuple[float, float]
    space: str
    comp: str
    mode: str = "walk"  # walk | assisted | helper | stays | stranded
    speed: float = 0.0
    start_s: float = 0.0
    safe_s: float = math.nan
    target: str = ""
    fed: float = 0.0
    heat: float = 0.0
    left_comp_s: float = math.nan
    note: str = ""


@dataclass
class RunData:
    building: Building
    scenario: Scenario
    people: list[Person]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    door_ids: dict[str, list[str]] = field(default_factory=dict)
    plan: A.Plan | None = None
    tenability: Tenability | None = None
    notes: list[str] = field(default_factory=list)
    walker_of: dict[str, list[int]] = field(default_factory=dict)  # floor -> person idx per walker
    device_doors: dict[str, list[float]] = field(default_factory=dict)  # door -> beds/chairs through it (s)
    targets_of: dict[str, list[str]] = field(default_factory=dict)  # floor -> the engine's target ids


class _Taken:
    """Points already given to people on a floor, hashed in 1 m cells for quick spacing checks."""

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], list[tuple[float, float, float]]] = {}

    def add(self, xy: tuple[float, float], r: float = 0.2) -> None:
        self.cells.setdefault((int(xy[0] // 1), int(xy[1] // 1)), []).append((xy[0], xy[1], r))

    def free(self, xy: tuple[float, float], gap: float, r: float = 0.2) -> bool:
        """No one within ``gap`` (and no two bodies closer than their radii plus 5 cm: JuPedSim refuses)."""
        i, j = int(xy[0] // 1), int(xy[1] // 1)
        return all(math.hypot(xy[0] - a, xy[1] - b) > max(gap, r + rb + 0.05)
                   for di in (-1, 0, 1) for dj in (-1, 0, 1) for a, b, rb in self.cells.get((i + di, j + dj), ()))  # fmt: skip


class Run(AssistMixin):
    def __init__(self, b: Building, sc: Scenario, *, record_frames: bool = True) -> None:
        self.b, self.sc = b, sc
        self.rng = np.random.default_rng(sc.seed)
        self.router = Router(b, open_plan=sc.open_plan)
        self.lifts = Lifts(b)
        self.record = record_frames
        self.ten: Tenability | None = None
        self.closed = self._outbreak()
        # people already inside a closed (outbreak) space may leave it; everyone else keeps out
        self.geo_closed = self.closed - {self._space_of(o) for o in sc.occupants}
        self._inner_cache: dict[str, Any] = {}
        self._hooks: list[FloorHooks] = []

    # ------------------------------------------------------------------ set-up
    def _outbreak(self) -> frozenset[str]:
        out: set[str] = set()
        for x in self.sc.outbreak:
            out |= {x} if x in self.b.spaces else {s.id for s in self.b.spaces.values() if s.compartment == x}
        return frozenset(out)

    def _space_of(self, o: Any) -> str:
        if o.space or o.bed:
            return str(o.space or self.b.beds[o.bed].room)
        s = self.b.space_at(o.floor, *o.position) if o.position is not None else None
        return s.id if s else ""

    def hazards(self) -> None:
        if self.sc.fire is None and not self.sc.leaks:
            return
        zones, links = zones_and_links(self.b)
        fld = Z.simulate(zones, links, fires=[self.sc.fire] if self.sc.fire else [], leaks=self.sc.leaks,
                         duration_s=self.sc.hazard_horizon_s, alarm_s=self.sc.alarm_s, ach=self.sc.ach)  # fmt: skip
        self.ten = Tenability.of(fld)

    def at_risk(self) -> set[str]:
        if self.sc.compartments:
            return set(self.sc.compartments)
        srcs = ([self.sc.fire.space] if self.sc.fire else []) + [g.space for g in self.sc.leaks]
        comps = {self.b.compartment_of(s) for s in srcs} - {""}
        comps |= {c for c in self.sc.outbreak if c in self.b.compartments}
        comps |= {self.b.compartment_of(s) for s in self.sc.outbreak if s in self.b.spaces} - {""}
        return comps

    def targets(self, floor: str, comp: str, risk: set[str]) -> list[str]:
        if self.sc.strategy == "horizontal" and comp in risk:
            out: list[str] = []
            for other, door in self.b.adjacent_compartments(comp):
                if other in risk:
                    continue
                refuges = [
                    s.id for s in self.b.spaces.values() if s.compartment == other and s.kind == "refuge"
                ]
                out += refuges or [x for x in door.between if self.b.compartment_of(x) == other]
            if out:
                return sorted(set(out))
        exits = [e.id for e in self.b.exits_on(floor)]
        return exits or [s.id for s in self.b.stairs_on(floor) if any(
            self.router.shaft_partner(s.id, f) for f in self.b.floors if self.b.floors[f].level < self.b.floors[floor].level)]  # fmt: skip

    def place(self, people: list[Any]) -> list[Person]:
        taken: dict[str, _Taken] = {}
        out = []
        for i, o in enumerate(people):
            here = taken.setdefault(o.floor, _Taken())
            if o.position is not None:
                xy = o.position
            elif o.bed:
                p = self.b.beds[o.bed].point
                xy = (p.x, p.y)
            else:
                xy = self._free_point(o.space, here, radius(o.cls))
            xy = self._walkable_point(o.floor, xy, here, radius(o.cls))
            here.add(xy, radius(o.cls))
            sp = o.space or (s.id if (s := self.b.space_at(o.floor, *xy)) else "")
            out.append(Person(i, o.key, o.cls, o.role, o.floor, xy, sp, self.b.compartment_of(sp)))
            walks = o.cls not in ASSIST or o.cls in (Mobility.WALKING_AID, Mobility.WHEELCHAIR)
            out[-1].speed = (
                o.speed if o.speed is not None else (draw_speed(o.cls, self.rng, o.age) if walks else 0.0)
            )
        return out

    def _free_point(self, space: str, taken: _Taken | None = None, r: float = 0.2) -> tuple[float, float]:
        taken = taken or _Taken()
        poly = self.b.shrunk(space).buffer(-0.3)
        if poly.is_empty:
            poly = self.b.shrunk(space)
        x0, y0, x1, y1 = poly.bounds
        for _ in range(400):
            x, y = float(self.rng.uniform(x0, x1)), float(self.rng.uniform(y0, y1))
            if poly.contains(Point(x, y)) and taken.free((x, y), 0.6, r):
                return (x, y)
        raise ScenarioError(f"no free place left in {space}", "agents")

    def _walkable_point(
        self, floor: str, xy: tuple[float, float], taken: _Taken, r: float = 0.2
    ) -> tuple[float, float]:
        area = self._inner(floor)
        p = Point(xy)
        if not area.contains(p):
            q = shapely.ops.nearest_points(area, p)[0]
            xy = (q.x, q.y)
        if taken.free(xy, 0.45, r):
            return xy
        for r in np.arange(0.5, 3.01, 0.25):  # a free spot nearby (two people given one place)
            for ang in np.linspace(0, 2 * np.pi, 12, endpoint=False):
                c = (float(xy[0] + r * np.cos(ang)), float(xy[1] + r * np.sin(ang)))
                if area.contains(Point(c)) and taken.free(c, 0.45, r):
                    return c
        raise ScenarioError(f"no free place near {xy} on floor {floor}", "agents")

    def _inner(self, floor: str) -> Any:
        if floor not in self._inner_cache:
            self._inner_cache[floor] = self.b.walkable(floor, without=self.geo_closed).buffer(-0.25)
        return self._inner_cache[floor]

    # ------------------------------------------------------------------ the run
    def go(self) -> RunData:
        self.hazards()
        people = self.place(self.sc.occupants)
        data = RunData(self.b, self.sc, people, tenability=self.ten)
        risk = self.at_risk()
        if self.sc.strategy == "horizontal" and not risk:
            raise ScenarioError(
                "horizontal evacuation needs a fire, a gas leak, an outbreak or compartments", "strategy"
            )
        walk_start = self.sc.alarm_s + self.sc.pre_movement_s
        staff_start = self.sc.alarm_s + self.sc.staff_response_s
        jobs: dict[str, list[A.Job]] = {}
        for p in people:
            moving = self.sc.strategy == "full" or p.comp in risk
            if not moving:
                p.mode = "stays"
                continue
            needs_stairs = self.sc.strategy == "full" and not self.b.exits_on(p.floor)
            if p.cls in (Mobility.BED_BOUND, Mobility.CRITICAL) or (
                    needs_stairs and p.cls in (Mobility.WALKING_AID, Mobility.WHEELCHAIR)):  # fmt: skip
                p.mode = "assisted"
                urg = self.ten.untenable_s.get(p.space, math.inf) if self.ten else math.inf
                jobs.setdefault(p.floor, []).append(A.Job(p.key, p.cls, p.floor, p.xy, p.space, urg, p.idx))
        for p in people:
            if p.mode == "walk":
                p.start_s = staff_start if p.role == "staff" else walk_start
                if p.cls is Mobility.STAFF and jobs.get(p.floor):
                    p.mode = "helper"
        self._walk(data, risk)
        self._assist(data, jobs, risk, staff_start)
        self._stayers(data)
        data.notes += [n for h in getattr(self, "_hooks", []) for n in h.notes]
        return data

    def _walk(self, data: RunData, risk: set[str]) -> None:
        arrivals: dict[str, list[tuple[int, float, str | None]]] = {}  # floor -> (person, time, stair)
        for f in sorted(self.b.floors, key=lambda f: -self.b.floors[f].level):
            members: list[tuple[int, float, str | None]] = [
                (p.idx, p.start_s, None)
                for p in data.people
                if p.mode == "walk" and self.sc.occupants[p.idx].floor == f  # where they started
            ]
            members += arrivals.get(f, [])
            if not members:
                continue
            walk = self.b.walkable(f, without=self.geo_closed)
            parts = (
                list(walk.geoms) if walk.geom_type == "MultiPolygon" else [walk]
            )  # JuPedSim: connected only
            grown = [g.buffer(0.05) for g in parts]
            by_part: dict[int, list[tuple[int, float, str | None]]] = {}
            for i, t0, stair in members:
                xy = data.people[i].xy if stair is None else self._centre(stair)
                k = next((n for n, g in enumerate(grown) if g.contains(Point(xy))), 0)
                by_part.setdefault(k, []).append((i, t0, stair))
            for k, mem in sorted(by_part.items()):
                key = f if len(parts) == 1 else f"{f}#{k + 1}"
                self._walk_part(data, risk, f, key, parts[k], mem, arrivals)

    def _walk_part(self, data: RunData, risk: set[str], f: str, key: str, geom: Any,
                   members: list[tuple[int, float, str | None]],
                   arrivals: dict[str, list[tuple[int, float, str | None]]]) -> None:  # fmt: skip
        grown = geom.buffer(0.05)
        by_comp: dict[str, list[str]] = {}  # targets depend on the compartment only
        for comp in {data.people[i].comp for i, _t, _s in members}:
            by_comp[comp] = [t for t in self.targets(f, comp, risk) if grown.intersects(self.b.shrunk(t))]
        tlists = {i: by_comp[data.people[i].comp] for i, _t, _s in members}
        targets = sorted({t for ts in tlists.values() for t in ts})
        walkers, order, dists = [], [], []
        blocked0 = self.closed | (self.ten.untenable_at(0.0) if self.ten else frozenset())
        for i, t0, stair in members:
            p = data.people[i]
            xy = p.xy if stair is None else self._free_point(stair)
            r = self.router.nearest(f, xy, tlists[i], blocked0 - {p.space}) if tlists[i] else None
            r = r or (self.router.nearest(f, xy, tlists[i], self.closed - {p.space}) if tlists[i] else None)
            if r is None:
                p.mode, p.note = "stranded", "no exit, stair or refuge reachable on this floor"
                continue
            walkers.append(Walker(xy, p.speed, targets.index(r[0]), radius(p.cls), t0))
            order.append(i)
            dists.append(r[1])
        if not walkers:
            return
        data.walker_of[key], data.targets_of[key] = order, targets
        down: dict[str, list[tuple[int, float, float, str, str]]] = {}  # stair -> people going down
        doors = self.b.doors_on(f)
        widths = [d.width_m for d in doors if set(d.between) & set(targets)] or [1.0]
        est = H.hydraulic_time(len(walkers), widths, max(dists), min(w.speed for w in walkers))
        run = FloorRun(geom, [self.b.shrunk(t) for t in targets], walkers, [d.line for d in doors], dt=self.sc.dt,
                       record_frames=self.record,
                       max_time_s=self.sc.max_time_s or H.guard_time(est, max(w.start_s for w in walkers)))  # fmt: skip
        comps = [data.people[i].comp for i in order]
        tracked = self.ten is not None or self.closed or any(comps)
        hooks = FloorHooks(self.b, f, self.router, self.ten, self.closed, targets, comps) if tracked else None
        if hooks:
            self._hooks.append(hooks)
        out = simulate(run, hooks)
        data.outcomes[key] = out
        data.door_ids[key] = [d.id for d in doors]
        for w, i in enumerate(order):
            p = data.people[i]
            if hooks:
                p.fed += float(hooks.fed[w])
                p.heat += float(hooks.heat[w])
                if math.isnan(p.left_comp_s) and hooks.seen_in_comp[w] > 0:
                    p.left_comp_s = float(hooks.seen_in_comp[w]) + hooks.interval_s
            if math.isnan(p.left_comp_s) and not math.isnan(out.exit_time[w]):
                p.left_comp_s = float(out.exit_time[w])  # no tracking: leaving the floor bounds it
            if math.isnan(out.exit_time[w]):
                p.mode, p.note = "stranded", f"engine: {out.status}"
                continue
            tgt = targets[out.target_reached[w]]
            below = self._below(f, tgt) if self._is_stair_down(f, tgt) else None
            if below is not None:
                v = stair_speed(p.cls)
                if v is None:
                    p.mode, p.note = "stranded", "cannot walk down stairs"
                    continue
                down.setdefault(tgt, []).append((i, float(out.exit_time[w]), v, *below))
                continue
            p.safe_s, p.target = float(out.exit_time[w]), tgt
        for stair, queue in down.items():  # onto the stair at its SFPE capacity, then down at stair speed
            width = self._stair_width(f, stair)
            entries = H.stair_entries([q[1] for q in queue], H.stair_flow(width) if width else math.inf)
            for (i, _t, v, fl, partner), t_in in zip(queue, entries, strict=True):
                arrivals.setdefault(fl, []).append(
                    (i, t_in + self.router.stair_metres(stair, f, fl) / v, partner)
                )
                data.people[i].floor = fl

    def _stair_width(self, floor: str, stair: str) -> float | None:
        """Clear width of a stair's flight: the plan's ``width_m``, else its widest door on the floor
        (a flight is rarely narrower than its door); None (no limit) for an open stair without either."""
        w = self.b.spaces[stair].attrs.get("width_m")
        doors = [d.width_m for d in self.b.doors_on(floor) if stair in d.between]
        return float(w) if isinstance(w, int | float) and w > 0 else max(doors, default=None)

    def _is_stair_down(self, f: str, tgt: str) -> bool:
        return (tgt in self.b.spaces and self.b.spaces[tgt].kind == "stair" and self.sc.strategy == "full"
                and not self.b.exits_on(f))  # fmt: skip

    def _below(self, floor: str, stair: str) -> tuple[str, str] | None:
        lvl = self.b.floors[floor].level
        lower = sorted(
            (f for f in self.b.floors if self.b.floors[f].level < lvl), key=lambda f: -self.b.floors[f].level
        )
        for f in lower:
            partner = self.router.shaft_partner(stair, f)
            if partner:
                return f, partner
        return None


def run(b: Building, sc: Scenario, *, record_frames: bool = True) -> RunData:
    return Run(b, sc, record_frames=record_frames).go()
