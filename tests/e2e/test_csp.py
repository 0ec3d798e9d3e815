"""The dashboard under its real Content-Security-Policy (no 'unsafe-inline', no 'unsafe-eval'):
sign in, ward, patient, map and alarms pages load and stream without a single policy violation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import E2E_PASSWORD, STAFF, Server

pytestmark = pytest.mark.e2e


def test_dashboard_runs_under_the_content_security_policy(browser: Any, server: Server) -> None:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.base)
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    try:
        server.vitals(2, hr=71, spo2=97)
        resp = pg.goto("/#/login")
        csp = resp.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        pg.locator("#login-password").wait_for()
        pg.fill("#login-id", STAFF)
        pg.fill("#login-password", E2E_PASSWORD)
        pg.click("button[type=submit]")
        expect(pg).to_have_url(re.compile(r"#/ward"))
        for hash_ in ("#/ward/ICU", "#/patient/P002", "#/map", "#/alarms"):
            pg.goto("/" + hash_)
            pg.locator(".page[data-ready='1']").first.wait_for(timeout=15000)
        expect(pg.locator("#live-status")).to_have_attribute("data-state", "open", timeout=10000)  # WebSocket
        violations = [p for p in problems if "Content Security Policy" in p or "Refused to" in p]
        assert not violations, violations
    finally:
        ctx.close()
