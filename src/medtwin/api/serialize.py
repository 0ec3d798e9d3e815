"""JSON shapes of the native API (the FHIR shapes live in medtwin.ingest.fhir)."""

from __future__ import annotations

from typing import Any

from medtwin.core.codes import BY_REF
from medtwin.core.model import MedicationAdministration, Observation, Relationship, Twin
from medtwin.store.sql import Bucket


def obs_json(o: Observation) -> dict[str, Any]:
    info = BY_REF.get(o.code)
    d: dict[str, Any] = {
        "id": o.id,
        "twin": o.twin_id,
        "code": o.code,
        "key": info.key if info else None,
        "display": info.display if info else o.code,
        "value": o.value,
        "unit": o.unit,
        "time": o.effective.isoformat().replace("+00:00", "Z"),
        "received": o.received.isoformat().replace("+00:00", "Z"),
        "source": o.source,
        "source_id": o.source_id,
        "method": o.method.value,
        "status": o.status.value,
    }
    if o.value_text is not None:
        d["value_text"] = o.value_text
    if o.meta:
        d["meta"] = o.meta
    return d


def twin_json(t: Twin, *, identity: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": t.id,
        "kind": t.kind.value,
        "name": t.name,
        "attributes": t.attributes,
        "active": t.active,
    }
    if identity:
        d["identity"] = t.identity
    return d


def rel_json(r: Relationship) -> dict[str, Any]:
    return {"src": r.src, "type": r.type.value, "dst": r.dst, "attributes": r.attributes}


def bucket_json(b: Bucket) -> dict[str, Any]:
    return {
        "time": b.start.isoformat().replace("+00:00", "Z"),
        "count": b.count,
        "min": b.min,
        "max": b.max,
        "mean": b.mean,
    }


def med_json(m: MedicationAdministration) -> dict[str, Any]:
    return {
        "id": m.id,
        "twin": m.twin_id,
        "drug": m.drug,
        "dose": m.dose,
        "unit": m.dose_unit,
        "route": m.route,
        "time": m.effective.isoformat().replace("+00:00", "Z"),
        "source": m.source,
        "performer": m.performer,
        "status": m.status,
        "note": m.note,
    }
