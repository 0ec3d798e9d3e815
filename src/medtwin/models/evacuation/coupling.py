"""Coupling the building, the hazard model and the pedestrian engine.

* :func:`zones_and_links` turns the building into the zone model's network (one zone per space,
  volume = walkable area x floor height; one link per door, exits to the outside; stair spaces
  of one shaft linked between floors).
* :class:`FloorHooks` is called by the engine every sample: it finds the space each person is in,
  adds their toxic and heat dose, slows them in smoke (FDS+Evac law), notes when they leave the
  compartment they started in, and, every ``reroute_s``, re-plans when spaces turn untenable:
  people whose target can only be reached through untenable spaces switch to another target they
  can reach without, and untenable spaces nobody is in are closed to walking (the engine's
  geometry is switched, so JuPedSim's own routing avoids them).
"""

from __future__ import annotations

import math

import numpy as np

from medtwin.models.evacuation.building import Building
from medtwin.models.evacuation.engine import Engine
from medtwin.models.evacuation.routes import Router
from medtwin.models.hazards.tenability import Tenability, speed_factors
from medtwin.models.hazards.zones import Link, Zone

DOOR_HEIGHT_M = 2.1  # drawing default for door leaf height when the plan has none


def zones_and_links(b: Building) -> tuple[list[Zone], list[Link]]:
    zones = []
    for s in b.spaces.values():
        poly, hgt = b.shrunk(s.id), b.floors[s.floor].height_m
        zones.append(
            Zone(
                s.id,
                max(0.5, poly.area) * hgt,
                hgt,
                s.floor,
                s.compartment,
                2 * poly.area + poly.length * hgt,
            )
        )
    links = []
    for d in b.doors.values():
        a, c = d.between
        if a in b.exits and c in b.exits:
            continue
        if a in b.exits:
            a, c = c, a
        links.append(Link(a, None if c in b.exits else c, d.width_m, DOOR_HEIGHT_M, d.state, d.barrier))
    done = set()
    router = Router(b)
    for s in b.spaces.values():
        if s.kind != "stair":
            continue
        for f in b.floors:
            if f == s.floor:
                continue
            o = router.shaft_partner(s.id, f)
            if o and abs(b.floors[f].level - b.floors[s.floor].level) == 1 and (o, s.id) not in done:
                side = math.sqrt(min(s.polygon.area, b.spaces[o].polygon.area))
                links.append(Link(s.id, o, side, side))
                done.add((s.id, o))
    return zones, links


class FloorHooks:
    """Hazard exposure, smoke speed and re-planning for one floor's engine run."""

    def __init__(
        self,
        b: Building,
        floor: str,
        router: Router,
        ten: Tenability | None,
        closed: frozenset[str],
        targets: list[str],
        start_comp: list[str],
        *,
        reroute_s: float = 5.0,
        interval_s: float = 0.5,
    ) -> None:
        self.b, self.floor, self.router, self.ten = b, floor, router, ten
        self.grid = router.grid(floor)
        self.targets = targets
        self.static_blocked = closed
        self.closed: frozenset[str] = frozenset()  # spaces taken out of the engine's geometry
        self.interval_s = interval_s
        self.reroute_every = max(1, round(reroute_s / interval_s))
        self.calls = 0
        self.start_comp = start_comp
        n = len(start_comp)
        self.fed = np.zeros(n)
        self.heat = np.zeros(n)
        self.seen_in_comp = np.zeros(n)  # last time each person was seen in their start compartment
        self.notes: list[str] = []
        cols = {z: i for i, z in enumerate(ten.field.zones)} if ten else {}
        self.col_a = np.full(len(self.grid.names), -1)
        self.col_b = np.full(len(self.grid.names), -1)
        self.comp = np.array(
            [b.compartment_of(nm) if nm in b.spaces else "" for nm in self.grid.names], dtype=object
        )
        self.space = np.array([nm if nm in b.spaces else "" for nm in self.grid.names], dtype=object)
        for i, nm in enumerate(self.grid.names):
            if nm in b.doors:
                sides = [cols.get(x, -1) for x in b.doors[nm].between]
                self.col_a[i], self.col_b[i] = sides[0], sides[1]
                inner = [x for x in b.doors[nm].between if x in b.spaces]
                self.comp[i] = b.compartment_of(inner[0]) if inner else ""
            else:
                self.col_a[i] = self.col_b[i] = cols.get(nm, -1)
        self.last_blocked: frozenset[str] | None = None

    def update(self, eng: Engine) -> None:
        self.calls += 1
        keys, xy, t = eng.keys, eng.xy, eng.t
        if not len(keys):
            return
        lab = self.grid.label_at(xy[:, 0], xy[:, 1])
        ok = lab >= 0
        labc = np.where(ok, lab, 0)
        comp = np.where(ok, self.comp[labc], "")
        here = comp == np.asarray([self.start_comp[k] for k in keys], dtype=object)
        self.seen_in_comp[keys[here]] = t
        if self.ten is not None:
            ca, cb = np.where(ok, self.col_a[labc], -1), np.where(ok, self.col_b[labc], -1)
            fa, ha = self.ten.dose(ca, t, self.interval_s)
            fb, hb = self.ten.dose(cb, t, self.interval_s)
            self.fed[keys] += np.maximum(fa, fb)
            self.heat[keys] += np.maximum(ha, hb)
            k_ext = np.maximum(self.ten.k_at(ca, t), self.ten.k_at(cb, t))
            eng.set_speed_factors(keys, speed_factors(k_ext))
        if self.calls % self.reroute_every == 0 and self.ten is not None:
            self._replan(eng, keys, lab, t)

    def _replan(self, eng: Engine, keys: np.ndarray, lab: np.ndarray, t: float) -> None:
        assert self.ten is not None
        blocked = (
            self.ten.untenable_at(t) & {s.id for s in self.b.spaces_on(self.floor)}
        ) | self.static_blocked
        blocked -= set(self.targets)
        if blocked == self.last_blocked:
            return
        self.last_blocked = blocked
        occupied: set[str] = set()
        for v in set(lab.tolist()) - {-1}:
            nm = self.grid.names[v]
            occupied |= set(self.b.doors[nm].between) if nm in self.b.doors else {nm}
        for i, k in enumerate(keys.tolist()):
            own = self.space[lab[i]] if lab[i] >= 0 else ""
            avoid = frozenset(blocked - {own})
            xy = (float(eng.xy[i, 0]), float(eng.xy[i, 1]))
            cur = self.targets[eng.target[k]]
            if math.isfinite(self.router.distance(self.floor, xy, cur, avoid)):
                continue
            r = self.router.route(self.floor, xy, self.targets, avoid)
            if r is not None:
                eng.retarget(k, self.targets.index(r.target))
        to_close = frozenset(blocked - occupied)
        for i, k in enumerate(keys.tolist()):  # never cut anyone off from their target
            own = self.space[lab[i]] if lab[i] >= 0 else ""
            xy = (float(eng.xy[i, 0]), float(eng.xy[i, 1]))
            if not math.isfinite(
                self.router.distance(self.floor, xy, self.targets[eng.target[k]], to_close - {own})
            ):
                return
        if to_close and to_close != self.closed:
            geom = self.b.walkable(self.floor, without=to_close)
            if geom.geom_type != "Polygon":  # closing would strand an exit or refuge: JuPedSim needs one area
                return
            try:
                eng.switch_geometry(geom)
                self.closed = to_close
            except (RuntimeError, ValueError) as exc:  # a split geometry or a stage outside it: keep walking
                self.notes.append(f"{self.floor} t={t:.0f}s: could not close {sorted(to_close)} ({exc})")
