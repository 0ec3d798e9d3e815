"""Every route of a FastAPI app as (method, path template), WebSockets as ("WS", path): FastAPI
0.16x keeps included routers as nested objects, so walk them (app.openapi() omits WebSockets and
routes hidden from the schema)."""

from __future__ import annotations

from typing import Any

import fastapi.routing as fr
from starlette.routing import Mount, WebSocketRoute


def all_routes(app: Any) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for r in routes:
            inc = getattr(fr, "_IncludedRouter", None)
            if inc is not None and isinstance(r, inc):
                walk(list(r.effective_candidates()))
                continue
            if isinstance(r, Mount):
                continue  # /static: files, no policy rule needed (public)
            inner = getattr(r, "starlette_route", None)
            if isinstance(r, fr.APIWebSocketRoute | WebSocketRoute) or isinstance(
                inner, fr.APIWebSocketRoute | WebSocketRoute
            ):
                out.add(("WS", getattr(r, "path", "") or inner.path))  # type: ignore[union-attr]
                continue
            path = getattr(r, "path", None)
            if not path:
                continue
            methods = getattr(r, "methods", None)
            for m in methods or ():
                out.add((m, path))

    walk(list(app.routes))
    return out
