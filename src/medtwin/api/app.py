"""The FastAPI application factory.

``create_app(runtime)`` mounts the routers, the problem+json error handlers and the body-size
limit. When ``own_runtime`` is true the app starts the runtime (writer, MQTT ingest, MLLP
listener, demo simulators registered as services) in its lifespan and stops it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from medtwin import __version__
from medtwin.api import audit as audit_api
from medtwin.api import auth, charting, fhir, ingest_http, live, metrics, monitoring, problems, twins
from medtwin.api import evacuation as evacuation_api
from medtwin.api import evacuation_sweeps as evacuation_sweeps_api
from medtwin.api import export as export_api
from medtwin.api import homecare as homecare_api
from medtwin.api import imaging as imaging_api
from medtwin.api import operations as operations_api
from medtwin.api import training as training_api
from medtwin.api import treatment as treatment_api
from medtwin.api.guard import enforce
from medtwin.api.limits import BodyLimitMiddleware
from medtwin.api.openapi_security import install_openapi
from medtwin.api.security_mw import SecurityMiddleware
from medtwin.core.errors import MedtwinError
from medtwin.runtime import Runtime
from medtwin.security.bootstrap import bootstrap_admin, redact_tokens_in_logs
from medtwin.security.service import security_for

StartHook = Callable[[Runtime, asyncio.AbstractEventLoop], Awaitable[None] | None]

PLACEHOLDER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>medtwin</title></head>
<body style="font-family:system-ui;margin:2rem"><h1>medtwin</h1>
<p>The medtwin API is running. The clinical dashboard is served here once installed.</p>
<ul><li><a href="/docs">API documentation (OpenAPI)</a></li><li><a href="/api/twins?kind=ward">Wards</a></li>
<li><a href="/fhir/metadata">FHIR CapabilityStatement</a></li></ul></body></html>"""


def create_app(
    runtime: Runtime, *, own_runtime: bool = True, on_start: list[StartHook] | None = None
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if own_runtime:
            runtime.start()
        bootstrap_admin(runtime)
        app.state.hub = live.LiveHub(
            runtime, loop, interval=runtime.settings.extra.get("live_interval_s", 1.0)
        )
        for hook in on_start or []:
            res = hook(runtime, loop)
            if res is not None:
                await res
        try:
            yield
        finally:
            app.state.hub.close()
            if own_runtime:
                await asyncio.to_thread(runtime.stop)

    app = FastAPI(
        title="medtwin",
        version=__version__,
        lifespan=lifespan,
        description="Medical digital twin platform: twins, observations, FHIR R4, live feed.",
        dependencies=[Depends(enforce)],  # every route: the policy table (medtwin.security.policy)
    )
    app.state.runtime = runtime
    security = security_for(runtime)
    redact_tokens_in_logs()
    app.add_middleware(BodyLimitMiddleware, max_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(SecurityMiddleware, security=security)  # outside the body limit: headers on 413 too
    origins = [o.strip() for o in runtime.settings.cors_origins.split(",") if o.strip()]
    if origins:  # closed by default
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "DELETE"], allow_headers=["Authorization", "Content-Type"],
        )  # fmt: skip
    audit_api.install(app, runtime)  # after every other middleware: the audit sees 401/403/413/429 too
    app.add_exception_handler(MedtwinError, problems.medtwin_error_handler)
    app.add_exception_handler(RequestValidationError, problems.validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, problems.http_error_handler)
    app.include_router(auth.router)
    app.include_router(twins.router)
    app.include_router(ingest_http.router)
    app.include_router(live.router)
    for router in (
        fhir.router,
        monitoring.router,
        charting.router,
        metrics.router,
        imaging_api.router,
        treatment_api.router,
        operations_api.router,
        export_api.router,
        homecare_api.router,
        evacuation_api.router,
        evacuation_sweeps_api.router,
        training_api.router,
    ):
        app.include_router(router)
    _static_mount(app)
    install_openapi(app)

    @app.get("/", include_in_schema=False, response_model=None)
    def index() -> Any:
        return _index_page()

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        ok = runtime.writer._thread is not None and runtime.writer._thread.is_alive()
        try:
            runtime.store.schema_version()
            db_ok = True
        except Exception:
            db_ok = False
        body = {
            "status": "ready" if ok and db_ok else "not ready",
            "writer": ok,
            "database": db_ok,
            "queued_rows": runtime.writer.queued_rows,
        }
        return JSONResponse(body, status_code=200 if ok and db_ok else 503)

    return app


def _static_mount(app: FastAPI) -> None:
    """The dashboard's assets (medtwin/web/static, vendored libraries included) under /static."""
    from pathlib import Path

    from fastapi.staticfiles import StaticFiles

    static = Path(__file__).resolve().parent.parent / "web" / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")


def _index_page() -> Any:
    from pathlib import Path

    from fastapi.responses import FileResponse

    index = Path(__file__).resolve().parent.parent / "web" / "static" / "index.html"
    if index.exists():
        return FileResponse(index)
    return HTMLResponse(PLACEHOLDER)
