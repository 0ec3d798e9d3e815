"""Audit events: what one event holds, its canonical bytes, and :func:`audit` for code outside HTTP.

One event per HTTP request and two per WebSocket session (``ws-connect``, ``ws-close``) are written
by :class:`medtwin.api.audit_mw.AuditMiddleware`; every event goes into the tamper-evident log
(:mod:`medtwin.security.audit_log`). An event holds ids and codes only, never personal data: no
names, no query strings (they may carry an MRN), no bodies, no free text.

Fields (``v`` 1)::

    id           unique event id              time      UTC, milliseconds ("...Z")
    type         rest | login | logout | login-failed | access-denied | break-glass | export |
                 websocket | system
    action       C | R | U | D | E (FHIR AuditEvent.action)
    outcome      0 success | 4 minor failure (4xx) | 8 serious failure (5xx) | 12 major failure
    status       HTTP status (or WebSocket close code), null when none
    subject      principal subject (user id, device id, "anonymous")    role   principal role
    ip           client address                break_glass   true when a break-the-glass grant was used
    patients     patient (or twin) ids the request concerned            entity  "Type/id" or null
    method       HTTP method or "WS"           route   route template ("/api/twins/{twin_id}")
    query        names (not values) of the query parameters            detail  codes and ids only

Code that handles a login, a failed login or break-the-glass calls :func:`audit`. Inside an HTTP
request it *annotates that request's event* (so there is still exactly one event per request);
elsewhere (MQTT device authentication, CLI) it appends a standalone event to the process's log.
"""

from __future__ import annotations

import contextvars
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from medtwin.core.ids import new_id

if TYPE_CHECKING:
    from medtwin.security.audit_log import AuditLog
    from medtwin.security.principal import Principal

log = logging.getLogger(__name__)

TYPES = (
    "rest", "login", "logout", "login-failed", "access-denied", "break-glass", "export", "websocket", "system",
)  # fmt: skip
ACTIONS = ("C", "R", "U", "D", "E")
METHOD_ACTION = {
    "GET": "R",
    "HEAD": "R",
    "OPTIONS": "R",
    "POST": "C",
    "PUT": "U",
    "PATCH": "U",
    "DELETE": "D",
}
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/|-]{0,127}$")  # ids and codes; anything else is dropped

_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "medtwin_audit", default=None
)
_default_log: AuditLog | None = None


def safe_id(value: object) -> str | None:
    """``value`` when it looks like an id or code (no spaces, <= 128 chars), else None."""
    if isinstance(value, bool) or value is None:
        return None
    s = str(value)
    return s if _SAFE.match(s) else None


def outcome_of(status: int | None) -> int:
    if status is None or status >= 500:
        return 8
    return 4 if status >= 400 else 0


