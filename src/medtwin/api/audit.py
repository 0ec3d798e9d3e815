"""Audit log API: signed tree heads, inclusion and consistency proofs, events, FHIR AuditEvent export.

Routes (for admins and privacy officers; the policy table restricts them)::

    GET /api/audit/sth                                   latest signed tree head (+ public key)
    GET /api/audit/sths?after=SIZE                       all signed tree heads after SIZE
    GET /api/audit/proof/inclusion?index=I&size=N        RFC 9162 inclusion proof of entry I
    GET /api/audit/proof/consistency?first=M&second=N    RFC 9162 consistency proof M -> N
    GET /api/audit/events?patient=&subject=&type=&start=&end=&after=&limit=
    GET /api/audit/fhir?...same filters...               Bundle of FHIR R4 AuditEvent (IHE BALP)

:func:`install` wires the log into an app: the middleware (outermost), this router, the default
log for :func:`medtwin.security.audit.audit`, and closing with the runtime.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from medtwin.api.audit_mw import AuditMiddleware
from medtwin.core.errors import ValidationError
from medtwin.core.validate import parse_time
from medtwin.runtime import Runtime
from medtwin.security import audit as audit_events
from medtwin.security import audit_fhir
from medtwin.security.audit_log import AuditLog

router = APIRouter(prefix="/api/audit", tags=["audit"])
Size = Annotated[int, Query(ge=0, le=2**62)]


def log_of(request: Request) -> AuditLog:
    return request.app.state.audit  # type: ignore[no-any-return]


@router.get("/sth")
def latest_sth(request: Request) -> dict[str, Any]:
    """The latest signed tree head (signs a new one first when entries are not yet covered)."""
    log = log_of(request)
    sth = log.latest_sth()
    if sth is None or sth.tree_size < log.size:
        sth = log.sign_now()
    if sth is None:
        return {"tree_size": 0, "log_id": log.log_id, "public_key": log.signer.public_b64}
    return sth.as_dict()


@router.get("/sths")
def sths(
    request: Request, after: Size = 0, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> list[dict[str, Any]]:
    return [h.as_dict() for h in log_of(request).sths() if h.tree_size > after][:limit]


@router.get("/proof/inclusion")
def inclusion(request: Request, index: Size, size: Size) -> dict[str, Any]:
    if index >= size:
        raise ValidationError("index must be smaller than size", field="index")
    try:
        return log_of(request).inclusion(index, size)
    except ValueError as exc:
        raise ValidationError(str(exc), field="size") from None


@router.get("/proof/consistency")
def consistency(request: Request, first: Size, second: Size) -> dict[str, Any]:
    if first > second:
        raise ValidationError("first must not be larger than second", field="first")
    try:
        return log_of(request).consistency(first, second)
    except ValueError as exc:
        raise ValidationError(str(exc), field="second") from None


def _events(
    request: Request, patient: str | None, subject: str | None, type_: str | None, start: str | None,
    end: str | None, after: int, limit: int,
) -> list[tuple[int, dict[str, Any]]]:  # fmt: skip
    if type_ is not None and type_ not in audit_events.TYPES:
        raise ValidationError(f"type must be one of {', '.join(audit_events.TYPES)}", field="type")
    return log_of(request).events(
        patient=patient, subject=subject, type_=type_,
        start=parse_time(start, "start") if start else None, end=parse_time(end, "end") if end else None,
        after=after, limit=limit,
    )  # fmt: skip


Limit = Annotated[int, Query(ge=1, le=10_000)]
Id = Annotated[str | None, Query(max_length=128)]


@router.get("/events")
def events(
    request: Request, patient: Id = None, subject: Id = None, type: Id = None, start: str | None = None,
    end: str | None = None, after: Annotated[int, Query(ge=-1)] = -1, limit: Limit = 100,
) -> list[dict[str, Any]]:  # fmt: skip
    """Audit events, oldest first; page with ``after`` = the last ``index`` seen."""
    return [
        {"index": i, **ev} for i, ev in _events(request, patient, subject, type, start, end, after, limit)
    ]


@router.get(
    "/fhir",
    responses={200: {"description": "AuditEvent collection Bundle",
                     "content": {"application/fhir+json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
def fhir_events(
    request: Request, patient: Id = None, subject: Id = None, type: Id = None, start: str | None = None,
    end: str | None = None, after: Annotated[int, Query(ge=-1)] = -1, limit: Limit = 100,
) -> JSONResponse:  # fmt: skip
    """The same events as FHIR R4 AuditEvent resources (IHE BALP) in a collection Bundle."""
    items = _events(request, patient, subject, type, start, end, after, limit)
    return JSONResponse(audit_fhir.bundle(items), media_type="application/fhir+json")


def install(app: FastAPI, runtime: Runtime, *, durable: bool | None = None) -> AuditLog:
    """Audit every request of ``app``. Call after every other ``add_middleware`` (it must be the
    outermost one, to see 401/403/413/429 answers)."""
    cfg = runtime.settings.extra.get("audit", {})
    existing = runtime.services.get("audit")
    log = existing if isinstance(existing, AuditLog) else AuditLog.for_settings(runtime.settings)
    if existing is None:
        runtime.services["audit"] = log
        runtime.add_stopper(log.close)
    app.state.audit = log
    audit_events.set_default_log(log)
    if durable is None:
        durable = bool(cfg.get("durable_before_response", True))
    app.add_middleware(AuditMiddleware, audit_log=log, durable=durable)
    app.include_router(router)
    return log
