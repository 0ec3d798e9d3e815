"""Alarms in the browser: IEC 60601-1-8 colours and flashing on the ward, the alarm list sorted by
priority and age, acknowledge / pause / escalate from the patient page and the list, and the new
state showing everywhere live.

These need the alarm service and its router (medtwin.api.monitoring, issue 3); they skip with
that reason on a build without it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, Server, login, wait_ready

pytestmark = pytest.mark.e2e

FLASH = "el => { const s = getComputedStyle(el, '::before'); return [s.animationName, s.animationDuration] }"
FRAME = "el => { const s = getComputedStyle(el, '::after'); return [s.animationName, s.borderTopColor] }"


def test_acknowledge_changes_the_state_everywhere(context: Any, page: Any, server: Server) -> None:
    page.goto("/#/ward/ICU")
    wait_ready(page, "ward")
    listing = context.new_page()
    login(listing)
    listing.goto("/#/alarms")
    wait_ready(listing, "alarms")
    # bed 7 desaturates for 20 s: a high-priority, latched SpO2 alarm
    server.sustained(7, hr=80, spo2=84)
    alarm = server.wait_alarm("P007", "spo2_low")
    assert alarm["priority"] == "high"
    tile = page.locator("a.tile[data-patient='P007']")
    expect(tile).to_have_attribute("data-alarm", "high", timeout=5000)
    expect(tile).to_have_attribute("data-alarm-state", "active")
    expect(tile.locator(".alarm-strip")).to_contain_text("HIGH")
    # IEC 60601-1-8 Table 2: red, flashing at 1.4-2.8 Hz (0.5 s period = 2 Hz) with a 50 % duty cycle
    assert tile.locator(".alarm-strip").evaluate(FLASH) == ["iec-flash", "0.5s"]
    assert tile.evaluate(FRAME) == ["iec-flash", "rgb(224, 22, 43)"]
    expect(tile.locator(".v-spo2 .val")).to_have_text("84")
    expect(page.locator("#alarm-badge")).to_be_visible(timeout=20000)
    # (flashing paused at its "on" phase for a stable picture)
    page.screenshot(path=str(ARTIFACTS / "ward_high_alarm.png"), animations="disabled")
    row = listing.locator(f"tr[data-alarm-id='{alarm['id']}']")
    expect(row).to_have_attribute("data-state", "active", timeout=5000)

    # acknowledge from the patient page
    detail = context.new_page()
    login(detail)
    detail.goto("/#/patient/P007")
    wait_ready(detail, "patient")
    item = detail.locator(f".alarm-item[data-alarm-id='{alarm['id']}']")
    expect(item).to_contain_text("SpO")
    item.locator("button[data-action='acknowledge']").click()
    expect(item).to_have_attribute("data-state", "acknowledged")
    expect(item.locator("button[data-action='acknowledge']")).to_be_disabled()
    # ... and the other pages follow over their live feeds
    expect(tile).to_have_attribute("data-alarm-state", "acknowledged", timeout=5000)
    assert tile.locator(".alarm-strip").evaluate(FLASH)[0] == "none"  # steady once acknowledged
    expect(tile.locator(".a-state")).to_have_text("acknowledged")
    expect(row).to_have_attribute("data-state", "acknowledged", timeout=5000)
    expect(row).to_contain_text("acknowledged by ICU-nurse-1")
    got = server.get(f"/api/alarms/{alarm['id']}")
    assert got["state"] == "acknowledged" and got["acknowledged_by"] == "ICU-nurse-1"
    detail.close()
    listing.close()


def test_alarm_list_sorted_with_pause_and_escalate(context: Any, page: Any, server: Server) -> None:
    # bed 8: heart rate above 120 for 20 s (medium); bed 1: desaturation (high), raised later
    server.sustained(8, hr=126, spo2=97)
    medium = server.wait_alarm("P008", "hr_high")
    server.sustained(1, hr=80, spo2=83)
    high = server.wait_alarm("P001", "spo2_low")
    assert (medium["priority"], high["priority"]) == ("medium", "high")
    page.goto("/#/alarms/ICU")
    wait_ready(page, "alarms")
    rows = page.locator("#alarm-table tbody tr[data-alarm-id]")
    expect(rows.first).to_be_visible()
    prios = rows.evaluate_all("rs => rs.map(r => r.dataset.priority)")
    rank = {"high": 0, "medium": 1, "low": 2}
    assert prios == sorted(prios, key=rank.__getitem__), prios  # high before medium, even if younger
    ids = rows.evaluate_all("rs => rs.map(r => r.dataset.alarmId)")
    assert ids.index(high["id"]) < ids.index(medium["id"])
    # medium: yellow, flashing at 0.4-0.8 Hz (1.6 s = 0.625 Hz)
    chip = page.locator(f"tr[data-alarm-id='{medium['id']}'] .prio")
    assert chip.evaluate(FLASH) == ["iec-flash", "1.6s"]
    ward = context.new_page()
    login(ward)
    ward.goto("/#/ward/ICU")
    wait_ready(ward, "ward")
    tile = ward.locator("a.tile[data-patient='P008']")
    expect(tile).to_have_attribute("data-alarm", "medium")
    assert tile.locator(".alarm-strip").evaluate(FLASH) == ["iec-flash", "1.6s"]

    row = page.locator(f"tr[data-alarm-id='{medium['id']}']")
    row.locator("button[data-action='escalate']").click()
    expect(row.locator("td").nth(7)).to_have_text(re.compile(r"^Level 1"), timeout=5000)
    row.locator("button[data-action='pause']").click()
    expect(row).to_have_attribute("data-state", "paused", timeout=5000)
    expect(row.locator(".state")).to_contain_text("paused until")
    expect(tile).to_have_attribute("data-alarm-state", "paused", timeout=5000)
    expect(tile.locator(".a-state")).to_contain_text("esc. L1")
    page.screenshot(path=str(ARTIFACTS / "alarm_list.png"))
    # the ward filter: the MED ward has none of these
    page.select_option("#alarm-ward", "MED")
    expect(page).to_have_url(re.compile(r"#/alarms/MED$"))
    wait_ready(page)
    expect(page.locator(f"tr[data-alarm-id='{medium['id']}']")).to_have_count(0)
    ward.close()
