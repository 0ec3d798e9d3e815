"""FHIR R4 ingest: single resources, Bundles (batch, transaction, collection...) and lists of
resources, mapped to medtwin twins, reading batches and medication records. Pure: no HTTP, no store.

* :func:`parse_bundle` turns a Bundle into an ordered plan of entries, each either mapped (Patient,
  Observation, MedicationAdministration) or carrying the issues that refuse it. ``urn:uuid:``
  fullUrls of Patients in the Bundle resolve references from Observations in the same Bundle.
* :func:`batches_from_fhir_json` is what ``medtwin ingest PATH --format fhir`` calls.

The HTTP side (batch vs transaction semantics, storage) lives in :mod:`medtwin.api.fhir`; the
mapping of each resource in :mod:`medtwin.ingest.fhir_map`; the way back in
:mod:`medtwin.ingest.fhir_export`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
from fhir.resources.R4B.bundle import Bundle as R4Bundle

from medtwin.core.ids import new_id
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.fhir_common import MAX_ISSUES, FhirInvalid, Issue, pydantic_issue
from medtwin.ingest.fhir_map import MappedObservation, map_observation, to_observations
from medtwin.ingest.fhir_records import MappedMedication, map_medication, map_patient
from medtwin.ingest.pipeline import ReadingBatch

__all__ = [
    "SUPPORTED",
    "BundlePlan",
    "Entry",
    "FhirInvalid",
    "Issue",
    "MappedMedication",
    "MappedObservation",
    "batches_from_fhir_json",
    "map_medication",
    "map_observation",
    "map_patient",
    "parse_bundle",
    "to_observations",
]

SUPPORTED = ("Patient", "Observation", "MedicationAdministration")
HTTP_VERBS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
BUNDLE_TYPES = (
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
)


@dataclass
class Entry:
    """One Bundle entry: what it asks for and its mapping, or the issues that refuse it."""

    index: int
    path: str  # FHIRPath of the resource, e.g. Bundle.entry[3].resource
    rtype: str = ""
    method: str = "POST"
    patient: Twin | None = None
    obs: MappedObservation | None = None
    med: MappedMedication | None = None
    issues: list[Issue] = field(default_factory=list)
    status: int = 422  # HTTP status answered for this entry when it is refused

    @property
    def ok(self) -> bool:
        return not self.issues

    def refuse(self, exc: FhirInvalid) -> None:
        self.issues.extend(exc.issues)
        self.status = exc.status


@dataclass
class BundlePlan:
    type: str
    entries: list[Entry]
    refs: dict[str, str] = field(default_factory=dict)  # fullUrl -> "Patient/ID"

    @property
    def issues(self) -> list[Issue]:
        return [i for e in self.entries for i in e.issues]


def _bundle_shell(doc: Any) -> tuple[str, list[Any], dict[int, list[Issue]]]:
    """Check the Bundle itself (entries' resources are checked one by one later)."""
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise FhirInvalid([Issue("expected a Bundle", "Bundle.resourceType", "structure")], 400)
    raw_entries = doc.get("entry", [])
    if not isinstance(raw_entries, list):
        raise FhirInvalid([Issue("entry must be a list", "Bundle.entry", "structure")], 400)
    shell = dict(doc)
    shell["entry"] = [
        {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e for e in raw_entries
    ]
    per_entry: dict[int, list[Issue]] = {}
    try:
        R4Bundle.model_validate(shell)
    except pydantic.ValidationError as exc:
        top = []
        for err in exc.errors()[:MAX_ISSUES]:
            loc = tuple(err.get("loc", ()))
            if len(loc) >= 2 and loc[0] == "entry" and isinstance(loc[1], int):
                per_entry.setdefault(loc[1], []).append(pydantic_issue("Bundle", err))
            else:
                top.append(pydantic_issue("Bundle", err))
        if top:
            raise FhirInvalid(top, 400) from None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise FhirInvalid(
            [Issue(f"not a valid Bundle: {str(exc)[:200]}", "Bundle", "structure")], 400
        ) from None
    btype = doc.get("type")
    if btype not in BUNDLE_TYPES:
        raise FhirInvalid(
            [
                Issue(
                    f"Bundle.type {str(btype)[:30]!r} is not an R4 bundle type", "Bundle.type", "code-invalid"
                )
            ],
            400,
        )
    return str(btype), raw_entries, per_entry


def _request(e: Entry, raw: dict[str, Any], needs_request: bool) -> tuple[str, str | None]:
    """(resource type named by request.url, id in the url) for an entry; records issues on ``e``."""
    req = raw.get("request")
    if not isinstance(req, dict):
        if needs_request:
            e.issues.append(
                Issue("missing request (method and url)", f"Bundle.entry[{e.index}].request", "required")
            )
            e.status = 400
        return "", None
    rpath = f"Bundle.entry[{e.index}].request"
    method = req.get("method")
    if method not in HTTP_VERBS:
        e.issues.append(
            Issue(
                f"request.method {str(method)[:20]!r} is not an HTTP verb ({'|'.join(HTTP_VERBS)})",
                f"{rpath}.method",
                "code-invalid",
            )
        )
        e.status = 400
        return "", None
    e.method = str(method)
    url = str(req.get("url") or "").split("?", 1)[0].strip("/")
    parts = url.split("/")
    if len(parts) >= 2 and parts[-2] in SUPPORTED:
        parts = parts[-2:]
    elif parts and parts[-1] in SUPPORTED:
        parts = parts[-1:]
    if e.method not in ("POST", "PUT"):
        e.issues.append(
            Issue(
                f"{e.method} entries are not supported in a Bundle (only POST and PUT)",
                f"{rpath}.method",
                "not-supported",
            )
        )
        e.status = 405
        return "", None
    return parts[0], parts[1] if len(parts) > 1 else None


def parse_bundle(
    doc: Any,
    *,
    types: tuple[str, ...] | None = ("batch", "transaction"),
    id_factory: Callable[[], str] = new_id,
) -> BundlePlan:
    """Plan a Bundle: map each entry or record why it is refused (entries are independent here;
    the caller decides batch or transaction semantics). Raises :class:`FhirInvalid` (400) when the
    Bundle itself is unusable."""
    btype, raw_entries, shell_issues = _bundle_shell(doc)
    if types is not None and btype not in types:
        raise FhirInvalid(
            [
                Issue(
                    f"Bundle.type must be {' or '.join(types)}, not {btype!r}", "Bundle.type", "not-supported"
                )
            ],
            400,
        )
    needs_request = btype in ("batch", "transaction")
    plan = BundlePlan(btype, [Entry(i, f"Bundle.entry[{i}].resource") for i in range(len(raw_entries))])
    targets: dict[int, tuple[str, str | None]] = {}
    # pass 1: requests, resource types, patient ids and the fullUrl -> Patient/ID map
    for e, raw in zip(plan.entries, raw_entries, strict=True):
        if e.index in shell_issues:
            e.issues.extend(shell_issues[e.index])
            e.status = 400
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get("resource"), dict):
            e.issues.append(Issue("entry has no resource", f"Bundle.entry[{e.index}].resource", "required"))
            e.status = 400
            continue
        res = raw["resource"]
        e.rtype = str(res.get("resourceType") or "")
        url_type, url_id = _request(e, raw, needs_request)
        if e.issues:
            continue
        if e.rtype not in SUPPORTED:
            e.issues.append(
                Issue(
                    f"resourceType {e.rtype[:40]!r} is not supported (medtwin accepts "
                    f"{', '.join(SUPPORTED)})",
                    f"{e.path}.resourceType",
                    "not-supported",
                )
            )
            e.status = 400
            continue
        if needs_request and url_type != e.rtype:
            e.issues.append(
                Issue(
                    f"request.url names {url_type or 'nothing'!r} but the resource is a {e.rtype}",
                    f"Bundle.entry[{e.index}].request.url",
                    "value",
                )
            )
            e.status = 400
            continue
        if e.rtype != "Patient" and (e.method == "PUT" or url_id):
            e.issues.append(
                Issue(
                    f"update of {e.rtype} is not supported: POST it (a correction with a new "
                    "identifier and status 'corrected')",
                    f"Bundle.entry[{e.index}].request",
                    "not-supported",
                )
            )
            e.status = 405
            continue
        if e.rtype == "Patient":
            if e.method == "PUT" and not url_id:
                e.issues.append(
                    Issue(
                        "PUT needs Patient/ID in request.url",
                        f"Bundle.entry[{e.index}].request.url",
                        "required",
                    )
                )
                e.status = 400
                continue
            rid = res.get("id")
            pid = (
                url_id
                if e.method == "PUT"
                else (id_factory() if needs_request or not isinstance(rid, str) or not rid else rid)
            )
            targets[e.index] = ("Patient", pid)
            full = raw.get("fullUrl")
            if isinstance(full, str) and full and pid:
                plan.refs[full] = f"Patient/{pid}"
    # pass 2: map the resources
    for e, raw in zip(plan.entries, raw_entries, strict=True):
        if e.issues:
            continue
        res = raw["resource"]
        try:
            if e.rtype == "Patient":
                pid = targets[e.index][1] or ""
                body = (
                    res
                    if e.method == "PUT" or not needs_request
                    else {k: v for k, v in res.items() if k != "id"}
                )
                name, identity, attrs, active = map_patient(body, twin_id=pid, path=e.path)
                e.patient = Twin(pid, TwinKind.PATIENT, name, attrs, identity, active)
            elif e.rtype == "Observation":
                e.obs = map_observation(res, path=e.path, refs=plan.refs)
            else:
                e.med = map_medication(res, path=e.path, refs=plan.refs)
        except FhirInvalid as exc:
            e.refuse(exc)
    return plan


def _rejects(index: int | None, issues: list[Issue]) -> list[dict[str, Any]]:
    return [{"index": index, "field": i.expression, "reason": i.diagnostics} for i in issues]


def _collect(
    entries: list[Entry], received: datetime | None
) -> tuple[list[Twin], list[ReadingBatch], list[dict[str, Any]]]:
    when = received or datetime.now(UTC)
    twins: list[Twin] = []
    batches: list[ReadingBatch] = []
    rejects: list[dict[str, Any]] = []
    for e in entries:
        if e.obs is not None and not e.issues:
            try:  # value, unit and range checks, so rejects name the FHIR element
                to_observations(e.obs, received=when, max_future=timedelta(days=36_500))
            except FhirInvalid as exc:
                e.refuse(exc)
        if e.issues:
            rejects.extend(_rejects(e.index, e.issues))
        elif e.patient is not None:
            twins.append(e.patient)
        elif e.obs is not None:
            m = e.obs
            for reading in m.readings:  # one batch per reading: every reject keeps the entry index
                batches.append(
                    ReadingBatch(
                        source=m.source,
                        msg_id=m.msg_id,
                        readings=[reading],
                        subject=m.subject,
                        device=m.device,
                        method=m.method,
                        index_offset=e.index,
                    )
                )
        elif e.med is not None:
            md = e.med
            batches.append(
                ReadingBatch(
                    source=md.source,
                    msg_id=str(md.raw["id"]),
                    medications=[md.raw],
                    subject=md.subject,
                    index_offset=e.index,
                )
            )
    return twins, batches, rejects


def batches_from_fhir_json(
    doc: Any, *, received: datetime | None = None
) -> tuple[list[Twin], list[ReadingBatch], list[dict[str, Any]]]:
    """Map a FHIR document for ``medtwin ingest``: one resource, a Bundle of any type, or a list of
    resources (NDJSON lines). Returns (patients to create first, reading batches, rejects as
    ``{"index", "field", "reason"}``) where index is the entry (or list) index and field the
    FHIRPath of the bad element. Never raises for bad content."""
    if isinstance(doc, list):
        entries = []
        for i, item in enumerate(doc):
            entries.append(_single(item, i))
        return _collect(entries, received)
    if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        try:
            plan = parse_bundle(doc, types=None)
        except FhirInvalid as exc:
            return [], [], _rejects(None, exc.issues)
        return _collect(plan.entries, received)
    return _collect([_single(doc, 0)], received)


def _single(res: Any, index: int) -> Entry:
    rtype = res.get("resourceType") if isinstance(res, dict) else None
    path = rtype if isinstance(rtype, str) and rtype in SUPPORTED else "resource"
    e = Entry(index, path, rtype if isinstance(rtype, str) else "")
    try:
        if not isinstance(res, dict):
            raise FhirInvalid(
                [
                    Issue(
                        f"expected a FHIR resource (JSON object), got {type(res).__name__}",
                        "resource",
                        "structure",
                    )
                ],
                400,
            )
        if rtype == "Observation":
            e.obs = map_observation(res, path=path)
        elif rtype == "MedicationAdministration":
            e.med = map_medication(res, path=path)
        elif rtype == "Patient":
            rid = res.get("id")
            if not isinstance(rid, str) or not rid:
                raise FhirInvalid([Issue("a Patient outside a Bundle needs an id", f"{path}.id", "required")])
            name, identity, attrs, active = map_patient(res, twin_id=rid, path=path)
            e.patient = Twin(rid, TwinKind.PATIENT, name, attrs, identity, active)
        elif rtype == "Bundle":
            raise FhirInvalid(
                [
                    Issue(
                        "a Bundle inside a list is not supported: one Bundle per file",
                        f"{path}.resourceType",
                        "not-supported",
                    )
                ],
                400,
            )
        else:
            what = f"resourceType {rtype[:40]!r}" if isinstance(rtype, str) else "this item"
            raise FhirInvalid(
                [
                    Issue(
                        f"{what} is not supported (medtwin accepts {', '.join(SUPPORTED)})",
                        f"{path}.resourceType",
                        "not-supported",
                    )
                ],
                400,
            )
    except FhirInvalid as exc:
        e.refuse(exc)
    return e
