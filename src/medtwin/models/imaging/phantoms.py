"""Synthetic phantoms with exact, analytic ground truth (volumes and distances), on any grid:
isotropic or anisotropic spacing, axial or oblique orientation.

A voxel belongs to a shape when its *centre* lies inside the analytic surface, so the voxel
volume converges to the analytic one as the grid is refined (for a sphere of radius r at
spacing h the error is O(h / r)); tests compare against ``4/3 pi abc`` with a tolerance that
follows from the spacing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medtwin.models.imaging.volume import F64, Volume, to_lps


def make_affine(
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rotation: Any = None,
) -> F64:
    """Affine for (slice, row, column) axes: slices along +z (S), rows along +y (P), columns along
    +x (L), then rotated by ``rotation`` (3x3, for oblique acquisitions)."""
    base = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float64)  # columns: z, y, x
    r = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    a = np.eye(4)
    a[:3, :3] = r @ base @ np.diag(spacing)
    a[:3, 3] = origin
    return a


def rotation_xyz(ax: float, ay: float, az: float) -> F64:
    """Rotation matrix from angles in degrees about x, then y, then z."""
    x, y, z = np.radians([ax, ay, az])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    rot: F64 = rz @ ry @ rx
    return rot


def _coords(shape: tuple[int, int, int], affine: F64, box: tuple[slice, ...] | None = None) -> F64:
    idx = np.indices(shape, dtype=np.float64).reshape(3, -1).T
    return to_lps(affine, idx).reshape(*shape, 3)


def ellipsoid(
    shape: tuple[int, int, int], affine: F64, centre: Any, semi_axes: Any, rotation: Any = None
) -> NDArray[np.bool_]:
    p = _coords(shape, affine) - np.asarray(centre, dtype=np.float64)
    if rotation is not None:
        p = p @ np.asarray(rotation, dtype=np.float64)  # into the ellipsoid's own frame
    a = np.asarray(semi_axes, dtype=np.float64)
    return np.asarray(((p / a) ** 2).sum(-1) <= 1.0)


def sphere(shape: tuple[int, int, int], affine: F64, centre: Any, radius: float) -> NDArray[np.bool_]:
    return ellipsoid(shape, affine, centre, (radius, radius, radius))


def box(shape: tuple[int, int, int], affine: F64, lo: Any, hi: Any) -> NDArray[np.bool_]:
    p = _coords(shape, affine)
    return np.asarray(np.all((p >= np.asarray(lo)) & (p <= np.asarray(hi)), axis=-1))


def cylinder(
    shape: tuple[int, int, int], affine: F64, point: Any, direction: Any, radius: float
) -> NDArray[np.bool_]:
    p = _coords(shape, affine) - np.asarray(point, dtype=np.float64)
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    along = p @ d
    perp = p - along[..., None] * d
    return np.asarray((perp**2).sum(-1) <= radius**2)


@dataclass
class Phantom:
    ct: Volume
    masks: dict[str, NDArray[np.bool_]]
    truth: dict[str, Any] = field(default_factory=dict)


def liver_phantom(
    shape: tuple[int, int, int] = (60, 96, 96),
    spacing: tuple[float, float, float] = (2.5, 1.5, 1.5),
    tumour_radius: float = 12.0,
    tumour_offset: tuple[float, float, float] = (20.0, 0.0, 0.0),
    extra_lesions: tuple[tuple[tuple[float, float, float], float], ...] = (),
    rotation: Any = None,
) -> Phantom:
    """A CT-like phantom: body (40 HU) in air (-1000), liver ellipsoid (60 HU, semi-axes
    60/50/45 mm), an enhancing tumour sphere (120 HU) inside it, and a vessel (250 HU, radius
    5 mm, along z) 15 mm from the tumour surface. Centred on the grid's centre."""
    a = make_affine(spacing, rotation=rotation)
    centre = to_lps(a, (np.array(shape) - 1) / 2.0)
    a[:3, 3] -= centre  # grid centre at LPS (0, 0, 0)
    body = ellipsoid(shape, a, (0, 0, 0), (140, 110, 200))
    liver = ellipsoid(shape, a, (0, 0, 0), (60, 50, 45))
    tc = np.asarray(tumour_offset, dtype=np.float64)
    tumour = sphere(shape, a, tc, tumour_radius)
    vessel_point = tc + np.array([-(tumour_radius + 15.0 + 5.0), 0.0, 0.0])
    vessel = cylinder(shape, a, vessel_point, (0, 0, 1), 5.0)
    arr = np.full(shape, -1000, dtype=np.int16)
    arr[body] = 40
    arr[liver] = 60
    arr[vessel & body] = 250
    arr[tumour] = 120
    masks = {"liver": liver & ~tumour & ~vessel, "tumour": tumour, "vessel": vessel & body}
    lesions = {"tumour": (tc.tolist(), tumour_radius)}
    for i, (c, r) in enumerate(extra_lesions, start=2):
        m = sphere(shape, a, c, r)
        arr[m] = 120
        masks[f"tumour {i}"] = m
        masks["liver"] &= ~m
        lesions[f"tumour {i}"] = (list(c), r)
    truth = {
        "tumour_volume_ml": 4.0 / 3.0 * np.pi * tumour_radius**3 / 1000.0,
        "liver_volume_ml": 4.0 / 3.0 * np.pi * 60 * 50 * 45 / 1000.0,
        "tumour_to_vessel_mm": 15.0,
        "lesions": lesions,
    }
    return Phantom(Volume(arr, a, modality="CT", unit="HU"), masks, truth)
