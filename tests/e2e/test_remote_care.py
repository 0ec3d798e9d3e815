"""The remote-care page in a real browser (issue 8, "Done when": a remote-care nurse sees, in the
dashboard, which home patients need the emergency room, a clinic or nothing, and why).

Three home patients are enrolled through the API by an administrator with the nurse on their care
team; their home readings (five days, twice a day) come in through ``POST /api/ingest`` as a home
gateway sends them, and the running HomecareService places them in a tier: SpO2 86 % in heart
failure (NHS home-oximetry <= 92 %: emergency), a blood pressure of 192/106 in hypertension (ACC/AHA
hypertensive crisis without symptoms: same-day primary care) and a controlled 122/76 (self-care).
The nurse sees them sorted by tier with reasons naming rule and guideline, acknowledges one item,
closes another with an outcome (both persist across a reload), and opens a patient's trends.
Staff outside the care team and an operations manager see none of it, and the page runs under the
real Content-Security-Policy without a request leaving the server.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from medtwin.services.homecare.repository import OUTCOMES
from tests.e2e.conftest import E2E_PASSWORD, STAFF, Server, iso, login, login_under_csp, watch

pytestmark = pytest.mark.e2e

NURSE = "RC-nurse-e2e"
OPS = "ops-rc-e2e"
EMERGENCY, PRIMARY, SELF = "HC-E2E-1", "HC-E2E-2", "HC-E2E-3"
NAMES = {EMERGENCY: "Ada Homeworthy", PRIMARY: "Ben Cuffley", SELF: "Cleo Steadman"}
TIERS = {EMERGENCY: "emergency", PRIMARY: "primary", SELF: "self"}


def _readings(pid: str, now: datetime) -> list[dict[str, Any]]:
    """Five days of home readings twice a day, the last ten minutes ago."""
    times = [now - timedelta(minutes=10) - timedelta(hours=12 * k) for k in range(10)][::-1]
    out: list[dict[str, Any]] = []
    for i, t in enumerate(times):
        last = i == len(times) - 1
        if pid == EMERGENCY:  # heart failure: saturation falling to 86 %, weight steady
            vals = {
                "spo2": 86 if last else 96 - (i % 2),
                "hr": 92 if last else 78,
                "weight": 81.0 + 0.1 * (i % 2),
            }
        elif pid == PRIMARY:  # hypertension: stage 2 at home, then a crisis
            vals = {"sbp": 192 if last else 148 + (i % 3), "dbp": 106 if last else 90, "hr": 74}
        else:  # hypertension, controlled
            vals = {"sbp": 122 - (i % 2), "dbp": 76, "hr": 68}
        out += [{"code": k, "value": v, "time": iso(t)} for k, v in vals.items()]
    return out


def _seed(server: Server) -> None:
    """Idempotent (the server is shared by the tests of this session)."""
    from medtwin.core.model import Twin, TwinKind
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for
    from medtwin.services.homecare.service import HomecareService

    rt = server.runtime
    if rt.store.get_twin(EMERGENCY) is not None:
        return
    svc = rt.services.get("homecare")
    if not isinstance(svc, HomecareService):
        svc = HomecareService.attach(rt)
        svc.min_interval_s = 0.1
        svc.start()
    rt.registry.put(Twin(NURSE, TwinKind.STAFF, "Remote-care nurse", {"role": "nurse"}))
    for pid, name in NAMES.items():
        rt.registry.put(Twin(pid, TwinKind.PATIENT, name))
    acc = security_for(rt).accounts
    acc.add_user(NURSE, Role.NURSE, E2E_PASSWORD, name="Remote-care nurse")
    acc.add_user(OPS, Role.OPERATIONS, E2E_PASSWORD, name="Operations manager")
    conditions = {EMERGENCY: ["heart_failure"], PRIMARY: ["hypertension"], SELF: ["hypertension"]}
    meds = {EMERGENCY: ["furosemide"], PRIMARY: ["amlodipine"], SELF: ["ramipril"]}
    for pid in NAMES:  # the doctor's enrolment, through the API
        status, body = server.request(
            "PUT",
            f"/api/twins/{pid}/homecare",
            {"conditions": conditions[pid], "medications": meds[pid], "care_team": [NURSE]},
        )
        assert status == 200, body
    now = datetime.now(UTC)
    for pid in NAMES:  # the home gateway's upload, through the ingest API
        server.ingest(f"HOMEGW-{pid}", _readings(pid, now), patient=pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the service places each patient as the readings arrive
        tiers = {p["twin"]: p["tier"] for p in server.get("/api/homecare/patients") if p["twin"] in NAMES}
        if tiers == TIERS:
            break
        time.sleep(0.2)
    assert tiers == TIERS, tiers


def _row(pg: Any, pid: str) -> Any:
    return pg.locator("#rc-table tr.rc-item", has=pg.locator(f"a[href='#/remote/{pid}']"))


def test_nurse_worklist_tiers_reasons_acknowledge_outcome_and_trends(context: Any, server: Server) -> None:
    _seed(server)
    pg = context.new_page()
    errors, foreign = watch(pg, server.base)
    login(pg, NURSE)
    pg.goto("/#/remote")
    expect(pg.locator(".page[data-ready='1'] h1")).to_have_text("Remote care", timeout=15000)

    # every home patient in a tier, most urgent first, each with its name
    cards = pg.locator("#rc-patients a.rc-card")
    expect(cards).to_have_count(3)
    assert [cards.nth(i).get_attribute("data-twin") for i in range(3)] == [EMERGENCY, PRIMARY, SELF]
    assert [cards.nth(i).get_attribute("data-tier") for i in range(3)] == ["emergency", "primary", "self"]
    for i, pid in enumerate((EMERGENCY, PRIMARY, SELF)):
        expect(cards.nth(i)).to_contain_text(NAMES[pid])
    expect(cards.nth(0).locator("code", has_text="spo2_home")).to_have_count(1)
    expect(cards.nth(2)).to_contain_text("No rule above self-care.")

    # the worklist: emergency before primary, nothing for the self-care patient, and why (rule + guideline)
    items = pg.locator("#rc-table tr.rc-item")
    tiers = list(items.evaluate_all("rows => rows.map(r => r.dataset.tier)"))
    assert tiers and tiers == sorted(tiers, key=["emergency", "primary", "self"].index), tiers
    assert tiers[0] == "emergency"
    expect(_row(pg, SELF)).to_have_count(0)
    emerg = _row(pg, EMERGENCY).first
    expect(emerg).to_have_attribute("data-tier", "emergency")
    expect(emerg).to_contain_text(NAMES[EMERGENCY])
    why = emerg.locator("ul.rc-reasons li", has=pg.locator("code", has_text="spo2_home"))
    expect(why).to_contain_text("86")
    assert "NHS" in (why.get_attribute("title") or "") and "92" in why.get_attribute("title")
    prim = _row(pg, PRIMARY).first
    expect(prim).to_have_attribute("data-tier", "primary")
    crisis = prim.locator("ul.rc-reasons li", has=pg.locator("code", has_text="bp_category"))
    expect(crisis).to_contain_text("192/106")
    expect(crisis).to_contain_text("hypertensive crisis")
    assert "ACC/AHA" in (crisis.get_attribute("title") or "")

    # acknowledge the emergency: it stays on the list, acknowledged by this nurse, after a reload
    emerg_id = emerg.get_attribute("data-item")
    emerg.get_by_role("button", name="Acknowledge").click()
    acked = pg.locator(f"#rc-table tr.rc-item[data-item='{emerg_id}']")
    expect(acked).to_have_attribute("data-status", "acknowledged")
    expect(acked).to_contain_text(f"acknowledged (user:{NURSE})")
    expect(acked.get_by_role("button", name="Acknowledge")).to_have_count(0)
    # close the primary item with an outcome: it leaves the open list
    prim_id = prim.get_attribute("data-item")
    options = prim.get_by_label("Outcome").locator("option").evaluate_all("os => os.map(o => o.value)")
    assert tuple(options) == OUTCOMES  # every outcome offered is one the server accepts
    prim.get_by_label("Outcome").select_option("gp_appointment")
    prim.get_by_role("button", name="Record outcome").click()
    expect(pg.locator(f"#rc-table tr.rc-item[data-item='{prim_id}']")).to_have_count(0)
    pg.reload()
    expect(pg.locator(".page[data-ready='1'] #rc-table")).to_be_visible(timeout=15000)
    expect(pg.locator(f"#rc-table tr.rc-item[data-item='{emerg_id}']")).to_have_attribute(
        "data-status", "acknowledged"
    )
    expect(pg.locator(f"#rc-table tr.rc-item[data-item='{prim_id}']")).to_have_count(0)
    closed = {str(i["id"]): i for i in server.get("/api/homecare/worklist?include_closed=true")}
    assert closed[prim_id]["status"] == "closed", closed[prim_id]
    assert closed[prim_id]["outcome"]["disposition"] == "gp_appointment"
    assert (
        closed[emerg_id]["status"] == "acknowledged"
        and closed[emerg_id]["acknowledged_by"] == f"user:{NURSE}"
    )

    # the hypertensive patient's trends: blood pressure plotted with every home reading, the daily summary
    pg.locator(f"#rc-patients a.rc-card[data-twin='{PRIMARY}']").click()
    detail = pg.locator("#rc-detail")
    expect(detail.locator("h2")).to_have_text(f"{NAMES[PRIMARY]}: trends (14 days)", timeout=15000)
    bp = detail.locator(".rc-plot[data-chart='bp']")
    expect(bp.locator("canvas")).to_have_count(1)
    sbp = bp.evaluate("el => el.__trend.data[1].filter(v => v !== null)")
    assert len(sbp) == 10 and max(sbp) == 192, sbp
    expect(detail.locator(".rc-plot[data-chart='ox'] canvas")).to_have_count(1)  # pulse
    expect(detail.locator(".rc-plot[data-chart='glu']")).to_have_count(0)  # no glucose: no empty chart
    expect(detail.locator("table.rc-summary tbody tr", has_text="sbp")).to_have_count(1)
    expect(detail.locator("ol.rc-decisions li").first).to_contain_text("bp_category")
    pg.screenshot(path="test-artifacts/remote_care_nurse.png", full_page=True)
    assert not [e for e in errors if "Failed to load resource" not in e], errors
    assert not foreign, foreign


@pytest.mark.parametrize("user", [STAFF, OPS], ids=["ward-nurse", "operations"])
def test_staff_outside_the_care_team_see_no_home_patients(context: Any, server: Server, user: str) -> None:
    _seed(server)
    pg = context.new_page()
    errors, foreign = watch(pg, server.base)
    denied: list[str] = []
    pg.on("response", lambda r: denied.append(r.url) if r.status == 403 else None)
    login(pg, user)
    pg.goto("/#/remote")
    expect(pg.locator(".page[data-ready='1'] h1")).to_have_text("Remote care", timeout=15000)
    expect(pg.locator("#rc-table")).to_contain_text("Nothing waiting.")
    expect(pg.locator("#rc-patients a.rc-card")).to_have_count(0)
    # a direct link to a home patient: refused by the server, said so, nothing shown
    pg.goto(f"/#/remote/{EMERGENCY}")
    banner = pg.locator("#rc-detail p.banner[role=alert]")
    expect(banner).to_be_visible(timeout=15000)
    expect(banner).to_contain_text(re.compile("not in your care scope|may not read patient data"))
    assert any(f"/api/twins/{EMERGENCY}/homecare" in u for u in denied), denied
    body = pg.locator("main").inner_text()
    leaked = [n for n in (*NAMES.values(), *NAMES) if n in body]
    assert not leaked, leaked
    assert not [e for e in errors if "Failed to load resource" not in e], errors
    assert not foreign, foreign


def test_remote_care_runs_under_the_content_security_policy(browser: Any, server: Server) -> None:
    _seed(server)
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.base)
    try:
        pg = ctx.new_page()
        errors, foreign = watch(pg, server.base)
        login_under_csp(pg, NURSE)
        for hash_ in ("#/remote", f"#/remote/{SELF}"):
            pg.goto("/" + hash_)
            pg.locator(".page[data-page='remote'][data-ready='1']").wait_for(timeout=15000)
        expect(pg.locator("#rc-detail .rc-plot[data-chart='bp'] canvas")).to_have_count(1, timeout=15000)
        # a self-care decision says why (no rule above self-care) instead of a bare tier
        expect(pg.locator(".rc-decisions li").first).to_contain_text("No rule above self-care.")
        expect(pg.locator("#rc-patients a.rc-card")).to_have_count(3)
        expect(pg.locator(f"#rc-patients a.rc-card[data-twin='{SELF}']")).to_contain_text(
            "No rule above self-care."
        )
        violations = [p for p in errors if "Content Security Policy" in p or "Refused to" in p]
        assert not violations, violations
        assert not [e for e in errors if "Failed to load resource" not in e], errors
        assert not foreign, foreign
    finally:
        ctx.close()
