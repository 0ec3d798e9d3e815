"""Audit events as FHIR R4 AuditEvent resources, shaped after IHE Basic Audit Log Patterns (BALP).

* ``type``: ``rest`` (http://terminology.hl7.org/CodeSystem/audit-event-type) for API access,
  DICOM ``110114`` User Authentication for login/logout/failed login, ``110106`` Export,
  ``110113`` Security Alert for refused access; ``subtype``: the FHIR restful-interaction
  (read/search-type/create/update/delete) or DICOM ``110122`` Login / ``110123`` Logout,
  ``110127`` Emergency Override Started for break-the-glass;
* ``action`` C/R/U/D/E, ``recorded``, ``outcome`` 0/4/8/12;
* ``agent``: the user or device (``who.identifier``, role, ``requestor``, ``network.address``;
  ``purposeOfUse`` BTG when a break-the-glass grant was used) and the server;
* ``source``: ``observer`` = this medtwin, type 4 (application server);
* ``entity``: ``Patient/<id>`` for each patient concerned (role 1 Patient), and the resource
  touched; the BALP ``query`` entity is left out (a query string may hold an MRN).

Reference: https://build.fhir.org/ig/IHE/ITI.BasicAudit/ and hl7.org/fhir/R4/auditevent.html
"""

from __future__ import annotations

from typing import Any

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBSERVER_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
MEDTWIN_AUDIT = "urn:medtwin:audit-event"

_TYPE = {
    "rest": (AUDIT_TYPE, "rest", "Restful Operation"),
    "websocket": (AUDIT_TYPE, "rest", "Restful Operation"),
    "export": (DCM, "110106", "Export"),
    "login": (DCM, "110114", "User Authentication"),
    "logout": (DCM, "110114", "User Authentication"),
    "login-failed": (DCM, "110114", "User Authentication"),
    "access-denied": (DCM, "110113", "Security Alert"),
    "break-glass": (DCM, "110113", "Security Alert"),
    "system": (DCM, "110100", "Application Activity"),
}
_SUBTYPE = {
    "login": (DCM, "110122", "Login"),
    "login-failed": (DCM, "110122", "Login"),
    "logout": (DCM, "110123", "Logout"),
    "break-glass": (DCM, "110127", "Emergency Override Started"),
}
_REST = {"C": "create", "R": "read", "U": "update", "D": "delete", "E": "operation"}
_OUTCOME_DESC = {0: "Success", 4: "Minor failure", 8: "Serious failure", 12: "Major failure"}


def _coding(t: tuple[str, str, str]) -> dict[str, str]:
    return {"system": t[0], "code": t[1], "display": t[2]}


def to_fhir(index: int, ev: dict[str, Any], *, observer: str = "medtwin") -> dict[str, Any]:
    """The AuditEvent for log entry ``index`` (its id is ``medtwin-audit-<index>``)."""
    kind = ev.get("type", "rest")
    res: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"medtwin-audit-{index}",
        "type": _coding(_TYPE.get(kind, _TYPE["rest"])),
        "action": ev.get("action", "E"),
        "recorded": ev["time"],
        "outcome": str(ev.get("outcome", 0)),
        "outcomeDesc": _OUTCOME_DESC.get(int(ev.get("outcome", 0)), "")
        + (f" (status {ev['status']})" if ev.get("status") is not None else ""),
    }
    sub = _SUBTYPE.get(kind)
    if sub:
        res["subtype"] = [_coding(sub)]
    elif kind in ("rest", "websocket", "access-denied", "export"):
        code = _REST.get(ev.get("action", "R"), "read")
        if code == "read" and ev.get("entity") is None:
            code = "search-type"
        res["subtype"] = [{"system": RESTFUL, "code": code}]
    user: dict[str, Any] = {
        "type": {
            "coding": [
                {"system": ROLE_CLASS, "code": "humanuser" if ev.get("role") != "device" else "dataprocessor"}
            ]
        },
        "who": {"identifier": {"system": "urn:medtwin:principal", "value": ev.get("subject", "unknown")}},
        "role": [{"text": ev.get("role", "unknown")}],
        "requestor": True,
    }
    if ev.get("ip"):
        user["network"] = {"address": ev["ip"], "type": "2"}
    if ev.get("break_glass"):
        user["purposeOfUse"] = [
            {"coding": [{"system": ACT_REASON, "code": "BTG", "display": "break the glass"}]}
        ]
    server = {
        "type": {"coding": [{"system": ROLE_CLASS, "code": "dataprocessor"}]},
        "who": {"display": observer},
        "requestor": False,
    }
    res["agent"] = [user, server]
    res["source"] = {
        "observer": {"display": observer},
        "type": [{"system": OBSERVER_TYPE, "code": "4", "display": "Application Server"}],
    }
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{p}"},
            "type": {"system": AUDIT_ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
        }
        for p in ev.get("patients", [])
    ]
    if ev.get("entity") and not str(ev["entity"]).startswith("Patient/"):
        entities.append(
            {
                "what": {"reference": ev["entity"]},
                "type": {"system": AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"},
            }
        )
    if ev.get("route"):
        entities.append(
            {
                "what": {"display": f"{ev.get('method', '')} {ev['route']}".strip()},
                "type": {"system": AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"},
                "detail": [{"type": "medtwin-event-id", "valueString": ev["id"]}],
            }
        )
    if entities:
        res["entity"] = entities
    return res


def bundle(items: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:medtwin:audit:{i}", "resource": to_fhir(i, ev)} for i, ev in items],
    }
