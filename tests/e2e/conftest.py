"""Browser tests of the dashboard: a real medtwin server (uvicorn in a thread, temp SQLite seeded
with the synthetic demo hospital) driven by Playwright with Debian's Chromium.

Readings go in through ``POST /api/ingest`` exactly as a device gateway sends them. Services that
other issues deliver (early-warning scores, charting, alarms) are attached when their modules are
installed; tests that need one skip with the reason until it is. Screenshots of every test are
saved under ``test-artifacts/`` (gitignored) at the repository root.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import auth_headers

CHROMIUM = os.environ.get("MEDTWIN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
STAFF = "ICU-nurse-1"
# The dashboard's users (created in the server fixture; the password is a test fixture, not a secret)
E2E_PASSWORD = "e2e-password-2026"


def iso(dt: datetime | None = None) -> str:
    return (dt or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running medtwin server and helpers to feed it."""

    base: str
    runtime: Any
    services: set[str] = field(default_factory=set)
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    token: str = ""  # an administrator's access token for the test's own API calls

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def ingest(self, device: str, readings: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """POST /api/ingest as a monitor would; readings default to time = now."""
        for r in readings:
            r.setdefault("time", iso())
        status, body = self.request(
            "POST", "/api/ingest", {"device": device, "seq": next(self._seq), "readings": readings, **extra}
        )
        assert status == 200, body
        assert body["accepted"] + body["duplicates"] == len(readings), body
        return body

    def sustained(self, bed: int, seconds: int = 20, **values: float) -> None:
        """One reading per second over the last ``seconds`` (alarm conditions need persistence)."""
        end = datetime.now(UTC)
        readings = [
            {"code": k, "value": v, "time": iso(end - timedelta(seconds=seconds - 1 - i))}
            for i in range(seconds)
            for k, v in values.items()
        ]
        self.ingest(f"MON-{bed:03d}", readings)

    def wait_alarm(self, twin: str, condition: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for a in self.get(f"/api/alarms?twin={twin}"):
                if a["condition"] == condition:
                    return dict(a)
            time.sleep(0.1)
        raise AssertionError(f"no {condition} alarm for {twin}")

    def vitals(self, bed: int, **values: float | str) -> None:
        """Readings for the demo patient in bed ``bed`` through its monitor MON-<bed>."""
        self.ingest(f"MON-{bed:03d}", [{"code": k, "value": v} for k, v in values.items()])


def _attach_services(rt: Any, app: Any) -> dict[str, Any]:
    """Attach the scoring and alarm services (the routers are part of the app). Returns name ->
    service to start."""
    from medtwin.services.monitoring.alarms.service import AlarmService
    from medtwin.services.monitoring.scoring import ScoringService

    return {
        "scoring": rt.services.get("scoring") or ScoringService().attach(rt),
        "charting": None,
        "alarms": rt.services.get("alarms") or AlarmService.attach(rt),
    }


def api_paths(app: Any) -> set[str]:
    """The app's HTTP paths (FastAPI keeps included routers as nested objects, so ask OpenAPI)."""
    paths = set(app.openapi()["paths"])
    app.openapi_schema = None  # not cached: more routers may be included after this
    return paths


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import uvicorn

    from medtwin.api.app import create_app
    from medtwin.config import Settings
    from medtwin.demo.hospital import seed
    from medtwin.runtime import Runtime

    tmp = tmp_path_factory.mktemp("e2e")
    # every page signs in through the login screen: allow more than 5 sign-ins a minute from 127.0.0.1
    settings = Settings.load(
        db=str(tmp / "e2e.db"), mqtt_enabled=False, data_dir=tmp, login_rate="1000/minute"
    )
    settings.extra["live_interval_s"] = 1.0
    rt = Runtime(settings)
    seed(rt.registry)
    app = create_app(rt)
    _add_users(rt)
    found = _attach_services(rt, app)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("medtwin server did not start")
        time.sleep(0.05)
    for svc in found.values():
        if svc is not None and not getattr(svc, "running", False):
            svc.start()
    try:
        token = auth_headers(rt, "admin")["Authorization"].removeprefix("Bearer ")
        yield Server(base=f"http://127.0.0.1:{port}", runtime=rt, services=set(found), token=token)
    finally:
        srv.should_exit = True
        thread.join(15)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def _artifact_name(node: pytest.Item, suffix: str = "") -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in node.name)
    return ARTIFACTS / f"{safe}{suffix}.png"


@dataclass
class PageErrors:
    errors: list[str] = field(default_factory=list)


def _add_users(rt: Any) -> None:
    """ICU-nurse-1 (the staff member the tests act as) covers both demo wards, so the map and
    MED-ward tests see every bed; MED-nurse-2 only her own ward."""
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for

    acc = security_for(rt).accounts
    acc.add_user(STAFF, Role.NURSE, E2E_PASSWORD, name="Nurse ICU 1", wards=["ICU", "MED"])
    acc.add_user("MED-nurse-2", Role.NURSE, E2E_PASSWORD, name="Nurse MED 2")


def login(pg: Any, user: str = STAFF, password: str = E2E_PASSWORD) -> None:
    """Sign in through the dashboard's login screen (the token lives in this tab's sessionStorage)."""
    pg.goto("/#/login")
    pg.wait_for_selector("#login-password", timeout=15000)
    pg.fill("#login-id", user)
    pg.fill("#login-password", password)
    pg.click("button[type=submit]")
    pg.wait_for_function("!location.hash.startsWith('#/login')", timeout=15000)
    # as a person would: the landing page (the ward) has loaded before the next click
    pg.wait_for_selector(".page[data-ready='1']", timeout=15000)


def login_under_csp(pg: Any, user: str, password: str = E2E_PASSWORD) -> str:
    """Sign in on a page of a context that keeps the real Content-Security-Policy (no string
    predicates: they need ``eval``); returns the policy header after checking it is strict."""
    resp = pg.goto("/#/login")
    csp = str(resp.headers["content-security-policy"])
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    pg.locator("#login-password").wait_for()
    pg.fill("#login-id", user)
    pg.fill("#login-password", password)
    pg.click("button[type=submit]")
    pg.locator(".page[data-ready='1']").first.wait_for(timeout=15000)
    return csp


def watch(pg: Any, base: str) -> tuple[list[str], list[str]]:
    """Collect script errors and any request to another origin (the dashboard has no CDN)."""
    errors: list[str] = []
    foreign: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on(
        "request",
        lambda r: None if r.url.startswith((base + "/", "data:", "blob:")) else foreign.append(r.url),
    )
    return errors, foreign


@pytest.fixture
def context(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh browser profile (pages sign in through the UI: see ``page`` and ``login``). The
    tests' string predicates (``wait_for_function``) are evaluated with ``eval``, which the
    dashboard's Content-Security-Policy forbids, so these contexts bypass it; test_csp.py runs the
    dashboard under the real policy."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.base, bypass_csp=True)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page signed in as ICU-nurse-1 through the login screen, whose uncaught script errors fail
    the test; screenshot saved afterwards."""
    pg = context.new_page()
    errs = PageErrors()
    pg.on("pageerror", lambda e: errs.errors.append(str(e)))
    pg.on("console", lambda m: errs.errors.append(m.text) if m.type == "error" else None)
    pg.errors = errs
    login(pg)
    yield pg
    with contextlib.suppress(Exception):
        pg.screenshot(path=str(_artifact_name(request.node)), full_page=True)
    # HTTP 4xx answers the test provoked on purpose are logged by the browser too; scripts must not fail
    assert not [e for e in errs.errors if "Failed to load resource" not in e], errs.errors


def wait_ready(pg: Any, page: str | None = None) -> None:
    """Wait until a page (``page``: that page's id, e.g. "patient") has loaded. Right after a
    navigation the previous page is still in the DOM with its ready flag: name the page then."""
    which = f"[data-page='{page}']" if page else ""
    pg.wait_for_selector(f".page{which}[data-ready='1']", timeout=15000)


def ago(**kw: float) -> str:
    return iso(datetime.now(UTC) - timedelta(**kw))
