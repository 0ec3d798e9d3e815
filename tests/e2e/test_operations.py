"""The operations page in a real browser (issue 9, "Done when": an operations manager can see the
three worst bottlenecks and the walking waste, and compare two what-if plans with confidence
intervals, from the dashboard).

A small synthetic outpatient log (about ten days, 150 patients a day, the pharmacy two people short
at lunchtime) is generated through the API. The operations manager analyses it on the page, which
must show the same three worst bottlenecks and walking-waste figures as the API's stored result,
then compares two plans (a payment kiosk, a lunchtime pharmacist) and sees every figure as
``mean [lo, hi]`` equal to the API's JSON for that run. Bad input is refused naming the field (an
unknown plan section, a file type the server does not read, a log with an end before its start);
a ward nurse is told the page is not for her role. The main test runs under the real
Content-Security-Policy and checks that no request leaves the server (no CDN).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import E2E_PASSWORD, STAFF, Server, login, login_under_csp, watch

pytestmark = pytest.mark.e2e

OPS = "ops-e2e"
LOG = "e2e-clinic.parquet"
NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
CI = re.compile(r"^-?\d+\.\d\d \[-?\d+\.\d\d, -?\d+\.\d\d\]( \*)?$")


def _job(server: Server, job: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = server.get(f"/api/operations/jobs/{job['id']}")
        if j["state"] in ("done", "failed"):
            return dict(j)
        time.sleep(0.3)
    raise AssertionError(f"job {job['id']} did not finish")


def _seed(server: Server) -> None:
    """The operations manager's account and a small generated log (idempotent: shared server)."""
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for

    acc = security_for(server.runtime).accounts
    if acc.get_user(OPS) is None:
        acc.add_user(OPS, Role.OPERATIONS, E2E_PASSWORD, name="Operations manager")
    if any(x["name"] == LOG for x in server.get("/api/operations/logs")):
        return
    body = {"name": LOG, "years": 0.03, "patients_per_day": 150, "seed": 7,
            "bottlenecks": ["Pharmacy:staff-2@11-14"]}  # fmt: skip
    status, job = server.request("POST", "/api/operations/generate", body)
    assert status == 202, job
    j = _job(server, job)
    assert j["state"] == "done", j
    assert j["output"]["events"] > 5000, j["output"]


def _nums(text: str) -> list[float]:
    return [float(x.replace(",", "")) for x in NUM.findall(text)]


def _close(shown: list[float], expected: list[float], tol: float = 0.0051) -> bool:
    return len(shown) == len(expected) and all(
        abs(a - b) <= tol for a, b in zip(shown, expected, strict=True)
    )


def _ci(d: dict[str, Any]) -> list[float]:
    return [d["mean"], *d["ci95"]]


def _ready(pg: Any) -> None:
    pg.locator(".page[data-page='operations'][data-ready='1']").wait_for(timeout=20000)


