"""Shared pieces of the FHIR R4 mapping: issues (OperationOutcome.issue), structure checks with the
``fhir.resources.R4B`` models, and readers of common elements (references, effective time, source,
idempotency id, subject).

The R4B models check structure and datatypes but not coded values (``Observation.status="bogus"``
passes), so callers check the bindings medtwin depends on themselves. Every problem is an
:class:`Issue` whose ``expression`` names the element, e.g.
``Bundle.entry[3].resource.valueQuantity.value``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class

from medtwin.core.errors import ValidationError
from medtwin.core.ids import valid_id
from medtwin.core.model import Method

MAX_ISSUES = 100


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue: what is wrong (diagnostics) and where (a FHIRPath expression)."""

    diagnostics: str
    expression: str | None = None
    code: str = "invalid"  # FHIR IssueType: invalid, structure, required, value, code-invalid, ...
    severity: str = "error"


class FhirInvalid(ValidationError):
    """A resource or Bundle medtwin cannot accept; carries every issue found (422 unless told)."""

    def __init__(self, issues: list[Issue], status: int = 422) -> None:
        first = issues[0] if issues else Issue("invalid resource")
        super().__init__(first.diagnostics, field=first.expression)
        self.issues = issues or [first]
        self.status = status


def expression(path: str, loc: tuple[Any, ...] | list[Any]) -> str:
    """Render a pydantic error location under ``path``: ('component', 0, 'code') -> path.component[0].code."""
    out = path
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("root", "__root__", ""):
            continue
        else:
            out += "." + ("resourceType" if part == "resource_type" else str(part)[:80])
    return out


_FRIENDLY = (
    ("Decimal value", "not a decimal number (send a JSON number)"),
    ("DateTime value", "not a FHIR dateTime (YYYY-MM-DDThh:mm:ss with Z or +hh:mm)"),
    ("Instant value", "not a FHIR instant (YYYY-MM-DDThh:mm:ss with Z or +hh:mm)"),
    ("Date value", "not a FHIR date (YYYY-MM-DD)"),
    (
        "Any of one field value is expected",
        "only one element of a choice such as value[x] or effective[x] is allowed",
    ),
)


def pydantic_issue(path: str, err: Mapping[str, Any]) -> Issue:
    loc = tuple(err.get("loc", ()))
    kind = str(err.get("type", ""))
    where = expression(path, loc)
    last = next((str(p) for p in reversed(loc) if isinstance(p, str) and p != "root"), "")
    if kind == "extra_forbidden":
        return Issue(f"unknown element {last!r} (not in FHIR R4)", where, "structure")
    if kind in ("missing", "model_field_validation.missing"):
        return Issue(f"required element {last!r} is missing", where, "required")
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ").split("\n")[0]
    for needle, better in _FRIENDLY:
        if needle in msg:
            msg = better
            break
    return Issue(msg[:300], where, "structure" if "type" in kind else "value")


def check_structure(res: Any, expected: str | tuple[str, ...], path: str) -> str:
    """Check that ``res`` is a well-formed R4 resource of an expected type; return its type.

    Raises :class:`FhirInvalid` with status 400 for a non-object or a wrong ``resourceType`` and
    422 (one issue per bad element) when the R4 model refuses it.
    """
    allowed = (expected,) if isinstance(expected, str) else expected
    if not isinstance(res, dict):
        raise FhirInvalid(
            [Issue(f"expected a FHIR resource (JSON object), got {kind_of(res)}", path, "structure")], 400
        )
    rtype = res.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise FhirInvalid([Issue("missing resourceType", f"{path}.resourceType", "required")], 400)
    if rtype not in allowed:
        raise FhirInvalid(
            [
                Issue(
                    f"resourceType {rtype[:40]!r} is not accepted here (expected {' or '.join(allowed)})",
                    f"{path}.resourceType",
                    "not-supported",
                )
            ],
            400,
        )
    try:
        model = get_fhir_model_class(rtype)
        model.model_validate(res)
    except pydantic.ValidationError as exc:
        raise FhirInvalid([pydantic_issue(path, e) for e in exc.errors()[:MAX_ISSUES]]) from None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise FhirInvalid([Issue(f"not a valid {rtype}: {str(exc)[:200]}", path, "structure")]) from None
    return rtype


def kind_of(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), type(v).__name__
    )


