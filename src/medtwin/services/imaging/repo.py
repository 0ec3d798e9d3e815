"""Rows of the imaging tables (store migration 7) and the files under ``<data_dir>/imaging``.

Pixel volumes and label maps are ``.npy`` files (memory-mapped on read, so a 512 x 512 x 300 CT
is not copied to answer a slice request); meshes are cached ``.glb`` files. The database keeps
ids, UIDs, geometry and results as JSON. No DICOM personal data is written anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.core.ids import new_id
from medtwin.models.imaging.volume import LabelMap, Segment, Volume
from medtwin.store.sql import SqlStore

TABLES = {
    "study": "imaging_studies",
    "series": "imaging_series",
    "segmentation": "imaging_segmentations",
    "assessment": "imaging_assessments",
    "plan": "surgical_plans",
}
JSON_COLS = {"meta", "geometry", "segments", "provenance", "result", "params"}


def _iso(us: int | None) -> str | None:
    return None if us is None else from_us(int(us)).isoformat().replace("+00:00", "Z")


@dataclass
class ImagingRepo:
    store: SqlStore
    root: Path

    # ------------------------------------------------------------------ generic rows
    def insert(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        row.setdefault("id", new_id(kind[:2] + "-"))
        row.setdefault("created_us", to_us(self.store.clock.now()))
        vals = {k: (json.dumps(v) if k in JSON_COLS else v) for k, v in row.items()}
        cols = ", ".join(vals)
        with self.store.transaction() as c:
            c.execute(
                text(f"INSERT INTO {TABLES[kind]} ({cols}) VALUES ({', '.join(':' + k for k in vals)})"), vals
            )
        return self.get(kind, row["id"])

    def get(self, kind: str, id_: str) -> dict[str, Any]:
        rows = self.find(kind, id=id_)
        if not rows:
            raise NotFoundError(f"no imaging {kind} {id_!r}", field=f"{kind}_id")
        return rows[0]

    def find(self, kind: str, /, order: str = "created_us", **where: Any) -> list[dict[str, Any]]:
        cond = " AND ".join(f"{k} = :{k}" for k in where) or "1 = 1"
        with self.store.engine.connect() as c:
            res = c.execute(text(f"SELECT * FROM {TABLES[kind]} WHERE {cond} ORDER BY {order}"), where)
            out = []
            for r in res.mappings():
                d = {k: (json.loads(v) if k in JSON_COLS and v is not None else v) for k, v in r.items()}
                out.append(d)
        return out

    def update_json(self, kind: str, id_: str, col: str, value: Any) -> None:
        if col not in JSON_COLS:
            raise ValidationError(f"{col} is not a JSON column", field=col)
        with self.store.transaction() as c:
            c.execute(
                text(f"UPDATE {TABLES[kind]} SET {col} = :v WHERE id = :id"),
                {"v": json.dumps(value), "id": id_},
            )

    # ------------------------------------------------------------------ files
    def _dir(self, twin_id: str) -> Path:
        d = self.root / "imaging" / twin_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def save_volume(self, twin_id: str, series_id: str, vol: Volume) -> str:
        rel = f"imaging/{twin_id}/{series_id}.npy"
        self._dir(twin_id)
        np.save(self.root / rel, vol.array, allow_pickle=False)
        return rel

    def load_volume(self, series: dict[str, Any]) -> Volume:
        path = self.root / series["path"]
        if not path.exists():
            raise NotFoundError(
                f"pixel data of series {series['id']} is missing from the data folder", field="series_id"
            )
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        g = series["geometry"]
        return Volume(
            arr,
            np.asarray(g["affine"], dtype=np.float64),
            modality=series["modality"],
            unit=g.get("unit", ""),
        )

    def save_labels(self, twin_id: str, seg_id: str, labels: LabelMap) -> str:
        rel = f"imaging/{twin_id}/{seg_id}.labels.npy"
        self._dir(twin_id)
        np.save(self.root / rel, labels.layers, allow_pickle=False)
        return rel

    def load_labels(self, seg: dict[str, Any], series: dict[str, Any]) -> LabelMap:
        path = self.root / seg["path"]
        if not path.exists():
            raise NotFoundError(
                f"labels of segmentation {seg['id']} are missing from the data folder",
                field="segmentation_id",
            )
        layers = np.load(path, allow_pickle=False)
        segs = [Segment.from_dict(s) for s in seg["segments"]]
        return LabelMap(layers, np.asarray(series["geometry"]["affine"], dtype=np.float64), segs)

    def mesh_path(self, twin_id: str, seg_id: str) -> Path:
        return self._dir(twin_id) / f"{seg_id}.glb"


def public(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row as the API shows it: times as ISO 8601, file paths hidden."""
    out = {k: v for k, v in row.items() if k != "path"}
    for k in list(out):
        if k.endswith("_us"):
            out[k[:-3] if k != "t_us" else "time"] = _iso(out.pop(k))
    out["kind"] = out.get("kind", kind) if kind == "assessment" else kind
    return out
