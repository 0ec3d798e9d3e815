"""FHIR R4 REST endpoints under /fhir (application/fhir+json; application/json accepted).

Interactions: ``GET /fhir/metadata``; ``PUT``/``GET /fhir/Patient/{id}``; ``POST /fhir/Observation``
(201 with Location after the commit; a resend of the same reading answers 200 with the stored one);
``GET /fhir/Observation/{id}``; ``GET /fhir/Observation?subject=&code=&date=&_count=&_sort=``;
``GET /fhir/MedicationAdministration?subject=``; ``POST /fhir`` (Bundle batch or transaction).
Every error is an OperationOutcome: 400 malformed, 404 unknown, 405 unsupported interaction,
409 conflict, 415 media type, 422 invalid resource (see docs/fhir.md).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from medtwin import __version__
from medtwin.api.deps import get_runtime
from medtwin.api.fhir_search import parse_obs_query, read_panel, run_obs_query, subject_param
from medtwin.api.fhir_service import FhirService
from medtwin.api.limits import BodyTooLarge
from medtwin.core.errors import MedtwinError, NotFoundError
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.fhir_common import FhirInvalid, Issue
from medtwin.ingest.fhir_export import (
    FHIR_JSON,
    capability_statement,
    medication_to_fhir,
    observation_to_fhir,
    operation_outcome,
    outcome,
    patient_to_fhir,
    searchset,
)
from medtwin.ingest.fhir_map import map_observation
from medtwin.ingest.fhir_records import map_patient
from medtwin.runtime import Runtime

log = logging.getLogger(__name__)
MEDIA_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_STATUS_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    503: "transient",
}


def fhir_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def error_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, FhirInvalid):
        return fhir_response(operation_outcome(exc.issues), exc.status)
    if isinstance(exc, MedtwinError):
        code = _STATUS_CODE.get(exc.status, "exception" if exc.status >= 500 else "invalid")
        return fhir_response(outcome(exc.reason, code), exc.status)
    if isinstance(exc, RequestValidationError):
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]
        )
        return fhir_response(outcome(msgs or "invalid request"), 400)
    if isinstance(exc, StarletteHTTPException):
        return fhir_response(
            outcome(str(exc.detail), _STATUS_CODE.get(exc.status_code, "processing")),
            exc.status_code,
            headers=getattr(exc, "headers", None),  # WWW-Authenticate on 401
        )
    return fhir_response(outcome("internal error", "exception"), 500)


class FhirRoute(APIRoute):
    """Answers every error of a FHIR route as an OperationOutcome (the app's handlers answer
    problem+json; the body-size limit still answers 413 from its middleware)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except BodyTooLarge:
                raise
            except (MedtwinError, RequestValidationError, StarletteHTTPException) as exc:
                return error_response(exc)
            except Exception as exc:  # no message in the log: it may quote personal data
                route = getattr(request.scope.get("route"), "path", "?")
                tb = "".join(traceback.format_tb(exc.__traceback__))
                log.error("FHIR %s %s failed with %s\n%s", request.method, route, type(exc).__name__, tb)
                return error_response(RuntimeError())

        return handler


