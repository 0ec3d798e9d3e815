"""The building as a GLB (binary glTF 2.0, trimesh) for the dashboard's 3D view, with live occupancy.

Floors are stacked at their elevation; each space is a thin slab named by its id and coloured by
how many people are in it now (grey empty, then yellow to red), walls are drawn 1 m high (a
cut-away: the plan stays readable from above), exits are green, barrier doors orange, and each
occupied bed is a box coloured by its patient's mobility class. glTF is y-up: plan (x, y) and
height z become (x, z, -y).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import shapely
import trimesh

from medtwin.models.evacuation.building import Building

CLASS_RGB = {
    "ambulant": (76, 175, 80), "walking_aid": (139, 195, 74), "wheelchair": (255, 193, 7),
    "bed_bound": (255, 152, 0), "critical": (244, 67, 54), "staff": (33, 150, 243), "": (158, 158, 158),
}  # fmt: skip
Y_UP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=float)


def _rgba(rgb: tuple[int, int, int], a: int = 255) -> list[int]:
    return [*rgb, a]


def _occupancy_rgb(n: int, peak: int) -> tuple[int, int, int]:
    if n <= 0:
        return (120, 128, 140)
    f = min(1.0, n / max(peak, 1))
    return (255, int(220 - 160 * f), int(80 - 60 * f))


def _extrude(p: Any, z0: float, h: float) -> trimesh.Trimesh:
    """A polygon (with holes) extruded from z0 to z0 + h; caps by shapely's constrained Delaunay."""
    tris = [t for t in shapely.constrained_delaunay_triangles(p).geoms if t.area > 1e-10]
    verts: list[tuple[float, float, float]] = []
    faces: list[tuple[int, int, int]] = []
    for t in tris:
        (a, b, c) = list(t.exterior.coords)[:3]
        if (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) < 0:
            b, c = c, b
        k = len(verts)
        verts += [(*a, z0 + h), (*b, z0 + h), (*c, z0 + h), (*a, z0), (*c, z0), (*b, z0)]
        faces += [(k, k + 1, k + 2), (k + 3, k + 4, k + 5)]
    for ring in [p.exterior, *p.interiors]:
        xy = list(ring.coords)
        for (x1, y1), (x2, y2) in itertools.pairwise(xy):
            k = len(verts)
            verts += [(x1, y1, z0), (x2, y2, z0), (x2, y2, z0 + h), (x1, y1, z0 + h)]
            faces += [(k, k + 1, k + 2), (k, k + 2, k + 3)]
    m = trimesh.Trimesh(np.asarray(verts), np.asarray(faces), process=False)
    trimesh.repair.fix_normals(m, multibody=True)  # type: ignore[no-untyped-call]
    return m


def _prism(poly: Any, z0: float, h: float, rgb: tuple[int, int, int]) -> trimesh.Trimesh | None:
    polys = list(poly.geoms) if poly.geom_type in ("MultiPolygon", "GeometryCollection") else [poly]
    meshes = [_extrude(shapely.orient_polygons(p), z0, h) for p in polys
              if p.geom_type == "Polygon" and not p.is_empty and p.area >= 1e-4]  # fmt: skip
    if not meshes:
        return None
    m: trimesh.Trimesh = trimesh.util.concatenate(meshes)  # type: ignore[assignment]
    m.visual.face_colors = _rgba(rgb)  # type: ignore[union-attr]
    m.apply_transform(Y_UP)
    return m


def building_glb(b: Building, *, occupancy: dict[str, int] | None = None, beds: dict[str, str] | None = None,
                 wall_height_m: float = 1.0) -> bytes:  # fmt: skip
    occupancy = occupancy or {}
    beds = beds or {}
    peak = max(occupancy.values(), default=1)
    scene = trimesh.Scene()
    for f in b.floors.values():
        z = f.elevation_m
        for s in b.spaces_on(f.id):
            m = _prism(b.shrunk(s.id), z, 0.05, _occupancy_rgb(occupancy.get(s.id, 0), peak))
            if m is not None:
                scene.add_geometry(m, node_name=f"space:{s.id}", geom_name=f"space:{s.id}")
        for e in b.exits_on(f.id):
            m = _prism(b.shrunk(e.id), z, 0.05, (46, 204, 113))
            if m is not None:
                scene.add_geometry(m, node_name=f"exit:{e.id}", geom_name=f"exit:{e.id}")
        rings = shapely.union_all([s.polygon.boundary for s in b.spaces_on(f.id)])
        walls = rings.buffer(b.wall_m / 2 or 0.05, cap_style="flat", join_style="mitre")
        openings = [b.door_opening(d.id) for d in b.doors_on(f.id)]
        if openings:
            walls = walls.difference(shapely.union_all(openings))
        m = _prism(walls, z, wall_height_m, (200, 205, 212))
        if m is not None:
            scene.add_geometry(m, node_name=f"walls:{f.id}", geom_name=f"walls:{f.id}")
        for d in b.doors_on(f.id):
            if d.barrier:
                m = _prism(b.door_opening(d.id), z, 0.12, (255, 140, 0))
                if m is not None:
                    scene.add_geometry(m, node_name=f"barrier:{d.id}", geom_name=f"barrier:{d.id}")
    for bid, cls in beds.items():
        bed = b.beds.get(bid)
        if bed is None:
            continue
        z = b.floors[b.spaces[bed.room].floor].elevation_m
        box = shapely.geometry.box(
            bed.point.x - 0.45, bed.point.y - 1.0, bed.point.x + 0.45, bed.point.y + 1.0
        )
        m = _prism(box, z + 0.05, 0.5, CLASS_RGB.get(cls, CLASS_RGB[""]))
        if m is not None:
            scene.add_geometry(m, node_name=f"bed:{bid}", geom_name=f"bed:{bid}")
    return scene.export(file_type="glb")  # type: ignore[no-untyped-call, no-any-return]
