"""The OpenAPI document states how to authenticate and which statuses the security layer adds:
a bearer scheme (JWT access token or device key), ``security`` on every non-public operation,
and 401/403/429 responses (problem+json) besides each route's own."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from medtwin.security.policy import PUBLIC, rule_for

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
FHIR_JSON = "application/fhir+json"
FHIR_ERROR = {FHIR_JSON: {"schema": {"type": "object", "description": "OperationOutcome"}}}
PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["title", "status"],
}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        comps = doc.setdefault("components", {})
        comps.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "JWT access token from POST /api/auth/login, or a device key (mtk_...).",
        }
        comps.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for path, ops in doc.get("paths", {}).items():
            fhir = path == "/fhir" or path.startswith("/fhir/")
            err = FHIR_ERROR if fhir else PROBLEM  # FHIR routes answer OperationOutcome
            for method, op in ops.items():
                if isinstance(op, dict) and "responses" in op:
                    _document(op, err, fhir, rule_for(method.upper(), path))
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _document(op: dict[str, Any], err: dict[str, Any], fhir: bool, rule: Any) -> None:
    responses = op["responses"]
    if fhir:  # every FHIR answer is application/fhir+json
        for r in responses.values():
            if isinstance(r, dict) and "content" in r:
                r["content"] = {FHIR_JSON: {"schema": {"type": "object"}}}
    if "422" in responses:  # the platform answers validation errors as problem+json
        responses["422"]["content"] = err
    responses.setdefault("429", {"description": "Rate limit reached (Retry-After)", "content": err})
    responses.setdefault("413", {"description": "Request body too large", "content": PROBLEM})
    responses.setdefault(
        "4XX", {"description": "Refused: the body names the field and the reason", "content": err}
    )
    responses.setdefault("503", {"description": "A service is not running", "content": err})
    if rule is not None and rule.perm == PUBLIC:
        return
    op["security"] = [{"bearer": []}]
    responses.setdefault("401", {"description": "Not signed in", "content": err})
    responses.setdefault("403", {"description": "Not permitted", "content": err})
