"""The gateway's HTTP side: local intake (``POST /ingest``), ``/healthz``, ``/readyz``, ``/status``,
``/metrics`` (Prometheus), ``/dead`` (dead letters).

``POST /ingest`` takes a local message (see :mod:`medtwin.gateway.intake`) and answers after the
outbox commit: 200 ``{"status": "stored", "seq", "duplicate"}``. When the outbox is at its budget
it answers 503 with ``Retry-After`` (the device keeps the reading and retries); bad input gets 422
naming the field.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from medtwin.core.errors import ValidationError
from medtwin.gateway.intake import MAX_MESSAGE, parse_local
from medtwin.gateway.outbox import OutboxFull
from medtwin.gateway.service import Gateway


class _Collector:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def collect(self) -> Any:
        return self.gw.metric_families()


def create_gateway_app(gw: Gateway) -> FastAPI:
    app = FastAPI(title="medtwin gateway", docs_url=None, redoc_url=None)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(gw))
    registry.register(ProcessCollector(registry=None))

    def problem(status: int, field: str, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
        body = {
            "type": "about:blank",
            "title": "Refused",
            "status": status,
            "errors": [{"field": field, "reason": reason}],
        }
        return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)

    @app.post("/ingest")
    async def ingest(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_MESSAGE:
            return problem(413, "body", "larger than 1 MiB")
        try:
            rec = parse_local(json.loads(raw))
        except (ValueError, UnicodeDecodeError) as exc:
            return problem(400, "body", f"not JSON: {exc}")
        except ValidationError as exc:
            return problem(422, exc.field or "body", exc.reason)
        try:
            fut = gw.submit([rec])
        except OutboxFull as exc:
            return problem(503, "outbox", str(exc), {"Retry-After": "5"})
        [st] = await asyncio.wrap_future(fut)
        return JSONResponse({"status": "stored", "seq": st.dseq, "duplicate": st.duplicate})

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        ok = gw.healthy()
        return JSONResponse({"status": "ok" if ok else "failing"}, status_code=200 if ok else 503)

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        st = gw.status()
        ready = gw.healthy() and not st["alarms"]["outbox_full"]
        return JSONResponse(
            {"status": "ready" if ready else "not ready", **st}, status_code=200 if ready else 503
        )

    @app.get("/status")
    def status() -> dict[str, Any]:
        return gw.status()

    @app.get("/dead")
    def dead(limit: int = 100) -> list[dict[str, Any]]:
        return gw.outbox.dead_letters(min(max(limit, 1), 1000))

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