def test_operations_bottlenecks_walking_and_two_plans_under_csp(browser: Any, server: Server) -> None:
    _seed(server)
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.base)  # real CSP
    try:
        pg = ctx.new_page()
        errors, foreign = watch(pg, server.base)
        login_under_csp(pg, OPS)
        pg.goto("/#/operations")
        _ready(pg)
        expect(pg.locator("h1")).to_have_text("Hospital operations")

        # analyse the log on the page: a new stored run, opened
        n_runs = len(server.get("/api/operations/runs?kind=analysis"))
        pg.select_option("#ops-log", LOG)
        pg.get_by_role("button", name="Analyse").click()
        expect(pg.locator("#ops-run option")).to_have_count(n_runs + 1, timeout=90000)
        status = pg.locator("p.ops-status")
        expect(status).to_have_text(f"Showing the analysis of {LOG}.", timeout=30000)
        run = server.get("/api/operations/runs?kind=analysis")[0]
        assert run["log"] == LOG and run["actor"] == f"user:{OPS}"
        a = server.get(f"/api/operations/runs/{run['id']}")["result"]

        # the three worst bottlenecks, as the API ranks them, with their figures
        worst = pg.locator("ol.ops-worst li.ops-card")
        expect(worst).to_have_count(3)
        for i, b in enumerate(a["bottlenecks"][:3]):
            card = worst.nth(i)
            expect(card).to_have_attribute("data-bottleneck", b["activity"])
            expect(card.locator("h3")).to_have_text(b["activity"])
            assert _close(_nums(card.locator("b").inner_text()), [b["score_h"]], 6e-4)
            shown = _nums(card.locator("p").inner_text())
            assert _close(shown, [round(b["share"] * 100, 1), b["wait_mean_min"], 90, b["wait_p90_min"], b["peak_wait_hour"], 0], 0.051), shown  # fmt: skip
        assert (
            a["bottlenecks"][0]["score_h"] >= a["bottlenecks"][1]["score_h"] >= a["bottlenecks"][2]["score_h"]
        )

        # walking waste: per journey, per year, and the worst steps
        w = a["walking"]
        assert w and w["metres_per_journey_mean"] > 0
        walk = pg.locator("section.panel", has=pg.locator("h2", has_text="Walking waste"))
        kpi = walk.locator(".ops-kpi", has=pg.locator("span", has_text="Per journey")).locator("b")
        assert _close(
            _nums(kpi.inner_text()), [w["metres_per_journey_mean"], 90, w["metres_per_journey_p90"]], 1e-9
        )
        per_year = walk.locator(".ops-kpi", has=pg.locator("span", has_text="Per year")).locator("b")
        assert _close(_nums(per_year.inner_text()), [w["km_per_year"]], 6e-4)
        steps = walk.locator("table.data tbody tr")
        expect(steps).to_have_count(min(6, len(w["top_transitions"])))
        t0 = w["top_transitions"][0]
        expect(steps.first.locator("td").first).to_have_text(f"{t0['from']} → {t0['to']}")
        assert _close(_nums(steps.first.locator("td").nth(1).inner_text()), [t0["steps"]], 1e-9)
        # the report's figures, as inline SVG (under the CSP: no inline-style violations)
        expect(pg.locator("figure.ops-fig svg")).to_have_count(4, timeout=20000)

        # what-if: an unknown plan section is refused naming it
        expect(pg.locator("#ops-plan-1")).to_be_visible(timeout=15000)
        pg.fill("#ops-reps", "3")
        pg.fill("#ops-days", "1")
        pg.select_option("#ops-ex-0", label="Payment kiosk in the entrance hall")
        expect(pg.locator("#ops-plan-0")).to_have_value(re.compile("kiosks:"))
        pg.fill("#ops-plan-1", "name: Broken plan\nstafff:\n  - pool: Pharmacy\n    add: 1\n")
        run_btn = pg.get_by_role("button", name="Run and compare")
        run_btn.click()
        expect(status).to_contain_text("plans[1].stafff", timeout=15000)
        expect(status).to_contain_text("unknown section")
        expect(status).to_have_attribute("data-kind", "error")

        # two plans compared with the baseline, with paired 95 % confidence intervals
        pg.select_option("#ops-ex-1", label="Lunchtime pharmacist")
        expect(pg.locator("#ops-plan-1")).to_have_value(re.compile("pool: Pharmacy"))
        run_btn.click()
        table = pg.locator("table.ops-cmp")
        expect(table).to_be_visible(timeout=120000)
        expect(status).to_have_text("What-if comparison ready.")
        sim_run = server.get("/api/operations/runs?kind=simulation")[0]
        assert sim_run["params"]["replications"] == 3 and sim_run["params"]["days"] == 1
        assert sim_run["log"] == LOG and sim_run["actor"] == f"user:{OPS}"
        r = server.get(f"/api/operations/runs/{sim_run['id']}")["result"]
        names = [p["name"] for p in r["plans"]]
        assert names == ["Payment kiosk in the entrance hall", "Lunchtime pharmacist"]
        heads = table.locator("thead th").all_text_contents()
        assert heads == [
            "Measure",
            "Baseline",
            names[0],
            "Difference [95 % CI]",
            names[1],
            "Difference [95 % CI]",
        ]
        rows = {tr.locator("td").first.inner_text(): tr.locator("td").all_inner_texts() for tr in table.locator("tbody tr").all()}  # fmt: skip
        for label, key in (
            ("Journey time (min)", "journey_min"),
            ("Walking per journey (m)", "metres_per_journey"),
        ):
            cells = rows[label][1:]
            assert all(CI.match(c) for c in cells), cells
            expected = [r["baseline"][key]] + [
                x for p in r["plans"] for x in (p["metrics"][key], p["vs_baseline"][key])
            ]
            for cell, exp in zip(cells, expected, strict=True):
                assert _close(_nums(cell), _ci(exp)), (label, cell, exp)
                assert cell.endswith(" *") == bool(exp.get("significant")), (label, cell, exp)
        for label, cells in rows.items():  # a stage's wait is listed when a plan changes it significantly
            if label.startswith("Wait: "):
                stage = label.removeprefix("Wait: ").removesuffix(" (min)")
                assert any(p["vs_baseline"]["stages"][stage]["significant"] for p in r["plans"]), label
                assert _close(_nums(cells[1]), _ci(r["baseline"]["stages"][stage]["wait_min"]))
        v = r["validation"]
        expect(pg.locator(".ops-compare [data-validation]")).to_have_attribute("data-validation", f"{v['passed']}/{v['total']}")  # fmt: skip
        expect(pg.locator(".ops-compare figure.ops-fig svg")).to_have_count(2, timeout=20000)
        pg.screenshot(path="test-artifacts/operations_whatif.png", full_page=True)

        violations = [e for e in errors if "Content Security Policy" in e or "Refused to" in e]
        assert not violations, violations
        assert not [e for e in errors if "Failed to load resource" not in e], errors  # the 422 is logged
        assert not foreign, foreign
    finally:
        ctx.close()


