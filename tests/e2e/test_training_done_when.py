"""Issue 12's "done when", in a real browser: an educator turns a real twin's record into a case in
minutes, a trainee works it with the patient reacting to treatment, and both see the score and the
comparison with the real case. No identifier of the source patient appears on any page."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import E2E_PASSWORD, Server
from tests.e2e.test_training import login

pytestmark = pytest.mark.e2e

PID = "TR-E2E-SEPSIS"  # a patient outside the demo wards: no other test watches it
IDENTIFIERS = ("Rowena", "Ashdown", "MRN-E2E-3141", "1950-02-17", PID)
TITLE = "Urosepsis from a ward record"


def _seed_record(server: Server) -> None:
    """Four hours of a real-looking record: stable, then sepsis from 2 h (NEWS2 >= 5), with the
    team's crystalloid and antibiotics at presentation; an educator whose scope is this patient."""
    from medtwin.core.model import Twin, TwinKind
    from medtwin.ingest.pipeline import ReadingBatch
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for

    rt = server.runtime
    acc = security_for(rt).accounts
    if acc.get_user("educator-e2e-dw") is None:
        acc.add_user("educator-e2e-dw", Role.EDUCATOR, E2E_PASSWORD, name="Educator", patients=[PID])
    if acc.get_user("trainee-e2e-dw") is None:
        acc.add_user("trainee-e2e-dw", Role.TRAINEE, E2E_PASSWORD, name="Trainee")
    if rt.store.get_twin(PID) is not None:
        return
    ident = {"name": "Rowena Ashdown-Pike", "mrn": "MRN-E2E-3141", "birth_date": "1950-02-17"}
    attrs = {"sex": "female", "weight_kg": 70, "condition": "urosepsis"}
    rt.registry.put(Twin(PID, TwinKind.PATIENT, "Rowena Ashdown-Pike", attrs, ident))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4)
    readings = []
    for i in range(48):
        t, x = (t0 + timedelta(minutes=5 * i)).isoformat(), min(max(0.0, (i - 24) / 18), 1.0)
        readings += [
            {"code": "hr", "value": 80 + 42 * x, "time": t}, {"code": "rr", "value": 15 + 10 * x, "time": t},
            {"code": "spo2", "value": 97 - 3 * x, "time": t}, {"code": "sbp", "value": 122 - 40 * x, "time": t},
            {"code": "dbp", "value": 74 - 22 * x, "time": t}, {"code": "temp", "value": 36.8 + 2.0 * x, "time": t},
        ]  # fmt: skip
    meds = [
        {"drug": "sodium chloride 0.9%", "dose": 1000, "unit": "mL", "route": "intravenous",
         "time": (t0 + timedelta(minutes=170)).isoformat()},
        {"drug": "piperacillin/tazobactam", "dose": 4.5, "unit": "g", "route": "intravenous",
         "time": (t0 + timedelta(minutes=175)).isoformat()},
    ]  # fmt: skip
    res = rt.ingestor.ingest(ReadingBatch("dev-e2e-tr", "e2e-tr-1", readings, subject=PID, medications=meds))
    assert not res.result(30).rejected


def _vital(pg: Any, label: str) -> int:
    return int(pg.locator(".tr-monitor .vital", has_text=label).locator(".val").inner_text())


def _no_identifiers(pg: Any) -> None:
    html = pg.content()
    assert not [s for s in IDENTIFIERS if s in html]


