"""``medtwin training ...`` (issue 12): a synthetic case, a scripted session with its score, the
library, export/import, the cohort, errors naming the field, and the virtual patient on its own."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medtwin.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, ["training", *args])
    return r.exit_code, r.output


def test_new_play_cohort_export_import(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    code, out = run("new", "--condition", "opioid_overdose", "--publish", "--db", db, "--json")
    assert code == 0, out
    case = json.loads(out)
    assert case["status"] == "published" and case["diagnosis"]["code"] == "T40.4"
    script = json.dumps([
        {"t": 1, "action": {"kind": "ventilate", "on": 1}}, {"t": 2, "action": {"kind": "naloxone", "dose": 0.4}},
        {"t": 2, "order": "capillary_glucose"}, {"t": 3, "action": {"kind": "oxygen", "device": "nasal_cannula", "flow": 2}},
    ])  # fmt: skip
    code, out = run("play", case["id"], "--diagnosis", "T40.4", "--script", script, "--db", db, "--json")
    assert code == 0, out
    rep = json.loads(out)
    assert rep["parts"]["diagnosis"] == 100 and rep["parts"]["management"] == 100
    assert {a["kind"] for a in rep["feedback"]["your_actions"]} == {"action", "order"}
    code, out = run("cohort", case["id"], "--db", db)
    assert code == 0 and json.loads(out)["n"] == 1
    code, out = run("cases", "--db", db, "--json")
    assert [c["id"] for c in json.loads(out)] == [case["id"]]
    exported = tmp_path / "case.json"
    assert run("export", case["id"], "--out", str(exported), "--db", db)[0] == 0
    code, out = run("import", str(exported), "--db", db)
    assert code == 0 and out.strip() != case["id"]
    code, out = run("replay", rep["session"]["id"], "--db", db)
    assert code == 0 and json.loads(out)["steps"]


def test_errors_name_the_field(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    code, out = run("new", "--condition", "gout", "--db", db, "--json")
    assert code == 2 and json.loads(out)["error"]["field"] == "condition"
    case = json.loads(run("new", "--condition", "sepsis", "--db", db, "--json")[1])
    code, out = run("edit", case["id"], "--patch", '{"difficulty": "impossible"}', "--db", db)
    assert code == 2 and "difficulty" in out
    code, out = run(
        "play", case["id"], "--diagnosis", "A41.9", "--db", db, "--json"
    )  # a draft: not for trainees
    assert code == 2 and json.loads(out)["error"]["field"] == "case_id"


def test_simulate_alone() -> None:
    code, out = run("simulate", "--condition", "haemorrhage", "--minutes", "20", "--actions",
                    '[{"t": 1, "kind": "transfusion", "units": 1}]', "--json")  # fmt: skip
    assert code == 0, out
    rows = json.loads(out)
    assert len(rows) == 21 and rows[-1]["state"]["red_cells_ml"] == 280  # one unit over 15 min


def test_library_filters_sessions_and_model_choices(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    opioid = json.loads(run("new", "--condition", "opioid_overdose", "--publish", "--db", db, "--json")[1])
    sepsis = json.loads(run("new", "--condition", "sepsis", "--db", db, "--json")[1])
    assert run("edit", sepsis["id"], "--patch", '{"tags": ["Urology", "sepsis"]}', "--db", db)[0] == 0
    code, out = run("cases", "--tag", "urology", "--db", db, "--json")
    assert code == 0 and [c["id"] for c in json.loads(out)] == [sepsis["id"]]  # tags match case-insensitively
    code, out = run(
        "cases", "--specialty", opioid["specialty"], "--status", "published", "--db", db, "--json"
    )
    assert [c["id"] for c in json.loads(out)] == [opioid["id"]]
    code, out = run("play", opioid["id"], "--diagnosis", "T40.4", "--db", db, "--json")
    sid = json.loads(out)["session"]["id"]
    code, out = run("sessions", "--case", opioid["id"], "--db", db, "--json")
    assert code == 0 and [s["id"] for s in json.loads(out)] == [sid]
    assert run("sessions", "--case", sepsis["id"], "--db", db, "--json")[1].strip() == "[]"
    code, out = run("simulate", "--condition", "respiratory_failure", "--minutes", "5", "--json", "--params",
                    '{"reservoir_fio2": 0.9}', "--actions", '[{"t": 1, "kind": "oxygen", "device": "reservoir_mask", "flow": 15}]')  # fmt: skip
    assert code == 0 and json.loads(out)[-1]["fio2"] == 0.9
    code, out = run("simulate", "--condition", "sepsis", "--json", "--params", '{"reservoir_fio2": 0.99}')
    assert code == 2 and json.loads(out)["error"]["field"] == "params.reservoir_fio2"
