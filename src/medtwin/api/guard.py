"""The policy check of every route: a global FastAPI dependency reading the policy table.

``enforce`` runs before every HTTP route and WebSocket of the app. It finds the route's rule in
:data:`medtwin.security.policy.RULES` (a route without one is refused: default deny), checks the
principal's role and scope against the resources the rule's locator finds, and answers 401
(with ``WWW-Authenticate: Bearer``) or 403 as problem+json (FHIR routes: OperationOutcome). The
decision stays on ``request.state.access`` (patients concerned, the break-the-glass grant relied
on) for the audit log and for the endpoints' list filtering.

WebSockets cannot be refused with an HTTP status a browser can read, so for them the decision is
only recorded; the endpoint calls :func:`admit`, which accepts and closes with 4401/4403.
"""

from __future__ import annotations

import logging

from fastapi import WebSocket
from fastapi.requests import HTTPConnection, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from medtwin.security import authz
from medtwin.security.authz import Decision, deny
from medtwin.security.locate import Refuse, locate
from medtwin.security.policy import rule_for
from medtwin.security.principal import ANONYMOUS, Principal
from medtwin.security.service import Security, security_for

log = logging.getLogger("medtwin.security")


class AccessDenied(StarletteHTTPException):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail, headers)
        self.title = "Unauthorized" if status == 401 else "Forbidden"


def principal_of(conn: HTTPConnection) -> Principal:
    p = getattr(conn.state, "principal", None)
    return p if isinstance(p, Principal) else ANONYMOUS


def security(conn: HTTPConnection) -> Security:
    return security_for(conn.app.state.runtime)


async def decide(conn: HTTPConnection) -> Decision:
    route = conn.scope.get("route")
    path = getattr(route, "path", None)
    method = "WS" if conn.scope["type"] == "websocket" else conn.scope.get("method", "GET")
    rule = rule_for(method, path) if path else None
    p = principal_of(conn)
    if rule is None:
        log.error("no access rule for %s %s: refused", method, path)
        return deny(403, "no access rule for this route")
    if rule.path == "/metrics" and security(conn).settings.metrics_public:  # closed monitoring network
        return Decision(True, rule=rule)
    fixed = authz.decide_fixed(p, rule)
    if fixed is not None:
        return fixed
    if rule.target is None:  # decide_fixed settles every rule without a target
        return deny(403, "no access rule for this route", rule)
    sec = security(conn)
    body = None
    if rule.target.kind.endswith("_body") and isinstance(conn, Request):
        body = await conn.body()
    try:
        found = locate(
            rule.target.kind, rule.target.params, rt=sec.rt, scope=sec.scope, principal=p,
            path=conn.path_params, query=list(conn.query_params.multi_items()), body=body,
        )  # fmt: skip
    except Refuse as exc:
        return deny(403, str(exc), rule)
    if found is None or not rule.verb:  # nothing to check (the endpoint answers), or a fixed permission only
        return Decision(True, rule=rule, patients=[x for r in found or [] for x in r.patients])
    return authz.combine(rule, (authz.check(sec.scope, p, rule.verb, r) for r in found))


async def enforce(conn: HTTPConnection) -> None:
    d = await decide(conn)
    conn.state.access = d
    if d.break_glass is not None:
        conn.state.break_glass = d.break_glass
    if conn.scope["type"] == "websocket" or d.allowed:
        return
    if d.status == 401:
        err = getattr(conn.state, "auth_error", None)
        www = 'Bearer realm="medtwin"' + (
            f', error="invalid_token", error_description="{err}"' if err else ""
        )
        raise AccessDenied(
            401, err or "sign in first: send Authorization: Bearer <token>", {"WWW-Authenticate": www}
        )
    raise AccessDenied(d.status, d.reason)


async def admit(ws: WebSocket) -> Principal | None:
    """Accept the WebSocket; if the policy refused it, close with 4401 (sign in) or 4403."""
    d: Decision | None = getattr(ws.state, "access", None)
    if d is None:  # enforce did not run: refuse rather than guess
        d = deny(403, "no access decision")
    await ws.accept()
    if not d.allowed:
        code = 4401 if d.status == 401 else 4403
        reason = (getattr(ws.state, "auth_error", None) or d.reason)[:120]
        await ws.close(code=code, reason=reason)
        return None
    return principal_of(ws)


def filtered(conn: HTTPConnection) -> tuple[Security, Principal]:
    """For list endpoints: the security service and the principal to filter for."""
    return security(conn), principal_of(conn)
