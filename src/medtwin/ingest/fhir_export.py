"""medtwin -> FHIR R4: Observation, blood-pressure panel, Patient, MedicationAdministration,
OperationOutcome, searchset Bundle and the CapabilityStatement. Pure functions, no I/O.

Exported Observations follow the vital-signs profile (research/monitoring.md 3.1): ``category``,
LOINC ``code``, ``valueQuantity`` with ``system`` http://unitsofmeasure.org, ``effectiveDateTime``,
``issued`` (when medtwin received it), ``subject``, ``device`` (display), ``status``. The export is
shaped so that importing it again yields the same reading and the same idempotency key
(``identifier[0].value`` = the source's id, ``device``/``performer`` display = the source).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from medtwin.core.codes import BY_REF, LOINC, SNOMED, SYSTEM_ALIASES, CodeInfo, ValueKind
from medtwin.core.model import MedicationAdministration, Method, Observation, Twin
from medtwin.ingest.fhir_common import Issue
from medtwin.ingest.fhir_map import AVPU_SNOMED, BP_PANEL, MEDTWIN_ANSWER, UCUM

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MEDTWIN_CATEGORY = "urn:medtwin:category"
SOURCE_ID_SYSTEM = "urn:medtwin:source-id"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CATEGORIES = {
    "social-history": "Social History",
    "vital-signs": "Vital Signs",
    "imaging": "Imaging",
    "laboratory": "Laboratory",
    "procedure": "Procedure",
    "survey": "Survey",
    "exam": "Exam",
    "therapy": "Therapy",
    "activity": "Activity",
}
_AVPU_CODE = {v: k for k, v in AVPU_SNOMED.items()}
_AVPU_DISPLAY = {"A": "Alert", "V": "Responds to voice", "P": "Responds to pain", "U": "Unresponsive"}


def instant(when: datetime) -> str:
    """FHIR instant/dateTime text (UTC, 'Z')."""
    return when.isoformat().replace("+00:00", "Z")


def _code_of(ref: str) -> tuple[str, str, str, CodeInfo | None]:
    info = BY_REF.get(ref)
    if info is not None:
        return info.system, info.code, info.display, info
    system, _, code = ref.partition("|") if "|" in ref else ("loinc", "", ref)
    return SYSTEM_ALIASES.get(system, system), code, code, None


def _category(info: CodeInfo | None) -> list[dict[str, Any]]:
    cat = info.category if info is not None else "vital-signs"
    if cat in CATEGORIES:
        return [{"coding": [{"system": OBS_CATEGORY, "code": cat, "display": CATEGORIES[cat]}]}]
    return [{"coding": [{"system": MEDTWIN_CATEGORY, "code": cat}], "text": cat}]


def _value(o: Observation, info: CodeInfo | None) -> dict[str, Any]:
    if o.value is not None:
        return {
            "valueQuantity": {"value": o.value, "unit": o.unit, "system": UCUM, "code": o.unit}
            if o.unit
            else {"value": o.value}
        }
    text = o.value_text or ""
    if info is not None and info.kind is ValueKind.CODED:
        if info.key == "acvpu" and text in _AVPU_CODE:
            coding = {"system": SNOMED, "code": _AVPU_CODE[text], "display": _AVPU_DISPLAY[text]}
        else:
            coding = {"system": MEDTWIN_ANSWER, "code": text}
        return {"valueCodeableConcept": {"coding": [coding], "text": text}}
    return {"valueString": text}


def _who(o: Observation | MedicationAdministration, method: Method) -> dict[str, Any]:
    if method is Method.DEVICE:
        return {"device": {"display": o.source}}
    return {"performer": [{"display": o.source}]}


def observation_to_fhir(o: Observation) -> dict[str, Any]:
    """One stored observation as an R4 Observation (id = the store's id)."""
    system, code, display, info = _code_of(o.code)
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(o.id),
        "meta": {"lastUpdated": instant(o.received)},
        "identifier": [{"system": SOURCE_ID_SYSTEM, "value": o.source_id}],
        "status": o.status.value,
        "category": _category(info),
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{o.twin_id}"},
        "effectiveDateTime": instant(o.effective),
        "issued": instant(o.received),
        **_value(o, info),
    }
    if o.method is Method.DERIVED:
        res["method"] = {"text": "computed by medtwin"}
    res.update(_who(o, o.method))
    return res


def panel_id(parts: Sequence[Observation]) -> str:
    return "bp-" + "-".join(str(p.id) for p in parts)


def bp_panel_to_fhir(parts: Sequence[Observation]) -> dict[str, Any]:
    """Systolic, diastolic (and mean) stored from one 85354-9 panel, as that panel again.

    Its id is ``bp-<systolic id>-<diastolic id>[-<mean id>]``, readable at /fhir/Observation/{id}."""
    first = parts[0]
    base = first.source_id.rsplit("/", 1)[0]
    comps = []
    for p in parts:
        system, code, display, _info = _code_of(p.code)
        comps.append(
            {
                "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
                "valueQuantity": {"value": p.value, "unit": p.unit, "system": UCUM, "code": p.unit},
            }
        )
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": panel_id(parts),
        "meta": {"lastUpdated": instant(first.received)},
        "identifier": [{"system": SOURCE_ID_SYSTEM, "value": base}],
        "status": first.status.value,
        "category": _category(BY_REF.get(first.code)),
        "code": {
            "coding": [
                {
                    "system": LOINC,
                    "code": BP_PANEL,
                    "display": "Blood pressure panel with all children optional",
                }
            ],
            "text": "Blood pressure",
        },
        "subject": {"reference": f"Patient/{first.twin_id}"},
        "effectiveDateTime": instant(first.effective),
        "issued": instant(first.received),
        "component": comps,
    }
    res.update(_who(first, first.method))
    return res


