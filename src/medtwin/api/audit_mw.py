"""The audit middleware: exactly one audit event per HTTP request, two per WebSocket session.

Pure ASGI, added as the *outermost* middleware, so it sees every answer, including 401/403 from the
policy check, 413 from the body limit and 429 from the rate limiter. For an HTTP request it builds
the event before the app runs (so :func:`medtwin.security.audit.audit` can annotate it: login,
failed login, break-the-glass), then, when the app starts its response, fills in who (the
principal on ``request.state.principal``, anonymous when unset), which patients
(``request.state.access.patients`` from the policy check, else the route's patient/twin id),
outcome and status, and appends it. With ``durable=True`` (default) the response is held until the
event is committed: nothing is disclosed without its audit record. An app that fails without
answering is recorded as outcome 8 (status 500).

A WebSocket session gives a ``ws-connect`` event when the app accepts or refuses the handshake and,
once accepted, a ``ws-close`` event when it ends (with how many messages went each way).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medtwin.core.ids import valid_id
from medtwin.security import audit as A
from medtwin.security.audit_log import AuditLog

EXPORT_PREFIXES = ("/api/export/",)
# path parameters naming the twin/patient a route is about; their values are ids (checked)
PATIENT_PARAMS = ("twin_id", "pid", "patient_id", "patient")
ENTITY_PARAMS = {"obs_id": "Observation", "oid": "Observation", "alarm_id": "Alarm", "place_id": "Twin"}
QUERY_PATIENT = ("subject", "patient", "twin")


def _patient_from_query(qs: bytes) -> list[str]:
    out = []
    for k, v in parse_qsl(qs.decode("latin-1"), keep_blank_values=False):
        if k.split(":")[0] in QUERY_PATIENT:
            pid = v.split("/", 1)[1] if v.startswith("Patient/") else v
            if valid_id(pid):
                out.append(pid)
    return out


def _query_names(qs: bytes) -> list[str]:
    return [k for k, _ in parse_qsl(qs.decode("latin-1"), keep_blank_values=True)]


def _finish(ev: dict[str, Any], scope: Scope, status: int | None) -> dict[str, Any]:
    """Fill in what is only known after the app ran: route, principal, patients, outcome."""
    pinned = ev.pop("_pinned", set())
    state = scope.get("state") or {}
    route = scope.get("route")
    ev["route"] = getattr(route, "path", None) or ("(static)" if scope.get("root_path") else "(unmatched)")
    params = scope.get("path_params") or {}
    p = state.get("principal")
    if p is not None and "subject" not in pinned:
        ev["subject"] = A.safe_id(getattr(p, "subject", None)) or "unknown"
        ev["role"] = A.safe_id(getattr(getattr(p, "role", None), "value", None)) or "unknown"
    access = state.get("access")
    patients = list(getattr(access, "patients", None) or [])
    for k in PATIENT_PARAMS:
        if k in params and valid_id(str(params[k])):
            patients.append(str(params[k]))
            ev["entity"] = ev["entity"] or f"{'Patient' if k != 'twin_id' else 'Twin'}/{params[k]}"
    for k, kind in ENTITY_PARAMS.items():
        if k in params and ev["entity"] is None and valid_id(str(params[k])):
            ev["entity"] = f"{kind}/{params[k]}"
    patients += _patient_from_query(scope.get("query_string", b""))
    seen: set[str] = set(ev["patients"])
    ev["patients"] += [x for x in (A.safe_id(q) for q in patients) if x and not (x in seen or seen.add(x))]
    if "break_glass" not in pinned:
        ev["break_glass"] = bool(
            state.get("break_glass")
            or getattr(access, "break_glass", None)
            or getattr(p, "break_glass", None)
        )
    ev["status"] = status
    if "outcome" not in pinned:
        ev["outcome"] = A.outcome_of(status)
    else:
        ev["outcome"] = max(ev["outcome"], A.outcome_of(status))
    if "type" not in pinned:
        if status in (401, 403, 4401, 4403):
            ev["type"] = "access-denied"
        elif scope["type"] == "websocket":
            ev["type"] = "websocket"
        elif scope.get("path", "").startswith(EXPORT_PREFIXES):
            ev["type"] = "export"
    return ev


class AuditMiddleware:
    def __init__(self, app: ASGIApp, audit_log: AuditLog, *, durable: bool = True) -> None:
        self.app = app
        self.log = audit_log
        self.durable = durable

    async def _record(self, ev: dict[str, Any]) -> None:
        fut = self.log.append(ev)
        if self.durable:
            # Wait for the commit without letting a cancelled request cancel the write itself.
            await asyncio.shield(asyncio.wrap_future(fut))

    def _event(self, scope: Scope) -> dict[str, Any]:
        client = scope.get("client")
        method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
        action = A.METHOD_ACTION.get(method, "R") if method != "WS" else "R"
        return A.new_event(
            "rest",
            action=action,
            ip=client[0] if client else None,
            method=method,
            query=_query_names(scope.get("query_string", b"")),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._ws(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})  # shared with request.state downstream
        ev = self._event(scope)
        t0 = time.perf_counter()
        done = False
        token = A.begin_request(ev)

        async def send_wrapper(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.start" and not done:
                done = True
                _finish(ev, scope, int(message["status"]))
                ev["detail"]["ms"] = round((time.perf_counter() - t0) * 1000, 1)
                await self._record(ev)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            if not done:
                done = True
                _finish(ev, scope, 500)
                ev["outcome"] = 8
                await self._record(ev)
            raise
        finally:
            A.end_request(token)
        if not done:  # the app returned without answering (client went away)
            _finish(ev, scope, None)
            ev["outcome"] = max(ev["outcome"], 4)
            await self._record(ev)

    async def _ws(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})
        ev = self._event(scope)
        ev["type"] = "websocket"
        counts = {"in": 0, "out": 0}
        accepted = connected = False
        token = A.begin_request(ev)

        async def receive_wrapper() -> Message:
            m = await receive()
            if m["type"] == "websocket.receive":
                counts["in"] += 1
            return m

        async def send_wrapper(message: Message) -> None:
            nonlocal accepted, connected
            t = message["type"]
            if t == "websocket.accept" and not connected:
                connected = accepted = True
                await self._record(self._connect_event(ev, scope, 101, "ws-connect"))
            elif t in ("websocket.close", "websocket.http.response.start") and not connected:
                connected = True  # refused before accepting
                code = int(message.get("code", message.get("status", 1000)))
                e = self._connect_event(ev, scope, code, "ws-connect")
                e["outcome"] = 4
                await self._record(e)
            elif t == "websocket.send":
                counts["out"] += 1
            await send(message)

        failed = False
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except BaseException:
            failed = True
            raise
        finally:
            A.end_request(token)
            if accepted:
                close = self._connect_event(ev, scope, None, "ws-close")
                close["outcome"] = 8 if failed else 0
                close["detail"].update({"messages_in": counts["in"], "messages_out": counts["out"]})
                await self._record(close)
            elif not connected:
                e = self._connect_event(ev, scope, None, "ws-connect")
                e["outcome"] = 8
                await self._record(e)

    def _connect_event(
        self, base: dict[str, Any], scope: Scope, status: int | None, phase: str
    ) -> dict[str, Any]:
        e = {**base, "id": A.new_event()["id"], "time": A.now_iso(), "patients": list(base["patients"]),
             "detail": {**base["detail"], "phase": phase}}  # fmt: skip
        if "_pinned" in base:
            e["_pinned"] = set(base["_pinned"])
        _finish(e, scope, status)
        if status == 101:
            e["outcome"] = 0
        return e
