"""The training pages in a real browser (issue 12): a trainee works a published case (stages, monitor,
naloxone, an investigation, the diagnosis) and reads the feedback; an educator builds a case from a
demo patient's record, edits it, and opens the cohort and the replay of the trainee's session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import E2E_PASSWORD, Server

pytestmark = pytest.mark.e2e


def _seed(server: Server) -> str:
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for
    from medtwin.services.training.service import service_for

    rt = server.runtime
    acc = security_for(rt).accounts
    if acc.get_user("trainee-e2e") is None:
        acc.add_user("trainee-e2e", Role.TRAINEE, E2E_PASSWORD, name="Trainee")
        acc.add_user("educator-e2e", Role.EDUCATOR, E2E_PASSWORD, name="Educator", wards=["ICU"])
    svc = service_for(rt.store, rt.clock)
    for c in svc.repo.cases():
        if c["condition"] == "opioid_overdose":
            return str(c["id"])
    case = svc.case_from_template("opioid_overdose", {"status": "published"}, "user:e2e")
    return str(case["id"])


def login(pg: Any, user: str) -> None:
    """Sign in through the login screen (trainees and educators land on a ward without patients)."""
    pg.goto("/#/login")
    pg.wait_for_selector("#login-password", timeout=15000)
    pg.fill("#login-id", user)
    pg.fill("#login-password", E2E_PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_function("!location.hash.startsWith('#/login')", timeout=15000)


def _page(context: Any) -> tuple[Any, list[str]]:
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    return pg, errors


def test_trainee_works_a_case_and_educator_follows(context: Any, server: Server) -> None:
    from playwright.sync_api import expect

    case_id = _seed(server)
    pg, errors = _page(context)
    login(pg, "trainee-e2e")
    pg.goto("/#/training")
    card = pg.locator(".tr-card", has_text="Unresponsive in a public toilet")
    expect(card).to_be_visible(timeout=15000)
    assert "T40.4" not in pg.content()  # no answer in the library
    card.locator("button", has_text="Start").click()
    expect(pg.locator("h1")).to_have_text("Unresponsive in a public toilet", timeout=15000)
    pg.locator(".page-head button", has_text="Pause").click()
    for stage in ("History", "Examination", "Vitals", "Orders & results"):
        pg.locator(".tr-stages button", has_text=stage).click()
        expect(pg.locator(".tr-stages button", has_text=stage)).to_have_attribute("aria-pressed", "true")
    expect(pg.locator(".tr-monitor .vital").first).to_contain_text("HR")
    rr0 = int(pg.locator(".tr-monitor .vital", has_text="RR").locator(".val").inner_text())
    pg.select_option("select[aria-label=Treatment]", "naloxone")
    pg.fill("input[name=dose]", "0.8")
    pg.locator("button", has_text="Give").click()
    expect(pg.locator(".tr-log li")).to_contain_text("Naloxone IV: 0.8 mg")
    pg.select_option("select[aria-label=Investigation]", "capillary_glucose")
    pg.get_by_role("button", name="Order", exact=True).click()
    pg.locator("button", has_text="+5 min").click()
    expect(pg.locator(".tr-result[data-ready=true]")).to_contain_text("Glucose", timeout=10000)
    rr1 = int(pg.locator(".tr-monitor .vital", has_text="RR").locator(".val").inner_text())
    assert rr1 > rr0  # the patient responded to naloxone
    pg.screenshot(path="test-artifacts/training_session.png", full_page=True)
    pg.fill("input[aria-label='Primary diagnosis']", "T40.4")
    pg.locator("button", has_text="Submit and see feedback").click()
    expect(pg.locator("h1")).to_contain_text("Feedback", timeout=20000)
    expect(pg.locator("text=exact match")).to_be_visible()
    expect(pg.locator("h2", has_text="What was done for the real patient")).to_be_visible()
    pg.screenshot(path="test-artifacts/training_feedback.png", full_page=True)
    assert not errors, errors

    ed, ed_errors = _page(context)
    login(ed, "educator-e2e")
    ed.goto("/#/training")
    expect(ed.locator("h2", has_text="Build a case")).to_be_visible(timeout=15000)
    ed.screenshot(path="test-artifacts/training_library.png", full_page=True)
    ed.select_option("select[aria-label=Patient]", "P001")
    ed.select_option("select[aria-label=Condition]", "sepsis")
    ed.fill("input[aria-label='Diagnosis code']", "A41.9")
    ed.locator("button", has_text="Build from record").click()
    expect(ed.locator("h2", has_text="Source and de-identification")).to_be_visible(timeout=20000)
    ed.fill("textarea[aria-label=history]", "Three days of dysuria and fever.")
    ed.locator("button", has_text="Save").click()
    ed.screenshot(path="test-artifacts/training_case.png", full_page=True)
    expect(ed.locator("p.hint[role=status]")).to_contain_text("Saved")
    ed.goto(f"/#/training/cohort/{case_id}")
    expect(ed.locator("h1")).to_contain_text("Cohort", timeout=15000)
    ed.locator("a", has_text="Replay").first.click()
    expect(ed.locator("h1")).to_have_text("Session replay", timeout=15000)
    expect(ed.locator(".tr-steps li", has_text="Naloxone IV: 0.8 mg")).to_be_visible()
    ed.screenshot(path="test-artifacts/training_replay.png", full_page=True)
    assert not ed_errors, ed_errors


def test_training_pages_run_under_the_content_security_policy(browser: Any, server: Server) -> None:
    import re

    from playwright.sync_api import expect

    _seed(server)
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.base)  # real CSP
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    try:
        pg.goto("/#/login")
        pg.locator("#login-password").wait_for()
        pg.fill("#login-id", "trainee-e2e")
        pg.fill("#login-password", E2E_PASSWORD)
        pg.click("button[type=submit]")
        expect(pg).to_have_url(re.compile(r"#/ward"))
        pg.goto("/#/training")
        pg.locator(".tr-card button", has_text="Start").first.click()
        for stage in ("History", "Examination", "Vitals", "Orders & results"):
            pg.locator(".tr-stages button", has_text=stage).click()
        expect(pg.locator(".tr-monitor .tr-legend")).to_be_visible(timeout=15000)  # uPlot chart drawn
        violations = [p for p in problems if "Content Security Policy" in p or "Refused to" in p]
        assert not violations, violations
    finally:
        ctx.close()
