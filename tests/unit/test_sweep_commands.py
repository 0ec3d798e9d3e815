"""The sweep commands end to end (docs/sweeps.md): ``medtwin evac sweep`` and ``medtwin treat compare``
give the same JSON in this process and on a two-process LocalCluster (``--scheduler local:2``); the
scheduler defaults to the setting ``dask_scheduler`` for the three sweep commands; bad input fails
with the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import box, mapping
from typer.testing import CliRunner

from medtwin.cli.main import app

pytest.importorskip("dask.distributed")
runner = CliRunner()

WARD = {
    "name": "small ward",
    "walkable": mapping(box(0, 0, 20, 10)),
    "exits": [mapping(box(19.5, 4, 20, 6))],
    "agents": [{"position": [2, 2], "class": "ambulant"}, {"position": [3, 8], "class": "walking_aid"},
               {"position": [6, 3], "class": "wheelchair"}, {"position": [5, 5], "class": "staff"}],
}  # fmt: skip
VANCO = ["treat", "compare", "--drug", "vancomycin", "--age", "60", "--weight", "80", "--height", "175", "--sex",
         "male", "--scr", "1.2", "--candidates",
         '[{"dose_mg": 1000, "interval_h": 12, "n_doses": 4}, {"dose_mg": 1500, "interval_h": 12, "n_doses": 4}]',
         "--history", '[{"type": "bolus", "dose_mg": 1000, "at_min": -720, "duration_s": 3600}]',
         "--levels", '[{"at_min": -30, "value": 14}]', "--draws", "2500", "--seed", "4", "--json"]  # fmt: skip


@pytest.fixture
def ward(tmp_path: Path) -> Path:
    p = tmp_path / "ward.json"
    p.write_text(json.dumps(WARD))
    return p


def test_evac_sweep_json_same_in_process_and_on_local_cluster(ward: Path, tmp_path: Path) -> None:
    axes = tmp_path / "axes.json"
    axes.write_text(json.dumps({"alarm_s": [0, 60], "staff_response_s": [30, 120]}))
    args = ["evac", "sweep", str(ward), "--axes", str(axes), "--replications", "2", "--seed", "7", "--json"]
    here = runner.invoke(app, [*args, "--scheduler", ""])
    assert here.exit_code == 0, here.output
    there = runner.invoke(app, [*args, "--scheduler", "local:2"])
    assert there.exit_code == 0, there.output
    assert here.stdout == there.stdout
    res = json.loads(here.stdout)
    assert res["tasks"] == 8 and res["rows"][0]["label"] == "alarm_s=0, staff_response_s=30"
    rows = {r["label"]: r for r in res["rows"]}
    late, early = rows["alarm_s=60, staff_response_s=120"], rows["alarm_s=0, staff_response_s=30"]
    assert late["rset_mean_s"] > early["rset_mean_s"] + 60 and all(r["completed"] == 2 for r in res["rows"])
    assert len({run["rset_s"] for run in early["runs"]}) == 2  # replications differ by their seeds
    inline = runner.invoke(app, [*args[:3], "--axes", axes.read_text(), *args[5:]])  # JSON text, not a file
    assert inline.exit_code == 0 and inline.stdout == here.stdout
    table = runner.invoke(app, args[:-1])
    assert table.exit_code == 0 and "alarm_s=60" in table.stdout and "2/2" in table.stdout


@pytest.mark.parametrize(
    ("axes", "field"),
    [
        ('{"alarm_s": [0], "wind": [1]}', "axes"),
        ('{"alarm_s": ["soon"]}', "axes.alarm_s"),
        ('{"alarm_s": []}', "axes.alarm_s"),
        ('{"variants": [{"name": "x", "changes": {"extra_exit": "demo"}}]}', "axes.variants"),
        ("{not json", "axes"),
        ("missing.json", "axes"),
    ],
)
def test_evac_sweep_errors_name_the_field(ward: Path, axes: str, field: str) -> None:
    r = runner.invoke(app, ["evac", "sweep", str(ward), "--axes", axes, "--scheduler", ""])
    assert r.exit_code == 2 and f"error: {field}:" in r.stderr, r.output


def test_treat_compare_on_local_cluster_equals_this_process() -> None:
    here = runner.invoke(app, [*VANCO, "--scheduler", ""])
    assert here.exit_code == 0, here.output
    there = runner.invoke(app, [*VANCO, "--scheduler", "local:2"])
    assert there.exit_code == 0, there.output
    assert here.stdout == there.stdout  # probabilities, quantiles, curves, confidence and the suggestion
    cmp = json.loads(here.stdout)["comparison"]
    assert cmp["settings"]["n"] == 2500 and cmp["suggestion"]["grid"]
    assert (
        cmp["results"][0]["confidence"]["level"] in ("high", "low") and cmp["results"][0]["curves"]["cp_p50"]
    )
    r = runner.invoke(app, [*VANCO[:-5], "--draws", "50000", "--json", "--scheduler", ""])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["field"] == "n"


def test_scheduler_defaults_to_the_setting(ward: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "medtwin.toml"
    cfg.write_text('[medtwin]\ndask_scheduler = "udp://nowhere"\n')
    env = {"MEDTWIN_CONFIG": str(cfg), "MEDTWIN_DASK_SCHEDULER": None}
    ev = runner.invoke(app, ["evac", "sweep", str(ward), "--axes", '{"alarm_s": [0]}'], env=env)
    assert ev.exit_code == 2 and "error: scheduler:" in ev.stderr
    tr = runner.invoke(app, VANCO, env=env)
    assert tr.exit_code == 2 and json.loads(tr.stdout)["error"]["field"] == "scheduler"
    fl = runner.invoke(app, ["flow", "simulate", "--baseline", str(ward), "--json"], env=env)
    assert fl.exit_code == 1 and json.loads(fl.stdout)["error"]["field"] == "scheduler"
    env["MEDTWIN_DASK_SCHEDULER"] = "local:0"  # the environment variable wins over the file
    tr = runner.invoke(app, VANCO, env=env)
    assert tr.exit_code == 2 and "local:N" in json.loads(tr.stdout)["error"]["reason"]
    ok = runner.invoke(app, ["evac", "sweep", str(ward), "--axes", '{"alarm_s": [0]}', "--replications", "1",
                             "--scheduler", "", "--json"], env=env)  # fmt: skip
    assert ok.exit_code == 0 and json.loads(ok.stdout)["tasks"] == 1
