"""The dashboard in a real browser: sign-in, live ward, stale data, NEWS2 band, patient detail,
charting with inline errors, hospital map, keyboard navigation, no external requests.

Alarm tests are in test_alarms.py (they need the alarms router)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, E2E_PASSWORD, Server, ago, wait_ready

pytestmark = pytest.mark.e2e


def test_sign_in_with_password_and_sign_out(browser: Any, server: Server) -> None:
    ctx = browser.new_context(viewport={"width": 1200, "height": 800}, base_url=server.base)
    pg = ctx.new_page()
    try:
        pg.goto("/#/ward/ICU")
        expect(pg).to_have_url(re.compile(r"#/login$"))
        expect(pg.locator("#login-password")).to_be_visible()  # the server has a sign-in service
        expect(pg.locator("#login-role")).to_have_count(0)  # the account decides the role
        pg.fill("#login-id", "Nurse With Spaces")
        pg.click("button[type=submit]")
        expect(pg.locator("#login-error")).to_contain_text("no spaces")
        expect(pg.locator("#login-id")).to_have_attribute("aria-invalid", "true")
        pg.fill("#login-id", "MED-nurse-2")
        pg.fill("#login-password", "not-the-password")
        pg.click("button[type=submit]")
        expect(pg.locator("#login-error")).to_contain_text("wrong user name or password")
        pg.fill("#login-password", E2E_PASSWORD)
        pg.locator("#login-password").press("Enter")  # Enter in a field submits
        expect(pg).to_have_url(re.compile(r"#/ward/ICU$"))  # back to where we were going
        expect(pg.locator("[data-user]")).to_contain_text("Nurse MED 2")
        stored = pg.evaluate("JSON.parse(localStorage.getItem('medtwin.user'))")
        assert stored == {"id": "MED-nurse-2", "name": "Nurse MED 2", "role": "nurse"}
        token = pg.evaluate("sessionStorage.getItem('medtwin.token')")
        assert token and token.count(".") == 2  # a JWT, kept in this tab only
        # a nurse of MED sees none of the ICU's patients: the ICU ward page has no bed tiles
        pg.wait_for_selector(".page[data-ready='1']", timeout=15000)
        expect(pg.locator("a.tile[data-patient]")).to_have_count(0)
        pg.screenshot(path=str(ARTIFACTS / "sign_in_done.png"))
        pg.click("#user-box button")  # sign out: the server revokes the token
        expect(pg).to_have_url(re.compile(r"#/login$"))
        deadline = time.monotonic() + 5  # the sign-out request is sent as the page changes
        while _get_with(server, "/api/auth/me", token)[0] != 401:
            assert time.monotonic() < deadline, "the token still works after signing out"
            time.sleep(0.1)
    finally:
        ctx.close()


def _get_with(server: Server, path: str, token: str) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(server.base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_ward_shows_every_bed_and_a_value_changes_live(page: Any, server: Server) -> None:
    server.vitals(2, hr=72, spo2=97, rr=14, sbp=121, dbp=78, temp=36.9)
    page.goto("/#/ward/ICU")
    wait_ready(page, "ward")
    tiles = page.locator("a.tile")
    expect(tiles).to_have_count(8)
    tile = page.locator("a.tile[data-patient='P002']")
    expect(tile.locator(".tile-bed")).to_have_text("Bed 2")
    expect(tile.locator(".tile-name")).to_have_text(server.get("/api/twins/P002")["name"])
    expect(tile.locator(".v-hr .val")).to_have_text("72")
    expect(tile.locator(".v-bp .val")).to_have_text("121/78")
    expect(tile.locator(".v-temp .val")).to_have_text("36.9")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
    # a new reading arrives through the ingest API: the tile changes within the 1 Hz flush
    server.vitals(2, hr=131, spo2=88)
    expect(tile.locator(".v-hr .val")).to_have_text("131", timeout=5000)
    expect(tile.locator(".v-spo2 .val")).to_have_text("88")
    # the other ward's feed is not mixed in
    server.vitals(9, hr=55)
    page.wait_for_timeout(1500)
    expect(page.locator("a.tile[data-patient='P009']")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "ward_live.png"))


def test_stale_values_are_greyed_with_their_age(page: Any, server: Server) -> None:
    server.ingest("MON-004", [{"code": "hr", "value": 64, "time": ago(minutes=5)}])
    server.ingest("MON-004", [{"code": "spo2", "value": 96}])
    page.goto("/#/ward/ICU")
    wait_ready(page, "ward")
    tile = page.locator("a.tile[data-patient='P004']")
    expect(tile.locator(".v-hr")).to_have_class(re.compile(r"\bstale\b"))
    expect(tile.locator(".v-hr .age")).to_have_text(re.compile(r"^5 min$"))
    expect(tile.locator(".v-spo2")).not_to_have_class(re.compile(r"\bstale\b"))
    # a fresh value clears the marker live
    server.ingest("MON-004", [{"code": "hr", "value": 66}])
    expect(tile.locator(".v-hr")).not_to_have_class(re.compile(r"\bstale\b"), timeout=5000)
    expect(tile.locator(".v-hr .val")).to_have_text("66")


def test_news2_band_colour_follows_the_live_score(page: Any, server: Server) -> None:
    page.goto("/#/ward/ICU")
    wait_ready(page, "ward")
    badge = page.locator("a.tile[data-patient='P006'] .news2")
    server.ingest(
        "MON-006",
        [{"code": "acvpu", "value": "A", "method": "manual"}, {"code": "o2_device", "value": "air"}],
    )
    server.vitals(6, hr=72, rr=16, spo2=97, sbp=124, temp=36.8)
    expect(badge).to_have_attribute("data-band", "zero", timeout=8000)
    # RR 26 (3), SpO2 90 (3), HR 135 (3), SBP 88 (3), temperature 39.5 (2): NEWS2 14, high
    server.vitals(6, hr=135, rr=26, spo2=90, sbp=88, temp=39.5)
    expect(badge).to_have_attribute("data-band", "high", timeout=8000)
    expect(badge.locator(".n2-value")).to_have_text("14")
    # the badge colour is the RCP high band (red), never flashing: flashing is for alarms
    bg = badge.evaluate("el => getComputedStyle(el).backgroundColor")
    assert bg == "rgb(200, 16, 46)"
    assert badge.evaluate("el => getComputedStyle(el).animationName") == "none"


def test_patient_detail_trends_relationships_and_live_append(page: Any, server: Server) -> None:
    for minutes in (50, 40, 30, 20, 10):
        server.ingest("MON-003", [{"code": "hr", "value": 70 + minutes // 10, "time": ago(minutes=minutes)}])
    page.goto("/#/ward/ICU")
    wait_ready(page, "ward")
    page.locator("a.tile[data-patient='P003']").click()
    expect(page).to_have_url(re.compile(r"#/patient/P003$"))
    wait_ready(page, "patient")
    expect(page.locator("h1")).to_have_text(server.get("/api/twins/P003")["name"])
    rel = page.locator("#relationships")
    expect(rel).to_contain_text("Bed 3")
    expect(rel).to_contain_text("ICU room 3")
    expect(rel).to_contain_text("Intensive Care Unit")
    expect(rel).to_contain_text("Nurse ICU 1 (nurse)")  # care team
    expect(rel).to_contain_text("Bedside monitor 3")  # device
    hr_plot = page.locator("[data-chart='hr'] .plot")
    expect(hr_plot.locator("canvas")).to_have_count(1)
    values = "el => el.__trend.data.slice(1).flat().filter(v => v !== null)"
    assert {75, 74, 73, 72, 71} <= set(hr_plot.evaluate(values))
    # zoom: 15 minutes shows only the last reading; 7 days puts several readings in one bucket
    # but its min-max band still spans all five
    span = "(() => { const r = document.querySelector('[data-chart=hr] .plot').__trend.range; return r[1] - r[0] })()"
    page.click("button[data-range='15m']")
    page.wait_for_function(f"{span} <= 901")
    assert hr_plot.evaluate("el => el.__trend.count") == 1
    page.click("button[data-range='7d']")
    page.wait_for_function(f"{span} >= 7 * 86400")
    assert hr_plot.evaluate("el => el.__trend.count") < 5
    assert {75, 71} <= set(hr_plot.evaluate(values))
    page.click("button[data-range='1h']")
    # live: a device reading is appended to the open trend within the 1 Hz flush
    server.vitals(3, hr=117)
    page.wait_for_function(
        "document.querySelector('[data-chart=hr] .plot').__trend.data[1].includes(117)", timeout=5000
    )
    expect(page.locator(".now-strip .v-hr .val")).to_have_text("117")
    page.keyboard.press("Escape")  # back to the ward, focus on the tile we came from
    expect(page).to_have_url(re.compile(r"#/ward/ICU$"))
    wait_ready(page, "ward")
    expect(page.locator("a.tile[data-patient='P003']")).to_be_focused()


def test_charting_saves_to_the_trend_and_shows_inline_errors(page: Any, server: Server) -> None:
    page.goto("/#/patient/P005")
    wait_ready(page, "patient")
    form = page.locator("form.chart-form")
    # one good value, one impossible value: the good one is stored, the bad one is named inline
    page.fill("#cf-hr", "123")
    page.fill("#cf-spo2", "150")
    page.select_option("#cf-acvpu", "A")
    page.fill("#cf-urine", "250")
    page.fill("#cf-note", "Synthetic note: settled, eating well.")
    form.locator("button[type=submit]").click()
    summary = form.locator(".form-summary")
    expect(summary).to_contain_text("need correcting")
    expect(page.locator("#cf-spo2")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#cf-spo2-err")).not_to_be_empty()
    expect(page.locator("#cf-spo2")).to_be_focused()
    expect(page.locator("#cf-hr")).to_have_value("")  # stored, so cleared
    expect(page.locator("#cf-hr")).not_to_have_attribute("aria-invalid", "true")
    # the charted value is on the heart-rate trend
    page.wait_for_function(
        "document.querySelector('[data-chart=hr] .plot').__trend.data.slice(1).flat().includes(123)",
        timeout=5000,
    )
    expect(page.locator("[data-chart='hr'] .latest")).to_contain_text("123")
    hist = server.get("/api/twins/P005/observations?code=hr")
    assert hist[-1]["value"] == 123 and hist[-1]["method"] == "manual"
    urine = server.get("/api/twins/P005/observations?code=urine")
    assert [o["value"] for o in urine] == [250]
    expect(page.locator("[data-fluid-net]")).to_have_text("-250 mL", timeout=5000)
    # correct the error and save again: the form is clean
    page.fill("#cf-spo2", "95")
    form.locator("button[type=submit]").click()
    expect(summary).to_have_text(re.compile(r"^1 saved"))
    expect(page.locator("#cf-spo2")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(".now-strip .v-spo2 .val")).to_have_text("95", timeout=5000)  # via the live feed
    # a medication given appears on the timeline
    page.fill("#cf-drug", "Paracetamol")
    page.fill("#cf-dose", "1")
    page.fill("#cf-dose_unit", "g")
    page.select_option("#cf-route", "oral")
    form.locator("button[type=submit]").click()
    expect(summary).to_have_text(re.compile(r"^1 saved"))
    expect(page.locator("#medications circle.dose")).to_have_count(1, timeout=5000)
    expect(page.locator("#medications summary")).to_have_text("List (1)")
    # a tall viewport rather than full_page, so the sticky top bar stays at the top of the picture
    page.set_viewport_size({"width": 1400, "height": 2200})
    page.screenshot(path=str(ARTIFACTS / "patient_after_charting.png"), animations="disabled")


def test_hospital_map_shows_floors_rooms_and_occupancy(page: Any, server: Server) -> None:
    page.goto("/#/map")
    wait_ready(page, "map")
    floors = page.locator("section.map-floor")
    expect(floors).to_have_count(2)
    expect(floors.first.locator("h2")).to_have_text("Floor 2")  # top floor first
    icu = page.locator("section.map-ward[data-ward='ICU']")
    expect(icu.locator(".occ")).to_have_text("8/8 beds occupied")
    expect(icu.locator(".map-room")).to_have_count(8)
    med = page.locator("section.map-ward[data-ward='MED']")
    expect(med.locator(".map-room")).to_have_count(4)
    expect(med.locator("a.bed-cell")).to_have_count(16)
    med.locator("a.bed-cell[data-patient='P012']").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/patient/P012$"))


def test_keyboard_navigation(page: Any, server: Server) -> None:
    page.goto("/#/ward/ICU")
    wait_ready(page, "ward")
    # Tab reaches the first tile, with a visible focus ring
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('tile')"):
            break
    active = page.evaluate("document.activeElement.dataset.patient")
    assert active == "P001"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineWidth")
    assert float(outline.removesuffix("px")) >= 3
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.patient") == "P002"
    page.keyboard.press("ArrowDown")  # next row, same column
    cols = page.evaluate(
        "(() => { const t = [...document.querySelectorAll('a.tile')]; return t.filter(a => a.offsetTop === t[0].offsetTop).length })()"
    )
    assert page.evaluate("document.activeElement.dataset.patient") == f"P{min(2 + cols, 8):03d}"
    page.keyboard.press("Home")
    page.keyboard.press(" ")  # Space opens a tile, like Enter
    expect(page).to_have_url(re.compile(r"#/patient/P001$"))
    wait_ready(page, "patient")  # the ward is still in the DOM, ready, until the patient replaces it
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"#/ward/ICU$"))
    wait_ready(page, "ward")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help [data-close]")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.locator("body").focus()
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(r"#/alarms$"))
    page.keyboard.press("m")
    expect(page).to_have_url(re.compile(r"#/map$"))
    page.keyboard.press("t")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.keyboard.press("w")
    expect(page).to_have_url(re.compile(r"#/ward/ICU$"))
    wait_ready(page, "ward")
    page.screenshot(path=str(ARTIFACTS / "ward_light_theme.png"))
    # every button and form control has an accessible name
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, select, input, a[href]')].filter(el => {
            if (el.closest('[hidden]')) return false;
            const name = (el.getAttribute('aria-label') || el.textContent || el.title || '').trim();
            const labelled = el.id && document.querySelector(`label[for="${el.id}"]`);
            return !name && !labelled && !el.closest('label');
        }).map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []


def test_navigation_and_vendored_libraries(page: Any, server: Server) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto("/#/imaging")
    expect(page.locator("h1")).to_have_text("Imaging and surgery planning")
    nav = page.locator("nav[aria-label='Main'] a")
    labels = [t.split("\n")[0].strip() for t in nav.all_inner_texts()]
    assert labels == [
        "Ward",
        "Alarms",
        "Map",
        "Treatment",
        "Imaging",
        "Training",
        "Operations",
        "Evacuation",
        "Remote care",
    ]
    expect(page.locator("nav a[data-page='imaging']")).to_have_attribute("aria-current", "page")
    planned = page.locator("nav[aria-label='Main'] a", has_text="(planned)")
    expect(planned).to_have_count(0)
    assert page.evaluate("import('three').then(m => m.REVISION)") == "187"
    assert page.evaluate("import('uplot').then(m => typeof m.default)") == "function"
    page.goto("/#/ward/MED")
    wait_ready(page, "ward")
    expect(page.locator("a.tile")).to_have_count(16)
    outside = [u for u in requests if not u.startswith((server.base, "data:", "ws://127.0.0.1"))]
    assert outside == []
