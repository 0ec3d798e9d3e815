"""The imaging service: import studies into a patient twin, segment, measure, mesh, render slices.

Follow-up (RECIST, transplant) is in :mod:`.followup`, surgery planning in :mod:`.planning`.
Every import keeps the DICOM personal data out of the store and the logs (see
:mod:`.dicom_io`): the header's patient identifiers are only compared with the twin's.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from medtwin.core.errors import ConflictError, ValidationError
from medtwin.core.model import TwinKind
from medtwin.models.imaging import mesh as meshes
from medtwin.models.imaging import segment as seg_tools
from medtwin.models.imaging.volume import LabelMap, Volume, to_index
from medtwin.services.imaging import dicom_io, formats
from medtwin.services.imaging.dicom_io import SEG_SOP_CLASS, SeriesInfo
from medtwin.services.imaging.repo import ImagingRepo

log = logging.getLogger(__name__)
ROLES = ("organ", "lesion", "node", "vessel", "graft", "other")
_ROLE_WORDS = {
    "lesion": ("tumour", "tumor", "lesion", "metasta", "nodule", "mass", "neoplasm", "carcinoma"),
    "node": ("lymph", "node"),
    "vessel": ("vessel", "artery", "vein", "portal", "aorta", "cava", "arterial", "venous"),
    "graft": ("graft", "transplant"),
}


def guess_role(name: str, code: dict[str, str] | None = None) -> str:
    text = (name + " " + (code or {}).get("display", "")).lower()
    for role, words in _ROLE_WORDS.items():
        if any(w in text for w in words):
            return role
    return "organ"


class ImagingService:
    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.repo = ImagingRepo(rt.store, Path(rt.settings.data_dir))

    # ------------------------------------------------------------------ import
    def _patient(self, twin_id: str) -> Any:
        t = self.rt.store.require_twin(twin_id)
        if t.kind is not TwinKind.PATIENT:
            raise ValidationError(f"twin {twin_id!r} is a {t.kind}, not a patient", field="twin_id")
        return t

    def import_path(
        self, twin_id: str, paths: Sequence[Path], *, by: str = "", when: datetime | None = None
    ) -> dict[str, Any]:
        """Import DICOM files/folders (every series in them), or one NIfTI/NRRD volume."""
        twin = self._patient(twin_id)
        if len(paths) == 1 and paths[0].is_file() and formats.kind_of(paths[0]) in ("nifti", "nrrd"):
            vol = formats.read_volume(paths[0])
            info = SeriesInfo(
                study_uid=f"urn:medtwin:file:{paths[0].name}",
                series_uid=f"urn:medtwin:file:{paths[0].name}:1",
                modality=vol.modality or "OT",
                series_number=1,
                description=paths[0].name[:200],
                study_description="",
                body_part="",
                started=when or self.rt.clock.now(),
                frame_of_reference="",
            )
            return self._store_series(twin_id, [(vol, info)], by, source=formats.kind_of(paths[0]), skipped=0)
        sc = dicom_io.scan(paths)
        keys = sc.patient_keys
        if len(keys) > 1:
            raise ValidationError(
                f"the files belong to {len(keys)} different patients: import one patient at a time",
                field="path",
            )
        match = _identity_match(twin.identity, next(iter(keys)))
        if match == "mismatch":
            raise ConflictError(
                "the patient in the DICOM headers does not match this twin's identifiers", field="twin_id"
            )
        loaded, segs = [], []
        for files in sc.series.values():
            if files[0].sop_class == SEG_SOP_CLASS:
                segs.extend(files)
                continue
            vol, info = dicom_io.read_series(files)
            if when is not None and info.started is None:
                info.started = when
            loaded.append((vol, info))
        out = self._store_series(twin_id, loaded, by, source="dicom", skipped=len(sc.skipped), match=match)
        for f in segs:
            series = self._referenced_series(twin_id, f.path)
            if series is None:
                raise ValidationError(
                    "a DICOM SEG needs its image series (import it first or together)", field="path"
                )
            out.setdefault("segmentations", []).append(self.import_labels(series["id"], f.path, by=by))
        return out

    def _referenced_series(self, twin_id: str, path: Path) -> dict[str, Any] | None:
        """The imported series a DICOM SEG refers to (Referenced Series Sequence), else the only one."""
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for item in ds.get("ReferencedSeriesSequence", []):
            rows = self.repo.find(
                "series", twin_id=twin_id, series_uid=str(item.get("SeriesInstanceUID", ""))
            )
            if rows:
                return rows[0]
        study = self.repo.find("study", twin_id=twin_id, study_uid=str(ds.get("StudyInstanceUID", "")))
        rows = self.repo.find("series", study_id=study[0]["id"]) if study else []
        return rows[0] if len(rows) == 1 else None

    def _store_series(
        self,
        twin_id: str,
        loaded: list[tuple[Volume, SeriesInfo]],
        by: str,
        *,
        source: str,
        skipped: int,
        match: str = "unverified",
    ) -> dict[str, Any]:
        studies: dict[str, dict[str, Any]] = {}
        series_out, warnings = [], []
        for vol, info in loaded:
            st = self.repo.find("study", twin_id=twin_id, study_uid=info.study_uid)
            if st:
                study = st[0]
            else:
                study = self.repo.insert(
                    "study",
                    {
                        "twin_id": twin_id,
                        "study_uid": info.study_uid,
                        "started_us": _us(info.started),
                        "modalities": info.modality,
                        "description": info.study_description,
                        "source": source,
                        "meta": {"patient_match": match},
                        "created_by": by,
                    },
                )
            studies[study["id"]] = study
            if self.repo.find("series", twin_id=twin_id, series_uid=info.series_uid):
                warnings.append(f"series {info.series_number} was already imported: skipped")
                continue
            geometry = dict(dicom_io.describe(vol))
            row = {"study_id": study["id"], "twin_id": twin_id, "series_uid": info.series_uid}
            from medtwin.core.ids import new_id

            sid = new_id("se-")
            path = self.repo.save_volume(twin_id, sid, vol)
            meta = info.as_dict()
            for k in ("study_uid", "series_uid"):
                meta.pop(k)
            series_out.append(
                self.repo.insert(
                    "series",
                    {
                        **row,
                        "id": sid,
                        "modality": info.modality,
                        "number": info.series_number,
                        "description": info.description,
                        "geometry": geometry,
                        "path": path,
                        "meta": meta,
                    },
                )
            )
            warnings.extend(info.warnings)
        log.info("imaging import: %d series into twin %s", len(series_out), twin_id)
        return {
            "studies": list(studies.values()),
            "series": series_out,
            "skipped_files": skipped,
            "warnings": warnings,
        }

    # ------------------------------------------------------------------ segmentations
    def series(self, series_id: str) -> tuple[dict[str, Any], Volume]:
        row = self.repo.get("series", series_id)
        return row, self.repo.load_volume(row)

    def _save_seg(
        self, series: dict[str, Any], labels: LabelMap, name: str, method: str, prov: dict[str, Any], by: str
    ) -> dict[str, Any]:
        from medtwin.core.ids import new_id

        seg_id = new_id("sg-")
        segments = []
        for s in labels.segments:
            d = s.as_dict()
            d["role"] = prov.get("roles", {}).get(s.name) or guess_role(s.name, s.code)
            segments.append(d)
        path = self.repo.save_labels(series["twin_id"], seg_id, labels)
        return self.repo.insert(
            "segmentation",
            {
                "id": seg_id,
                "series_id": series["id"],
                "twin_id": series["twin_id"],
                "name": name[:200],
                "method": method,
                "segments": segments,
                "path": path,
                "provenance": prov,
                "created_by": by,
            },
        )

    def import_labels(self, series_id: str, path: Path, *, by: str = "", name: str = "") -> dict[str, Any]:
        """Attach a label map made elsewhere (Slicer, DICOM SEG, NIfTI), resampled to the series."""
        series, vol = self.series(series_id)
        labels = formats.read_labels(path)
        on_grid = formats.resample_labels(labels, vol.affine, vol.shape)
        if not any(on_grid.mask(s).any() for s in on_grid.segments):
            raise ValidationError(
                "the label map does not overlap this series (another frame of reference?)", field="path"
            )
        prov = {"source": formats.kind_of(path), "file": path.name, "resampled": on_grid is not labels}
        return self._save_seg(series, on_grid, name or path.name, "import", prov, by)

    def segment(self, series_id: str, spec: dict[str, Any], *, by: str = "") -> dict[str, Any]:
        """Threshold or region-grow, then islands and morphology; one new segmentation."""
        series, vol = self.series(series_id)
        arr = np.asarray(vol.array)
        method = spec.get("method", "threshold")
        lo, hi = spec.get("lower"), spec.get("upper")
        if method == "threshold":
            mask = seg_tools.threshold(arr, lo, hi)
        elif method == "region_grow":
            seed = spec.get("seed_index")
            if seed is None and spec.get("seed_lps") is not None:
                seed = [int(np.rint(x)) for x in to_index(vol.affine, spec["seed_lps"])]
            if seed is None:
                raise ValidationError("region growing needs seed_index or seed_lps", field="seed_lps")
            mask = seg_tools.region_grow(arr, tuple(seed), lo, hi, spec.get("tolerance"))
        else:
            raise ValidationError("method must be threshold or region_grow", field="method")
        sp = vol.spacing
        if spec.get("closing_mm"):
            mask = seg_tools.closing(mask, sp, float(spec["closing_mm"]))
        if spec.get("opening_mm"):
            mask = seg_tools.opening(mask, sp, float(spec["opening_mm"]))
        if spec.get("fill_holes"):
            mask = seg_tools.fill_holes(mask)
        if spec.get("margin_mm"):
            mask = seg_tools.margin(mask, sp, float(spec["margin_mm"]))
        name = str(spec.get("name") or method)
        min_vox = int(spec.get("min_voxels", 1))
        if spec.get("split_islands"):
            lab, sizes = seg_tools.components(mask, min_vox)
            masks = {f"{name} {i}": lab == i for i in range(1, len(sizes) + 1)}
        elif spec.get("largest_only", method == "threshold"):
            masks = {name: seg_tools.largest_island(mask)}
        else:
            masks = {name: mask}
        if not masks or not any(m.any() for m in masks.values()):
            raise ValidationError(
                "the segmentation is empty: widen the thresholds or move the seed", field="lower"
            )
        labels = LabelMap.from_masks(masks, vol.affine)
        role = spec.get("role")
        prov = {"tool": method, "params": spec, "roles": {n: role for n in masks} if role else {}}
        return self._save_seg(series, labels, name, method, prov, by)

    def labels(self, seg_id: str) -> tuple[dict[str, Any], dict[str, Any], LabelMap]:
        seg = self.repo.get("segmentation", seg_id)
        series = self.repo.get("series", seg["series_id"])
        return seg, series, self.repo.load_labels(seg, series)

    # ------------------------------------------------------------------ 3D and 2D views
    def glb(self, seg_id: str, opts: meshes.MeshOptions | None = None) -> bytes:
        seg, _series, labels = self.labels(seg_id)
        path = self.repo.mesh_path(seg["twin_id"], seg_id)
        if opts is None and path.exists():
            return path.read_bytes()
        parts = []
        for s, d in zip(labels.segments, seg["segments"], strict=True):
            m = meshes.mask_to_mesh(labels.mask(s), labels.affine, opts)
            if m is not None:
                opacity = 0.35 if d.get("role") in ("organ", "graft") else 1.0
                parts.append(meshes.Part(s.name, m, s.color, opacity))
        if not parts:
            raise ValidationError("every segment is empty: nothing to mesh", field="segmentation_id")
        data = meshes.to_glb(parts)
        if opts is None:
            path.write_bytes(data)
        return data

    def slice_png(
        self, series_id: str, index: int, *, centre: float, width: float, seg_id: str | None = None
    ) -> bytes:
        """One acquisition slice as PNG with a display window, optionally the labels overlaid."""
        from PIL import Image

        _row, vol = self.series(series_id)
        n = vol.shape[0]
        if not 0 <= index < n:
            raise ValidationError(f"slice index must be 0-{n - 1}", field="index")
        grey = seg_tools.window(np.asarray(vol.array[index]), centre, width)
        rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
        if seg_id:
            seg, _s, labels = self.labels(seg_id)
            if seg["series_id"] != series_id:
                raise ValidationError("the segmentation belongs to another series", field="seg")
            for s in labels.segments:
                m = labels.layers[s.layer, index] == s.label
                rgb[m] = rgb[m] * 0.55 + np.asarray(s.color, dtype=np.float32) * 255 * 0.45
        img = Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


def _identity_match(identity: dict[str, Any], key: tuple[str, str, str]) -> str:
    """'match' when the header's Patient ID equals one of the twin's identifiers, 'mismatch' when
    the twin has identifiers and none equals it, 'unverified' when there is nothing to compare."""
    values = {
        str(v).strip() for v in (identity or {}).values() if isinstance(v, str | int) and str(v).strip()
    }
    pid = key[0].strip()
    if not values or not pid:
        return "unverified"
    return "match" if pid in values else "mismatch"


def _us(when: datetime | None) -> int | None:
    from medtwin.core.clock import to_us

    return None if when is None else to_us(when)
