"""Studies in the FHIR R4 ImagingStudy shape (hl7.org/fhir/R4/imagingstudy.html): the Study
Instance UID as an ``urn:oid:`` identifier (system ``urn:dicom:uid``), series with their UID,
modality (DICOM code system ``http://dicom.nema.org/resources/ontology/DCM``), number, description
and instance count, and the subject reference to the patient twin."""

from __future__ import annotations

from typing import Any

DCM = "http://dicom.nema.org/resources/ontology/DCM"


def imaging_study(study: dict[str, Any], series: list[dict[str, Any]]) -> dict[str, Any]:
    uid = study["study_uid"]
    ident = {"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"} if uid[:1].isdigit() else {"value": uid}
    mods = sorted({s["modality"] for s in series if s.get("modality")})
    out: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": study["id"],
        "identifier": [ident],
        "status": "available",
        "subject": {"reference": f"Patient/{study['twin_id']}"},
        "modality": [{"system": DCM, "code": m} for m in mods],
        "numberOfSeries": len(series),
        "numberOfInstances": sum(int((s.get("meta") or {}).get("instances") or 0) for s in series),
        "series": [
            {
                "uid": s["series_uid"],
                "number": s.get("number"),
                "modality": {"system": DCM, "code": s.get("modality") or "OT"},
                "description": s.get("description") or None,
                "numberOfInstances": int((s.get("meta") or {}).get("instances") or 0),
                **(
                    {"bodySite": {"display": s["meta"]["body_part"]}}
                    if (s.get("meta") or {}).get("body_part")
                    else {}
                ),
            }
            for s in series
        ],
    }
    if study.get("started"):
        out["started"] = study["started"]
    if study.get("description"):
        out["description"] = study["description"]
    return out
