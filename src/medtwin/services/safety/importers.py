"""Reading building plans: GeoJSON files, LiDAR point clouds (LAS/LAZ) and IFC models.

* GeoJSON: :func:`medtwin.models.evacuation.geojson.from_geojson` (schema medtwin-building/1).
* LAS/LAZ: laspy (lazrs for LAZ) reads the scaled x, y, z; a storey is cut out by ``z_range`` when
  the cloud holds several; :func:`medtwin.models.evacuation.lidar.plan_from_points` does the rest.
* IFC (optional extra ``medtwin[ifc]``: ifcopenshell, LGPL-3.0, 55 MB wheel / 204 MB installed):
  storeys become floors; ``IfcSpace`` footprints become spaces (``stair``/``corridor`` from their
  names), ``IfcZone`` groups of spaces become compartments, ``IfcStair`` footprints stair spaces,
  ``IfcDoor`` a door line through its footprint's long axis joining the two nearest spaces (a door
  with a space on one side only opens to the outside and gets an exit area). A storey without
  spaces becomes one space: the walls' outline less the walls. Geometry comes from
  ``ifcopenshell.geom`` in world coordinates (metres).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

from medtwin.core.errors import ValidationError
from medtwin.models.evacuation.building import Building, BuildingError, Compartment, Door, Exit, Floor, Space
from medtwin.models.evacuation.geojson import from_geojson
from medtwin.models.evacuation.lidar import LidarParams, PlanFromCloud, plan_from_points

IFC_HINT = "IFC import needs the optional extra: pip install 'medtwin[ifc]' (ifcopenshell)"


def _err(exc: BuildingError, prefix: str) -> ValidationError:
    return ValidationError(exc.reason, field=f"{prefix}.{exc.field}" if prefix else exc.field)


def read_geojson(data: bytes | str | dict[str, Any]) -> Building:
    try:
        doc = data if isinstance(data, dict) else json.loads(data)
        return from_geojson(doc)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not JSON: {exc}", field="building") from None
    except BuildingError as exc:
        raise _err(exc, "building") from None


def read_points(data: bytes) -> np.ndarray:
    import laspy

    try:
        las = laspy.read(io.BytesIO(data))
    except Exception as exc:
        raise ValidationError(f"not a readable LAS/LAZ file ({exc})", field="file") from None
    return np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])


def read_lidar(data: bytes, *, building: str, floor: str = "F1", z_range: tuple[float, float] | None = None,
               params: LidarParams | None = None) -> PlanFromCloud:  # fmt: skip
    pts = read_points(data)
    if z_range is not None:
        pts = pts[(pts[:, 2] >= z_range[0]) & (pts[:, 2] <= z_range[1])]
    try:
        return plan_from_points(pts, floor=floor, building=building, p=params)
    except BuildingError as exc:
        raise _err(exc, "") from None


def write_laz(path: Path, pts: np.ndarray) -> None:
    """Points to a LAS 1.4 file (LAZ when the name ends in .laz), millimetre precision."""
    import laspy

    header = laspy.LasHeader(point_format=0, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = pts.min(axis=0)
    las = laspy.LasData(header)
    las.x, las.y, las.z = pts[:, 0], pts[:, 1], pts[:, 2]
    las.write(str(path))


# ---------------------------------------------------------------------- IFC
def _ifc() -> Any:
    try:
        import ifcopenshell
        import ifcopenshell.geom
        import ifcopenshell.util.element
    except ImportError:
        raise ValidationError(IFC_HINT, field="format") from None
    return ifcopenshell


def _footprint(ifc: Any, settings: Any, el: Any) -> Polygon | None:
    try:
        shape = ifc.geom.create_shape(settings, el)
    except Exception:
        return None
    v = np.asarray(shape.geometry.verts, dtype=float).reshape(-1, 3)
    f = np.asarray(shape.geometry.faces, dtype=int).reshape(-1, 3)
    if not len(f):
        return None
    tris = [Polygon(v[t, :2]) for t in f]
    geom = shapely.union_all([t for t in tris if t.area > 1e-9]).buffer(0)
    if geom.is_empty:
        return None
    return max(geom.geoms, key=lambda g: g.area) if geom.geom_type == "MultiPolygon" else geom


def _ident(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", s).strip("-")[:60] or "x"


def read_ifc(data: bytes, *, building: str | None = None) -> Building:
    ifc = _ifc()
    try:
        f = ifc.file.from_string(data.decode("utf-8", errors="replace"))
        f.by_type("IfcBuilding")  # a file without a schema only fails here
    except Exception as exc:
        raise ValidationError(f"not a readable IFC file ({exc})", field="file") from None
    settings = ifc.geom.settings()
    settings.set("use-world-coords", True)
    bld = f.by_type("IfcBuilding")
    bid = building or _ident(bld[0].Name if bld and bld[0].Name else "ifc-building")
    b = Building(bid, {}, name=bld[0].Name or "" if bld else "", source="ifc")
    storeys = sorted(f.by_type("IfcBuildingStorey"), key=lambda s: float(s.Elevation or 0.0))
    if not storeys:
        raise ValidationError("the model has no IfcBuildingStorey", field="file")
    util = ifc.util.element
    for lvl, st in enumerate(storeys):
        fid = _ident(st.Name or f"L{lvl}")
        if fid in b.floors:
            fid = f"{fid}-{lvl}"
        b.floors[fid] = Floor(fid, lvl, float(st.Elevation or 0.0), 3.0, st.Name or "")
        members = [e for e in f.by_type("IfcProduct") if util.get_container(e) == st]
        for sp in [e for e in members if e.is_a("IfcSpace")] + [
            e for e in f.by_type("IfcSpace") if util.get_aggregate(e) == st
        ]:
            poly = _footprint(ifc, settings, sp)
            if poly is None or poly.area < 0.5:
                continue
            label = f"{sp.Name or ''} {sp.LongName or ''}".lower()
            kind = (
                "stair"
                if "stair" in label
                else "corridor"
                if ("corridor" in label or "circulation" in label)
                else "room"
            )
            sid = _ident(sp.Name or sp.GlobalId)
            sid = sid if sid not in b.spaces else f"{sid}-{sp.id()}"
            b.spaces[sid] = Space(sid, kind, fid, poly, name=sp.LongName or sp.Name or "")
        for stair in [e for e in members if e.is_a("IfcStair")]:
            poly = _footprint(ifc, settings, stair)
            if poly is not None and poly.area >= 0.5:
                sid = _ident(stair.Name or stair.GlobalId)
                b.spaces[sid] = Space(sid, "stair", fid, poly, name=stair.Name or "", flight_m=0.0)
        if not b.spaces_on(fid):
            walls = [
                p
                for p in (_footprint(ifc, settings, w) for w in members if w.is_a("IfcWall"))
                if p is not None
            ]
            if walls:
                wall_geom = shapely.union_all(walls)
                free = wall_geom.convex_hull.difference(wall_geom)
                if not free.is_empty:
                    free = max(free.geoms, key=lambda g: g.area) if free.geom_type == "MultiPolygon" else free
                    b.spaces[f"{fid}-FREE"] = Space(f"{fid}-FREE", "room", fid, free)
        for door in [e for e in members if e.is_a("IfcDoor")]:
            _door(b, fid, door, _footprint(ifc, settings, door))
    for z in f.by_type("IfcZone"):
        spaces = [o for rel in (z.IsGroupedBy or []) for o in rel.RelatedObjects if o.is_a("IfcSpace")]
        ids = [_ident(s.Name or s.GlobalId) for s in spaces if _ident(s.Name or s.GlobalId) in b.spaces]
        if ids:
            cid = _ident(z.Name or z.GlobalId)
            b.compartments[cid] = Compartment(cid, b.spaces[ids[0]].floor, "smoke", z.Name or "")
            for sid in ids:
                s = b.spaces[sid]
                b.spaces[sid] = Space(
                    s.id, s.kind, s.floor, s.polygon, cid, s.name, s.twin, s.connects, s.flight_m
                )
    for sid, s in list(b.spaces.items()):
        if s.kind == "stair":
            b.spaces[sid] = Space(
                s.id,
                s.kind,
                s.floor,
                s.polygon,
                s.compartment,
                s.name,
                s.twin,
                tuple(b.floors),
                s.flight_m or 10.0,
            )
    try:
        return b.validate()
    except BuildingError as exc:
        raise _err(exc, "ifc") from None


def _door(b: Building, floor: str, door: Any, fp: Polygon | None) -> None:
    if fp is None:
        return
    rect = fp.minimum_rotated_rectangle
    xy = np.asarray(rect.exterior.coords)[:4]
    sides = [(xy[i], xy[(i + 1) % 4]) for i in range(4)]
    long_s = max(sides, key=lambda s: np.hypot(*(s[1] - s[0])))
    off = xy.mean(axis=0) - (long_s[0] + long_s[1]) / 2  # the long side moved to the centre line
    line = LineString([long_s[0] + off, long_s[1] + off])
    width = float(door.OverallWidth) if getattr(door, "OverallWidth", None) else line.length
    (ax, ay), (bx, by) = line.coords
    mid = np.array(line.interpolate(0.5, normalized=True).coords[0])
    n = np.array([-(by - ay), bx - ax]) / max(line.length, 1e-9)
    side_of: dict[int, tuple[float, str]] = {}
    for s in b.spaces_on(floor):  # the nearest space on each side of the wall, within half a metre
        for sign in (1, -1):
            probe = Point(*(mid + sign * n * 0.4))
            d = s.polygon.distance(probe)
            if d <= 0.15 and (sign not in side_of or d < side_of[sign][0]):
                side_of[sign] = (d, s.id)
    near = [side_of[k] for k in sorted(side_of)]
    did = _ident(door.Name or door.GlobalId)
    if len(near) == 2 and near[0][1] != near[1][1]:
        b.doors[did] = Door(did, floor, line, (near[0][1], near[1][1]), round(width, 3))
    elif len(near) == 1:  # an outside door: add the exit area on the side away from the space
        sp = b.spaces[near[0][1]].polygon
        out = n if sp.distance(Point(*(mid + n))) > sp.distance(Point(*(mid - n))) else -n
        p = np.array(line.coords)
        eid = f"{did}-EXIT"
        b.exits[eid] = Exit(eid, floor, Polygon([p[0], p[1], p[1] + 2 * out, p[0] + 2 * out]))
        b.doors[did] = Door(did, floor, line, (near[0][1], eid), round(width, 3))
