"""The building model of the twin: floors, smoke/fire compartments, spaces, doors, exits, beds.

A building has floors; a floor is divided into compartments (smoke or fire compartments: NFPA 101
§18.3.7 and HTM 05-02 §2 call for progressive horizontal evacuation between them); compartments
hold *spaces* (``room``, ``corridor``, ``stair``, ``lift``, ``refuge``) drawn as polygons in metres
on wall centre lines, so neighbouring spaces may share edges. *Doors* are the openings: a line
along the wall (its length is the clear width unless ``width_m`` says otherwise) joining two
spaces, or a space and an *exit* (a polygon outside the building where people are safe). Doors
in a compartment wall are ``barrier`` doors; ``state`` is ``open``, ``closed`` or ``self_closing``
(held open, closes on the fire alarm). Beds are points in rooms. Stairs and lifts name the floors
they ``connect``; ``flight_m`` is the walking length along a stair per floor.

Spaces with a ``twin`` attribute are the rooms of the live twin (room ids of the registry).

Derived geometry (what the pedestrian model walks on): every space and exit shrunk by half the
wall thickness, joined by door openings (the door line thickened across the wall), see
:meth:`Building.walkable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import shapely
import shapely.affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

SPACE_KINDS = ("room", "corridor", "stair", "lift", "refuge")
DOOR_STATES = ("open", "closed", "self_closing")
DEFAULT_WALL_M = 0.2


class BuildingError(ValueError):
    """A building description that cannot be used; ``field`` names the bad entry."""

    def __init__(self, reason: str, field: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class Floor:
    id: str
    level: int
    elevation_m: float = 0.0
    height_m: float = 3.0
    name: str = ""


@dataclass(frozen=True)
class Compartment:
    id: str
    floor: str
    kind: str = "smoke"  # smoke | fire
    name: str = ""


@dataclass(frozen=True)
class Space:
    id: str
    kind: str
    floor: str
    polygon: Polygon
    compartment: str = ""
    name: str = ""
    twin: str = ""
    connects: tuple[str, ...] = ()  # stairs and lifts: the floors served
    flight_m: float = 0.0  # stairs: walking length along the flight per floor
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Door:
    id: str
    floor: str
    line: LineString
    between: tuple[str, str]
    width_m: float
    barrier: bool = False
    state: str = "open"

    @property
    def centre(self) -> tuple[float, float]:
        p = self.line.interpolate(0.5, normalized=True)
        return (p.x, p.y)


@dataclass(frozen=True)
class Exit:
    id: str
    floor: str
    polygon: Polygon
    name: str = ""


@dataclass(frozen=True)
class Bed:
    id: str
    room: str
    point: Point
    twin: str = ""


@dataclass
class Building:
    id: str
    floors: dict[str, Floor]
    compartments: dict[str, Compartment] = field(default_factory=dict)
    spaces: dict[str, Space] = field(default_factory=dict)
    doors: dict[str, Door] = field(default_factory=dict)
    exits: dict[str, Exit] = field(default_factory=dict)
    beds: dict[str, Bed] = field(default_factory=dict)
    name: str = ""
    wall_m: float = DEFAULT_WALL_M
    source: str = ""  # geojson | lidar | ifc | demo

    # ------------------------------------------------------------------ checks
    def validate(self) -> Building:
        if not self.floors:
            raise BuildingError("a building needs at least one floor", "floors")
        ids: set[str] = set()
        for group, items in (
            ("floors", self.floors), ("compartments", self.compartments), ("spaces", self.spaces),
            ("doors", self.doors), ("exits", self.exits), ("beds", self.beds),
        ):  # fmt: skip
            for k in items:
                if k in ids:
                    raise BuildingError(f"id {k!r} is used twice", f"{group}.{k}")
                ids.add(k)
        for c in self.compartments.values():
            self._need_floor(c.floor, f"compartments.{c.id}.floor")
            if c.kind not in ("smoke", "fire"):
                raise BuildingError("kind must be smoke or fire", f"compartments.{c.id}.kind")
        for s in self.spaces.values():
            where = f"spaces.{s.id}"
            self._need_floor(s.floor, f"{where}.floor")
            if s.kind not in SPACE_KINDS:
                raise BuildingError(f"kind must be one of {', '.join(SPACE_KINDS)}", f"{where}.kind")
            _need_polygon(s.polygon, where)
            if s.compartment and s.compartment not in self.compartments:
                raise BuildingError(f"no compartment {s.compartment!r}", f"{where}.compartment")
            for f in s.connects:
                self._need_floor(f, f"{where}.connects")
        for e in self.exits.values():
            self._need_floor(e.floor, f"exits.{e.id}.floor")
            _need_polygon(e.polygon, f"exits.{e.id}")
        for d in self.doors.values():
            self._check_door(d)
        for b in self.beds.values():
            room = self.spaces.get(b.room)
            if room is None:
                raise BuildingError(f"no room {b.room!r}", f"beds.{b.id}.room")
            if not room.polygon.buffer(1e-6).contains(b.point):
                raise BuildingError(f"the bed is not inside room {b.room}", f"beds.{b.id}")
        return self

    def _need_floor(self, floor: str, where: str) -> None:
        if floor not in self.floors:
            raise BuildingError(f"no floor {floor!r}", where)

    def _check_door(self, d: Door) -> None:
        where = f"doors.{d.id}"
        self._need_floor(d.floor, f"{where}.floor")
        if d.width_m <= 0:
            raise BuildingError("width_m must be positive", f"{where}.width_m")
        if d.state not in DOOR_STATES:
            raise BuildingError(f"state must be one of {', '.join(DOOR_STATES)}", f"{where}.state")
        if len(d.between) != 2 or d.between[0] == d.between[1]:
            raise BuildingError("between must name two different spaces or exits", f"{where}.between")
        reach = self.wall_m + 0.05
        for side in d.between:
            area = self.area_of(side)
            if area is None:
                raise BuildingError(f"no space or exit {side!r}", f"{where}.between")
            if self.floor_of(side) != d.floor:
                raise BuildingError(
                    f"{side} is on floor {self.floor_of(side)}, not {d.floor}", f"{where}.between"
                )
            if area.distance(d.line) > reach:
                raise BuildingError(f"the door is {area.distance(d.line):.2f} m away from {side}", where)

    # ------------------------------------------------------------------ look-ups
    def area_of(self, sid: str) -> Polygon | None:
        if sid in self.spaces:
            return self.spaces[sid].polygon
        if sid in self.exits:
            return self.exits[sid].polygon
        return None

    def floor_of(self, sid: str) -> str:
        if sid in self.spaces:
            return self.spaces[sid].floor
        return self.exits[sid].floor

    def spaces_on(self, floor: str) -> list[Space]:
        return [s for s in self.spaces.values() if s.floor == floor]

    def doors_on(self, floor: str) -> list[Door]:
        return [d for d in self.doors.values() if d.floor == floor]

    def exits_on(self, floor: str) -> list[Exit]:
        return [e for e in self.exits.values() if e.floor == floor]

    def compartment_of(self, sid: str) -> str:
        s = self.spaces.get(sid)
        return s.compartment if s else ""

    def room_of_twin(self, twin_id: str) -> Space | None:
        for s in self.spaces.values():
            if s.twin == twin_id or s.id == twin_id:
                return s
        return None

    def bed_of_twin(self, twin_id: str) -> Bed | None:
        for b in self.beds.values():
            if b.twin == twin_id or b.id == twin_id:
                return b
        return None

    def stairs_on(self, floor: str) -> list[Space]:
        return [s for s in self.spaces_on(floor) if s.kind == "stair"]

    def adjacent_compartments(self, comp: str) -> list[tuple[str, Door]]:
        """Compartments reached from ``comp`` through one barrier door, with that door."""
        out = []
        for d in self.doors.values():
            a, b = (self.compartment_of(x) for x in d.between)
            if a and b and a != b and comp in (a, b):
                out.append((b if a == comp else a, d))
        return out

    def space_at(self, floor: str, x: float, y: float) -> Space | None:
        p = Point(x, y)
        for s in self.spaces_on(floor):
            if s.polygon.covers(p):
                return s
        return None

    def bounds(self, floor: str | None = None) -> tuple[float, float, float, float]:
        geoms = [s.polygon for s in self.spaces.values() if floor in (None, s.floor)]
        geoms += [e.polygon for e in self.exits.values() if floor in (None, e.floor)]
        return tuple(shapely.union_all(geoms).bounds)

    # ------------------------------------------------------------------ derived geometry
    def shrunk(self, sid: str) -> Polygon | MultiPolygon:
        """The walkable part of a space or exit: its polygon less half a wall on every side."""
        return self._shrunk[sid]

    @cached_property
    def _shrunk(self) -> dict[str, Polygon | MultiPolygon]:
        half = self.wall_m / 2
        out = {sid: s.polygon.buffer(-half, join_style="mitre") for sid, s in self.spaces.items()}
        out.update({eid: e.polygon.buffer(-half, join_style="mitre") for eid, e in self.exits.items()})
        return out

    def door_opening(self, did: str) -> Polygon:
        """The door's opening: its line thickened across the wall (flat ends: the width stays)."""
        d = self.doors[did]
        line = d.line
        if abs(line.length - d.width_m) > 1e-6 and line.length > 0:  # width_m differs from the drawing
            f = d.width_m / line.length
            line = shapely.affinity.scale(line, xfact=f, yfact=f, origin="center")
        return line.buffer(self.wall_m / 2 + 0.1, cap_style="flat")

    def walkable(self, floor: str, *, without: frozenset[str] = frozenset()) -> Polygon | MultiPolygon:
        """The floor's walkable area, less the spaces in ``without`` (closed or untenable)."""
        parts = [self.shrunk(s.id) for s in self.spaces_on(floor) if s.id not in without]
        parts += [self.shrunk(e.id) for e in self.exits_on(floor)]
        parts += [self.door_opening(d.id) for d in self.doors_on(floor) if not (set(d.between) & without)]
        geom = shapely.union_all([p for p in parts if not p.is_empty]).buffer(0)
        if geom.is_empty:
            raise BuildingError("nothing walkable on this floor", f"floors.{floor}")
        return geom

    def with_changes(self, **changes: Any) -> Building:
        """A copy with some mappings replaced (doors, exits, spaces...); caches are not shared."""
        kw = {k: getattr(self, k) for k in (
            "id", "floors", "compartments", "spaces", "doors", "exits", "beds", "name", "wall_m", "source")}  # fmt: skip
        kw.update(changes)
        return Building(**kw).validate()


def _need_polygon(poly: Polygon, where: str) -> None:
    if not isinstance(poly, Polygon) or poly.is_empty:
        raise BuildingError("needs a polygon", where)
    if not poly.is_valid:
        raise BuildingError(f"polygon is not valid ({shapely.is_valid_reason(poly)})", where)
    if poly.area < 0.25:
        raise BuildingError(f"polygon is too small ({poly.area:.2f} m2)", where)
