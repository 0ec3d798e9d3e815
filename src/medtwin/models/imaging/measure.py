"""Measurements of a segmented structure: volume, centroid, 3D maximum diameter, RECIST long axis
and short axis in the acquisition plane, and intensity (HU) statistics.

* Volume is the voxel count times the voxel volume, as Slicer's Segment Statistics ("labelmap
  volume") reports it.
* Diameters are measured on the iso-contour midway between inside and outside voxel centres
  (marching squares / marching cubes at level 0.5), so a sphere of diameter *d* measures *d*
  within about one voxel; voxel centres alone would underestimate by up to a voxel.
* RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247, section 3.2): lesions are measured
  in the plane of acquisition (axial for CT); the *long axis* is the longest in-plane diameter on
  the slice where it is largest, and the *short axis* of a lymph node is its longest diameter
  perpendicular to the long axis on that slice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import ConvexHull, QhullError
from shapely.geometry import LineString, Polygon
from skimage import measure as skm

from medtwin.models.imaging.volume import F64, to_lps, voxel_mm3


@dataclass
class Stats:
    voxels: int
    volume_ml: float
    centroid_lps: list[float] | None
    max_diameter_mm: float
    long_axis_mm: float
    short_axis_mm: float
    long_axis_slice: int | None
    long_axis_ends_lps: list[list[float]] | None
    hu: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("volume_ml", "max_diameter_mm", "long_axis_mm", "short_axis_mm"):
            d[k] = round(float(d[k]), 3)
        return d


def _crop(mask: NDArray[np.bool_]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    nz = [np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    lo = np.array([int(n[0]) for n in nz])
    hi = np.array([int(n[-1]) + 1 for n in nz])
    return mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], lo


def max_diameter(mask: NDArray[np.bool_], affine: F64) -> float:
    """Largest distance between two points of the structure's surface (3D Feret diameter), mm."""
    if not mask.any():
        return 0.0
    sub, lo = _crop(mask)
    padded = np.pad(sub.astype(np.float32), 1)
    verts, _f, _n, _v = skm.marching_cubes(padded, 0.5)  # type: ignore[no-untyped-call]
    pts = to_lps(affine, verts - 1 + lo)
    return _feret(pts)


def _feret(pts: F64) -> float:
    if len(pts) < 2:
        return 0.0
    try:
        hull = pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):
        hull = pts  # flat or tiny: all points
    if len(hull) > 4000:
        hull = hull[np.linspace(0, len(hull) - 1, 4000).astype(int)]
    d2 = ((hull[:, None, :] - hull[None, :, :]) ** 2).sum(-1)
    return float(np.sqrt(d2.max()))


def _slice_contours(sl: NDArray[np.bool_]) -> list[NDArray[np.float64]]:
    padded = np.pad(sl.astype(np.float32), 1)
    return [c - 1 for c in skm.find_contours(padded, 0.5) if len(c) >= 3]  # type: ignore[no-untyped-call]


