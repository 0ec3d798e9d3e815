"""The evacuation page in a real browser: a safety officer runs tonight's census through a fire in
an ICU room, sees RSET against ASET per compartment and who is at risk (pseudonyms only), plays
the replay, opens the 3D model and compares the preset variants (an extra night nurse...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import E2E_PASSWORD, Server, login

pytestmark = pytest.mark.e2e


def test_evacuation_page_run_replay_3d_compare(context: Any, server: Server) -> None:
    from playwright.sync_api import expect

    from medtwin.security.principal import Role
    from medtwin.security.service import security_for

    acc = security_for(server.runtime).accounts
    if acc.get_user("safety-e2e") is None:
        acc.add_user("safety-e2e", Role.SAFETY_OFFICER, E2E_PASSWORD, name="Safety officer")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    login(pg, "safety-e2e", E2E_PASSWORD)
    pg.goto("/#/evacuation")
    expect(pg.locator("h1")).to_have_text("Evacuation")
    expect(pg.locator("#evac-room")).to_have_value("ICU-R03", timeout=20_000)
    pg.locator("button", has_text="Run").first.click()
    expect(pg.locator(".evac-kpi").first).to_contain_text("RSET", timeout=60_000)
    comp = pg.locator("section.panel:has(h2:has-text('Compartments')) table.data tbody tr")
    expect(comp).to_have_count(4)
    at_risk = pg.locator("section.panel:has(h2:text-is('Who is at risk')) table.data tbody tr")
    expect(at_risk.first).to_contain_text("PSN-")
    names = [t.name for t in server.runtime.store.list_twins() if t.kind.value == "patient"]
    body = pg.locator("main").inner_text()
    assert not any(n in body for n in names)
    barrier = pg.locator(
        "section.panel:has(h2:has-text('Door flows')) table.data tbody tr", has_text="F2-D-BARRIER"
    )
    expect(barrier.locator("td").nth(3)).to_have_text("4")  # the four beds pushed into the safe compartment
    assert int(pg.locator("#evac-t").get_attribute("max")) > 60
    pg.fill("#evac-t", "300")
    pg.locator("#evac-t").dispatch_event("input")
    expect(pg.locator(".evac-clock")).to_have_text("t = 300 s")
    pg.locator(".evac-floors button", has_text="F2").click()
    pg.locator("button", has_text="3D view").click()
    expect(pg.locator(".evac-3d canvas")).to_have_count(1, timeout=20_000)
    pg.locator("button", has_text="Compare variants").click()
    rows = pg.locator("section.panel:has(h2:text-is('Comparison')) table.data tbody tr")
    expect(rows.first).to_contain_text("base", timeout=120_000)
    assert rows.count() >= 5
    full = rows.filter(has_text="full evacuation instead of horizontal")
    expect(full.locator("td").nth(1)).to_have_text(
        "ok"
    )  # the ICU's ventilated patients leave by the bed lift
    pg.screenshot(
        path=str(Path(__file__).resolve().parents[2] / "test-artifacts" / "evacuation.png"), full_page=True
    )
    assert errors == []
