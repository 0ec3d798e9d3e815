"""``medtwin pk simulate`` and ``medtwin treat ...`` through the real CLI entry point."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medtwin.cli.main import app
from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime

runner = CliRunner()
PROPOFOL = ["pk", "simulate", "--drug", "propofol", "--model", "schnider", "--age", "40", "--weight", "70",
            "--height", "170", "--sex", "male"]  # fmt: skip


def test_pk_simulate_json_shape_and_values() -> None:
    reg = [
        {"type": "bolus", "dose_mg": 140, "at_min": 0, "duration_s": 0},
        {"type": "infusion", "rate_mg_per_h": 600, "start_min": 0, "end_min": 60},
    ]
    r = runner.invoke(app, [*PROPOFOL, "--regimen", json.dumps(reg), "--times", "1,2,5", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) == {"t_min", "cp", "ce"} and out["t_min"] == [1, 2, 5]
    assert out["cp"][0] > out["cp"][2] > 0 and out["ce"][0] < out["cp"][0]
    # no effect site: ce absent
    v = ["pk", "simulate", "--drug", "vancomycin", "--age", "60", "--weight", "80", "--height", "175", "--sex", "female",
         "--scr", "1.0", "--regimen", '[{"type": "infusion", "rate_mg_per_h": 1000, "start_min": 0, "end_min": 60}]',
         "--times", "60", "--json"]  # fmt: skip
    out = json.loads(runner.invoke(app, v).output)
    assert set(out) == {"t_min", "cp"} and 10 < out["cp"][0] < 25


def test_pk_simulate_errors_name_the_field() -> None:
    r = runner.invoke(app, [*PROPOFOL[:-1], "other", "--regimen", "[]", "--times", "1", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["field"] == "sex"
    r = runner.invoke(app, [*PROPOFOL, "--regimen", "[{", "--times", "1", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["field"] == "regimen"


def test_treat_compare_offline_json() -> None:
    cands = [
        {"dose_mg": 1000, "interval_h": 12, "n_doses": 4},
        {"dose_mg": 2000, "interval_h": 12, "n_doses": 4},
    ]
    args = ["treat", "compare", "--drug", "vancomycin", "--age", "60", "--weight", "80", "--height", "175", "--sex",
            "male", "--scr", "1.2", "--candidates", json.dumps(cands), "--n", "200", "--json"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    cmp = json.loads(r.output)["comparison"]
    assert cmp["ranking"][0] == "1000 mg q12h x4" and cmp["suggestion"]["dose_mg"] is not None
    human = runner.invoke(app, args[:-1])
    assert human.exit_code == 0 and "Ranked" in human.output


def test_treat_compare_stored_patient(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    with Runtime(Settings.load(db=db, mqtt_enabled=False)) as rt:
        rt.registry.put(
            Twin(
                "PX",
                TwinKind.PATIENT,
                "Synthetic",
                attributes={"age": 50, "sex": "female", "weight": 65, "height": 165, "scr": 0.9},
            )
        )
        t0 = rt.clock.now() - timedelta(hours=20)
        meds = [{"drug": "Gentamicin", "dose": 350, "unit": "mg", "route": "IV", "time": t0.isoformat()}]
        lv = [{"code": "3663-2", "value": 18.0, "time": (t0 + timedelta(minutes=60)).isoformat()}]
        res = rt.ingestor.ingest(ReadingBatch("lab", "1", lv, subject="PX", medications=meds)).result(30)
        assert not res.rejected
    r = runner.invoke(app, ["treat", "compare", "--drug", "gentamicin", "--patient", "PX", "--db", db, "--n", "200",
                            "--candidates", '[{"dose_mg": 350, "interval_h": 24, "n_doses": 2}]', "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (
        out["run_id"]
        and out["fit_id"]
        and out["comparison"]["results"][0]["confidence"]["level"] in ("high", "low")
    )
    r = runner.invoke(app, ["treat", "fit", "--drug", "gentamicin", "--patient", "PX", "--db", db, "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["fit"]["n_levels"] == 1


@pytest.mark.parametrize("as_json", [True, False])
def test_treat_glucose_virtual(as_json: bool) -> None:
    args = ["treat", "glucose", "--virtual", "adult#002", "--hours", "6", "--meals", '[{"time_h": 1, "grams": 60}]',
            "--candidates", '[{"label": "usual"}, {"label": "x2", "bolus_scale": 2}]']  # fmt: skip
    r = runner.invoke(app, args + (["--json"] if as_json else []))
    assert r.exit_code == 0, r.output
    if as_json:
        rows = json.loads(r.output)
        assert [x["label"] for x in rows] == ["usual", "x2"] and rows[1]["metrics"]["mean"] < rows[0][
            "metrics"
        ]["mean"]
    else:
        assert "TIR" in r.output
