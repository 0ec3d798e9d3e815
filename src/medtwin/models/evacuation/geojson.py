"""The building model as GeoJSON (schema ``medtwin-building/1``), in metres on a local plane.

One FeatureCollection. The collection's ``medtwin`` member holds ``{"schema":
"medtwin-building/1", "building": id, "name": ..., "wall_m": 0.2}``; each feature's
``properties.kind`` says what it is:

======================  =========  ===================================================================
kind                    geometry   properties (besides ``id``)
======================  =========  ===================================================================
``floor``               none       ``level`` (int), ``elevation_m``, ``height_m``, ``name``
``compartment``         none       ``floor``, ``type`` (``smoke`` or ``fire``), ``name``
``room``/``corridor``/  Polygon    ``floor``, ``compartment``, ``name``, ``twin`` (room twin id);
``stair``/``lift``/                stairs and lifts: ``connects`` (floor ids), stairs ``flight_m``
``refuge``                         and ``width_m`` (clear width of the flight: its SFPE capacity);
                                   lifts ``speed_m_s`` (rated) and ``door_s`` (per stop), both needed
                                   for evacuation by lift (:mod:`.lifts`)
``door``                LineString ``floor``, ``between`` ([space or exit, space or exit]), ``width_m``
                                   (default: the line's length), ``barrier`` (bool), ``state``
                                   (``open`` / ``closed`` / ``self_closing``)
``exit``                Polygon    ``floor``, ``name`` (outside: reaching it is being safe)
``bed``                 Point      ``room`` (space id), ``twin`` (bed twin id)
======================  =========  ===================================================================

Errors name the feature (``features[3].properties.floor``).
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import LineString, Point, Polygon, mapping, shape

from medtwin.models.evacuation.building import (
    DEFAULT_WALL_M,
    SPACE_KINDS,
    Bed,
    Building,
    BuildingError,
    Compartment,
    Door,
    Exit,
    Floor,
    Space,
)

SCHEMA = "medtwin-building/1"
KINDS = ("floor", "compartment", *SPACE_KINDS, "door", "exit", "bed")


def _num(props: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    v = props.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise BuildingError("must be a number", f"{where}.properties.{key}")
    return float(v)


def _str(props: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    v = props.get(key, default)
    if not isinstance(v, str) or (default is None and not v):
        raise BuildingError("must be a non-empty string", f"{where}.properties.{key}")
    return v


def _geom(feat: dict[str, Any], where: str, want: type) -> Any:
    g = feat.get("geometry")
    if not isinstance(g, dict):
        raise BuildingError(f"needs a {want.__name__} geometry", f"{where}.geometry")
    try:
        geom = shape(g)
    except Exception as exc:
        raise BuildingError(f"not a GeoJSON geometry ({exc})", f"{where}.geometry") from None
    if want is Polygon and geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    if want is LineString and geom.geom_type == "Polygon":  # a door drawn as a rectangle in the wall
        rect = geom.minimum_rotated_rectangle
        xy = list(rect.exterior.coords)[:4]
        e = [(xy[i], xy[(i + 1) % 4]) for i in range(4)]
        long_side = max(e, key=lambda s: Point(s[0]).distance(Point(s[1])))
        cx, cy = sum(p[0] for p in xy) / 4, sum(p[1] for p in xy) / 4
        off = (cx - (long_side[0][0] + long_side[1][0]) / 2, cy - (long_side[0][1] + long_side[1][1]) / 2)
        geom = LineString([(p[0] + off[0], p[1] + off[1]) for p in long_side])
    if not isinstance(geom, want):
        raise BuildingError(f"needs a {want.__name__}, got {geom.geom_type}", f"{where}.geometry")
    return geom


def from_geojson(doc: Any) -> Building:
    """Parse and validate a building FeatureCollection (see the module docstring)."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise BuildingError("must be a GeoJSON FeatureCollection", "building")
    meta = doc.get("medtwin") or {}
    if not isinstance(meta, dict):
        raise BuildingError("must be an object", "medtwin")
    feats = doc.get("features")
    if not isinstance(feats, list):
        raise BuildingError("must be a list", "features")
    b = Building(
        id=str(meta.get("building") or "building"),
        floors={},
        name=str(meta.get("name", "")),
        wall_m=float(meta.get("wall_m", DEFAULT_WALL_M)),
        source=str(meta.get("source", "geojson")),
    )
    for i, feat in enumerate(feats):
        where = f"features[{i}]"
        if not isinstance(feat, dict) or not isinstance(feat.get("properties"), dict):
            raise BuildingError("must be a Feature with properties", where)
        p = feat["properties"]
        kind = p.get("kind")
        if kind not in KINDS:
            raise BuildingError(f"kind must be one of {', '.join(KINDS)}", f"{where}.properties.kind")
        fid = _str(p, "id", where)
        if kind == "floor":
            b.floors[fid] = Floor(
                fid, int(_num(p, "level", where, 0)), _num(p, "elevation_m", where, 0.0),
                _num(p, "height_m", where, 3.0), str(p.get("name", "")),
            )  # fmt: skip
        elif kind == "compartment":
            b.compartments[fid] = Compartment(
                fid, _str(p, "floor", where), str(p.get("type", "smoke")), str(p.get("name", ""))
            )
        elif kind in SPACE_KINDS:
            connects = p.get("connects") or []
            if not isinstance(connects, list):
                raise BuildingError("must be a list of floor ids", f"{where}.properties.connects")
            b.spaces[fid] = Space(
                fid, kind, _str(p, "floor", where), _geom(feat, where, Polygon),
                str(p.get("compartment", "")), str(p.get("name", "")), str(p.get("twin", "")),
                tuple(str(c) for c in connects), _num(p, "flight_m", where, 0.0),
                {k: v for k, v in p.items() if k.startswith("x_")}
                | {k: _num(p, k, where) for k in ("width_m", "speed_m_s", "door_s") if k in p},
            )  # fmt: skip
        elif kind == "door":
            line = _geom(feat, where, LineString)
            between = p.get("between")
            if not isinstance(between, list) or len(between) != 2:
                raise BuildingError("must name two spaces or exits", f"{where}.properties.between")
            b.doors[fid] = Door(
                fid, _str(p, "floor", where), line, (str(between[0]), str(between[1])),
                _num(p, "width_m", where, round(line.length, 3)), bool(p.get("barrier", False)),
                str(p.get("state", "open")),
            )  # fmt: skip
        elif kind == "exit":
            b.exits[fid] = Exit(
                fid, _str(p, "floor", where), _geom(feat, where, Polygon), str(p.get("name", ""))
            )
        else:  # bed
            b.beds[fid] = Bed(fid, _str(p, "room", where), _geom(feat, where, Point), str(p.get("twin", "")))
    return b.validate()