def field_issue_code(name: str | None) -> str:
    return {
        "code": "code-invalid",
        "system": "code-invalid",
        "status": "code-invalid",
        "patient": "not-found",
    }.get(name or "", "value")


# ------------------------------------------------------------------------------------------ helpers
def reference_id(ref: Any, rtype: str, refs: Mapping[str, str] | None = None) -> str | None:
    """The id in a reference to ``rtype``: 'Patient/P1', 'https://x/fhir/Patient/P1/_history/2', or a
    'urn:uuid:...' resolved through ``refs`` (fullUrl -> 'Patient/ID' within a Bundle)."""
    if not isinstance(ref, str) or not ref:
        return None
    if refs and ref in refs:
        ref = refs[ref]
    parts = ref.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == rtype and parts[-1]:
        return str(parts[-1])
    return None


def actor_name(ref: Any, types: tuple[str, ...]) -> str | None:
    """A source name from a Reference: the referenced id, else its display, else identifier.value."""
    if not isinstance(ref, dict):
        return None
    for t in types:
        rid = reference_id(ref.get("reference"), t)
        if rid:
            return rid
    for key in ("display",):
        v = ref.get(key)
        if isinstance(v, str) and v.strip():
            return v.strip()
    ident = ref.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str) and ident["value"]:
        return str(ident["value"])
    return None


def effective_time(
    res: dict[str, Any], path: str, issues: list[Issue], *, period_ok: bool = False
) -> str | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        v = res.get(key)
        if v is None:
            continue
        if not isinstance(v, str) or "T" not in v:
            issues.append(
                Issue(
                    f"{key} needs a time of day with a UTC offset (e.g. 2026-01-01T10:00:00Z), "
                    "not only a date",
                    f"{path}.{key}",
                    "value",
                )
            )
            return None
        return v
    period = res.get("effectivePeriod")
    if (
        period_ok
        and isinstance(period, dict)
        and isinstance(period.get("start"), str)
        and "T" in period["start"]
    ):
        return str(period["start"])
    for key in ("effectivePeriod", "effectiveTiming"):
        if key in res:
            issues.append(
                Issue(f"{key} is not supported: send effectiveDateTime", f"{path}.{key}", "not-supported")
            )
            return None
    issues.append(
        Issue(
            "missing effectiveDateTime (when the value was measured)", f"{path}.effectiveDateTime", "required"
        )
    )
    return None


def source_id_of(res: dict[str, Any]) -> str:
    idents = res.get("identifier")
    if isinstance(idents, list) and idents and isinstance(idents[0], dict):
        v = idents[0].get("value")
        if isinstance(v, str) and v.strip():
            return v.strip()
    rid = res.get("id")
    if isinstance(rid, str) and rid:
        return rid
    body = {k: v for k, v in res.items() if k not in ("meta", "text", "id")}
    return "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]


def source_of(res: dict[str, Any], *, device_key: str = "device") -> tuple[str, str | None, Method]:
    dev = res.get(device_key)
    if isinstance(dev, list):
        dev = dev[0] if dev else None
    d = actor_name(dev, ("Device",))
    if d:
        return d[:200], d[:200], Method.DEVICE
    perf = res.get("performer")
    if isinstance(perf, list) and perf:
        first = perf[0]
        who = actor_name(
            first.get("actor") if isinstance(first, dict) and "actor" in first else first,
            ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Organization"),
        )
        if who:
            return who[:200], None, Method.MANUAL
    meta = res.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("source"), str) and meta["source"]:
        return str(meta["source"])[:200], None, Method.MANUAL
    return "fhir", None, Method.MANUAL


def subject_of(res: dict[str, Any], path: str, refs: Mapping[str, str] | None, issues: list[Issue]) -> str:
    subj = res.get("subject")
    ref = subj.get("reference") if isinstance(subj, dict) else None
    if not ref:
        issues.append(
            Issue(
                "missing subject: medtwin needs the patient as subject.reference 'Patient/ID'",
                f"{path}.subject",
                "required",
            )
        )
        return ""
    pid = reference_id(ref, "Patient", refs)
    if pid is None:
        issues.append(
            Issue(
                f"subject {str(ref)[:60]!r} is not a Patient reference ('Patient/ID')",
                f"{path}.subject.reference",
                "value",
            )
        )
        return ""
    if not valid_id(pid):
        issues.append(Issue(f"invalid patient id {pid[:40]!r}", f"{path}.subject.reference", "value"))
        return ""
    return pid
