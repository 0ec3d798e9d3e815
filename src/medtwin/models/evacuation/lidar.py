"""A floor plan from a point cloud (LiDAR or photogrammetry), with known steps:

1. **Floor level**: the lowest dense layer of a 5 cm height histogram (the floor), the highest
   is the ceiling.
2. **Slices** at walking height above the floor: *walls* between ``wall_band`` (1.2-1.9 m:
   above beds and tables, below door heads, so door openings stay open) and *obstacles* between
   ``obstacle_band`` (0.15-1.9 m: walls plus furniture and beds); the *floor* is where points lie
   within 5 cm of the floor level.
3. **Occupancy grids** of ``cell_m`` (0.1 m): a cell is occupied with ``min_points`` points;
   a one-cell closing fills scan gaps in walls (door gaps are far wider).
4. **Walkable area** = floor and not obstacle, small islands dropped, as polygons (rows of cells
   merged, then simplified by half a cell).
5. **Rooms and doors**: the walkable mask is eroded by half of ``door_probe_m`` (1.4 m: wider than
   doors, narrower than hospital corridors, so doors pinch off and rooms and corridors stay); each remaining blob seeds a space, every walkable cell joins its nearest seed;
   where two spaces touch through a narrow neck, that neck is a *door* (its width is the neck's
   extent). Spaces much longer than wide (aspect >= 3) are corridors.
6. **Exits**: stretches of the floor's edge with no wall beside them (openings in the outer wall
   at least ``min_door_m`` wide) become exit doors with a 2 m deep exit area outside.

Pure numpy/scipy/shapely; the LAS/LAZ reading is in :mod:`medtwin.services.safety.importers`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
import shapely.affinity
from scipy import ndimage
from shapely.geometry import LineString, Polygon, box
from skimage.segmentation import watershed

from medtwin.models.evacuation.building import Building, BuildingError, Door, Exit, Floor, Space


@dataclass(frozen=True)
class LidarParams:
    cell_m: float = 0.1
    wall_band: tuple[float, float] = (1.2, 1.9)
    obstacle_band: tuple[float, float] = (0.15, 1.9)
    min_points: int = 3
    door_probe_m: float = 1.4
    min_door_m: float = 0.6
    min_space_m2: float = 2.0
    wall_m: float = 0.15


@dataclass
class PlanFromCloud:
    building: Building
    floor_z: float
    ceiling_z: float
    walkable: Polygon | shapely.MultiPolygon
    walls: shapely.MultiPolygon | Polygon
    grid_origin: tuple[float, float]
    stats: dict[str, float]


def floor_and_ceiling(z: np.ndarray, bin_m: float = 0.05) -> tuple[float, float]:
    lo, hi = float(np.min(z)), float(np.max(z))
    edges = np.arange(lo, hi + bin_m, bin_m)
    if len(edges) < 3:
        raise BuildingError("the cloud is flat: no floor and walls", "points")
    hist, edges = np.histogram(z, edges)
    dense = np.nonzero(hist >= 0.05 * hist.max())[0]
    return float(edges[dense[0]] + bin_m / 2), float(edges[dense[-1]] + bin_m / 2)


def _grid(xy: np.ndarray, x0: float, y0: float, nx: int, ny: int, cell: float, min_pts: int) -> np.ndarray:
    j = np.clip(((xy[:, 0] - x0) / cell).astype(int), 0, nx - 1)
    i = np.clip(((xy[:, 1] - y0) / cell).astype(int), 0, ny - 1)
    counts = np.bincount(i * nx + j, minlength=nx * ny).reshape(ny, nx)
    return counts >= min_pts


def _polygons(mask: np.ndarray, x0: float, y0: float, cell: float) -> Polygon | shapely.MultiPolygon:
    boxes = []
    for i in range(mask.shape[0]):
        row = np.concatenate([[0], mask[i].astype(np.int8), [0]])
        d = np.diff(row)
        for a, b in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0], strict=True):
            boxes.append(box(x0 + a * cell, y0 + i * cell, x0 + b * cell, y0 + (i + 1) * cell))
    if not boxes:
        return Polygon()
    return shapely.union_all(boxes).simplify(cell / 2).buffer(0)


def _line_of(cells: np.ndarray, x0: float, y0: float, cell: float) -> LineString:
    pts = np.column_stack([x0 + (cells[:, 1] + 0.5) * cell, y0 + (cells[:, 0] + 0.5) * cell])
    c = pts.mean(axis=0)
    if len(pts) < 2:
        return LineString([c - 0.05, c + 0.05])
    _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
    proj = (pts - c) @ vt[0]
    half = (proj.max() - proj.min() + cell) / 2
    mid = c + vt[0] * (proj.max() + proj.min()) / 2
    return LineString([mid - vt[0] * half, mid + vt[0] * half])


def plan_from_points(
    pts: np.ndarray, *, floor: str = "F1", building: str = "scan", p: LidarParams | None = None
) -> PlanFromCloud:
    """Floor plan (spaces, doors, exits) of one storey from an (N, 3) point array in metres."""
    p = p or LidarParams()
    if pts.ndim != 2 or pts.shape[1] < 3 or len(pts) < 100:
        raise BuildingError("needs at least 100 points with x, y, z", "points")
    fz, cz = floor_and_ceiling(pts[:, 2])
    h = pts[:, 2] - fz
    x0, y0 = float(pts[:, 0].min()) - p.cell_m, float(pts[:, 1].min()) - p.cell_m
    nx = int((pts[:, 0].max() - x0) / p.cell_m) + 2
    ny = int((pts[:, 1].max() - y0) / p.cell_m) + 2

    def g(sel: np.ndarray) -> np.ndarray:
        return _grid(pts[sel, :2], x0, y0, nx, ny, p.cell_m, p.min_points)

    walls = ndimage.binary_closing(g((h >= p.wall_band[0]) & (h <= p.wall_band[1])), iterations=1)
    obst = (
        ndimage.binary_closing(g((h >= p.obstacle_band[0]) & (h <= p.obstacle_band[1])), iterations=1) | walls
    )
    floor_m = ndimage.binary_closing(g(np.abs(h) <= 0.05), iterations=2)
    free = floor_m & ~obst
    lab, n = ndimage.label(free)
    sizes = ndimage.sum(free, lab, range(1, n + 1)) * p.cell_m**2
    free = np.isin(lab, 1 + np.nonzero(sizes >= p.min_space_m2)[0])
    if not free.any():
        raise BuildingError("no walkable floor found (is the cloud in metres?)", "points")
    r = max(1, round(p.door_probe_m / 2 / p.cell_m))
    core = ndimage.binary_erosion(free, structure=np.ones((3, 3)), iterations=r)
    seeds, ns = ndimage.label(core)
    keep = [k for k in range(1, ns + 1) if (seeds == k).sum() * p.cell_m**2 >= 0.5]
    if not keep:
        seeds, keep = ndimage.label(free)[0], [1]
    seeds = np.where(np.isin(seeds, keep), seeds, 0)
    # grow the seeds through free cells only (walls stop them), splitting at the narrowest necks
    region = watershed(-ndimage.distance_transform_edt(free), seeds, mask=free)  # type: ignore[no-untyped-call]
    b = Building(building, {floor: Floor(floor, 0, 0.0, round(cz - fz, 2))}, wall_m=p.wall_m, source="lidar")
    names: dict[int, str] = {}
    for k in keep:
        poly = _polygons(region == k, x0, y0, p.cell_m)
        if poly.is_empty:
            continue
        if poly.geom_type == "MultiPolygon":
            poly = max(poly.geoms, key=lambda q: q.area)
        rect = poly.minimum_rotated_rectangle
        xs, ys = rect.exterior.coords.xy
        sides = sorted(np.hypot(np.diff(xs), np.diff(ys))[:2])
        kind = "corridor" if sides[0] > 0 and sides[1] / sides[0] >= 3 else "room"
        sid = f"{floor}-{kind[0].upper()}{len(names) + 1:02d}"
        names[k] = sid
        b.spaces[sid] = Space(sid, kind, floor, poly.buffer(p.wall_m / 2, join_style="mitre"))
    for a_k, b_k, cells in _necks(region, names):
        line = _line_of(cells, x0, y0, p.cell_m)
        if line.length >= p.min_door_m:
            did = f"{floor}-D{len(b.doors) + 1:02d}"
            b.doors[did] = Door(did, floor, line, (names[a_k], names[b_k]), round(line.length, 2))
    _exits(b, floor, free, walls, region, names, x0, y0, p)
    walkable = _polygons(free, x0, y0, p.cell_m)
    stats = {"points": float(len(pts)), "walkable_m2": round(walkable.area, 2), "spaces": float(len(b.spaces)),
             "doors": float(len(b.doors)), "exits": float(len(b.exits)), "storey_height_m": round(cz - fz, 2)}  # fmt: skip
    return PlanFromCloud(b.validate(), fz, cz, walkable, _polygons(walls, x0, y0, p.cell_m), (x0, y0), stats)


def _necks(region: np.ndarray, names: dict[int, str]) -> list[tuple[int, int, np.ndarray]]:
    """Pairs of touching regions and the cells along their shared boundary."""
    pairs: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for di, dj in ((0, 1), (1, 0)):
        a = region[: region.shape[0] - di, : region.shape[1] - dj]
        c = region[di:, dj:]
        hit = (a > 0) & (c > 0) & (a != c)
        for i, j in zip(*np.nonzero(hit), strict=True):
            k1, k2 = int(a[i, j]), int(c[i, j])
            if k1 in names and k2 in names:
                pairs.setdefault((min(k1, k2), max(k1, k2)), []).append((int(i), int(j)))
    return [(k1, k2, np.array(v)) for (k1, k2), v in sorted(pairs.items())]


def _exits(b: Building, floor: str, free: np.ndarray, walls: np.ndarray, region: np.ndarray,
           names: dict[int, str], x0: float, y0: float, p: LidarParams) -> None:  # fmt: skip
    filled = ndimage.binary_fill_holes(ndimage.binary_dilation(free | walls, iterations=2))
    edge = free & ~ndimage.binary_erosion(filled, iterations=3)
    near_wall = ndimage.binary_dilation(walls, iterations=3)
    open_edge = edge & ~near_wall
    lab, n = ndimage.label(open_edge, structure=np.ones((3, 3)))
    for k in range(1, n + 1):
        cells = np.argwhere(lab == k)
        line = _line_of(cells, x0, y0, p.cell_m)
        # the wall mask was dilated by 3 cells: the opening reaches that far further on each end
        f = (line.length + 2 * 3 * p.cell_m - p.cell_m) / max(line.length, 1e-9)
        line = shapely.affinity.scale(line, xfact=f, yfact=f, origin="center")
        if line.length < p.min_door_m:
            continue
        owner = np.bincount(region[cells[:, 0], cells[:, 1]]).argmax()
        if owner not in names:
            continue
        (ax, ay), (bx, by) = line.coords
        nrm = np.array([-(by - ay), bx - ax]) / line.length
        mid = np.array(line.interpolate(0.5, normalized=True).coords[0])
        test = mid + nrm * 0.5
        ti, tj = int((test[1] - y0) / p.cell_m), int((test[0] - x0) / p.cell_m)
        inside = 0 <= ti < free.shape[0] and 0 <= tj < free.shape[1] and filled[ti, tj]
        out = -nrm if inside else nrm
        shift = out * (p.wall_m / 2 + p.cell_m)
        door_line = LineString([(ax + shift[0], ay + shift[1]), (bx + shift[0], by + shift[1])])
        a2 = np.array(door_line.coords)
        exit_poly = Polygon([a2[0], a2[1], a2[1] + out * 2.0, a2[0] + out * 2.0]).buffer(0)
        eid = f"{floor}-EXIT{len(b.exits) + 1}"
        b.exits[eid] = Exit(
            eid, floor, exit_poly if exit_poly.geom_type == "Polygon" else exit_poly.convex_hull
        )
        did = f"{eid}-D"
        b.doors[did] = Door(did, floor, door_line, (names[int(owner)], eid), round(line.length, 2))