def now_iso(t: datetime | None = None) -> str:
    t = t or datetime.now(UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def new_event(
    type_: str = "rest",
    *,
    action: str = "E",
    outcome: int = 0,
    status: int | None = None,
    subject: str = "anonymous",
    role: str = "anonymous",
    ip: str | None = None,
    break_glass: bool = False,
    patients: list[str] | None = None,
    entity: str | None = None,
    method: str | None = None,
    route: str | None = None,
    query: list[str] | None = None,
    detail: dict[str, Any] | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    return {
        "v": 1,
        "id": new_id("ae"),
        "time": now_iso(time),
        "type": type_,
        "action": action,
        "outcome": outcome,
        "status": status,
        "subject": safe_id(subject) or "unknown",
        "role": safe_id(role) or "unknown",
        "ip": safe_id(ip),
        "break_glass": bool(break_glass),
        "patients": [p for p in (safe_id(x) for x in patients or []) if p],
        "entity": safe_id(entity),
        "method": method,
        "route": route,
        "query": sorted({q for q in (safe_id(x) for x in query or []) if q}),
        "detail": clean_detail(detail),
    }


def clean_detail(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Keep only ids, codes, numbers and booleans (no free text: it may hold personal data)."""
    out: dict[str, Any] = {}
    for k, v in (detail or {}).items():
        key = safe_id(k)
        if key is None:
            continue
        if isinstance(v, bool | int) or v is None:
            out[key] = v
        elif isinstance(v, float):
            out[key] = round(v, 3)
        else:
            s = safe_id(v)
            if s is not None:
                out[key] = s
    return out


def canonical(event: dict[str, Any]) -> bytes:
    """The bytes that are hashed: sorted keys, no whitespace, UTF-8 (a JCS-like canonical form;
    orjson gives the same bytes as ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` for audit events, about ten times faster)."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def validate(event: dict[str, Any]) -> None:
    if event.get("type") not in TYPES:
        raise ValueError(f"audit event type {event.get('type')!r} is not one of {', '.join(TYPES)}")
    if event.get("action") not in ACTIONS:
        raise ValueError(f"audit event action {event.get('action')!r} is not one of C/R/U/D/E")
    if event.get("outcome") not in (0, 4, 8, 12):
        raise ValueError("audit event outcome must be 0, 4, 8 or 12")


# ------------------------------------------------------------------------------- request context
def begin_request(event: dict[str, Any]) -> contextvars.Token[dict[str, Any] | None]:
    return _current.set(event)


def end_request(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _current.reset(token)


def current_event() -> dict[str, Any] | None:
    return _current.get()


def set_default_log(audit_log: AuditLog | None) -> None:
    """The log that :func:`audit` writes to outside a request (set by the API or CLI)."""
    global _default_log
    _default_log = audit_log


def default_log() -> AuditLog | None:
    return _default_log


def audit(
    type_: str,
    *,
    outcome: int | None = None,
    principal: Principal | None = None,
    subject: str | None = None,
    role: str | None = None,
    patient: str | None = None,
    action: str | None = None,
    ip: str | None = None,
    break_glass: bool | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a security event: ``login``, ``logout``, ``login-failed``, ``break-glass``, ``export``...

    Pass ids and codes only (``detail`` keeps ids, codes, numbers and booleans; free text such as a
    break-the-glass justification is dropped). For a failed login pass ``subject`` only when it is a
    known user id (a mistyped "user name" may be a password). Inside an HTTP request this annotates
    the request's own event; elsewhere it appends an event to the process's log."""
    ev = _current.get()
    fields: dict[str, Any] = {"type": type_}
    if principal is not None:
        fields.update(subject=principal.subject, role=principal.role.value)
        if principal.ip and ip is None:
            ip = principal.ip
    if subject is not None:
        fields["subject"] = safe_id(subject) or "unknown"
    if role is not None:
        fields["role"] = safe_id(role) or "unknown"
    if action is not None:
        fields["action"] = action
    if ip is not None:
        fields["ip"] = safe_id(ip)
    if break_glass is not None:
        fields["break_glass"] = bool(break_glass)
    if ev is not None:
        ev.update(fields)
        ev.setdefault("_pinned", set()).update(fields)  # the middleware keeps these
        if outcome is not None:
            ev["outcome"] = max(ev.get("outcome", 0), outcome)
            ev["_pinned"].add("outcome")
        if patient is not None and safe_id(patient) and patient not in ev["patients"]:
            ev["patients"].append(patient)
        ev["detail"].update(clean_detail(detail))
        return
    event = new_event(
        type_,
        action=action or "E",
        outcome=outcome or 0,
        subject=fields.get("subject", "anonymous"),
        role=fields.get("role", "anonymous"),
        ip=ip,
        break_glass=bool(break_glass),
        patients=[patient] if patient else [],
        detail=detail,
    )
    target = _default_log
    if target is None:
        log.warning("audit event %s (%s) not recorded: no audit log is configured", event["id"], type_)
        return
    target.append(event)
