"""Synthetic point clouds of a known ward layout, for tests, demos and the docs (no PyPI wheel ships
LiDAR samples of buildings: research note §5).

The layout: a ``length`` x ``depth`` storey, a corridor along its middle, ``rooms`` rooms on the
north side with 1.2 m doors, an exterior door of 1.6 m at the west end of the corridor, and a bed
(2.0 x 0.9 x 0.6 m) in the first room as clutter. Walls 0.15 m thick, 3.0 m storey; surfaces are
sampled at ``density`` points/m2 with 1 cm noise. :func:`truth` gives the known answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WALL = 0.15
DOOR_H = 2.1


@dataclass(frozen=True)
class Layout:
    length: float = 20.0
    depth: float = 12.0
    corridor: tuple[float, float] = (4.0, 6.4)  # y range
    rooms: int = 4
    door_w: float = 1.2
    exit_w: float = 1.6
    height: float = 3.0
    bed: tuple[float, float, float, float] = (1.5, 8.0, 3.5, 8.9)  # x0, y0, x1, y1 in room 1


def truth(lay: Layout = Layout()) -> dict[str, float]:
    room_w = lay.length / lay.rooms
    corridor = (lay.length - WALL) * (lay.corridor[1] - lay.corridor[0] - WALL)  # clear, between wall faces
    free = corridor + lay.rooms * (room_w - WALL) * (lay.depth - lay.corridor[1] - WALL)
    free -= (lay.bed[2] - lay.bed[0]) * (lay.bed[3] - lay.bed[1])
    return {"rooms": lay.rooms, "corridors": 1, "doors": lay.rooms, "exits": 1, "door_w": lay.door_w,
            "exit_w": lay.exit_w, "free_m2": free}  # fmt: skip


def _plane(
    rng: np.random.Generator, a: np.ndarray, u: np.ndarray, v: np.ndarray, density: float
) -> np.ndarray:
    area = np.linalg.norm(u) * np.linalg.norm(v)
    n = max(1, int(area * density))
    s, t = rng.random((n, 1)), rng.random((n, 1))
    pts: np.ndarray = a + s * u + t * v
    return pts


def _wall_x(
    rng: np.random.Generator,
    x0: float,
    x1: float,
    y: float,
    h: float,
    gaps: list[tuple[float, float]],
    density: float,
) -> list[np.ndarray]:
    """A wall along x at y from x0 to x1, with door gaps [(xa, xb)] up to the door head."""
    out = []
    cuts = sorted(gaps)
    xs = [x0, *[c for g in cuts for c in g], x1]
    for k in range(0, len(xs), 2):
        a, b = xs[k], xs[k + 1]
        if b > a:
            for off in (-WALL / 2, WALL / 2):
                out.append(
                    _plane(
                        rng, np.array([a, y + off, 0]), np.array([b - a, 0, 0]), np.array([0, 0, h]), density
                    )
                )
    for a, b in cuts:  # above the door
        out.append(
            _plane(
                rng, np.array([a, y, DOOR_H]), np.array([b - a, 0, 0]), np.array([0, 0, h - DOOR_H]), density
            )
        )
    return out


def _wall_y(
    rng: np.random.Generator,
    y0: float,
    y1: float,
    x: float,
    h: float,
    gaps: list[tuple[float, float]],
    density: float,
) -> list[np.ndarray]:
    pts = _wall_x(rng, y0, y1, x, h, gaps, density)
    return [p[:, [1, 0, 2]] for p in pts]


def scan(lay: Layout = Layout(), *, density: float = 400.0, seed: int = 1) -> np.ndarray:
    """(N, 3) points in metres of the layout, floor at z = 0."""
    rng = np.random.default_rng(seed)
    parts = [
        _plane(rng, np.array([0, 0, 0]), np.array([lay.length, 0, 0]), np.array([0, lay.depth, 0]), density),
        _plane(
            rng,
            np.array([0, 0, lay.height]),
            np.array([lay.length, 0, 0]),
            np.array([0, lay.depth, 0]),
            density / 4,
        ),
    ]
    room_w = lay.length / lay.rooms
    c0, c1 = lay.corridor
    doors = [
        (i * room_w + room_w / 2 - lay.door_w / 2, i * room_w + room_w / 2 + lay.door_w / 2)
        for i in range(lay.rooms)
    ]
    parts += _wall_x(rng, 0, lay.length, c1, lay.height, doors, density)  # corridor / rooms
    parts += _wall_x(rng, 0, lay.length, c0, lay.height, [], density)  # corridor / south (closed plant zone)
    parts += _wall_x(rng, 0, lay.length, lay.depth, lay.height, [], density)
    mid = (c0 + c1) / 2
    parts += _wall_y(
        rng, c0, lay.depth, 0.0, lay.height, [(mid - lay.exit_w / 2, mid + lay.exit_w / 2)], density
    )
    parts += _wall_y(rng, c0, lay.depth, lay.length, lay.height, [], density)
    for i in range(1, lay.rooms):
        parts += _wall_y(rng, c1, lay.depth, i * room_w, lay.height, [], density)
    x0, y0, x1, y1 = lay.bed
    for z in (0.6,):  # the bed: a top and four sides
        parts.append(
            _plane(rng, np.array([x0, y0, z]), np.array([x1 - x0, 0, 0]), np.array([0, y1 - y0, 0]), density)
        )
    for a, u in (
        ((x0, y0), (x1 - x0, 0)),
        ((x0, y1), (x1 - x0, 0)),
        ((x0, y0), (0, y1 - y0)),
        ((x1, y0), (0, y1 - y0)),
    ):
        parts.append(_plane(rng, np.array([*a, 0.0]), np.array([*u, 0.0]), np.array([0, 0, 0.6]), density))
    pts = np.concatenate(parts)
    # the slab south of the corridor wall is outside the storey: drop floor/ceiling points there
    keep = ~((pts[:, 1] < c0 - WALL) & ((np.abs(pts[:, 2]) < 0.02) | (np.abs(pts[:, 2] - lay.height) < 0.02)))
    pts = pts[keep]
    noisy: np.ndarray = pts + rng.normal(0, 0.01, pts.shape)
    return noisy


def ifc_bytes(lay: Layout = Layout()) -> bytes:
    """The same layout as an IFC4 model (ifcopenshell.api): one storey, spaces (extruded
    footprints on wall centre lines), walls and doors; the exit door has a space on one side only."""
    import ifcopenshell.api as api

    f = api.run("project.create_file", version="IFC4")
    proj = api.run("root.create_entity", f, ifc_class="IfcProject", name="synthetic ward")
    api.run("unit.assign_unit", f)
    ctx = api.run("context.add_context", f, context_type="Model")
    body = api.run("context.add_context", f, context_type="Model", context_identifier="Body",
                   target_view="MODEL_VIEW", parent=ctx)  # fmt: skip
    site = api.run("root.create_entity", f, ifc_class="IfcSite", name="site")
    bld = api.run("root.create_entity", f, ifc_class="IfcBuilding", name="SYN")
    st = api.run("root.create_entity", f, ifc_class="IfcBuildingStorey", name="L1")
    api.run("aggregate.assign_object", f, relating_object=proj, products=[site])
    api.run("aggregate.assign_object", f, relating_object=site, products=[bld])
    api.run("aggregate.assign_object", f, relating_object=bld, products=[st])

    def space(name: str, x0: float, y0: float, x1: float, y1: float) -> None:
        sp = api.run("root.create_entity", f, ifc_class="IfcSpace", name=name)
        rep = api.run("geometry.add_slab_representation", f, context=body, depth=lay.height,
                      polyline=[(x0, y0), (x1, y0), (x1, y1), (x0, y1)])  # fmt: skip
        api.run("geometry.assign_representation", f, product=sp, representation=rep)
        api.run("aggregate.assign_object", f, relating_object=st, products=[sp])

    def door(name: str, x: float, y: float, w: float, along_y: bool = False) -> None:
        d = api.run("root.create_entity", f, ifc_class="IfcDoor", name=name)
        d.OverallWidth, d.OverallHeight = w, DOOR_H
        rep = api.run("geometry.add_slab_representation", f, context=body, depth=DOOR_H,
                      polyline=[(x - w / 2, y - WALL / 2), (x + w / 2, y - WALL / 2), (x + w / 2, y + WALL / 2),
                                (x - w / 2, y + WALL / 2)] if not along_y else
                      [(x - WALL / 2, y - w / 2), (x + WALL / 2, y - w / 2), (x + WALL / 2, y + w / 2),
                       (x - WALL / 2, y + w / 2)])  # fmt: skip
        api.run("geometry.assign_representation", f, product=d, representation=rep)
        api.run("spatial.assign_container", f, relating_structure=st, products=[d])

    c0, c1 = lay.corridor
    room_w = lay.length / lay.rooms
    space("CORRIDOR", 0, c0, lay.length, c1)
    for i in range(lay.rooms):
        space(f"R{i + 1:02d}", i * room_w, c1, (i + 1) * room_w, lay.depth)
        door(f"D{i + 1:02d}", i * room_w + room_w / 2, c1, lay.door_w)
    door("D-EXIT", 0.0, (c0 + c1) / 2, lay.exit_w, along_y=True)
    return f.to_string().encode()  # type: ignore[no-any-return]
