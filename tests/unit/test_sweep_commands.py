"""The sweep commands end to end (docs/sweeps.md): ``medtwin evac sweep`` and ``medtwin treat compare``
give the same JSON in this process and on a two-process LocalCluster (``--scheduler local:2``); the
scheduler defaults to the setting ``dask_scheduler`` for the three sweep commands; bad input fails
with the field named."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from shapely.geometry import box, mapping
from typer.testing import CliRunner

from medtwin.cli.main import app
from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime
from medtwin.services.treatment.pk import compare_for_twin
from medtwin.services.treatment.repository import TreatmentRepository

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


def test_stored_twin_comparison_on_local_cluster_equals_this_process(tmp_path: Path) -> None:
    with Runtime(Settings.load(db=str(tmp_path / "t.db"), mqtt_enabled=False)) as rt:
        rt.registry.put(Twin("PX", TwinKind.PATIENT, "Synthetic",
                             attributes={"age": 50, "sex": "female", "weight": 65, "height": 165, "scr": 0.9}))  # fmt: skip
        now = rt.clock.now()
        t0 = now - timedelta(hours=20)
        meds = [{"drug": "Gentamicin", "dose": 350, "unit": "mg", "route": "IV", "time": t0.isoformat()}]
        lv = [{"code": "3663-2", "value": 18.0, "time": (t0 + timedelta(minutes=60)).isoformat()}]
        assert (
            not rt.ingestor.ingest(ReadingBatch("lab", "1", lv, subject="PX", medications=meds))
            .result(30)
            .rejected
        )
        repo = TreatmentRepository(rt.store)
        specs = [
            {"dose_mg": 350, "interval_h": 24, "n_doses": 2},
            {"dose_mg": 500, "interval_h": 24, "n_doses": 2},
        ]
        kw = {"now": now, "n": 3000, "seed": 3, "actor": "test"}
        here = compare_for_twin(rt.store, repo, "PX", "gentamicin", specs, **kw)  # type: ignore[arg-type]
        ticks: list[int] = []
        there = compare_for_twin(rt.store, repo, "PX", "gentamicin", specs, scheduler="local:2",
                                 progress=lambda d, n: ticks.append(d), **kw)  # type: ignore[arg-type]  # fmt: skip
    assert here["output"] == there["output"] and here["id"] != there["id"] and ticks[-1] == 2
    assert here["output"]["results"][0]["confidence"]["level"] in ("high", "low")


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
