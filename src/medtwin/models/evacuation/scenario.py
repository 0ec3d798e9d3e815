"""The scenario schema (``medtwin evac run SCENARIO.json``) and its validation.

Minimal form (one floor, no building model)::

    {"walkable": <GeoJSON Polygon or MultiPolygon, metres>,
     "exits": [<GeoJSON Polygon>, ...],
     "agents": [{"position": [x, y], "class": "ambulant|walking_aid|wheelchair|bed_bound|critical|staff",
                 "speed": <optional m/s>}, ...]}

``staff`` agents walk out, unless there are ``bed_bound`` or ``critical`` agents: then they move
them (:mod:`.assisted`). Richer scenarios add a building and hazards (all optional):

* ``building``: a building id known to the server/store, or ``building_geojson``: the building
  itself (:mod:`.geojson`); then agents may name a ``space`` or ``bed`` instead of a position,
  and ``floor``; ``census``: ``"day"`` or ``"night"`` takes occupants from the live twin
  (service layer);
* ``strategy``: ``full`` (to the exits, stairs down) or ``horizontal`` (progressive horizontal
  evacuation of the compartments at risk into the adjacent compartment, NFPA 101 §18.7,
  HTM 05-02 §2.37);
* ``fire``: ``{"space", "growth", "peak_kw", "start_s"}``; ``gas_leak``: ``{"space",
  "rate_m3_s", "gas", "start_s", "duration_s"}``; ``outbreak``: spaces or compartments to avoid;
* ``alarm_s`` (alarm time; self-closing and barrier doors close then), ``pre_movement_s``
  (added to the alarm for people who walk), ``staff_response_s``, ``doors`` (overrides by door
  id: ``state``, ``width_m``), ``ach`` (air changes per hour per space), ``hazard_horizon_s``;
* ``seed`` (speeds are drawn from it: same seed, same result), ``dt``, ``max_time_s``.

Errors name the field (``agents[3].class``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from medtwin.models.evacuation.building import Building, BuildingError, Exit, Floor, Space
from medtwin.models.evacuation.classes import Mobility, parse_mobility
from medtwin.models.hazards.fire import GROWTH, DesignFire
from medtwin.models.hazards.zones import GASES, GasLeak

STRATEGIES = ("full", "horizontal")
ROLES = ("patient", "staff", "visitor", "person")


class ScenarioError(BuildingError):
    """A scenario that cannot be run; ``field`` names the bad entry."""


@dataclass
class Occupant:
    key: str  # the id results use: a pseudonym for patients, never a name
    cls: Mobility
    floor: str
    position: tuple[float, float] | None = None
    role: str = "person"
    space: str = ""
    bed: str = ""
    speed: float | None = None
    age: float | None = None
    ward: str = ""


@dataclass
class Scenario:
    occupants: list[Occupant]
    name: str = ""
    strategy: str = "full"
    fire: DesignFire | None = None
    leaks: list[GasLeak] = field(default_factory=list)
    outbreak: list[str] = field(default_factory=list)
    alarm_s: float = 0.0
    pre_movement_s: float = 0.0
    staff_response_s: float = 0.0
    hazard_horizon_s: float = 1800.0
    seed: int = 1
    dt: float = 0.05
    max_time_s: float | None = None
    compartments: list[str] = field(default_factory=list)
    ach: dict[str, float] = field(default_factory=dict)
    open_plan: bool = False  # the minimal form: one walkable area, no walls or doors
    census: str = ""
    building_ref: str = ""


def _num(d: dict[str, Any], key: str, where: str, default: float | None = None, lo: float = 0.0) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < lo:
        raise ScenarioError(f"must be a number >= {lo:g}", f"{where}{key}")
    return float(v)


def _polygons(g: Any, where: str) -> list[Polygon]:
    if not isinstance(g, dict):
        raise ScenarioError("must be a GeoJSON Polygon or MultiPolygon", where)
    try:
        geom = shape(g)
    except Exception as exc:
        raise ScenarioError(f"not a GeoJSON geometry ({exc})", where) from None
    if isinstance(geom, Polygon):
        polys = [geom]
    elif isinstance(geom, MultiPolygon):
        polys = list(geom.geoms)
    else:
        raise ScenarioError(f"must be a Polygon or MultiPolygon, got {geom.geom_type}", where)
    for p in polys:
        if not p.is_valid or p.area <= 0:
            raise ScenarioError(f"polygon is not valid ({shapely.is_valid_reason(p)})", where)
    return polys


def minimal_building(doc: dict[str, Any]) -> Building:
    """The one-floor building of the minimal form: walkable parts and exits, no walls."""
    walk = _polygons(doc.get("walkable"), "walkable")
    exits = doc.get("exits")
    if not isinstance(exits, list) or not exits:
        raise ScenarioError("must be a non-empty list of GeoJSON Polygons", "exits")
    b = Building("scenario", {"F0": Floor("F0", 0)}, wall_m=0.0, source="scenario")
    for i, p in enumerate(walk):
        b.spaces[f"A{i}"] = Space(f"A{i}", "room", "F0", p)
    for i, e in enumerate(exits):
        polys = _polygons(e, f"exits[{i}]")
        if len(polys) != 1:
            raise ScenarioError("each exit must be one Polygon", f"exits[{i}]")
        b.exits[f"E{i}"] = Exit(f"E{i}", "F0", polys[0])
    try:
        return b.validate()
    except BuildingError as exc:
        raise ScenarioError(exc.reason, exc.field) from None


def parse_occupants(items: Any, building: Building, *, field_name: str = "agents") -> list[Occupant]:
    if not isinstance(items, list):
        raise ScenarioError("must be a list", field_name)
    floors = list(building.floors)
    out = []
    for i, a in enumerate(items):
        where = f"{field_name}[{i}]."
        if not isinstance(a, dict):
            raise ScenarioError("must be an object", f"{field_name}[{i}]")
        try:
            cls = parse_mobility(a.get("class", "ambulant"))
        except ValueError as exc:
            raise ScenarioError(str(exc).split(": ", 1)[1], where + "class") from None
        pos = a.get("position")
        space, bed = str(a.get("space", "")), str(a.get("bed", ""))
        if pos is not None:
            if (not isinstance(pos, list | tuple) or len(pos) != 2
                    or not all(isinstance(v, int | float) and math.isfinite(v) for v in pos)):  # fmt: skip
                raise ScenarioError("must be [x, y] in metres", where + "position")
            pos = (float(pos[0]), float(pos[1]))
        elif bed:
            if bed not in building.beds:
                raise ScenarioError(f"no bed {bed!r} in the building", where + "bed")
            space = space or building.beds[bed].room
        elif not space:
            raise ScenarioError("needs a position, a space or a bed", where + "position")
        if space and space not in building.spaces:
            raise ScenarioError(f"no space {space!r} in the building", where + "space")
        floor = str(a.get("floor") or (building.spaces[space].floor if space else floors[0]))
        if floor not in building.floors:
            raise ScenarioError(f"no floor {floor!r}", where + "floor")
        speed = None if a.get("speed") is None else _num(a, "speed", where, lo=0.05)
        role = str(a.get("role", "staff" if cls is Mobility.STAFF else "person"))
        if role not in ROLES:
            raise ScenarioError(f"must be one of {', '.join(ROLES)}", where + "role")
        age = None if a.get("age") is None else _num(a, "age", where)
        key = str(a.get("id") or f"{role[0].upper()}{i + 1:04d}")
        out.append(Occupant(key, cls, floor, pos, role, space, bed, speed, age, str(a.get("ward", ""))))
    return out


def parse(doc: Any, building: Building | None = None) -> tuple[Building, Scenario]:
    """Validate a scenario document; ``building`` is the resolved building for rich forms."""
    if not isinstance(doc, dict):
        raise ScenarioError("must be a JSON object", "scenario")
    open_plan = building is None
    if building is None:
        if "building_geojson" in doc:
            from medtwin.models.evacuation.geojson import from_geojson

            try:
                building = from_geojson(doc["building_geojson"])
            except BuildingError as exc:
                raise ScenarioError(exc.reason, f"building_geojson.{exc.field}") from None
            open_plan = False
        else:
            building = minimal_building(doc)
    occupants = parse_occupants(doc.get("agents", []), building)
    sc = Scenario(occupants, name=str(doc.get("name", "")), open_plan=open_plan)
    sc.strategy = str(doc.get("strategy", "full"))
    if sc.strategy not in STRATEGIES:
        raise ScenarioError(f"must be one of {', '.join(STRATEGIES)}", "strategy")
    for key in ("alarm_s", "pre_movement_s", "staff_response_s", "hazard_horizon_s"):
        setattr(sc, key, _num(doc, key, "", getattr(sc, key)))
    sc.dt = _num(doc, "dt", "", 0.05, lo=0.001)
    if sc.dt > 0.1:
        raise ScenarioError("must be at most 0.1 s (the collision-free model overshoots above)", "dt")
    sc.max_time_s = None if doc.get("max_time_s") is None else _num(doc, "max_time_s", "", lo=1.0)
    seed = doc.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("must be an integer", "seed")
    sc.seed = seed
    sc.census = str(doc.get("census", ""))
    if sc.census not in ("", "day", "night"):
        raise ScenarioError("must be day or night", "census")
    sc.building_ref = str(doc.get("building", ""))
    if (f := doc.get("fire")) is not None:
        if not isinstance(f, dict) or f.get("space") not in building.spaces:
            raise ScenarioError("needs the id of a space of the building", "fire.space")
        growth = str(f.get("growth", "fast"))
        if growth not in GROWTH:
            raise ScenarioError(f"must be one of {', '.join(GROWTH)}", "fire.growth")
        peak = None if f.get("peak_kw") is None else _num(f, "peak_kw", "fire.", lo=1.0)
        sc.fire = DesignFire(f["space"], growth, peak, _num(f, "start_s", "fire.", 0.0))
    if (g := doc.get("gas_leak")) is not None:
        if not isinstance(g, dict) or g.get("space") not in building.spaces:
            raise ScenarioError("needs the id of a space of the building", "gas_leak.space")
        if str(g.get("gas", "CO")) not in GASES:
            raise ScenarioError(f"must be one of {', '.join(GASES)}", "gas_leak.gas")
        sc.leaks = [GasLeak(g["space"], _num(g, "rate_m3_s", "gas_leak.", lo=1e-9), str(g.get("gas", "CO")),
                            _num(g, "start_s", "gas_leak.", 0.0),
                math.inf if g.get("duration_s") is None else _num(g, "duration_s", "gas_leak.", lo=1.0))]  # fmt: skip
    for key, known in (
        ("outbreak", {**building.spaces, **building.compartments}),
        ("compartments", building.compartments),
    ):
        vals = doc.get(key, [])
        if not isinstance(vals, list) or any(v not in known for v in vals):
            raise ScenarioError("must list ids of the building's spaces or compartments", key)
        setattr(sc, key, [str(v) for v in vals])
    ach = doc.get("ach", {})
    if not isinstance(ach, dict) or any(k not in building.spaces for k in ach):
        raise ScenarioError("must map space ids to air changes per hour", "ach")
    sc.ach = {k: _num(ach, k, "ach.") for k in ach}
    building = apply_door_overrides(building, doc.get("doors", {}))
    return building, sc


def apply_door_overrides(b: Building, doors: Any) -> Building:
    if not doors:
        return b
    if not isinstance(doors, dict):
        raise ScenarioError("must map door ids to {state, width_m}", "doors")
    from dataclasses import replace

    new = dict(b.doors)
    for did, ch in doors.items():
        if did not in b.doors or not isinstance(ch, dict):
            raise ScenarioError(f"no door {did!r}", f"doors.{did}")
        kw: dict[str, Any] = {}
        if "state" in ch:
            kw["state"] = str(ch["state"])
        if "width_m" in ch:
            kw["width_m"] = _num(ch, "width_m", f"doors.{did}.", lo=0.3)
        new[did] = replace(b.doors[did], **kw)
    try:
        return b.with_changes(doors=new)
    except BuildingError as exc:
        raise ScenarioError(exc.reason, exc.field) from None