def test_operations_bad_uploads_name_the_field(context: Any, server: Server) -> None:
    _seed(server)
    pg = context.new_page()
    errors, foreign = watch(pg, server.base)
    login(pg, OPS)
    pg.goto("/#/operations")
    _ready(pg)
    status = pg.locator("p.ops-status")
    # a file type the server does not read
    pg.set_input_files(
        "#ops-file", files=[{"name": "notes.pdf", "mimeType": "application/pdf", "buffer": b"hello"}]
    )
    pg.get_by_role("button", name="Upload", exact=True).click()
    expect(status).to_contain_text("name: unsupported extension", timeout=15000)
    expect(status).to_have_attribute("data-kind", "error")
    # a log whose second event ends before it starts: uploaded, then refused by the analysis
    csv = (
        b"case_id,activity,start,end\n"
        b"1,Registration,2024-01-08 08:00,2024-01-08 08:05\n"
        b"1,Payment,2024-01-08 08:20,2024-01-08 08:10\n"
    )
    # an earlier upload of the same name broke off after its first chunk: a new upload starts over
    status_, body = server.request("PUT", "/api/operations/logs/bad-e2e.csv?offset=0", "broken off")
    assert status_ == 200 and body["complete"] is False, body
    pg.set_input_files("#ops-file", files=[{"name": "bad-e2e.csv", "mimeType": "text/csv", "buffer": csv}])
    pg.get_by_role("button", name="Upload", exact=True).click()
    expect(status).to_have_text("Uploaded bad-e2e.csv.", timeout=15000)
    expect(pg.locator("#ops-log")).to_have_value("bad-e2e.csv")
    assert any(
        x["name"] == "bad-e2e.csv" and x["bytes"] == len(csv) for x in server.get("/api/operations/logs")
    )
    pg.get_by_role("button", name="Analyse").click()
    expect(status).to_contain_text("end: ", timeout=60000)
    expect(status).to_contain_text("end before start")
    expect(status).to_have_attribute("data-kind", "error")
    assert not [e for e in errors if "Failed to load resource" not in e], errors
    assert not foreign, foreign


def test_operations_page_refuses_a_ward_nurse(context: Any, server: Server) -> None:
    _seed(server)
    pg = context.new_page()
    errors, foreign = watch(pg, server.base)
    login(pg, STAFF)
    pg.goto("/#/operations")
    _ready(pg)
    expect(pg.locator("p.ops-status")).to_have_text(
        "Operations analytics need the operations manager or admin role."
    )
    expect(pg.locator("p.ops-status")).to_have_attribute("data-kind", "error")
    expect(pg.locator("#ops-log option")).to_have_count(0)
    expect(pg.locator("ol.ops-worst")).to_have_count(0)
    assert LOG not in pg.locator("main").inner_text()
    assert not [e for e in errors if "Failed to load resource" not in e], errors
    assert not foreign, foreign
