"""RFC 9457 problem details for every error the API answers (FHIR endpoints answer
OperationOutcome instead, see :mod:`medtwin.api.fhir`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from medtwin.core.errors import MedtwinError

PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    type_: str = "about:blank",
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def medtwin_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MedtwinError)
    errors = [exc.as_dict()] if exc.field or exc.index is not None else None
    return problem(exc.status, exc.title, str(exc), errors=errors, instance=request.url.path)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _loc(e.get("loc", ())), "reason": e.get("msg", "invalid")} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
    return problem(422, "Invalid input", detail, errors=errors, instance=request.url.path)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(
        exc.status_code,
        getattr(exc, "title", None) or (str(exc.detail) if exc.status_code < 500 else "Error"),
        str(exc.detail),
        instance=request.url.path,
        headers=getattr(exc, "headers", None),
    )
