"""Routes on the building: nearest targets, walking legs between points, stairs between floors.

Built on :class:`~medtwin.models.evacuation.grid.FloorGrid`; distance fields are cached by
(floor, targets, blocked spaces), so re-planning when a space turns untenable costs one Dijkstra
per new situation. Stairs join floors: two stair spaces on different floors that overlap in plan
are one shaft; going from one to the other walks ``flight_m`` per floor along the stair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medtwin.models.evacuation.building import Building
from medtwin.models.evacuation.grid import FloorGrid

Blocked = frozenset[str]


@dataclass(frozen=True)
class Leg:
    """A stretch of a route: ``metres`` in ``area`` (a space, exit or door id) on ``floor``;
    ``stairs`` legs are walked along a stair flight between floors."""

    floor: str
    area: str
    metres: float
    stairs: bool = False


@dataclass
class Route:
    target: str
    legs: list[Leg]
    end_floor: str
    end_xy: tuple[float, float]
    points: list[tuple[str, float, float]]  # (floor, x, y), thinned, for the replay
    # a lift trip (space boarded, space left) between legs[:lift_at] and the rest
    lift: tuple[str, str] | None = None
    lift_at: int = 0

    @property
    def metres(self) -> float:
        return sum(leg.metres for leg in self.legs)


class Router:
    def __init__(self, b: Building, *, cell: float | None = None, open_plan: bool = False) -> None:
        self.b = b
        # walls thinner than a cell cannot leak (edges join one space or a door) but open plans have
        # none at all: a coarser grid there
        self.cell = cell or (0.4 if open_plan else 0.2)
        self.open_plan = open_plan
        self._grids: dict[str, FloorGrid] = {}
        self._fields: dict[tuple[str, tuple[str, ...], Blocked], tuple[np.ndarray, np.ndarray]] = {}
        self._nearest: dict[tuple[str, tuple[str, ...], Blocked], tuple[np.ndarray, np.ndarray]] = {}

    def grid(self, floor: str) -> FloorGrid:
        if floor not in self._grids:
            self._grids[floor] = FloorGrid.build(self.b, floor, self.cell, open_plan=self.open_plan)
        return self._grids[floor]

    def field(
        self, floor: str, targets: tuple[str, ...], blocked: Blocked = frozenset()
    ) -> tuple[np.ndarray, np.ndarray]:
        key = (floor, targets, blocked)
        if key not in self._fields:
            if len(self._fields) > 256:
                self._fields.clear()
            dist, pred, _origin = self.grid(floor).distance_field(list(targets), blocked)
            self._fields[key] = (dist, pred)
        return self._fields[key]

    def distance(
        self, floor: str, xy: tuple[float, float], target: str, blocked: Blocked = frozenset()
    ) -> float:
        g = self.grid(floor)
        dist, _ = self.field(floor, (target,), blocked)
        return float(dist[self._cell(g, xy)])

    def _cell(self, g: FloorGrid, xy: tuple[float, float]) -> int:
        c = int(g.cell_of(xy[0], xy[1]))
        if g.label.ravel()[c] >= 0:
            return c
        lab = g._nearby(xy[0], xy[1], reach=3)
        if lab < 0:
            return c
        cells = g.cells_of(g.names[lab])
        cx, cy = g.centre(cells)
        return int(cells[np.argmin(np.hypot(cx - xy[0], cy - xy[1]))])

    def nearest(
        self, floor: str, xy: tuple[float, float], targets: list[str], blocked: Blocked = frozenset()
    ) -> tuple[str, float] | None:
        """The nearest reachable target and its walking distance (one multi-source Dijkstra per
        set of targets, cached; no path: cheap)."""
        g = self.grid(floor)
        key = (floor, ("@nearest", *sorted(targets)), blocked)
        if key not in self._nearest:
            dist, _pred, origin = g.distance_field(sorted(targets), blocked)
            self._nearest[key] = (dist, origin)
        dist, origin = self._nearest[key]
        c = self._cell(g, xy)
        if not np.isfinite(dist[c]):
            return None
        return g.names[int(g.label.ravel()[origin[c]])], float(dist[c])

    def route(
        self, floor: str, xy: tuple[float, float], targets: list[str], blocked: Blocked = frozenset()
    ) -> Route | None:
        """Shortest route from ``xy`` to the nearest of ``targets`` on the floor (None: cut off)."""
        g = self.grid(floor)
        best: tuple[float, str] | None = None
        start = self._cell(g, xy)
        for t in targets:
            d = float(self.field(floor, (t,), blocked)[0][start])
            if np.isfinite(d) and (best is None or d < best[0]):
                best = (d, t)
        if best is None:
            return None
        _, pred = self.field(floor, (best[1],), blocked)
        cells = g.path(pred, start)
        xs, ys = g.centre(np.asarray(cells))
        legs = [Leg(floor, a, m) for a, m in g.areas_on_path(cells)]
        step = max(1, len(cells) // 40)
        pts = [(floor, float(x), float(y)) for x, y in zip(xs[::step], ys[::step], strict=True)]
        pts.append((floor, float(xs[-1]), float(ys[-1])))
        return Route(best[1], legs, floor, (float(xs[-1]), float(ys[-1])), pts)

    # ------------------------------------------------------------------ between floors
    def shaft_partner(self, stair: str, floor: str) -> str | None:
        s = self.b.spaces[stair]
        for o in self.b.stairs_on(floor):
            if o.polygon.intersection(s.polygon).area > 0.25 * min(o.polygon.area, s.polygon.area):
                return o.id
        return None

    def stair_metres(self, stair: str, floor_a: str, floor_b: str) -> float:
        la, lb = self.b.floors[floor_a].level, self.b.floors[floor_b].level
        return self.b.spaces[stair].flight_m * abs(la - lb)

    def ground_floor(self) -> str:
        with_exits = [f for f in self.b.floors if self.b.exits_on(f)]
        pool = with_exits or list(self.b.floors)
        return min(pool, key=lambda f: self.b.floors[f].level)

    def walk(
        self, fa: str, a: tuple[float, float], fb: str, b: tuple[float, float], blocked: Blocked = frozenset()
    ) -> list[Leg] | None:
        """Walking legs from point ``a`` on floor ``fa`` to point ``b`` on floor ``fb``."""
        g = self.grid(fb)
        if fa == fb:
            dist, pred = self._point_field(fb, b, blocked)
            start = self._cell(g, a)
            if not np.isfinite(dist[start]):
                return None
            return [Leg(fb, x, m) for x, m in g.areas_on_path(g.path(pred, start))]
        best: list[Leg] | None = None
        for st in self.b.stairs_on(fa):
            other = self.shaft_partner(st.id, fb)
            if other is None:
                continue
            up = self.route(fa, a, [st.id], blocked)
            down = self.walk(fb, _centroid(self.b, other), fb, b, blocked)
            if up is None or down is None:
                continue
            legs = [*up.legs, Leg(fa, st.id, self.stair_metres(st.id, fa, fb), stairs=True), *down]
            if best is None or sum(x.metres for x in legs) < sum(x.metres for x in best):
                best = legs
        return best

    def _point_field(
        self, floor: str, xy: tuple[float, float], blocked: Blocked
    ) -> tuple[np.ndarray, np.ndarray]:
        g = self.grid(floor)
        c = self._cell(g, xy)
        key = (floor, (f"@{c}",), blocked)
        if key not in self._fields:
            from scipy.sparse.csgraph import dijkstra

            dist, pred = dijkstra(g._graph(blocked), indices=c, return_predecessors=True)
            self._fields[key] = (dist, pred)
        return self._fields[key]


def _centroid(b: Building, sid: str) -> tuple[float, float]:
    p = b.shrunk(sid).representative_point()
    return (p.x, p.y)