router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FhirRoute)
RT = Annotated[Runtime, Depends(get_runtime)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


async def _json_body(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and ctype not in MEDIA_TYPES:
        raise FhirInvalid(
            [
                Issue(
                    f"content type {ctype[:60]!r} is not supported: send application/fhir+json",
                    None,
                    "not-supported",
                )
            ],
            415,
        )
    raw = await request.body()

    def bad_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(raw, parse_constant=bad_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc)[:200] if not isinstance(exc, RecursionError) else "nested too deeply"
        raise FhirInvalid([Issue(f"body is not valid JSON: {reason}", None, "structure")], 400) from None


def _params(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


# ------------------------------------------------------------------------------------------ metadata
@router.get("/metadata")
def metadata(request: Request, rt: RT) -> JSONResponse:
    return fhir_response(capability_statement(base=_base(request), version=__version__, now=rt.clock.now()))


# ------------------------------------------------------------------------------------------ Patient
@router.put("/Patient/{pid}")
async def put_patient(pid: str, request: Request, rt: RT) -> JSONResponse:
    body = await _json_body(request)
    name, identity, attrs, active = map_patient(body, twin_id=pid)
    stored = await run_in_threadpool(
        FhirService(rt).put_patient, Twin(pid, TwinKind.PATIENT, name, attrs, identity, active)
    )
    headers = {"Location": f"{_base(request)}/{stored.location}"} if stored.status == 201 else None
    return fhir_response(stored.resource, stored.status, headers)


@router.get("/Patient/{pid}")
def get_patient(pid: str, rt: RT) -> JSONResponse:
    t = rt.store.get_twin(pid)
    if t is None or t.kind is not TwinKind.PATIENT:
        raise FhirInvalid([Issue(f"no Patient {pid[:64]!r}", None, "not-found")], 404)
    return fhir_response(patient_to_fhir(t))


# ------------------------------------------------------------------------------------------ Observation
@router.post("/Observation")
async def create_observation(request: Request, rt: RT) -> JSONResponse:
    body = await _json_body(request)
    m = await run_in_threadpool(map_observation, body)
    stored = await FhirService(rt).create_observation(m)
    location = f"{_base(request)}/{stored.location}"
    return fhir_response(
        stored.resource, stored.status, {"Location": location} if stored.status == 201 else None
    )


@router.get("/Observation/{oid}")
def read_observation(oid: str, rt: RT) -> JSONResponse:
    res: dict[str, Any] | None = None
    if oid.isascii() and oid.isdigit() and len(oid) < 19:
        try:
            res = observation_to_fhir(rt.store.get_observation(int(oid)))
        except NotFoundError:
            res = None
    elif oid.startswith("bp-"):
        res = read_panel(rt.store, oid)
    if res is None:
        raise FhirInvalid([Issue(f"no Observation {oid[:64]!r}", None, "not-found")], 404)
    return fhir_response(res)


@router.get("/Observation")
def search_observations(request: Request, rt: RT) -> JSONResponse:
    params = _params(request)
    q = parse_obs_query(params)
    twin = rt.store.get_twin(q.subject)
    q.empty = q.empty or twin is None or twin.kind is not TwinKind.PATIENT  # Patient/ID names a patient
    resources, total = run_obs_query(rt.store, q)
    base = _base(request)
    kept = [(k, v) for k, v in params if k != "_offset"]
    self_url = f"{base}/Observation?{urlencode(params)}"
    more = (total is None and len(resources) == q.count) or (total is not None and q.offset + q.count < total)
    next_url = (
        f"{base}/Observation?{urlencode([*kept, ('_offset', str(q.offset + q.count))])}"
        if more and q.count
        else None
    )
    warnings = list(q.warnings)
    if total is None:
        warnings.append(
            Issue(
                "more matches than medtwin counts in one search: narrow the date range",
                "date",
                "too-costly",
                "warning",
            )
        )
    oo = operation_outcome(warnings) if warnings else None
    return fhir_response(
        searchset(resources, base=base, total=total, self_url=self_url, next_url=next_url, outcome_=oo)
    )


@router.get("/MedicationAdministration")
def search_medications(request: Request, rt: RT) -> JSONResponse:
    params = _params(request)
    pid = subject_param(params)
    meds = rt.store.medications(pid)
    base = _base(request)
    return fhir_response(
        searchset(
            [medication_to_fhir(m) for m in meds],
            base=base,
            total=len(meds),
            self_url=f"{base}/MedicationAdministration?{urlencode(params)}",
        )
    )


# ------------------------------------------------------------------------------------------ Bundle
@router.post("")
async def bundle(request: Request, rt: RT) -> JSONResponse:
    body = await _json_body(request)
    status, out = await FhirService(rt).bundle(body, _base(request))
    return fhir_response(out, status)


# ------------------------------------------------------------------------------------------ the rest
KNOWN = ("metadata", "Patient", "Observation", "MedicationAdministration")


@router.api_route("", methods=["GET", "PUT", "DELETE", "PATCH"], include_in_schema=False)
def base_other(request: Request) -> JSONResponse:
    return fhir_response(
        outcome(
            f"{request.method} /fhir is not supported (POST a batch or transaction Bundle)", "not-supported"
        ),
        405,
    )


@router.api_route(
    "/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"], include_in_schema=False
)
def not_found(rest: str, request: Request) -> JSONResponse:
    first = rest.split("/", 1)[0]
    if first in KNOWN:
        return fhir_response(
            outcome(f"{request.method} {request.url.path} is not supported by medtwin", "not-supported"), 405
        )
    return fhir_response(
        outcome(
            f"resource type {first[:40]!r} is not supported (medtwin serves {', '.join(KNOWN[1:])})",
            "not-supported",
        ),
        404,
    )
