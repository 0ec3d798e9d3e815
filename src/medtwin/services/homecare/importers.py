"""Import real home-device exports for one patient: Open mHealth / IEEE 1752 JSON, FHIR R4
(Bundle, resource or NDJSON) and medtwin CSV, as native reading batches for the Ingestor or the
home gateway.

Open mHealth: a data point ``{"header": {"uuid", "schema_id": {"namespace", "name", "version"},
...}, "body": {...}}``, a list of them, or ``{"data": [...]}``. Schemas read (IEEE 1752.1 /
openmhealth/schemas): heart-rate 2.0, blood-pressure 4.0, oxygen-saturation 2.0, body-temperature
4.0, body-weight 3.0, blood-glucose 4.0 (``specimen_source`` interstitial fluid = CGM),
respiratory-rate 2.0, step-count 3.0. The data point's ``header.uuid`` is the reading's id, so a
re-import stores nothing twice. Units are passed on (UCUM conversion happens at ingest).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from medtwin.core.errors import ParseError, ValidationError
from medtwin.ingest.pipeline import ReadingBatch

# schema name -> [(body field, medtwin code)]
OMH: dict[str, list[tuple[str, str]]] = {
    "heart-rate": [("heart_rate", "hr")],
    "blood-pressure": [("systolic_blood_pressure", "sbp"), ("diastolic_blood_pressure", "dbp")],
    "oxygen-saturation": [("oxygen_saturation", "spo2")],
    "body-temperature": [("body_temperature", "temp")],
    "body-weight": [("body_weight", "weight")],
    "blood-glucose": [("blood_glucose", "glucose")],
    "respiratory-rate": [("respiratory_rate", "rr")],
    "step-count": [("step_count", "steps")],
}
UNITS = {"beats/min": "/min", "breaths/min": "/min", "mmHg": "mm[Hg]", "C": "Cel", "F": "[degF]", "K": "K",
         "steps": "{steps}", "%": "%", "kg": "kg", "lb": "[lb_av]", "g": "g", "mg/dL": "mg/dL", "mmol/L": "mmol/L"}  # fmt: skip


def _time(body: dict[str, Any]) -> str:
    tf = body.get("effective_time_frame") or {}
    t = tf.get("date_time") or (tf.get("time_interval") or {}).get("end_date_time")
    if not isinstance(t, str):
        raise ValidationError("effective_time_frame.date_time or time_interval.end_date_time missing",
                              field="body.effective_time_frame")  # fmt: skip
    return t


def omh_points(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        doc = doc["data"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise ParseError("expected an Open mHealth data point or a list of them", field="file")
    return doc


def omh_readings(doc: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(readings in medtwin's native shape, rejects naming index and field)."""
    readings: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for i, dp in enumerate(omh_points(doc)):
        try:
            header, body = dp.get("header") or {}, dp.get("body")
            schema = (header.get("schema_id") or {}).get("name")
            if schema not in OMH or not isinstance(body, dict):
                raise ValidationError(f"unsupported schema {schema!r}; supported: {', '.join(OMH)}",
                                      field="header.schema_id.name")  # fmt: skip
            uid = header.get("uuid") or header.get("id")
            if not uid:
                raise ValidationError("missing header.uuid (the data point's id)", field="header.uuid")
            t = _time(body)
            for j, (fld, code) in enumerate(OMH[schema]):
                uv = body.get(fld)
                value, unit = (uv.get("value"), uv.get("unit")) if isinstance(uv, dict) else (uv, None)
                if value is None:
                    raise ValidationError(f"missing {fld}", field=f"body.{fld}")
                if schema == "blood-glucose" and body.get("specimen_source") == "interstitial fluid":
                    code = "cgm"
                r: dict[str, Any] = {"code": code, "value": value, "time": t, "id": f"omh:{uid}/{j}"}
                if unit is not None:
                    r["unit"] = UNITS.get(str(unit), str(unit))
                readings.append(r)
        except ValidationError as exc:
            rejects.append({"index": i, "field": exc.field, "reason": exc.reason})
        except AttributeError:
            rejects.append({"index": i, "field": "data_point", "reason": "a data point is an object"})
    return readings, rejects


def batches(
    fmt: str, raw: bytes, patient: str, source: str
) -> Iterator[tuple[list[ReadingBatch], list[dict[str, Any]]]]:
    """(batches, rejects) for the Ingestor; every reading is about ``patient``."""
    if fmt == "omh":
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"not JSON: {exc}", field="file") from None
        readings, rejects = omh_readings(doc)
        yield [ReadingBatch(source=source, msg_id="omh", readings=readings, subject=patient)], rejects
    elif fmt == "csv":
        from medtwin.ingest.csv_in import read_csv

        text = raw.decode("utf-8-sig")
        if "patient" not in text.splitlines()[0].split(","):
            lines = text.splitlines()
            text = "\n".join(["patient," + lines[0], *(f"{patient}," + ln for ln in lines[1:] if ln.strip())])
        for bs, rej in read_csv("import.csv", text=text):
            wrong = [b for b in bs if b.subject != patient]
            if wrong:
                raise ValidationError(f"row for another patient {wrong[0].subject!r}", field="patient")
            yield bs, rej
    elif fmt == "fhir":
        from medtwin.ingest.fhir import batches_from_fhir_json

        try:
            docs = [json.loads(raw)]
        except ValueError:
            docs = [json.loads(ln) for ln in raw.decode().splitlines() if ln.strip()]
            docs = [
                {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in docs]}
            ]
        _patients, bs, rejects = batches_from_fhir_json(docs[0])
        wrong = [b for b in bs if b.subject not in (None, patient)]
        if wrong:
            raise ValidationError(f"resource about another patient {wrong[0].subject!r}", field="subject")
        for b in bs:
            b.subject = patient
        yield bs, rejects
    else:
        raise ValidationError("format must be omh, fhir or csv", field="format")
