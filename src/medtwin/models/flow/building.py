"""The building graph used for walking: rooms on floors, corridors, stairs and lifts.

A building is described by floors (id, level), rooms (id, floor, x, y in metres: the point on
the corridor in front of the door) and vertical connectors (stairs, lifts) with a position and
the floors they serve. Nodes are rooms and connector stops; on one floor every pair of nodes is
joined by an edge whose length is the corridor distance (``manhattan`` |dx|+|dy| for the usual
orthogonal corridors, or ``euclidean`` for open halls), stops of the same connector are joined
across floors (stairs: ``per_floor_m`` metres walked and ``per_floor_s`` seconds per floor;
lifts: a ``wait_s`` wait plus ``per_floor_s`` and no metres walked), and optional ``links``
add or shorten specific edges (bridges, short cuts). Routes minimise walking time; the graph
reports their metres, seconds and floor changes (Dijkstra, :func:`scipy.sparse.csgraph.dijkstra`).

Walking speed: 1.2 m/s by default, a little below the comfortable gait speed of healthy adults
(1.27-1.46 m/s, R. W. Bohannon, "Comfortable and maximum walking speed of adults aged 20-79
years", Age and Ageing 26:15-19, 1997), since outpatients include older and unwell people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

DEFAULT_SPEED_M_S = 1.2


class BuildingError(ValueError):
    """A building description that cannot be used; ``field`` names the bad entry."""

    def __init__(self, reason: str, field: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.reason = reason
        self.field = field


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    floor: str
    x: float
    y: float
    name: str = ""


@dataclass(frozen=True, slots=True)
class Connector:
    id: str
    kind: str  # "stairs" | "lift"
    x: float
    y: float
    floors: tuple[str, ...]
    per_floor_m: float
    per_floor_s: float
    wait_s: float = 0.0


@dataclass
class Building:
    id: str
    floors: dict[str, int]  # floor id -> level
    rooms: dict[str, Room]
    connectors: list[Connector] = field(default_factory=list)
    links: list[tuple[str, str, float]] = field(default_factory=list)  # room, room, metres
    metric: str = "manhattan"
    speed_m_s: float = DEFAULT_SPEED_M_S
    name: str = ""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def from_dict(d: dict[str, Any]) -> Building:
        if not isinstance(d, dict):
            raise BuildingError("must be a mapping", "building")
        floors: dict[str, int] = {}
        for i, f in enumerate(d.get("floors") or []):
            if not isinstance(f, dict) or "id" not in f:
                raise BuildingError("each floor needs an id", f"floors[{i}]")
            floors[str(f["id"])] = int(f.get("level", i))
        if not floors:
            raise BuildingError("at least one floor is needed", "floors")
        rooms: dict[str, Room] = {}
        for i, r in enumerate(d.get("rooms") or []):
            where = f"rooms[{i}]"
            try:
                room = Room(
                    str(r["id"]), str(r["floor"]), float(r["x"]), float(r["y"]), str(r.get("name", ""))
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise BuildingError(f"needs id, floor, x and y ({exc})", where) from None
            if room.floor not in floors:
                raise BuildingError(f"unknown floor {room.floor!r}", where + ".floor")
            if room.id in rooms:
                raise BuildingError(f"duplicate room id {room.id!r}", where + ".id")
            rooms[room.id] = room
        conns = []
        for i, c in enumerate(d.get("connectors") or []):
            where = f"connectors[{i}]"
            kind = str(c.get("kind", "stairs"))
            if kind not in ("stairs", "lift"):
                raise BuildingError("kind must be stairs or lift", where + ".kind")
            fl = tuple(str(x) for x in c.get("floors") or floors)
            for x in fl:
                if x not in floors:
                    raise BuildingError(f"unknown floor {x!r}", where + ".floors")
            conns.append(
                Connector(
                    str(c["id"]),
                    kind,
                    float(c["x"]),
                    float(c["y"]),
                    fl,
                    float(c.get("per_floor_m", 10.0 if kind == "stairs" else 0.0)),
                    float(c.get("per_floor_s", 20.0 if kind == "stairs" else 8.0)),
                    float(c.get("wait_s", 0.0 if kind == "stairs" else 30.0)),
                )
            )
        links = []
        for i, ln in enumerate(d.get("links") or []):
            a, b = str(ln["from"]), str(ln["to"])
            for x in (a, b):
                if x not in rooms:
                    raise BuildingError(f"unknown room {x!r}", f"links[{i}]")
            links.append((a, b, float(ln["metres"])))
        metric = str(d.get("metric", "manhattan"))
        if metric not in ("manhattan", "euclidean"):
            raise BuildingError("must be manhattan or euclidean", "metric")
        return Building(
            str(d.get("id", "B1")),
            floors,
            rooms,
            conns,
            links,
            metric,
            float(d.get("walking_speed_m_s", DEFAULT_SPEED_M_S)),
            str(d.get("name", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "metric": self.metric,
            "walking_speed_m_s": self.speed_m_s,
            "floors": [{"id": f, "level": lv} for f, lv in self.floors.items()],
            "rooms": [
                {"id": r.id, "floor": r.floor, "x": r.x, "y": r.y, "name": r.name}
                for r in self.rooms.values()
            ],
            "connectors": [
                {
                    "id": c.id,
                    "kind": c.kind,
                    "x": c.x,
                    "y": c.y,
                    "floors": list(c.floors),
                    "per_floor_m": c.per_floor_m,
                    "per_floor_s": c.per_floor_s,
                    "wait_s": c.wait_s,
                }
                for c in self.connectors
            ],
            "links": [{"from": a, "to": b, "metres": m} for a, b, m in self.links],
        }

    def with_room(self, room: Room) -> Building:
        """A copy with ``room`` added or moved (what-if room moves)."""
        if room.floor not in self.floors:
            raise BuildingError(f"unknown floor {room.floor!r}", f"rooms.{room.id}.floor")
        rooms = dict(self.rooms)
        rooms[room.id] = room
        return Building(
            self.id, self.floors, rooms, self.connectors, self.links, self.metric, self.speed_m_s, self.name
        )

    # ------------------------------------------------------------------ distances
    def _d(self, ax: float, ay: float, bx: float, by: float) -> float:
        if self.metric == "euclidean":
            return float(np.hypot(ax - bx, ay - by))
        return abs(ax - bx) + abs(ay - by)

    def matrices(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Room ids and room-to-room (metres, seconds, floor changes) along fastest routes."""
        if "m" in self._cache:
            return self._cache["m"]  # type: ignore[no-any-return]
        ids = list(self.rooms)
        nodes: list[tuple[str, float, float]] = [(r.floor, r.x, r.y) for r in self.rooms.values()]
        stop_of: dict[tuple[str, str], int] = {}
        for c in self.connectors:
            for f in c.floors:
                stop_of[(c.id, f)] = len(nodes)
                nodes.append((f, c.x, c.y))
        n = len(nodes)
        edges: dict[tuple[int, int], tuple[float, float, int]] = {}  # (a, b) -> (seconds, metres, floors)

        def add(i: int, j: int, m: float, s: float, lv: int = 0) -> None:
            for a, b in ((i, j), (j, i)):
                if (a, b) not in edges or edges[(a, b)][0] > s:
                    edges[(a, b)] = (s, m, lv)

        v = self.speed_m_s
        for i in range(n):
            for j in range(i + 1, n):
                if nodes[i][0] == nodes[j][0]:
                    m = self._d(nodes[i][1], nodes[i][2], nodes[j][1], nodes[j][2])
                    add(i, j, m, m / v + 1e-9)
        for c in self.connectors:
            for ia, a in enumerate(c.floors):
                for b in c.floors[ia + 1 :]:
                    dl = abs(self.floors[b] - self.floors[a])
                    s = dl * c.per_floor_s + (c.wait_s if c.kind == "lift" else 0.0)
                    add(stop_of[(c.id, a)], stop_of[(c.id, b)], dl * c.per_floor_m, s, dl)
        for a, b, m in self.links:
            add(ids.index(a), ids.index(b), m, m / v)
        keys = list(edges)
        rows = [a for a, _ in keys]
        cols = [b for _, b in keys]
        secs = [edges[k_][0] for k_ in keys]
        g = csr_matrix((secs, (rows, cols)), shape=(n, n))
        k = len(ids)
        dist_s, pred = dijkstra(g, directed=True, indices=list(range(k)), return_predecessors=True)
        dist_m = np.zeros((k, k))
        floors_changed = np.zeros((k, k), dtype=np.int64)
        for i in range(k):
            for j in range(k):
                if i == j or not np.isfinite(dist_s[i, j]):
                    continue
                node, mm, lv = j, 0.0, 0
                while node != i:
                    p = int(pred[i, node])
                    _, em, el = edges[(p, node)]
                    mm += em
                    lv += el
                    node = p
                dist_m[i, j] = mm
                floors_changed[i, j] = lv
        out = (ids, dist_m, dist_s[:, :k].copy(), floors_changed)
        self._cache["m"] = out
        return out

    def pairs(self) -> list[tuple[str, str, float, float, int]]:
        """(from room, to room, metres, seconds, floors changed) for every reachable ordered pair."""
        ids, dm, ds, fc = self.matrices()
        out = []
        for i, a in enumerate(ids):
            for j, b in enumerate(ids):
                if np.isfinite(ds[i, j]):
                    out.append((a, b, float(dm[i, j]), float(ds[i, j]), int(fc[i, j])))
        return out

    def distance(self, a: str, b: str) -> tuple[float, float]:
        """(metres, seconds) from room ``a`` to room ``b``."""
        ids, dm, ds, _ = self.matrices()
        try:
            i, j = ids.index(a), ids.index(b)
        except ValueError as exc:
            raise BuildingError(str(exc), "room") from None
        return float(dm[i, j]), float(ds[i, j])
