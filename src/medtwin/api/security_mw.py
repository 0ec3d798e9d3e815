"""The security middleware: who is calling, how fast, and the response headers.

For every HTTP request and WebSocket handshake it

1. finds the credential (``Authorization: Bearer <JWT or device key>``, ``X-Device-Key``; for
   WebSockets also ``?token=``), verifies it and puts the principal on ``request.state.principal``
   (``ANONYMOUS`` when there is none, with ``request.state.auth_error`` when one was refused). It
   rejects nothing itself: the policy check of the route (:mod:`medtwin.api.guard`) answers 401/403;
2. applies the API rate limits (429 problem+json with ``Retry-After``), except for /static;
3. adds security headers to every HTTP response: a Content-Security-Policy without
   ``unsafe-inline`` (the dashboard's one inline import map is allowed by its SHA-256),
   ``X-Content-Type-Options``, ``Referrer-Policy``, ``X-Frame-Options`` / ``frame-ancestors 'none'``,
   ``Cross-Origin-Opener-Policy``, ``Cache-Control: no-store`` on API answers, and HSTS over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medtwin.security.principal import ANONYMOUS, Principal, Role
from medtwin.security.service import AuthFailed, Security

log = logging.getLogger("medtwin.security")
INDEX = Path(__file__).resolve().parent.parent / "web" / "static" / "index.html"
_INLINE = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)
DOCS = ("/docs", "/redoc", "/docs/oauth2-redirect")


def inline_script_hashes(html: bytes) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _INLINE.finditer(html)
    ]


def dashboard_csp() -> str:
    hashes = inline_script_hashes(INDEX.read_bytes()) if INDEX.exists() else []
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(hashes),
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "font-src 'self'",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


# FastAPI's /docs and /redoc load their scripts from a CDN and start them inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
    "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
)


def client_ip(scope: Scope, trust_proxy: bool) -> str:
    name: bytes
    value: bytes
    if trust_proxy:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                return value.decode("latin-1").split(",")[0].strip()[:64]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def credential(scope: Scope) -> str | None:
    name: bytes
    value: bytes
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            v = value.decode("latin-1")
            scheme, _, token = v.partition(" ")
            if scheme.lower() in ("bearer", "devicekey") and token.strip():
                return token.strip()
        elif name == b"x-device-key" and value:
            return value.decode("latin-1").strip()
    if scope["type"] == "websocket":
        query: bytes = scope.get("query_string", b"")
        for k, v in parse_qsl(query.decode("latin-1")):
            if k == "token" and v:
                return v
    return None


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, security: Security) -> None:
        self.app = app
        self.sec = security
        s = security.settings
        self.trust_proxy = s.trust_proxy
        self.hsts = s.hsts
        self.csp = dashboard_csp()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        ip = client_ip(scope, self.trust_proxy)
        principal: Principal = ANONYMOUS
        error: str | None = None
        token = credential(scope)
        if token is not None:
            try:
                principal = self.sec.authenticate(token, ip=ip)
            except AuthFailed as exc:
                error = str(exc)
            except Exception as exc:  # the store failed: no message in the log (it may quote data)
                log.error("authentication failed with %s", type(exc).__name__)
                if scope["type"] == "http":
                    await self._problem(
                        scope, send, 503, "Service unavailable", "authentication is unavailable"
                    )
                else:
                    await send({"type": "websocket.close", "code": 1011})
                return
        if principal is ANONYMOUS:
            principal = Principal(subject="anonymous", role=Role.ANONYMOUS, ip=ip)
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["auth_error"] = error
        path: str = scope.get("path", "")
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if not path.startswith("/static/"):
            kind = (
                "ip"
                if principal.role is Role.ANONYMOUS
                else "device"
                if principal.role is Role.DEVICE
                else "user"
            )
            wait = self.sec.limits.api(kind, ip if kind == "ip" else principal.subject)
            if wait:
                await self._too_many(scope, send, wait)
                return
        https = scope.get("scheme") == "https" or (
            self.trust_proxy and _header(scope, b"x-forwarded-proto") == "https"
        )
        extra = self._headers(path, https)

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                have = {k.lower() for k, _ in msg.get("headers", [])}
                msg["headers"] = [*msg.get("headers", []), *[(k, v) for k, v in extra if k not in have]]
            await send(msg)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, path: str, https: bool) -> list[tuple[bytes, bytes]]:
        csp = DOCS_CSP if path in DOCS else self.csp
        h = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        ]
        if path.startswith(("/api/", "/fhir", "/ws/", "/metrics")):
            h.append((b"cache-control", b"no-store"))
        if https or self.hsts:
            h.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        return h

    async def _too_many(self, scope: Scope, send: Send, wait: float) -> None:
        detail = f"rate limit reached: retry in {int(wait)} s"
        await self._problem(
            scope, send, 429, "Too many requests", detail, [(b"retry-after", str(int(wait)).encode())]
        )

    async def _problem(
        self, scope: Scope, send: Send, status: int, title: str, detail: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:  # fmt: skip
        body: dict[str, Any] = {
            "type": "about:blank", "title": title, "status": status, "detail": detail,
            "instance": scope.get("path", ""),
        }  # fmt: skip
        data = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(data)).encode()),
            *(extra or []),
            *self._headers(scope.get("path", ""), False),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1"))
    return None
