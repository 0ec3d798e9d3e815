"""``medtwin flow`` commands: exact station JSON, analyze/simulate JSON and reports, errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medtwin.cli.main import app
from medtwin.services.operations.buildings import DATA
from tests.unit.flow_helpers import clinic_log

runner = CliRunner()


def test_station_json_is_exactly_the_documented_shape() -> None:
    r = runner.invoke(
        app,
        [
            "flow",
            "station",
            "--arrivals-per-hour",
            "10",
            "--service-minutes",
            "15",
            "--servers",
            "3",
            "--patients",
            "3000",
            "--seed",
            "4",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert list(d) == ["analytic", "simulated"]
    assert list(d["analytic"]) == ["wait_minutes", "p_wait", "utilisation"]
    assert list(d["simulated"])[:2] == ["wait_minutes", "ci95"]
    assert d["analytic"] == {"wait_minutes": 21.0674, "p_wait": 0.702247, "utilisation": 0.833333}
    lo, hi = d["simulated"]["ci95"]
    assert lo < d["simulated"]["wait_minutes"] < hi
    bad = runner.invoke(
        app, ["flow", "station", "--arrivals-per-hour", "10", "--service-minutes", "15", "--servers", "0"]
    )
    assert bad.exit_code == 2


def test_generate_analyze_report_and_convert(tmp_path: Path) -> None:
    out = tmp_path / "g.csv"
    r = runner.invoke(
        app,
        [
            "flow",
            "generate",
            "--years",
            "0.02",
            "--patients-per-day",
            "120",
            "--seed",
            "9",
            "--bottleneck",
            "Payment:staff-3@9-12",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    g = json.loads(r.stdout)
    assert g["events"] > 1000 and Path(g["meta"]).exists()
    rep = tmp_path / "r.html"
    r = runner.invoke(app, ["flow", "analyze", str(out), "--json", "--report", str(rep)])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)
    assert a["bottlenecks"][0]["activity"] in (
        "Payment",
        "Internal medicine consultation",
        "Cardiology consultation",
    )
    assert a["walking"]["metres_per_journey_mean"] > 100 and a["building_source"] == "log sidecar"
    html = rep.read_text()
    assert html.count("<svg") >= 5 and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    x = tmp_path / "g.xes"
    r = runner.invoke(app, ["flow", "convert", str(out), str(x), "--to", "xes"])
    assert r.exit_code == 0 and x.stat().st_size > 0
    r = runner.invoke(app, ["flow", "analyze", str(x), "--json", "--building", str(DATA / "building.yaml")])
    assert json.loads(r.stdout)["summary"]["events"] == a["summary"]["events"]
    r = runner.invoke(app, ["flow", "analyze", str(out)])
    assert r.exit_code == 0 and "Worst bottlenecks" in r.stdout


def test_errors_exit_1_with_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("case,activity,t0,t1\n1,A,2021-01-04 08:00,2021-01-04 08:05\n")
    r = runner.invoke(
        app, ["flow", "analyze", str(bad), "--json", "--case-col", "case", "--start-col", "begin"]
    )
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["field"] == "mapping.start" and "t0" in err["reason"]
    r = runner.invoke(
        app,
        [
            "flow",
            "analyze",
            str(bad),
            "--case-col",
            "case",
            "--activity-col",
            "activity",
            "--start-col",
            "t0",
            "--end-col",
            "t1",
            "--json",
        ],
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["summary"]["cases"] == 1
    plan = tmp_path / "p.yaml"
    plan.write_text("staff: [{pool: Nowhere, add: 1}]\n")
    r = runner.invoke(
        app,
        [
            "flow",
            "simulate",
            "--baseline",
            str(clinic_log()),
            "--what-if",
            str(plan),
            "--replications",
            "2",
            "--days",
            "1",
            "--json",
        ],
    )
    assert r.exit_code == 1 and json.loads(r.stdout)["error"]["field"] == "plans[0].staff[0].pool"


def test_simulate_json(tmp_path: Path) -> None:
    plan = tmp_path / "lunch.yaml"
    plan.write_text("name: lunch\nstaff: [{pool: Pharmacy, hours: [11, 14], add: 1}]\n")
    rep = tmp_path / "w.html"
    r = runner.invoke(
        app,
        [
            "flow",
            "simulate",
            "--baseline",
            str(clinic_log()),
            "--what-if",
            str(plan),
            "--replications",
            "3",
            "--days",
            "3",
            "--workers",
            "2",
            "--json",
            "--report",
            str(rep),
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["validation"]["little_ok"] and d["plans"][0]["name"] == "lunch"
    ph = d["plans"][0]["vs_baseline"]["stages"]["Pharmacy"]
    assert ph["mean"] <= 0 and len(ph["ci95"]) == 2
    assert len(d["bottlenecks"]) == 3 and "analysis" not in d
    assert "What-if: lunch" in rep.read_text()


def test_discover_without_the_optional_extra_says_how_to_install(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from medtwin.services.operations import pm4py_adapter

    monkeypatch.setattr(pm4py_adapter, "available", lambda: False)
    r = runner.invoke(app, ["flow", "discover", str(clinic_log()), "--json"])
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["field"] == "pm4py" and "medtwin[process-mining]" in err["reason"] and "AGPL" in err["reason"]