def test_educator_builds_trainee_works_both_see_score_and_real_case(context: Any, server: Server) -> None:
    from playwright.sync_api import expect

    _seed_record(server)
    # ------------------------------------------------------------------ the educator builds and publishes
    ed = context.new_page()
    errors: list[str] = []
    ed.on("pageerror", lambda e: errors.append(str(e)))
    started = time.monotonic()
    login(ed, "educator-e2e-dw")
    ed.goto("/#/training")
    expect(ed.locator("h2", has_text="Build a case")).to_be_visible(timeout=15000)
    ed.select_option("select[aria-label=Patient]", PID)  # listed under its display pseudonym
    assert "PSN-" in ed.locator("select[aria-label=Patient] option", has_text="PSN-").first.inner_text()
    ed.fill("input[aria-label='Diagnosis code']", "A41.9")
    ed.locator("section.panel", has_text="Build a case").locator("input[aria-label=Title]").fill(TITLE)
    ed.locator("button", has_text="Build from record").click()
    expect(ed.locator("h2", has_text="Source and de-identification")).to_be_visible(timeout=20000)
    expect(ed.locator("text=Built from a real record")).to_be_visible()
    case_id = re.sub(r"^.*#/training/case/", "", ed.url)
    ed.select_option("select[aria-label=Status]", "published")
    ed.locator("button", has_text="Save").click()
    expect(ed.locator("p.hint[role=status]")).to_contain_text("Saved", timeout=10000)
    build_s = time.monotonic() - started
    assert build_s < 120, build_s  # "in minutes": sign-in to a published case, including page loads
    _no_identifiers(ed)
    ed.screenshot(path="test-artifacts/training_done_when_case.png", full_page=True)

    # ------------------------------------------------------------------ the trainee works the case
    tr = context.new_page()
    tr.on("pageerror", lambda e: errors.append(str(e)))
    login(tr, "trainee-e2e-dw")
    tr.goto("/#/training")
    card = tr.locator(".tr-card", has_text=TITLE)
    expect(card).to_be_visible(timeout=15000)
    card.locator("button", has_text="Start").click()
    expect(tr.locator("h1")).to_have_text(TITLE, timeout=15000)
    tr.locator(".page-head button", has_text="Pause").click()
    for stage in ("History", "Examination", "Vitals", "Orders & results"):
        tr.locator(".tr-stages button", has_text=stage).click()
        expect(tr.locator(".tr-stages button", has_text=stage)).to_have_attribute("aria-pressed", "true")
    expect(tr.locator(".tr-monitor .vital").first).to_contain_text("HR")
    map0 = _vital(tr, "MAP")
    tr.select_option("select[aria-label=Treatment]", "antibiotics")
    tr.locator("button", has_text="Give").click()
    expect(tr.locator(".tr-log li")).to_have_count(1)
    tr.select_option("select[aria-label=Treatment]", "fluids")
    tr.fill("input[name=volume]", "1000")
    for n in (2, 3):
        tr.locator("button", has_text="Give").click()
        expect(tr.locator(".tr-log li")).to_have_count(n)
    tr.select_option("select[aria-label=Investigation]", "lactate")
    tr.get_by_role("button", name="Order", exact=True).click()
    for _ in range(4):
        tr.locator("button", has_text="+5 min").click()
        time.sleep(0.3)
    expect(tr.locator(".tr-clock")).to_contain_text("T+20", timeout=10000)
    expect(tr.locator(".tr-result[data-ready=true]")).to_contain_text("Lactate", timeout=10000)
    map1 = _vital(tr, "MAP")
    assert map1 >= map0 + 3, (map0, map1)  # two litres of crystalloid raised the pressure
    _no_identifiers(tr)
    tr.fill("input[aria-label='Primary diagnosis']", "A41.9")
    tr.fill("input[aria-label='Differential 1']", "N39.0")
    tr.locator("button", has_text="Submit and see feedback").click()
    expect(tr.locator("h1")).to_contain_text("Feedback", timeout=20000)
    expect(tr.locator(".tr-total h2")).to_contain_text("Score")
    expect(tr.locator("text=exact match")).to_be_visible()
    real = tr.locator(".tr-outcome li[data-reference='real patient (observed)']")
    expect(real).to_contain_text("real patient (observed)")
    expect(tr.locator(".tr-outcome .tr-legend").first).to_contain_text("real patient (observed)")
    expect(tr.locator("h2", has_text="What was done for the real patient")).to_be_visible()
    expect(tr.locator(".tr-log li", has_text="piperacillin")).to_be_visible()
    _no_identifiers(tr)
    tr.screenshot(path="test-artifacts/training_done_when_feedback.png", full_page=True)

    # ------------------------------------------------------------------ the educator sees score and comparison
    ed.goto(f"/#/training/cohort/{case_id}")
    expect(ed.locator("h1")).to_contain_text("Cohort", timeout=15000)
    expect(ed.locator("td", has_text="trainee-e2e-dw")).to_be_visible()
    ed.locator("a", has_text="Replay").first.click()
    expect(ed.locator("h1")).to_have_text("Session replay", timeout=15000)
    expect(ed.locator(".tr-outcome li[data-reference='real patient (observed)']")).to_be_visible()
    ed.locator("a", has_text="Full feedback report").click()
    expect(ed.locator("h1")).to_contain_text("Feedback", timeout=15000)
    expect(ed.locator(".tr-outcome li[data-reference='real patient (observed)']")).to_be_visible()
    ed.screenshot(path="test-artifacts/training_done_when_replay.png", full_page=True)
    assert not errors, errors
    print(f"educator: sign-in to a published case built from the record in {build_s:.1f} s")
