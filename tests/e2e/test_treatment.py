"""The treatment page in a real browser: a physician opens a patient on vancomycin, sees the doses and
the level on record, fits the twin (curve with 90 % band), compares three regimens, picks the best,
and opens the glucose tab."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import E2E_PASSWORD, Server, login

pytestmark = pytest.mark.e2e
PATIENT = "TX-e2e-1"


def _seed(server: Server) -> None:
    from medtwin.core.model import Twin, TwinKind
    from medtwin.ingest.pipeline import ReadingBatch
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for

    rt = server.runtime
    if rt.store.get_twin(PATIENT) is not None:
        return
    rt.registry.put(Twin(PATIENT, TwinKind.PATIENT, "Treatment Patient",
                         attributes={"age": 64, "sex": "female", "weight": 72, "height": 168, "scr": 1.1}))  # fmt: skip
    security_for(rt).accounts.add_user(
        "doc-e2e", Role.PHYSICIAN, E2E_PASSWORD, name="Physician", patients=[PATIENT]
    )
    now = datetime.now(UTC)
    meds = [
        {
            "drug": "Vancomycin",
            "dose": 1000,
            "unit": "mg",
            "route": "IV",
            "time": (now - timedelta(hours=h)).isoformat(),
        }
        for h in (24, 12)
    ]
    lv = [{"code": "4092-3", "value": 13.5, "time": (now - timedelta(hours=0.5)).isoformat()}]
    res = rt.ingestor.ingest(ReadingBatch("lab-e2e", "tx1", lv, subject=PATIENT, medications=meds)).result(30)
    assert not res.rejected


def test_treatment_page_fit_compare_pick(context: Any, server: Server) -> None:
    from playwright.sync_api import expect

    _seed(server)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    login(pg, "doc-e2e")
    pg.goto(f"/#/treatment/{PATIENT}?drug=vancomycin")
    expect(pg.locator("h1")).to_have_text("Treatment simulation")
    expect(pg.locator("section.panel").first.locator("tbody tr")).to_have_count(
        3, timeout=15000
    )  # 2 doses, 1 level
    pg.get_by_role("button", name="Fit now").click()
    expect(pg.locator(".tx-conf").first).to_contain_text("confidence", timeout=20000)
    expect(pg.locator(".tx-plot").first.locator("canvas")).to_have_count(1)
    pg.get_by_role("button", name="Compare", exact=True).click()
    rows = pg.locator("tr[data-eligible]")
    expect(rows).to_have_count(3, timeout=30000)
    expect(pg.locator(".tx-explain li").first).to_contain_text("P(target")
    rows.first.get_by_role("button", name="Pick").click()
    expect(pg.get_by_text("Picked:")).to_be_visible(timeout=10000)
    run = server.get(f"/api/twins/{PATIENT}/treatment")["runs"][0]
    assert run["selected"] and run["actor"] == "user:doc-e2e"
    pg.screenshot(path="test-artifacts/treatment_page_pk.png", full_page=True)
    pg.get_by_role("button", name="Glucose–insulin").click()
    expect(pg.get_by_text("No glucose twin yet")).to_be_visible(timeout=10000)
    pg.screenshot(path="test-artifacts/treatment_page_glucose.png", full_page=True)
    assert not errors, errors
