"""DICOM series import with pydicom: scan files, group them by series, check and assemble each
series into a volume in patient space, rescale to real units (HU for CT).

Personal data: the headers' names, IDs and birth dates are read only to check that the files
belong to one patient and (optionally) to the twin they are imported into; they are never
logged, returned or stored. What is kept (:class:`SeriesInfo`) is technical and clinical
metadata: UIDs, modality, description, acquisition parameters and the study time.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from medtwin.core.errors import ValidationError
from medtwin.models.imaging.geometry import SliceHeader, assemble, axis_codes
from medtwin.models.imaging.volume import Volume, spacing_of

log = logging.getLogger(__name__)
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
MAX_FILES = 5000


@dataclass
class SeriesInfo:
    study_uid: str
    series_uid: str
    modality: str
    series_number: int | None
    description: str
    study_description: str
    body_part: str
    started: datetime | None
    frame_of_reference: str
    manufacturer: str = ""
    slice_thickness: float | None = None
    kvp: float | None = None
    contrast: str = ""
    sop_class: str = ""
    instances: list[str] = field(default_factory=list)  # SOP Instance UIDs, in slice order
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["started"] = self.started.isoformat().replace("+00:00", "Z") if self.started else None
        d["instances"] = len(self.instances)
        return d


@dataclass
class ScannedFile:
    path: Path
    series_uid: str
    sop_class: str
    patient_key: tuple[str, str, str]  # (id, name, birth date): compared, never stored


@dataclass
class Scan:
    series: dict[str, list[ScannedFile]]
    skipped: list[str]  # reasons, without file names that may carry personal data

    @property
    def patient_keys(self) -> set[tuple[str, str, str]]:
        return {f.patient_key for files in self.series.values() for f in files}


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            for root, _dirs, names in os.walk(p):
                out.extend(Path(root) / n for n in sorted(names) if n.upper() != "DICOMDIR")
        elif p.exists():
            out.append(p)
        else:
            raise ValidationError(f"no such file or folder: {p.name}", field="path")
        if len(out) > MAX_FILES:
            raise ValidationError(f"more than {MAX_FILES} files: import one study at a time", field="path")
    return out


def scan(paths: Iterable[Path]) -> Scan:
    """Read headers only; group image files by series. Non-DICOM files are skipped and counted."""
    series: dict[str, list[ScannedFile]] = defaultdict(list)
    skipped: list[str] = []
    for f in _files(paths):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError, KeyError):
            skipped.append("not a readable DICOM file")
            continue
        uid = str(ds.get("SeriesInstanceUID", ""))
        if not uid:
            skipped.append("DICOM file without a Series Instance UID")
            continue
        key = (
            str(ds.get("PatientID", "")),
            str(ds.get("PatientName", "")),
            str(ds.get("PatientBirthDate", "")),
        )
        series[uid].append(ScannedFile(f, uid, str(ds.get("SOPClassUID", "")), key))
    if not series:
        raise ValidationError(
            f"no DICOM image series found ({len(skipped)} file(s) skipped: not DICOM)", field="path"
        )
    return Scan(dict(series), skipped)


def _floats(v: Any, n: int) -> tuple[float, ...] | None:
    if v is None:
        return None
    try:
        vals = tuple(float(x) for x in v)
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n else None


def _opt_float(v: Any) -> float | None:
    try:
        return None if v is None or v == "" else float(v)
    except (TypeError, ValueError):
        return None


def study_time(ds: Any) -> datetime | None:
    """Study (else series, else acquisition) date and time; UTC unless the header gives an offset
    (Timezone Offset From UTC, 0008,0201)."""
    tz: timezone = UTC
    off = str(ds.get("TimezoneOffsetFromUTC", "") or "")
    if len(off) == 5 and off[0] in "+-" and off[1:].isdigit():
        sign = 1 if off[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(off[1:3]), minutes=int(off[3:])))
    for d_tag, t_tag in (
        ("StudyDate", "StudyTime"),
        ("SeriesDate", "SeriesTime"),
        ("AcquisitionDate", "AcquisitionTime"),
    ):
        d = str(ds.get(d_tag, "") or "")
        if len(d) == 8 and d.isdigit():
            t = str(ds.get(t_tag, "") or "").split(".")[0].ljust(6, "0")[:6]
            t = t if t.isdigit() else "000000"
            try:
                when = datetime(
                    int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]), int(t[4:]), tzinfo=tz
                )
            except ValueError:
                continue
            return when.astimezone(UTC)
    return None


def _info(ds: Any) -> SeriesInfo:
    sn = ds.get("SeriesNumber")
    return SeriesInfo(
        study_uid=str(ds.get("StudyInstanceUID", "")),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        modality=str(ds.get("Modality", "")),
        series_number=int(sn) if sn not in (None, "") else None,
        description=str(ds.get("SeriesDescription", ""))[:200],
        study_description=str(ds.get("StudyDescription", ""))[:200],
        body_part=str(ds.get("BodyPartExamined", "")),
        started=study_time(ds),
        frame_of_reference=str(ds.get("FrameOfReferenceUID", "")),
        manufacturer=str(ds.get("Manufacturer", ""))[:64],
        slice_thickness=_opt_float(ds.get("SliceThickness")),
        kvp=_opt_float(ds.get("KVP")),
        contrast=str(ds.get("ContrastBolusAgent", ""))[:64],
        sop_class=str(ds.get("SOPClassUID", "")),
    )


def _pixels(ds: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises several types for missing decoders / truncated data
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        what = f"transfer syntax {ts.name}" if ts is not None else "pixel data"
        raise ValidationError(
            f"cannot decode the pixels of {name} ({what}): {type(exc).__name__}; compressed images need a "
            "decoder plugin (pylibjpeg / GDCM), truncated files must be re-exported",
            field="pixel_data",
        ) from None


def read_series(files: Sequence[ScannedFile]) -> tuple[Volume, SeriesInfo]:
    """Load one series: sort along the normal, check geometry, rescale each slice."""
    datasets = []
    for i, f in enumerate(files):
        try:
            datasets.append(pydicom.dcmread(f.path))
        except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
            raise ValidationError(
                f"slice {i} could not be read: {type(exc).__name__}", field="file"
            ) from None
    if any(int(ds.get("NumberOfFrames", 1) or 1) > 1 for ds in datasets):
        if len(datasets) != 1:
            raise ValidationError("a series mixes multi-frame and single-frame files", field="series")
        return _read_multiframe(datasets[0])
    headers = []
    for i, ds in enumerate(datasets):
        if "PixelData" not in ds:
            raise ValidationError(f"slice {i} has no pixel data", field="pixel_data")
        headers.append(
            SliceHeader(
                ref=i,
                rows=int(ds.get("Rows", 0)),
                cols=int(ds.get("Columns", 0)),
                position=_floats(ds.get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
                orientation=_floats(ds.get("ImageOrientationPatient"), 6),
                pixel_spacing=_floats(ds.get("PixelSpacing"), 2),  # type: ignore[arg-type]
                series_uid=str(ds.get("SeriesInstanceUID", "")),
                frame_of_reference=str(ds.get("FrameOfReferenceUID", "")),
                thickness=_opt_float(ds.get("SliceThickness")),
                spacing_between=_opt_float(ds.get("SpacingBetweenSlices")),
            )
        )
    geo = assemble(headers)
    first = datasets[geo.order[0]]
    slopes = [
        (
            _opt_float(datasets[k].get("RescaleSlope")) or 1.0,
            _opt_float(datasets[k].get("RescaleIntercept")) or 0.0,
        )
        for k in geo.order
    ]
    integral = all(float(s).is_integer() and float(b).is_integer() for s, b in slopes)
    out_dtype = np.int16 if integral else np.float32
    arr = np.empty((len(geo.order), headers[0].rows, headers[0].cols), dtype=out_dtype)
    for z, k in enumerate(geo.order):
        px = _pixels(datasets[k], f"slice {z}")
        if px.ndim != 2:
            raise ValidationError(
                f"slice {z} is not a single grey-level frame (shape {px.shape})", field="pixel_data"
            )
        s, b = slopes[z]
        vals = px.astype(np.float32) * s + b if not integral else px.astype(np.int32) * int(s) + int(b)
        if integral and (vals.min() < -32768 or vals.max() > 32767):
            raise ValidationError("rescaled values do not fit 16 bits", field="rescale")
        arr[z] = vals
    info = _info(first)
    info.instances = [str(datasets[k].get("SOPInstanceUID", "")) for k in geo.order]
    info.warnings = list(geo.warnings)
    unit = "HU" if info.modality == "CT" else ""
    return Volume(arr, geo.affine, modality=info.modality, unit=unit), info


def _read_multiframe(ds: Any) -> tuple[Volume, SeriesInfo]:
    """Enhanced CT/MR: one file, geometry in the per-frame and shared functional groups."""
    n = int(ds.NumberOfFrames)
    shared = ds.get("SharedFunctionalGroupsSequence", [None])[0]
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per is None or len(per) != n:
        raise ValidationError(
            "multi-frame image without per-frame geometry (not an enhanced image)", field="geometry"
        )

    def group(item: Any, name: str) -> Any:
        for src in (item, shared):
            if src is not None and name in src:
                return src.get(name)[0]
        return None

    headers = []
    rescale = []
    for i, fg in enumerate(per):
        pos = group(fg, "PlanePositionSequence")
        ori = group(fg, "PlaneOrientationSequence")
        pm = group(fg, "PixelMeasuresSequence")
        rs = group(fg, "PixelValueTransformationSequence")
        headers.append(
            SliceHeader(
                ref=i,
                rows=int(ds.Rows),
                cols=int(ds.Columns),
                position=_floats(pos.get("ImagePositionPatient") if pos else None, 3),  # type: ignore[arg-type]
                orientation=_floats(ori.get("ImageOrientationPatient") if ori else None, 6),
                pixel_spacing=_floats(pm.get("PixelSpacing") if pm else None, 2),  # type: ignore[arg-type]
                thickness=_opt_float(pm.get("SliceThickness")) if pm else None,
            )
        )
        rescale.append(
            (_opt_float(rs.get("RescaleSlope")) or 1.0, _opt_float(rs.get("RescaleIntercept")) or 0.0)
            if rs
            else (1.0, 0.0)
        )
    geo = assemble(headers)
    px = _pixels(ds, "the multi-frame image")
    arr = np.stack([px[k].astype(np.float32) * rescale[k][0] + rescale[k][1] for k in geo.order])
    info = _info(ds)
    info.instances = [str(ds.get("SOPInstanceUID", ""))]
    info.warnings = list(geo.warnings)
    return Volume(arr, geo.affine, modality=info.modality, unit="HU" if info.modality == "CT" else ""), info


def describe(vol: Volume) -> dict[str, Any]:
    return {
        "shape": list(vol.shape),
        "spacing_mm": [round(s, 4) for s in spacing_of(vol.affine)],
        "axes": axis_codes(vol.affine),
        "affine": [[round(float(x), 6) for x in row] for row in vol.affine],
        "unit": vol.unit,
    }
