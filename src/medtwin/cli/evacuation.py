"""``medtwin evac ...``: evacuation of the building twin (issue 10, docs/evacuation.md).

* ``run SCENARIO.json [--json] [--replay out.sqlite]``: the minimal form (walkable area, exits,
  agents) needs nothing else; scenarios naming a stored ``building`` or a ``census`` use the
  database (``--db``). JSON result: ``evacuation_time_s`` (null when anybody could not get out),
  ``agents`` (``exit_time_s`` per agent, in input order), ``stuck`` and the full report.
* ``import PLAN`` a GeoJSON, LAS/LAZ or IFC plan to GeoJSON (``--out``) and/or the store;
* ``demo`` the demo hospital's night or day census through a fire; ``compare`` variants;
* ``sweep SCENARIO.json --axes JSON|FILE [--replications 3 --seed 1 --scheduler local:2] [--json]``
  a grid of scenario settings x replications, here or on Dask (docs/sweeps.md);
* ``glb BUILDING.geojson OUT.glb``; ``synth OUT.laz`` a synthetic scan of a known ward.

Exit codes: 0 everyone reached safety, 1 someone did not (stuck, stranded, engine error: the
report says who and why), 2 invalid input (field and reason on stderr).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from medtwin.cli.sweep_opts import Scheduler
from medtwin.core.errors import MedtwinError

evac_app = typer.Typer(
    help="Evacuation: building twin, census, fire/smoke/gas, staff-assisted moves.", no_args_is_help=True
)
console = Console(stderr=True)
Db = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path (env MEDTWIN_DB).")]


def _fail(exc: Exception, code: int = 2) -> typer.Exit:
    from rich.markup import escape

    field = getattr(exc, "field", None)
    where = f"{field}: " if field else ""
    console.print(f"[red]error:[/red] {escape(where + str(getattr(exc, 'reason', exc)))}")
    return typer.Exit(code)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise _fail(ValueError(f"{path}: {exc}")) from None


def _print(rep: dict[str, Any]) -> None:
    rset = rep.get("evacuation_time_s")
    console.print(f"status [bold]{rep['status']}[/bold] · RSET {rset if rset is not None else '—'} s · "
                  f"ASET {rep.get('aset_s') or '—'} s · stuck/stranded {rep['stuck']} · at risk {len(rep['at_risk'])}")  # fmt: skip
    if rep.get("compartments"):
        t = Table("compartment", "people", "cleared (s)", "ASET (s)", "margin (s)")
        for c in rep["compartments"]:
            t.add_row(
                c["id"],
                str(c["occupants"]),
                *("—" if c[k] is None else str(c[k]) for k in ("clear_s", "aset_s", "margin_s")),
            )
        console.print(t)
    for a in rep["at_risk"][:20]:
        console.print(
            f"  at risk: {a['id']} ({a['class']}, {a['space'] or a['floor']}): {'; '.join(a['at_risk'])}"
        )


def _runtime(db: str | None) -> Any:
    from medtwin.config import Settings
    from medtwin.runtime import Runtime

    return Runtime(Settings.load(db=db, mqtt_enabled=False))


@evac_app.command("run")
def run_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario JSON.", exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON result on stdout.")] = False,
    replay: Annotated[
        Path | None, typer.Option("--replay", help="Write the replay to this SQLite file.")
    ] = None,
    db: Db = None,
) -> None:
    """Run one evacuation scenario."""
    from medtwin.models.evacuation import plan, results
    from medtwin.models.evacuation.building import BuildingError
    from medtwin.models.evacuation.scenario import parse

    doc = _load_json(scenario)
    try:
        if isinstance(doc, dict) and (doc.get("building") or doc.get("census")):
            from medtwin.security.service import security_for
            from medtwin.services.safety.service import safety_for

            with _runtime(db) as rt:
                b, rep, rp, _occ = safety_for(rt).simulate(
                    doc, security_for(rt).pseudonyms.pseudonym, record=replay is not None
                )
        else:
            b, sc = parse(doc)
            data = plan.run(b, sc, record_frames=replay is not None)
            rep, rp = results.report(data), results.replay(data) if replay is not None else None
    except BuildingError as exc:
        raise _fail(exc) from None
    except MedtwinError as exc:
        raise _fail(exc) from None
    if replay is not None and rp is not None:
        from medtwin.services.safety.replay_db import write_replay

        write_replay(replay, b, rp, rep)
    if as_json:
        sys.stdout.write(json.dumps(rep) + "\n")
    else:
        _print(rep)
    raise typer.Exit(0 if rep["status"] == "ok" else 1)


@evac_app.command("import")
def import_cmd(
    plan_file: Annotated[
        Path, typer.Argument(help="GeoJSON, LAS/LAZ or IFC plan.", exists=True, dir_okay=False)
    ],
    building: Annotated[str, typer.Option("--building", help="Building twin id.")] = "B1",
    floor: Annotated[str, typer.Option("--floor", help="Floor id (point clouds).")] = "F1",
    out: Annotated[Path | None, typer.Option("--out", help="Write the building GeoJSON here.")] = None,
    store: Annotated[bool, typer.Option("--store", help="Store it in the database.")] = False,
    db: Db = None,
) -> None:
    """Import a floor plan or point cloud as the building's geometry."""
    from medtwin.models.evacuation.geojson import to_geojson
    from medtwin.services.safety import importers
    from medtwin.services.safety.service import SafetyService

    data = plan_file.read_bytes()
    suffix = plan_file.suffix.lower()
    try:
        if suffix in (".las", ".laz"):
            res = importers.read_lidar(data, building=building, floor=floor)
            b = res.building
            console.print(f"point cloud: {res.stats}")
        elif suffix == ".ifc":
            b = importers.read_ifc(data, building=building)
        else:
            b = importers.read_geojson(data)
    except MedtwinError as exc:
        raise _fail(exc) from None
    info = SafetyService.describe(b)
    if out:
        out.write_text(json.dumps(to_geojson(b)), encoding="utf-8")
    if store:
        with _runtime(db) as rt:
            from medtwin.services.safety.service import safety_for

            safety_for(rt).put_building(b, "cli")
    sys.stdout.write(json.dumps(info) + "\n")