def axial_axes(
    mask: NDArray[np.bool_], affine: F64
) -> tuple[float, float, int | None, list[list[float]] | None]:
    """(long axis, short axis, slice index, long-axis end points in LPS) in the acquisition plane
    (array axis 0 is the slice axis). The short axis is the longest chord perpendicular to the
    long axis on the same slice."""
    if not mask.any():
        return 0.0, 0.0, None, None
    sub, lo = _crop(mask)
    best: tuple[float, int, NDArray[np.float64], NDArray[np.float64], list[NDArray[np.float64]]] | None = None
    for k in range(sub.shape[0]):
        if not sub[k].any():
            continue
        contours = _slice_contours(sub[k])
        if not contours:
            continue
        pts2 = np.concatenate(contours)
        idx = np.column_stack([np.full(len(pts2), k + lo[0]), pts2[:, 0] + lo[1], pts2[:, 1] + lo[2]])
        pts = to_lps(affine, idx)
        try:
            hv = ConvexHull(pts2).vertices
        except (QhullError, ValueError):
            hv = np.arange(len(pts))
        hp = pts[hv]
        d2 = ((hp[:, None, :] - hp[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
        ld = float(np.sqrt(d2[i, j]))
        if best is None or ld > best[0]:
            polys = [
                to_lps(
                    affine, np.column_stack([np.full(len(c), k + lo[0]), c[:, 0] + lo[1], c[:, 1] + lo[2]])
                )
                for c in contours
            ]
            best = (ld, k + int(lo[0]), hp[i], hp[j], polys)
    if best is None:
        return 0.0, 0.0, None, None
    ld, k, a, b, polys = best
    sa = _short_axis(a, b, polys, affine)
    return ld, sa, k, [[round(float(x), 3) for x in a], [round(float(x), 3) for x in b]]


def _short_axis(a: F64, b: F64, polys: list[F64], affine: F64) -> float:
    """Longest chord perpendicular to a-b within the slice's outlines (2D, in-plane coordinates)."""
    e1 = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
    e2 = affine[:3, 1] - (affine[:3, 1] @ e1) * e1
    e2 /= np.linalg.norm(e2)

    def to2(p: F64) -> F64:
        return np.column_stack([p @ e1, p @ e2]) if p.ndim == 2 else np.array([p @ e1, p @ e2])

    a2, b2 = to2(a), to2(b)
    u = (b2 - a2) / max(cast(float, np.linalg.norm(b2 - a2)), 1e-9)
    n = np.array([-u[1], u[0]])
    shapes = [Polygon(to2(p)).buffer(0) for p in polys if len(p) >= 3]
    length = float(np.linalg.norm(b2 - a2))
    reach = length + 1.0
    best = 0.0
    for t in np.linspace(0.0, length, 97):
        c = a2 + u * t
        line = LineString([c - n * reach, c + n * reach])
        for s in shapes:
            inter = s.intersection(line)
            if not inter.is_empty:
                best = max(best, _longest_piece(inter))
    return best


def _longest_piece(geom: Any) -> float:
    if hasattr(geom, "geoms"):
        return max((_longest_piece(g) for g in geom.geoms), default=0.0)
    return float(geom.length)


def hu_stats(values: NDArray[Any]) -> dict[str, float]:
    if values.size == 0:
        return {}
    v = values.astype(np.float64)
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return {
        "mean": round(float(v.mean()), 2),
        "std": round(float(v.std()), 2),
        "min": float(v.min()),
        "max": float(v.max()),
        "median": round(float(p50), 2),
        "p5": round(float(p5), 2),
        "p95": round(float(p95), 2),
    }


def measure(mask: NDArray[np.bool_], affine: F64, image: NDArray[Any] | None = None) -> Stats:
    """All measurements of one structure. ``image`` (same grid) adds HU statistics."""
    n = int(np.count_nonzero(mask))
    vol_ml = n * voxel_mm3(affine) / 1000.0
    if n == 0:
        return Stats(0, 0.0, None, 0.0, 0.0, 0.0, None, None, {} if image is not None else None)
    idx = (
        np.argwhere(mask).mean(axis=0)
        if n < 5_000_000
        else np.array(
            [
                np.average(
                    np.arange(mask.shape[a]), weights=mask.sum(axis=tuple(x for x in range(3) if x != a))
                )
                for a in range(3)
            ]
        )
    )
    centroid = [round(float(x), 3) for x in to_lps(affine, idx)]
    ld, sa, k, ends = axial_axes(mask, affine)
    return Stats(
        voxels=n,
        volume_ml=vol_ml,
        centroid_lps=centroid,
        max_diameter_mm=max_diameter(mask, affine),
        long_axis_mm=ld,
        short_axis_mm=sa,
        long_axis_slice=k,
        long_axis_ends_lps=ends,
        hu=hu_stats(image[mask]) if image is not None else None,
    )
