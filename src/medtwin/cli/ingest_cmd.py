"""``medtwin ingest PATH``: load a FHIR, HL7 v2 or CSV file through the same path as live data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from medtwin.core.errors import MedtwinError, ParseError
from medtwin.ingest.pipeline import IngestResult, ReadingBatch, reject
from medtwin.runtime import Runtime

FORMATS = ("auto", "fhir", "hl7v2", "csv")


def detect_format(path: Path, head: bytes) -> str:
    ext = path.suffix.lower()
    if ext in (".json", ".ndjson"):
        return "fhir"
    if ext in (".hl7", ".er7", ".hl7v2"):
        return "hl7v2"
    if ext in (".csv", ".tsv"):
        return "csv"
    h = head.lstrip(b"\x0b\xef\xbb\xbf \r\n\t")
    if h.startswith(b"MSH"):
        return "hl7v2"
    if h.startswith((b"{", b"[")):
        return "fhir"
    if b"," in head.split(b"\n", 1)[0]:
        return "csv"
    raise ParseError("cannot tell the file format; pass --format fhir|hl7v2|csv", field="format")


def _submit(rt: Runtime, batches: list[ReadingBatch], extra_rejects: list[dict[str, Any]]) -> IngestResult:
    res = rt.ingestor.ingest_many(batches).result()
    res.rejected = extra_rejects + res.rejected
    return res


def ingest_file(rt: Runtime, path: Path, fmt: str, progress: Any = None) -> IngestResult:
    total = IngestResult()
    if fmt == "csv":
        from medtwin.ingest.csv_in import read_csv

        for batches, rejects in read_csv(path):
            total.merge(_submit(rt, batches, rejects))
            if progress is not None:
                progress(len(batches) + len(rejects))
    elif fmt == "fhir":
        from medtwin.ingest.fhir import batches_from_fhir_json

        text = path.read_text(encoding="utf-8")
        docs: list[Any]
        try:
            docs = [json.loads(text)]
        except json.JSONDecodeError:
            try:  # NDJSON: one resource per line
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError as exc:
                raise ParseError(f"not JSON or NDJSON: {exc}", field="file") from None
        if len(docs) > 1:
            docs = [
                {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in docs]}
            ]
        patients, batches, rejects = batches_from_fhir_json(docs[0])
        for p in patients:  # keep what medtwin knows beyond FHIR (age, condition...)
            old = rt.store.get_twin(p.id)
            if old is not None and old.kind is p.kind:
                p = replace(p, attributes={**old.attributes, **p.attributes})
            rt.registry.put(p)
        total.merge(_submit(rt, batches, rejects))
        if progress is not None:
            progress(len(batches))
    elif fmt == "hl7v2":
        from medtwin.ingest import hl7v2

        raw = path.read_bytes()
        for i, msg in enumerate(hl7v2.split_messages(raw)):
            try:
                oru = hl7v2.parse_oru(msg)
            except MedtwinError as exc:
                total.rejected.append(reject(i, exc.field, exc.reason))
                continue
            res = _submit(rt, oru.batches, [dict(r, index=i) for r in oru.rejects])
            for r in res.rejected:
                r["index"] = i
            total.merge(res)
            if progress is not None:
                progress(1)
    else:
        raise ParseError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", field="format")
    return total