@evac_app.command("demo")
def demo_cmd(
    census: Annotated[str, typer.Option(help="night or day")] = "night",
    fire: Annotated[str, typer.Option(help="Room of the fire ('' for none).")] = "ICU-R03",
    strategy: Annotated[str, typer.Option(help="horizontal or full")] = "horizontal",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The demo hospital (synthetic patients): tonight's census through a fire."""
    from medtwin.demo.hospital import seed
    from medtwin.services.safety.service import safety_for

    doc: dict[str, Any] = {"name": f"demo {census} {strategy}", "building": "B1", "census": census,
                           "strategy": strategy, "alarm_s": 60, "staff_response_s": 30, "pre_movement_s": 60}  # fmt: skip
    if fire:
        doc["fire"] = {"space": fire, "growth": "fast", "peak_kw": 1000}
    with _runtime(":memory:") as rt:
        seed(rt.registry)
        try:
            _b, rep, _rp, _o = safety_for(rt).simulate(doc)
        except MedtwinError as exc:
            raise _fail(exc) from None
    sys.stdout.write(json.dumps(rep) + "\n") if as_json else _print(rep)


@evac_app.command("compare")
def compare_cmd(
    scenario: Annotated[Path, typer.Argument(help="Base scenario JSON.", exists=True, dir_okay=False)],
    variants_file: Annotated[
        Path, typer.Argument(help="JSON list of {name, changes}.", exists=True, dir_okay=False)
    ],
    db: Db = None,
) -> None:
    """Compare variants of a scenario (same seed: common random numbers)."""
    from medtwin.services.safety.service import safety_for

    with _runtime(db) as rt:
        try:
            res = safety_for(rt).compare(_load_json(scenario), _load_json(variants_file), actor="cli")
        except MedtwinError as exc:
            raise _fail(exc) from None
    sys.stdout.write(json.dumps(res) + "\n")


@evac_app.command("glb")
def glb_cmd(
    building: Annotated[Path, typer.Argument(help="Building GeoJSON.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Argument(help="Output .glb")],
) -> None:
    """Export a building to GLB (3D view)."""
    from medtwin.services.safety import importers
    from medtwin.services.safety.glb import building_glb

    try:
        out.write_bytes(building_glb(importers.read_geojson(building.read_bytes())))
    except MedtwinError as exc:
        raise _fail(exc) from None


@evac_app.command("synth")
def synth_cmd(out: Annotated[Path, typer.Argument(help="Output .laz or .las")], seed: int = 1) -> None:
    """Write a synthetic scan of a known ward (4 rooms, corridor, one exit) to try the importer."""
    from medtwin.services.safety.importers import write_laz
    from medtwin.services.safety.synthetic import scan, truth

    pts = scan(seed=seed)
    write_laz(out, pts)
    sys.stdout.write(json.dumps({"points": len(pts), "truth": truth()}) + "\n")


def _axes_arg(text: str) -> Any:
    """``--axes``: a JSON object, or the path of a file holding one."""
    from medtwin.core.errors import ValidationError

    src = text.strip()
    if not src.startswith("{"):
        path = Path(src)
        if not path.is_file():
            raise ValidationError("a JSON object or the path of a JSON file", field="axes")
        try:
            src = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"{path}: {exc.strerror}", field="axes") from None
    try:
        return json.loads(src)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON: {exc.msg} (line {exc.lineno})", field="axes") from None


def _print_grid(res: dict[str, Any], scheduler: str) -> None:
    n = res["replications"]
    t = Table(title=f"{len(res['rows'])} points x {n} replications = {res['tasks']} runs, seed {res['seed']} "
              f"({scheduler or 'this process'})")  # fmt: skip
    t.add_column("grid point", overflow="fold", min_width=min(24, max(len(r["label"]) for r in res["rows"])))
    for c in ("done", "RSET mean", "RSET max", "at risk", "stranded"):
        t.add_column(c, justify="right")
    t.caption = "done: runs where everyone got out; RSET in s; at risk, stranded: the worst run"
    for r in res["rows"]:
        t.add_row(
            r["label"], f"{r['completed']}/{n}",
            *("—" if r[k] is None else str(r[k]) for k in ("rset_mean_s", "rset_max_s")),
            str(r["at_risk_max"]), str(r["stranded_max"]),
        )  # fmt: skip
    Console().print(t)


@evac_app.command("sweep")
def sweep_cmd(
    scenario: Annotated[
        Path, typer.Argument(help="Base scenario JSON (as for run).", exists=True, dir_okay=False)
    ],
    axes: Annotated[
        str,
        typer.Option(
            "--axes",
            help='Grid axes: JSON object or file, e.g. \'{"alarm_s": [0, 60], "staff_response_s": [60, 180]}\'; '
            "axes alarm_s, pre_movement_s, staff_response_s, strategy, dt, variants ([{name, changes}]).",
        ),
    ],
    replications: Annotated[int, typer.Option(help="Runs per grid point (own seeds).")] = 3,
    seed: Annotated[int, typer.Option(help="Sweep seed: every run's seed is spawned from it.")] = 1,
    scheduler: Scheduler = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the grid result as one JSON object.")
    ] = False,
    db: Db = None,
) -> None:
    """Run every combination of scenario settings x replications (here or on Dask); same seed, same
    results wherever it runs. Exit 0 when the sweep ran (the table says who got out), 1 when a run
    failed or the scheduler is unreachable, 2 on invalid input."""
    import contextlib

    from medtwin.cli.sweep_opts import scheduler_from
    from medtwin.compute import SweepError
    from medtwin.compute.progress import rich_progress
    from medtwin.services.safety.sweep import resolver, run_grid

    doc = _load_json(scenario)
    sched = ""
    try:
        grid_axes = _axes_arg(axes)
        sched = scheduler_from(scheduler)
        with contextlib.ExitStack() as stack:
            resolve = None
            if isinstance(doc, dict) and (doc.get("building") or doc.get("census")):
                from medtwin.security.service import security_for
                from medtwin.services.safety.service import safety_for

                rt = stack.enter_context(_runtime(db))
                resolve = resolver(safety_for(rt), security_for(rt).pseudonyms.pseudonym)
            cb = stack.enter_context(rich_progress("evacuation sweep", quiet=as_json))
            res = run_grid(doc, grid_axes, replications=replications, seed=seed, scheduler=sched or None,
                           progress=cb, resolve=resolve)  # fmt: skip
    except SweepError as exc:
        raise _fail(exc, 1) from None
    except MedtwinError as exc:
        raise _fail(exc) from None
    except OSError as exc:  # scheduler unreachable (distributed raises OSError / TimeoutError)
        raise _fail(ValueError(f"scheduler {sched!r}: {exc}"), 1) from None
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
    else:
        _print_grid(res, sched)