def patient_to_fhir(t: Twin) -> dict[str, Any]:
    """A patient twin as an R4 Patient (identity fields as stored by :func:`map_patient`, or the
    simpler ``name``/``mrn``/``birth_date`` shape other parts of medtwin write)."""
    ident = t.identity or {}
    res: dict[str, Any] = {"resourceType": "Patient", "id": t.id, "active": t.active}
    identifiers = ident.get("identifiers")
    if isinstance(identifiers, list) and identifiers:
        out = []
        for i in identifiers:
            e = {k: i[k] for k in ("use", "system", "value") if k in i}
            if i.get("type"):
                e["type"] = {"coding": [{"system": V2_0203, "code": i["type"]}]}
            out.append(e)
        res["identifier"] = out
    elif ident.get("mrn"):
        res["identifier"] = [
            {"type": {"coding": [{"system": V2_0203, "code": "MR"}]}, "value": str(ident["mrn"])}
        ]
    names = ident.get("names")
    if isinstance(names, list) and names:
        res["name"] = names
    elif ident.get("name") or t.name:
        res["name"] = [{"text": str(ident.get("name") or t.name)}]
    for key, fhir_key in (("telecom", "telecom"), ("address", "address")):
        if isinstance(ident.get(key), list) and ident[key]:
            res[fhir_key] = ident[key]
    gender = ident.get("gender") or (t.attributes or {}).get("sex")
    if gender in ("male", "female", "other", "unknown"):
        res["gender"] = gender
    if ident.get("birth_date"):
        res["birthDate"] = str(ident["birth_date"])
    return res


def medication_to_fhir(m: MedicationAdministration) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": str(m.id),
        "identifier": [{"system": SOURCE_ID_SYSTEM, "value": m.source_id}],
        "status": m.status if m.status in ("completed", "in-progress", "stopped") else "completed",
        "medicationCodeableConcept": {"text": m.drug},
        "subject": {"reference": f"Patient/{m.twin_id}"},
        "effectiveDateTime": instant(m.effective),
        "dosage": {"dose": {"value": m.dose, "unit": m.dose_unit, "system": UCUM, "code": m.dose_unit}},
    }
    if m.route:
        res["dosage"]["route"] = {"text": m.route}
    if m.performer:
        res["performer"] = [{"actor": {"display": m.performer}}]
    if m.note:
        res["note"] = [{"text": m.note}]
    return res


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    out = []
    for i in issues:
        issue: dict[str, Any] = {"severity": i.severity, "code": i.code, "diagnostics": i.diagnostics}
        if i.expression:
            issue["expression"] = [i.expression]
        out.append(issue)
    if not out:
        out = [{"severity": "information", "code": "informational", "diagnostics": "ok"}]
    return {"resourceType": "OperationOutcome", "issue": out}


def outcome(
    diagnostics: str, code: str = "invalid", expression: str | None = None, severity: str = "error"
) -> dict[str, Any]:
    return operation_outcome([Issue(diagnostics, expression, code, severity)])


def searchset(
    resources: Iterable[dict[str, Any]],
    *,
    base: str,
    total: int | None,
    self_url: str,
    next_url: str | None = None,
    outcome_: dict[str, Any] | None = None,
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in resources
    ]
    if outcome_ is not None:
        entries.append({"resource": outcome_, "search": {"mode": "outcome"}})
    b: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        b["total"] = total
    b["link"] = [{"relation": "self", "url": self_url}]
    if next_url:
        b["link"].append({"relation": "next", "url": next_url})
    b["entry"] = entries
    return b


OBS_SEARCH = (
    ("subject", "reference", "the patient: Patient/ID (required, or patient=)"),
    ("patient", "reference", "alias of subject"),
    ("code", "token", "[system|]code, comma-separated for OR; 85354-9 returns blood-pressure panels"),
    ("date", "date", "effective time with prefix ge, gt, le, lt or eq; repeat for a range"),
    ("_count", "number", "page size (default 100, at most 1000)"),
    ("_sort", "string", "date or -date (default -date, newest first)"),
)


def capability_statement(*, base: str, version: str, now: datetime) -> dict[str, Any]:
    def params(items: Iterable[tuple[str, str, str]]) -> list[dict[str, str]]:
        return [{"name": n, "type": t, "documentation": d} for n, t, d in items]

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now),
        "kind": "instance",
        "publisher": "medtwin",
        "software": {"name": "medtwin", "version": version},
        "implementation": {"description": "medtwin FHIR R4 endpoint", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Observations are validated (codes, UCUM units, plausible ranges) and stored once "
                "per (source, identifier); see docs/fhir.md.",
                "resource": [
                    {
                        "type": "Patient",
                        "interaction": [{"code": "read"}, {"code": "update"}],
                        "updateCreate": True,
                        "versioning": "no-version",
                    },
                    {
                        "type": "Observation",
                        "interaction": [{"code": "create"}, {"code": "read"}, {"code": "search-type"}],
                        "versioning": "no-version",
                        "searchParam": params(OBS_SEARCH),
                    },
                    {
                        "type": "MedicationAdministration",
                        "interaction": [{"code": "search-type"}],
                        "versioning": "no-version",
                        "searchParam": params(
                            [
                                ("subject", "reference", "the patient: Patient/ID (required)"),
                                ("patient", "reference", "alias of subject"),
                            ]
                        ),
                    },
                ],
                "interaction": [{"code": "batch"}, {"code": "transaction"}],
            }
        ],
    }
