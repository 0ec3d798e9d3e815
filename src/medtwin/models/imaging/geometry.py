"""Series geometry: from per-slice DICOM headers to one volume grid in patient space (LPS mm).

DICOM PS3.3 C.7.6.2 (Image Plane Module) defines the geometry used here:

* Image Position (Patient) (0020,0032) -- x, y, z of the centre of the first transmitted voxel;
* Image Orientation (Patient) (0020,0037) -- direction cosines of the first row (the direction of
  increasing column index) and of the first column (increasing row index);
* Pixel Spacing (0028,0030) -- *row spacing* (distance between rows, i.e. along a column) then
  *column spacing*.

Slices are sorted by the projection of their position on the slice normal (row x column cosine),
never by Instance Number or file name, which scanners do not guarantee. The slice step is taken
from the positions themselves (first to last, divided by the count), so a gantry tilt gives a
sheared but correct affine. Broken, mixed or inconsistent series are refused with a reason that
says what is wrong and where; nothing is guessed silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from medtwin.core.errors import ValidationError
from medtwin.models.imaging.volume import F64

ORIENTATION_TOL = 1e-4  # direction cosines equal within this (scanners round to ~6 digits)
SPACING_REL_TOL = 0.01  # slice gaps within 1 % (and 0.05 mm) of the mean count as uniform
SPACING_ABS_TOL = 0.05


@dataclass(frozen=True)
class SliceHeader:
    """What geometry needs from one image (no personal data)."""

    ref: int  # caller's index (file number)
    rows: int
    cols: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    series_uid: str = ""
    frame_of_reference: str = ""
    thickness: float | None = None
    spacing_between: float | None = None


@dataclass
class SeriesGeometry:
    order: list[int]  # caller refs, sorted along the slice normal
    affine: F64
    slice_positions_mm: list[float]
    warnings: list[str] = field(default_factory=list)


def _same(values: Sequence[object], what: str) -> None:
    distinct = sorted({str(v) for v in values})
    if len(distinct) > 1:
        raise ValidationError(
            f"slices disagree on {what} ({', '.join(distinct[:4])}{', ...' if len(distinct) > 4 else ''}): "
            "mixed series or a localizer among the slices",
            field=what,
        )


def assemble(headers: Sequence[SliceHeader]) -> SeriesGeometry:
    """Sort slices and build the affine in (slice, row, column) order; raise on broken series."""
    if not headers:
        raise ValidationError("no image slices", field="series")
    _same([h.series_uid for h in headers], "series_uid")
    _same([h.frame_of_reference for h in headers], "frame_of_reference")
    _same([(h.rows, h.cols) for h in headers], "matrix_size")
    warnings: list[str] = []
    for name, attr in (("image_position", "position"), ("image_orientation", "orientation")):
        missing = [h.ref for h in headers if getattr(h, attr) is None]
        if missing:
            raise ValidationError(
                f"{len(missing)} of {len(headers)} slices have no {name.replace('_', ' ')} "
                f"(first: file {missing[0]}); cannot place them in patient space",
                field=name,
            )
    if any(h.pixel_spacing is None for h in headers):
        raise ValidationError("pixel spacing (0028,0030) is missing", field="pixel_spacing")
    ps = np.array([h.pixel_spacing for h in headers], dtype=np.float64)
    if np.any(ps <= 0) or not np.all(np.isfinite(ps)):
        raise ValidationError("pixel spacing must be positive", field="pixel_spacing")
    if np.ptp(ps, axis=0).max() > 1e-4:
        raise ValidationError("slices have different pixel spacings", field="pixel_spacing")
    iop = np.array([h.orientation for h in headers], dtype=np.float64)
    if iop.shape[1] != 6:
        raise ValidationError("image orientation must have 6 values", field="image_orientation")
    if np.abs(iop - iop[0]).max() > ORIENTATION_TOL:
        raise ValidationError(
            "image orientation changes between slices: mixed series, a localizer, or a multi-planar reformat",
            field="image_orientation",
        )
    row_cos, col_cos = iop[0, :3], iop[0, 3:]
    if abs(np.linalg.norm(row_cos) - 1) > 1e-3 or abs(np.linalg.norm(col_cos) - 1) > 1e-3:
        raise ValidationError("direction cosines are not unit vectors", field="image_orientation")
    if abs(float(row_cos @ col_cos)) > 1e-3:
        raise ValidationError("row and column directions are not orthogonal", field="image_orientation")
    normal = np.cross(row_cos, col_cos)
    pos = np.array([h.position for h in headers], dtype=np.float64)
    proj = pos @ normal
    order = np.argsort(proj, kind="stable")
    proj_sorted = proj[order]
    pos_sorted = pos[order]
    gaps = np.diff(proj_sorted)
    if len(headers) > 1 and np.any(gaps < 1e-3):
        k = int(np.argmax(gaps < 1e-3))
        raise ValidationError(
            f"{int(np.sum(gaps < 1e-3))} slice(s) share a position with another (at {proj_sorted[k]:.2f} mm "
            "along the normal): duplicate instances, several acquisitions or echoes in one series",
            field="image_position",
        )
    if len(headers) > 1:
        mean = float((proj_sorted[-1] - proj_sorted[0]) / (len(headers) - 1))
        dev = np.abs(gaps - mean)
        if np.any(dev > max(SPACING_REL_TOL * mean, SPACING_ABS_TOL)):
            k = int(np.argmax(dev))
            raise ValidationError(
                f"uneven slice spacing: gap of {gaps[k]:.3f} mm after slice {k} where the series "
                f"averages {mean:.3f} mm (missing slices or mixed acquisitions)",
                field="slice_spacing",
            )
        step = (pos_sorted[-1] - pos_sorted[0]) / (len(headers) - 1)
        tilt = np.degrees(np.arccos(min(1.0, abs(float(step @ normal)) / float(np.linalg.norm(step)))))
        if tilt > 0.01:
            warnings.append(f"slices are sheared by {tilt:.2f} degrees (gantry tilt); geometry kept exact")
    else:
        h0 = headers[0]
        dz = h0.spacing_between or h0.thickness
        if not dz or dz <= 0:
            dz = 1.0
            warnings.append("single slice without a thickness: 1 mm assumed for volumes")
        step = normal * dz
    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = col_cos * ps[0, 0]  # row index moves down a column: row spacing
    affine[:3, 2] = row_cos * ps[0, 1]  # column index moves along a row: column spacing
    affine[:3, 3] = pos_sorted[0]
    return SeriesGeometry(
        order=[headers[int(i)].ref for i in order],
        affine=affine,
        slice_positions_mm=[float(x) for x in proj_sorted],
        warnings=warnings,
    )


def axis_codes(affine: F64) -> str:
    """The LPS letter each array axis points to most ("SPL" for a plain axial stack)."""
    out = ""
    for k in range(3):
        v = affine[:3, k]
        i = int(np.argmax(np.abs(v)))
        out += ("RL", "AP", "IS")[i][1 if v[i] > 0 else 0]
    return out
