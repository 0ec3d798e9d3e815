"""Readers for volumes and label maps made elsewhere: NIfTI (nibabel), NRRD and 3D Slicer
``.seg.nrrd`` (pynrrd, slicerio), DICOM SEG (highdicom); and nearest-neighbour resampling of a
label map onto a series' grid.

Coordinate conventions: NIfTI's sform/qform maps voxel (i, j, k) to **RAS** mm, so x and y are
negated to reach LPS (NIfTI-1 header documentation, nifti1.h). NRRD declares its ``space``
(``left-posterior-superior`` or ``right-anterior-superior``) and its ``space directions``.
highdicom volumes map (frame, row, column) to LPS like our series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from medtwin.core.errors import ValidationError
from medtwin.models.imaging.volume import F64, LabelMap, Segment, Volume

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
LABEL_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".dcm")


def kind_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".seg.nrrd"):
        return "seg.nrrd"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    return "dicom"


def read_nifti(path: Path) -> tuple[np.ndarray, F64]:
    import nibabel as nib

    try:
        img: Any = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise ValidationError(f"not a readable NIfTI file: {type(exc).__name__}", field="file") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValidationError(f"expected a 3D image, got {data.ndim}D", field="file")
    return data, RAS_TO_LPS @ np.asarray(img.affine, dtype=np.float64)


def _nrrd_affine(header: dict[str, Any], spatial_axes: list[int]) -> F64:
    space = str(header.get("space", "left-posterior-superior")).lower()
    dirs = np.asarray(header.get("space directions"), dtype=np.float64)
    dirs = dirs[spatial_axes] if dirs.shape[0] != 3 else dirs
    origin = np.asarray(header.get("space origin", (0, 0, 0)), dtype=np.float64)
    a = np.eye(4)
    a[:3, :3] = dirs.T
    a[:3, 3] = origin
    if space in ("right-anterior-superior", "ras"):
        a = RAS_TO_LPS @ a
    elif space not in ("left-posterior-superior", "lps"):
        raise ValidationError(f"unsupported NRRD space {space!r}", field="space")
    return a


def read_nrrd(path: Path) -> tuple[np.ndarray, F64]:
    import nrrd

    try:
        data, header = nrrd.read(str(path))
    except Exception as exc:
        raise ValidationError(f"not a readable NRRD file: {type(exc).__name__}", field="file") from None
    if data.ndim != 3:
        raise ValidationError(f"expected a 3D NRRD, got {data.ndim}D", field="file")
    return data, _nrrd_affine(header, [0, 1, 2])


def read_volume(path: Path) -> Volume:
    """A NIfTI or NRRD image (e.g. a CT converted elsewhere). CT is recognised by its HU range."""
    k = kind_of(path)
    if k == "nifti":
        data, a = read_nifti(path)
    elif k == "nrrd":
        data, a = read_nrrd(path)
    else:
        raise ValidationError(
            "volumes are read from .nii, .nii.gz or .nrrd files (DICOM: a series)", field="file"
        )
    arr = (
        data
        if data.dtype in (np.int16, np.float32)
        else data.astype(np.float32 if data.dtype.kind == "f" else np.int16)
    )
    looks_ct = arr.size > 0 and float(arr.min()) <= -900 and float(arr.max()) >= 0
    return Volume(arr, a, modality="CT" if looks_ct else "", unit="HU" if looks_ct else "")


def read_labels(path: Path) -> LabelMap:
    """A label map from .seg.nrrd (Slicer), .nii/.nii.gz or .nrrd (integer labels) or DICOM SEG."""
    k = kind_of(path)
    if not path.is_file():
        raise ValidationError(f"no such file: {path.name}", field="path")
    if k == "seg.nrrd":
        return _read_slicer(path)
    if k == "dicom":
        return read_dicom_seg(path)
    data, a = read_nifti(path) if k == "nifti" else read_nrrd(path)
    if data.dtype.kind == "f" and not np.all(np.mod(data, 1) == 0):
        raise ValidationError("a label map must hold integer labels (this looks like an image)", field="file")
    data = data.astype(np.int32)
    if data.min() < 0:
        raise ValidationError("label values must not be negative", field="file")
    labels = [int(v) for v in np.unique(data) if v != 0]
    if len(labels) > 255:
        raise ValidationError(
            f"{len(labels)} distinct labels: this looks like an image, not a label map", field="file"
        )
    segs = [Segment(v, f"label {v}") for v in labels]
    return LabelMap(data.astype(np.uint8 if max(labels, default=0) < 256 else np.int32), a, segs)


def _read_slicer(path: Path) -> LabelMap:
    import slicerio

    try:
        seg = slicerio.read_segmentation(str(path))
    except Exception as exc:
        raise ValidationError(
            f"not a readable Slicer segmentation: {type(exc).__name__}", field="file"
        ) from None
    vox = np.asarray(seg["voxels"])
    a = np.asarray(seg["ijkToLPS"], dtype=np.float64)
    segments = []
    for s in seg["segments"]:
        code: dict[str, str] = {}
        t = s.get("terminology") or {}
        if t.get("type"):
            scheme, value, meaning = t["type"][:3]
            code = {
                "system": "http://snomed.info/sct" if scheme in ("SCT", "SRT") else scheme,
                "code": str(value),
                "display": str(meaning),
            }
        segments.append(
            Segment(
                int(s["labelValue"]),
                str(s.get("name") or s["id"]),
                tuple(s.get("color", (0.8, 0.3, 0.3))),
                code,
                int(s.get("layer", 0)),
            )
        )
    layers = vox if vox.ndim == 4 else vox[np.newaxis]
    return LabelMap(layers, a, segments)


def read_dicom_seg(path: Path) -> LabelMap:
    import highdicom as hd
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:
        raise ValidationError(f"not a readable DICOM file: {type(exc).__name__}", field="file") from None
    if str(ds.get("SOPClassUID", "")) != "1.2.840.10008.5.1.4.1.1.66.4":
        raise ValidationError("this DICOM file is not a Segmentation (SEG) object", field="file")
    try:
        seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
        vol = seg.get_volume(combine_segments=False)
    except Exception as exc:
        raise ValidationError(f"DICOM SEG geometry could not be read: {exc}", field="file") from None
    arr = np.asarray(vol.array)  # (frames, rows, cols, segments)
    segments = []
    masks = {}
    for i, item in enumerate(ds.SegmentSequence):
        num = int(item.SegmentNumber)
        prop = item.SegmentedPropertyTypeCodeSequence[0]
        code = {
            "system": str(prop.CodingSchemeDesignator),
            "code": str(prop.CodeValue),
            "display": str(prop.CodeMeaning),
        }
        masks[num] = (arr[..., i] > 0, str(item.get("SegmentLabel", f"segment {num}")), code)
    base = LabelMap.from_masks({m[1]: m[0] for m in masks.values()}, np.asarray(vol.affine, dtype=np.float64))
    for s, (num, (_m, _name, code)) in zip(base.segments, masks.items(), strict=True):
        s.code = code
        segments.append(s)
        _ = num
    return base


def resample_labels(labels: LabelMap, affine: F64, shape: tuple[int, int, int]) -> LabelMap:
    """Nearest-neighbour resampling of ``labels`` onto another grid (a SEG covering a few slices,
    a label map at another resolution). Voxels outside the source grid become 0."""
    if labels.shape == tuple(shape) and np.allclose(labels.affine, affine, atol=1e-3):
        return labels
    m = np.linalg.inv(labels.affine) @ affine  # target index -> source index
    out = np.stack(
        [
            ndimage.affine_transform(
                layer, m[:3, :3], offset=m[:3, 3], output_shape=shape, order=0, mode="constant", cval=0
            )
            for layer in labels.layers
        ]
    )
    return LabelMap(out, affine, labels.segments)
