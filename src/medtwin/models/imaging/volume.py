"""Volumes and label maps in patient space (LPS mm), and the conversions between voxel indices
and millimetres.

``affine`` maps an index in array axis order to LPS: ``p = A[:3, :3] @ idx + A[:3, 3]``. Its
columns are the step vectors of the three array axes, so the voxel volume is ``|det A[:3, :3]|``,
which stays right for oblique orientations and for sheared grids (gantry tilt).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medtwin.core.errors import ValidationError

F64 = NDArray[np.float64]


def check_affine(affine: Any, field_: str = "affine") -> F64:
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise ValidationError("expected a finite 4x4 matrix", field=field_)
    if abs(np.linalg.det(a[:3, :3])) < 1e-9:
        raise ValidationError("the voxel axes are degenerate (zero voxel volume)", field=field_)
    return a


@dataclass
class Volume:
    """A scalar image (CT in HU, MR in arbitrary units) on a grid placed in LPS mm."""

    array: NDArray[Any]
    affine: F64
    modality: str = ""
    unit: str = ""  # "HU" for CT after rescale

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValidationError(f"expected a 3D array, got {self.array.ndim}D", field="array")
        self.affine = check_affine(self.affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.array.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def spacing(self) -> tuple[float, float, float]:
        return spacing_of(self.affine)

    @property
    def voxel_mm3(self) -> float:
        return voxel_mm3(self.affine)


@dataclass
class Segment:
    """One structure in a label map: its label value, name and optional code (SNOMED CT)."""

    label: int
    name: str
    color: tuple[float, float, float] = (0.8, 0.3, 0.3)
    code: dict[str, str] = field(default_factory=dict)  # {"system", "code", "display"}
    layer: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "name": self.name,
            "color": [round(float(c), 4) for c in self.color],
            "code": dict(self.code),
            "layer": self.layer,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segment:
        color = d.get("color") or (0.8, 0.3, 0.3)
        return cls(
            label=int(d["label"]),
            name=str(d["name"]),
            color=(float(color[0]), float(color[1]), float(color[2])),
            code=dict(d.get("code") or {}),
            layer=int(d.get("layer", 0)),
        )


@dataclass
class LabelMap:
    """Integer labels on a grid. ``layers`` (shape (L, ...)) holds overlapping segments, one
    layer each; a plain label map has one layer. ``segments`` names the labels."""

    layers: NDArray[Any]
    affine: F64
    segments: list[Segment]

    def __post_init__(self) -> None:
        if self.layers.ndim == 3:
            self.layers = self.layers[np.newaxis]
        if self.layers.ndim != 4:
            raise ValidationError("expected a 3D label array (or layers of them)", field="labels")
        self.affine = check_affine(self.affine)
        seen = set()
        for s in self.segments:
            if (s.layer, s.label) in seen:
                raise ValidationError(f"label {s.label} is used twice in layer {s.layer}", field="segments")
            seen.add((s.layer, s.label))
            if not 0 <= s.layer < self.layers.shape[0]:
                raise ValidationError(f"segment {s.name!r} names a missing layer {s.layer}", field="segments")

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.layers.shape
        return (int(s[1]), int(s[2]), int(s[3]))

    def mask(self, seg: Segment | str | int) -> NDArray[np.bool_]:
        s = self.segment(seg)
        return np.asarray(self.layers[s.layer] == s.label)

    def segment(self, seg: Segment | str | int) -> Segment:
        if isinstance(seg, Segment):
            return seg
        for s in self.segments:
            if (isinstance(seg, int) and s.label == seg) or (isinstance(seg, str) and s.name == seg):
                return s
        names = ", ".join(s.name for s in self.segments) or "none"
        raise ValidationError(f"no segment {seg!r} (segments: {names})", field="segment")

    @classmethod
    def from_masks(
        cls, masks: dict[str, NDArray[np.bool_]], affine: Any, colors: dict[str, Any] | None = None
    ) -> LabelMap:
        """Build from named boolean masks; overlapping masks go to separate layers."""
        shape = next(iter(masks.values())).shape
        layers: list[NDArray[np.uint8]] = []
        segments: list[Segment] = []
        for i, (name, m) in enumerate(masks.items(), start=1):
            if m.shape != shape:
                raise ValidationError(f"mask {name!r} has shape {m.shape}, expected {shape}", field=name)
            for li, lay in enumerate(layers):
                if not np.any(lay[m]):
                    lay[m] = i
                    layer = li
                    break
            else:
                lay = np.zeros(shape, dtype=np.uint8)
                lay[m] = i
                layers.append(lay)
                layer = len(layers) - 1
            color = (colors or {}).get(name, _PALETTE[(i - 1) % len(_PALETTE)])
            segments.append(Segment(i, name, tuple(color), layer=layer))
        return cls(np.stack(layers), affine, segments)


_PALETTE = (
    (0.85, 0.33, 0.31),
    (0.36, 0.72, 0.36),
    (0.26, 0.55, 0.79),
    (0.95, 0.77, 0.26),
    (0.66, 0.42, 0.76),
    (0.33, 0.78, 0.78),
    (0.95, 0.55, 0.2),
)


def spacing_of(affine: F64) -> tuple[float, float, float]:
    n = np.linalg.norm(affine[:3, :3], axis=0)
    return (float(n[0]), float(n[1]), float(n[2]))


def voxel_mm3(affine: F64) -> float:
    return float(abs(np.linalg.det(affine[:3, :3])))


def to_lps(affine: F64, idx: Any) -> F64:
    """Index (..., 3) in array order -> LPS mm (..., 3)."""
    i = np.asarray(idx, dtype=np.float64)
    return i @ affine[:3, :3].T + affine[:3, 3]


def to_index(affine: F64, lps: Any) -> F64:
    """LPS mm (..., 3) -> fractional index in array order."""
    p = np.asarray(lps, dtype=np.float64) - affine[:3, 3]
    return p @ np.linalg.inv(affine[:3, :3]).T


def same_grid(a: F64, shape_a: tuple[int, ...], b: F64, shape_b: tuple[int, ...], tol: float = 1e-3) -> bool:
    return tuple(shape_a) == tuple(shape_b) and bool(np.allclose(a, b, atol=tol))