def _feature(geom: Any, props: dict[str, Any]) -> dict[str, Any]:
    g = None if geom is None else mapping(shapely.set_precision(geom, 1e-4))
    return {"type": "Feature", "geometry": _plain(g), "properties": props}


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


def to_geojson(b: Building) -> dict[str, Any]:
    feats = [
        _feature(None, {"kind": "floor", "id": f.id, "level": f.level, "elevation_m": f.elevation_m,
                        "height_m": f.height_m, "name": f.name})
        for f in b.floors.values()
    ]  # fmt: skip
    feats += [
        _feature(None, {"kind": "compartment", "id": c.id, "floor": c.floor, "type": c.kind, "name": c.name})
        for c in b.compartments.values()
    ]
    for s in b.spaces.values():
        props: dict[str, Any] = {"kind": s.kind, "id": s.id, "floor": s.floor, "compartment": s.compartment,
                                 "name": s.name, "twin": s.twin, **s.attrs}  # fmt: skip
        if s.connects:
            props["connects"] = list(s.connects)
        if s.flight_m:
            props["flight_m"] = s.flight_m
        feats.append(_feature(s.polygon, props))
    feats += [
        _feature(d.line, {"kind": "door", "id": d.id, "floor": d.floor, "between": list(d.between),
                          "width_m": d.width_m, "barrier": d.barrier, "state": d.state})
        for d in b.doors.values()
    ]  # fmt: skip
    feats += [_feature(e.polygon, {"kind": "exit", "id": e.id, "floor": e.floor, "name": e.name})
              for e in b.exits.values()]  # fmt: skip
    feats += [
        _feature(x.point, {"kind": "bed", "id": x.id, "room": x.room, "twin": x.twin})
        for x in b.beds.values()
    ]
    return {
        "type": "FeatureCollection",
        "medtwin": {
            "schema": SCHEMA,
            "building": b.id,
            "name": b.name,
            "wall_m": b.wall_m,
            "source": b.source,
        },
        "features": feats,
    }
