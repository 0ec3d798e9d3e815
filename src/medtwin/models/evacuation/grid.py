"""A floor as a raster: which space or door each cell belongs to, walking distances and routes.

Cells (``cell_m``, 0.2 m by default) take the label of the space whose walkable area (the polygon
less half a wall) holds their centre, or of the door whose opening holds it (doors win). Cells
are joined to their 8 neighbours only within one space, or between a door and a space, so
distances never leak through walls that are thinner than a cell. Distances are shortest paths on
this graph (Dijkstra, :func:`scipy.sparse.csgraph.dijkstra`); on an 8-connected grid they exceed
the Euclidean length by at most 8 % (1 / cos 22.5 deg), which errs on the slow (safe) side.
Blocked spaces (untenable, outbreak) are taken out of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from medtwin.models.evacuation.building import Building

SQRT2 = float(np.sqrt(2.0))


@dataclass
class FloorGrid:
    floor: str
    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    label: np.ndarray  # (ny, nx) int: -1 wall/outside, 0..S-1 spaces/exits, S.. doors
    names: list[str]  # label -> space, exit or door id
    n_areas: int  # labels below this are spaces/exits, the rest doors
    _edges: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False, default=None)  # type: ignore[assignment]

    @staticmethod
    def build(b: Building, floor: str, cell: float = 0.2, *, open_plan: bool = False) -> FloorGrid:
        minx, miny, maxx, maxy = b.bounds(floor)
        x0, y0 = minx - cell, miny - cell
        nx = int(np.ceil((maxx - x0) / cell)) + 2
        ny = int(np.ceil((maxy - y0) / cell)) + 2
        xs = x0 + (np.arange(nx) + 0.5) * cell
        ys = y0 + (np.arange(ny) + 0.5) * cell
        gx, gy = np.meshgrid(xs, ys)
        label = np.full((ny, nx), -1, dtype=np.int32)
        names: list[str] = []
        areas = [s.id for s in b.spaces_on(floor)] + [e.id for e in b.exits_on(floor)]
        for sid in areas:
            geom = b.shrunk(sid)
            shapely.prepare(geom)
            label[shapely.intersects_xy(geom, gx, gy)] = len(names)
            names.append(sid)
        n_areas = len(names)
        for d in b.doors_on(floor):
            geom = b.door_opening(d.id)
            shapely.prepare(geom)
            label[shapely.intersects_xy(geom, gx, gy)] = len(names)
            names.append(d.id)
        g = FloorGrid(floor, x0, y0, cell, nx, ny, label, names, n_areas)
        g._edges = g._make_edges(open_plan)
        return g

    # ------------------------------------------------------------------ coordinates
    def cell_of(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        i = np.clip(((np.asarray(y) - self.y0) / self.cell).astype(int), 0, self.ny - 1)
        j = np.clip(((np.asarray(x) - self.x0) / self.cell).astype(int), 0, self.nx - 1)
        return np.asarray(i * self.nx + j)

    def centre(self, idx: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(idx)
        return self.x0 + (idx % self.nx + 0.5) * self.cell, self.y0 + (idx // self.nx + 0.5) * self.cell

    def label_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Label of the cell under each point (-1 outside); points on a wall edge look around them."""
        lab: np.ndarray = self.label.ravel()[self.cell_of(x, y)]
        miss = np.nonzero(lab < 0)[0]
        for k in miss:  # a point just inside a shrunk edge: nearest labelled cell within 2 cells
            lab[k] = self._nearby(float(np.asarray(x)[k]), float(np.asarray(y)[k]))
        return lab

    def _nearby(self, x: float, y: float, reach: int = 2) -> int:
        i0 = int((y - self.y0) / self.cell)
        j0 = int((x - self.x0) / self.cell)
        best, lab = np.inf, -1
        for i in range(max(0, i0 - reach), min(self.ny, i0 + reach + 1)):
            for j in range(max(0, j0 - reach), min(self.nx, j0 + reach + 1)):
                v = self.label[i, j]
                dd = (i - i0) ** 2 + (j - j0) ** 2
                if v >= 0 and dd < best:
                    best, lab = dd, int(v)
        return lab

    def cells_of(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.label.ravel() == self.names.index(name))

    # ------------------------------------------------------------------ graph
    def _make_edges(self, open_plan: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lab = self.label
        src, dst, w = [], [], []
        idx = np.arange(self.nx * self.ny).reshape(self.ny, self.nx)
        for di, dj, cost in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, SQRT2), (1, -1, SQRT2)):
            a = lab[max(0, -di) : self.ny - max(0, di), max(0, -dj) : self.nx - max(0, dj)]
            b = lab[max(0, di) :, max(0, dj) : self.nx + min(0, dj)][: a.shape[0], : a.shape[1]]
            ia = idx[max(0, -di) : self.ny - max(0, di), max(0, -dj) : self.nx - max(0, dj)]
            ib = idx[max(0, di) :, max(0, dj) : self.nx + min(0, dj)][: a.shape[0], : a.shape[1]]
            ok = (a >= 0) & (b >= 0)
            if not open_plan:  # no passing between spaces but through doors
                ok &= (a == b) | (a >= self.n_areas) | (b >= self.n_areas)
            src.append(ia[ok])
            dst.append(ib[ok])
            w.append(np.full(int(ok.sum()), cost * self.cell))
        return np.concatenate(src), np.concatenate(dst), np.concatenate(w)

    def _graph(self, blocked: frozenset[str]) -> csr_matrix:
        s, d, w = self._edges
        if blocked:
            bad = np.array([i for i, n in enumerate(self.names) if n in blocked], dtype=np.int32)
            lab = self.label.ravel()
            keep = ~(np.isin(lab[s], bad) | np.isin(lab[d], bad))
            s, d, w = s[keep], d[keep], w[keep]
        n = self.nx * self.ny
        return csr_matrix(
            (np.concatenate([w, w]), (np.concatenate([s, d]), np.concatenate([d, s]))), shape=(n, n)
        )

    def distance_field(
        self, targets: list[str], blocked: frozenset[str] = frozenset()
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distance (m) from every cell to the nearest cell of any target, the predecessor of each
        cell on its way, and which target cell it ends at (-9999: unreachable)."""
        src = np.concatenate([self.cells_of(t) for t in targets])
        dist, pred, origin = dijkstra(
            self._graph(blocked - set(targets)), indices=src, min_only=True, return_predecessors=True
        )
        return dist, pred, origin

    def path(self, pred: np.ndarray, start: int) -> list[int]:
        out, cur = [start], start
        while pred[cur] >= 0:
            cur = int(pred[cur])
            out.append(cur)
        return out

    def doors_on_path(self, cells: list[int]) -> list[str]:
        """Door ids in the order the path crosses them."""
        lab = self.label.ravel()[cells]
        out: list[str] = []
        for v in lab:
            if v >= self.n_areas and (not out or out[-1] != self.names[v]):
                out.append(self.names[v])
        return out

    def areas_on_path(self, cells: list[int]) -> list[tuple[str, float]]:
        """(space, exit or door id, metres walked in it) along a path, in order."""
        lab = self.label.ravel()[cells]
        xs, ys = self.centre(np.asarray(cells))
        seg = np.hypot(np.diff(xs), np.diff(ys))
        out: list[tuple[str, float]] = []
        for v, m in zip(lab[1:], seg, strict=True):
            name = self.names[v]
            if out and out[-1][0] == name:
                out[-1] = (name, out[-1][1] + float(m))
            else:
                out.append((name, float(m)))
        return out
