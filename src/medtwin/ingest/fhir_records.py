"""FHIR R4 Patient -> medtwin patient twin, MedicationAdministration -> medication record. Pure.

Personal data of a Patient (names, identifiers and MRN, birth date, gender, telecom, address) goes
to the twin's ``identity`` (encrypted at rest); ``attributes`` only gets ``sex`` (male/female),
which the models use. A MedicationAdministration must be ``completed`` (a dose given) with
``dosage.dose``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medtwin.core.errors import MedtwinError
from medtwin.core.ids import valid_id
from medtwin.core.model import MedicationAdministration
from medtwin.ingest.fhir_common import (
    FhirInvalid,
    Issue,
    actor_name,
    check_structure,
    effective_time,
    reference_id,
    source_id_of,
    source_of,
    subject_of,
)
from medtwin.ingest.pipeline import build_medication

MED_STATUSES = ("in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown")
GENDERS = ("male", "female", "other", "unknown")


# ------------------------------------------------------------------------------------------ Patient
_NAME_KEYS = ("use", "text", "family", "given", "prefix", "suffix")
_ADDRESS_KEYS = ("use", "type", "text", "line", "city", "district", "state", "postalCode", "country")
_TELECOM_KEYS = ("system", "value", "use", "rank")


def _pick(items: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: it[k] for k in keys if k in it} for it in (items or []) if isinstance(it, dict)]


def display_name(names: list[dict[str, Any]]) -> str:
    if not names:
        return ""
    best = next((n for n in names if n.get("use") == "official"), names[0])
    if isinstance(best.get("text"), str) and best["text"].strip():
        return str(best["text"]).strip()
    given = best.get("given") or []  # JSON null or a missing element both mean no given names
    parts = [*(given if isinstance(given, list) else []), best.get("family", "")]
    return " ".join(p for p in parts if isinstance(p, str) and p).strip()


def map_patient(
    res: Any, *, twin_id: str, path: str = "Patient"
) -> tuple[str, dict[str, Any], dict[str, Any], bool]:
    """Map an R4 Patient to (name, identity, attributes, active) for the twin ``twin_id``.

    Personal data (names, identifiers, birth date, telecom, address) goes to ``identity``, which
    the store encrypts at rest; ``attributes`` only gets ``sex`` (male/female) for the models.
    """
    check_structure(res, "Patient", path)
    issues: list[Issue] = []
    if not valid_id(twin_id):
        issues.append(Issue("id must be 1-64 letters, digits, '.', '_' or '-'", f"{path}.id", "value"))
    rid = res.get("id")
    if rid is not None and rid != twin_id:  # FHIR update: 400 when the ids disagree
        msg = f"resource id {str(rid)[:64]!r} does not match the id in the URL {twin_id[:64]!r}"
        raise FhirInvalid([Issue(msg, f"{path}.id", "value")], 400)
    gender = res.get("gender")
    if gender is not None and gender not in GENDERS:
        issues.append(
            Issue(
                f"gender {str(gender)[:20]!r} is not one of {'|'.join(GENDERS)}",
                f"{path}.gender",
                "code-invalid",
            )
        )
    active = res.get("active", True)
    if issues:
        raise FhirInvalid(issues)
    names = _pick(res.get("name"), _NAME_KEYS)
    identifiers = []
    mrn = None
    for ident in res.get("identifier") or []:
        if not isinstance(ident, dict) or not isinstance(ident.get("value"), str):
            continue
        codes = [
            c.get("code") for c in ((ident.get("type") or {}).get("coding") or []) if isinstance(c, dict)
        ]
        entry = {k: ident[k] for k in ("use", "system", "value") if k in ident}
        if codes:
            entry["type"] = codes[0]
        identifiers.append(entry)
        if "MR" in codes and mrn is None:
            mrn = ident["value"]
    if mrn is None and identifiers:
        mrn = identifiers[0]["value"]
    identity: dict[str, Any] = {
        "name": display_name(names),
        "names": names,
        "identifiers": identifiers,
        "mrn": mrn,
        "birth_date": res.get("birthDate"),
        "gender": gender,
        "telecom": _pick(res.get("telecom"), _TELECOM_KEYS),
        "address": _pick(res.get("address"), _ADDRESS_KEYS),
    }
    identity = {k: v for k, v in identity.items() if v not in (None, "", [])}
    attributes: dict[str, Any] = {"sex": gender} if gender in ("male", "female") else {}
    return str(identity.get("name", ""))[:200], identity, attributes, bool(active)


# ------------------------------------------------------------------------------------------ medication
@dataclass
class MappedMedication:
    path: str
    subject: str
    source: str
    raw: dict[str, Any]
    paths: dict[str, str]


def _text_of(cc: Any) -> str | None:
    if not isinstance(cc, dict):
        return None
    if isinstance(cc.get("text"), str) and cc["text"].strip():
        return str(cc["text"]).strip()
    for c in cc.get("coding") or []:
        if isinstance(c, dict):
            for k in ("display", "code"):
                if isinstance(c.get(k), str) and c[k].strip():
                    return str(c[k]).strip()
    return None


def map_medication(
    res: Any, *, path: str = "MedicationAdministration", refs: Mapping[str, str] | None = None
) -> MappedMedication:
    """Map an R4 MedicationAdministration (a dose given) to medtwin's medication dict."""
    check_structure(res, "MedicationAdministration", path)
    issues: list[Issue] = []
    status = res.get("status")
    if status not in MED_STATUSES:
        issues.append(
            Issue(
                f"status {str(status)[:30]!r} is not an R4 MedicationAdministrationStatus",
                f"{path}.status",
                "code-invalid",
            )
        )
    elif status != "completed":
        issues.append(
            Issue(
                f"status {status!r}: medtwin records doses given (status 'completed')",
                f"{path}.status",
                "business-rule",
            )
        )
    subject = subject_of(res, path, refs, issues)
    when = effective_time(res, path, issues, period_ok=True)
    drug = _text_of(res.get("medicationCodeableConcept"))
    if drug is None and isinstance(res.get("medicationReference"), dict):
        mref = res["medicationReference"]
        drug = mref.get("display") or reference_id(mref.get("reference"), "Medication")
    dosage: dict[str, Any] = res["dosage"] if isinstance(res.get("dosage"), dict) else {}
    dose: dict[str, Any] = dosage["dose"] if isinstance(dosage.get("dose"), dict) else {}
    if not dose:
        issues.append(
            Issue("missing dosage.dose (rates alone are not supported)", f"{path}.dosage.dose", "required")
        )
    source, _device, _method = source_of(res)
    perf = res.get("performer")
    performer = ""
    if isinstance(perf, list) and perf and isinstance(perf[0], dict):
        performer = (
            actor_name(
                perf[0].get("actor"),
                ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Device"),
            )
            or ""
        )
    notes = [
        str(n["text"])
        for n in res.get("note") or []
        if isinstance(n, dict) and isinstance(n.get("text"), str)
    ]
    if issues:
        raise FhirInvalid(issues)
    raw = {
        "drug": drug,
        "dose": dose.get("value"),
        "unit": dose.get("code") or dose.get("unit"),
        "route": _text_of(dosage.get("route")) or "",
        "time": when,
        "performer": performer,
        "id": source_id_of(res)[:200],
        "note": "\n".join(notes),
    }
    paths = {
        "drug": f"{path}.medicationCodeableConcept",
        "dose": f"{path}.dosage.dose.value",
        "unit": f"{path}.dosage.dose.code",
        "route": f"{path}.dosage.route",
        "time": f"{path}.effectiveDateTime",
        "performer": f"{path}.performer",
        "medication": path,
    }
    return MappedMedication(path, subject, source, raw, paths)


def to_medication(m: MappedMedication, *, received: datetime) -> MedicationAdministration:
    try:
        return build_medication(
            m.raw, twin_id=m.subject, source=m.source, source_id=str(m.raw["id"]), received=received
        )
    except MedtwinError as exc:
        raise FhirInvalid([Issue(exc.reason, m.paths.get(exc.field or "", m.path), "value")]) from None
