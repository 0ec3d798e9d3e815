"""``medtwin flow ...``: hospital operations from patient-journey logs.

* ``generate`` a synthetic multi-year outpatient log with known ground truth;
* ``analyze LOG`` bottlenecks, waiting, load, variants, rework, utilisation, walking (``--json``,
  ``--report out.html``);
* ``simulate --baseline LOG --what-if PLAN.yaml`` calibrate, validate and compare plans with CIs;
* ``station`` Erlang C next to the DES for one service point;
* ``convert LOG OUT`` between Parquet, CSV, XES and OCEL 2.0.

Errors are the platform's (field and reason) and exit with code 1; long work shows rich progress
bars on a terminal (stderr), never in ``--json`` output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from medtwin.cli.sweep_opts import Scheduler, scheduler_from
from medtwin.core.errors import MedtwinError

flow_app = typer.Typer(
    help="Hospital operations: journey mining, bottlenecks, walking, what-if simulation.",
    no_args_is_help=True,
)
console = Console(stderr=True)
out = Console()

Mapping = Annotated[
    Path | None, typer.Option("--mapping", help="YAML column mapping (see docs/operations.md).")
]
CaseCol = Annotated[str | None, typer.Option("--case-col", help="Column holding the case (journey) id.")]
ActCol = Annotated[str | None, typer.Option("--activity-col", help="Column holding the activity.")]
StartCol = Annotated[str | None, typer.Option("--start-col", help="Column with the start timestamp.")]
EndCol = Annotated[str | None, typer.Option("--end-col", help="Column with the end timestamp.")]
ResCol = Annotated[str | None, typer.Option("--resource-col", help="Column with the resource (staff code).")]
LocCol = Annotated[str | None, typer.Option("--location-col", help="Column with the location (room id).")]
TsFmt = Annotated[
    str | None, typer.Option("--timestamp-format", help="strptime format, e.g. '%d/%m/%Y %H:%M'.")
]
Tz = Annotated[
    str | None, typer.Option("--timezone", help="Time zone of naive timestamps and of hours (IANA).")
]
Building = Annotated[
    Path | None,
    typer.Option("--building", help="Building YAML for walking (default: the log's or the demo)."),
]
SkipBad = Annotated[
    bool, typer.Option("--skip-invalid", help="Drop invalid rows (and count them) instead of failing.")
]


def _mapping(mapping: Path | None, **kw: Any) -> Any:
    from medtwin.services.operations.mapping import load_mapping

    m = load_mapping(mapping) if mapping else load_mapping(data={})
    return m.with_overrides(**kw).validate()


def _fail(exc: MedtwinError, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"error": exc.as_dict(), "title": exc.title}))
    else:
        console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[str, float], None]]:
    if quiet or not sys.stderr.isatty():
        yield lambda _s, _f: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as prog:
        task = prog.add_task(label, total=1000)

        def cb(stage: str, frac: float) -> None:
            prog.update(task, completed=int(frac * 1000), description=f"{label}: {stage}")

        yield cb


@flow_app.command()
def generate(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file (.parquet or .csv).")] = Path(
        "data/operations/outpatient.parquet"
    ),
    years: Annotated[float, typer.Option(help="Years of journeys.")] = 5.0,
    start: Annotated[str | None, typer.Option(help="First day (ISO date).")] = None,
    patients_per_day: Annotated[float | None, typer.Option(help="Mean patients on a mid-week day.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same log).")] = None,
    bottleneck: Annotated[
        list[str] | None,
        typer.Option(
            "--bottleneck",
            help="Inject a bottleneck: 'Pharmacy:staff-2@11-14' or 'Imaging:delay=20' (repeatable).",
        ),
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone of the clinic hours (default UTC).")] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML with any generator parameter (docs/operations.md).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="parquet | csv (default from the file name).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (0 = one per CPU).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Generate a synthetic outpatient journey log with ground truth (<out>.meta.json)."""
    import yaml

    from medtwin.services.operations.genconfig import load_config, parse_bottleneck
    from medtwin.services.operations.generator import generate as gen

    try:
        cfg = load_config(yaml.safe_load(config.read_text()) if config else None)
        cfg.years = years
        for k, v in (
            ("start", start),
            ("patients_per_day", patients_per_day),
            ("seed", seed),
            ("timezone", timezone),
        ):
            if v is not None:
                setattr(cfg, k, v)
        cfg.bottlenecks += [parse_bottleneck(b) for b in bottleneck or []]
        kind = fmt or ("csv" if out_path.suffix.lower() == ".csv" else "parquet")
        with _progress("generating", as_json) as cb:
            res = gen(
                cfg, out_path, fmt=kind, workers=workers, progress=lambda d, n: cb(f"day {d}/{n}", d / n)
            )
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    summary = {
        "path": str(res.path),
        "events": res.events,
        "cases": res.cases,
        "days": res.days,
        "seconds": round(res.seconds, 1),
        "meta": str(res.meta_path),
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        console.print(
            f"wrote [bold]{res.events:,}[/bold] events, {res.cases:,} journeys over {res.days:,} days "
            f"to {res.path} in {res.seconds:.1f} s (ground truth: {res.meta_path})"
        )


@flow_app.command()
def analyze(
    log: Annotated[
        Path,
        typer.Argument(help="Event log: .parquet, .csv, .xes[.gz], .jsonocel/.json, .sqlite (OCEL 2.0)."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full analysis as JSON.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here.")] = None,
    mapping: Mapping = None,
    case_col: CaseCol = None,
    activity_col: ActCol = None,
    start_col: StartCol = None,
    end_col: EndCol = None,
    resource_col: ResCol = None,
    location_col: LocCol = None,
    timestamp_format: TsFmt = None,
    timezone: Tz = None,
    building: Building = None,
    skip_invalid: SkipBad = False,
) -> None:
    """Bottlenecks, waiting per stage, load, variants, rework, utilisation and walking waste."""
    from medtwin.services.operations.pipeline import open_and_analyze

    try:
        m = _mapping(
            mapping,
            case_id=case_col,
            activity=activity_col,
            start=start_col,
            end=end_col,
            resource=resource_col,
            location=location_col,
            timestamp_format=timestamp_format,
            timezone=timezone,
            on_error="skip" if skip_invalid else None,
        )
        with _progress("analysing", as_json) as cb:
            lg, res, _b = open_and_analyze(log, m, building=building, progress=cb)
            lg.close()
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if report:
        from medtwin.services.operations.report import render

        report.write_text(render(res), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    _print_analysis(res)
    if report:
        console.print(f"report: {report}")


def _print_analysis(res: dict[str, Any]) -> None:
    s = res["summary"]
    out.print(
        f"[bold]{s['source']}[/bold]: {s['events']:,} events, {s['cases']:,} journeys, {s['first'][:10]} to "
        f"{s['last'][:10]} ({s['timezone']}); mean journey {res['variants']['journey_mean_min']} min, "
        f"{res['variants']['variants']:,} variants, rework in {res['rework']['share'] * 100:.1f} % of journeys"
    )
    t = Table(title="Worst bottlenecks (mean wait x visits)")
    for c in ("#", "activity", "total wait h", "share", "mean wait min", "p90 min", "peak hour"):
        t.add_column(c, justify="right" if c not in ("activity",) else "left")
    for b in res["bottlenecks"][:5]:
        t.add_row(
            str(b["rank"]),
            b["activity"],
            f"{b['score_h']:,}",
            f"{b['share'] * 100:.1f} %",
            str(b["wait_mean_min"]),
            str(b["wait_p90_min"]),
            f"{b['peak_wait_hour']}:00",
        )
    out.print(t)
    w = res.get("walking")
    if w:
        out.print(
            f"walking: {w['metres_per_journey_mean']} m per journey (p90 {w['metres_per_journey_p90']} m), "
            f"{w['km_per_year']:,} km/year, {w['floor_changes_per_journey']} floor changes per journey, "
            f"backtracking {w['backtracking_share'] * 100:.1f} % of metres"
        )
        for tr in w["top_transitions"][:3]:
            out.print(
                f"  {tr['from']} -> {tr['to']}: {tr['metres_mean']} m x {tr['steps']:,} = {tr['km_per_year']:,} km/year"
            )


@flow_app.command()
def simulate(
    baseline: Annotated[Path, typer.Option("--baseline", help="The event log the model is calibrated on.")],
    what_if: Annotated[
        list[Path] | None, typer.Option("--what-if", help="Scenario YAML (repeatable).")
    ] = None,
    replications: Annotated[
        int, typer.Option("--replications", min=2, help="Independent replications.")
    ] = 10,
    days: Annotated[int, typer.Option("--days", min=1, help="Open days simulated per replication.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the replications.")] = 1,
    workers: Annotated[int, typer.Option(help="Worker processes (0 = one per CPU).")] = 0,
    scheduler: Scheduler = None,
    no_delay_fit: Annotated[
        bool, typer.Option("--no-delay-fit", help="Do not calibrate extra (non-queue) delays.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here.")] = None,
    mapping: Mapping = None,
    timezone: Tz = None,
    building: Building = None,
) -> None:
    """Calibrate a simulation on the log, validate it, and compare what-if plans with 95 % CIs."""
    import os

    from medtwin.services.operations.pipeline import simulate_plans
    from medtwin.services.operations.scenarios import load_scenario

    try:
        plans = [load_scenario(p) for p in what_if or []]
        sched = scheduler_from(scheduler)
        with _progress("simulating", as_json) as cb:
            res = simulate_plans(
                baseline,
                plans,
                mapping=_mapping(mapping, timezone=timezone),
                building=building,
                replications=replications,
                days=days,
                seed=seed,
                workers=workers or (os.cpu_count() or 1),
                calibrate_delays=not no_delay_fit,
                progress=cb,
                scheduler=sched or None,
            )
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if report:
        from medtwin.services.operations.report import render

        report.write_text(render(res["analysis"], res), encoding="utf-8")
    if as_json:
        slim = {k: v for k, v in res.items() if k != "analysis"}
        slim["bottlenecks"] = res["analysis"]["bottlenecks"][:3]
        typer.echo(json.dumps(slim, default=str))
        return
    _print_simulation(res)


def _ci(d: dict[str, Any]) -> str:
    lo, hi = d["ci95"]
    return f"{d['mean']:.2f} [{lo:.2f}, {hi:.2f}]" if lo is not None else f"{d['mean']:.2f}"


def _print_simulation(res: dict[str, Any]) -> None:
    v = res["validation"]
    t = Table(
        title=f"Validation: {v['passed']}/{v['total']} activities within tolerance; Little's law error "
        f"{v['little_max_error']:.1e}"
    )
    for c in ("activity", "log wait", "simulated [95% CI]", "tolerance", "result"):
        t.add_column(c)
    for r in v["stages"]:
        ci = f" [{r['ci95'][0]}, {r['ci95'][1]}]" if r["ci95"] else ""
        t.add_row(
            r["activity"],
            str(r["log_wait_min"]),
            f"{r['sim_wait_min']}{ci}",
            f"± {r['tolerance_min']}",
            "pass" if r["pass"] else "[red]fail[/red]",
        )
    out.print(t)
    for p in res["plans"]:
        t = Table(title=f"What-if: {p['name']} (minutes; difference = plan - baseline)")
        for c in ("measure", "baseline", "plan", "difference"):
            t.add_column(c)
        d = p["vs_baseline"]
        t.add_row(
            "journey time",
            _ci(res["baseline"]["journey_min"]),
            _ci(p["metrics"]["journey_min"]),
            _ci(d["journey_min"]) + (" *" if d["journey_min"]["significant"] else ""),
        )
        t.add_row(
            "walking (m)",
            _ci(res["baseline"]["metres_per_journey"]),
            _ci(p["metrics"]["metres_per_journey"]),
            _ci(d["metres_per_journey"]) + (" *" if d["metres_per_journey"]["significant"] else ""),
        )
        for a, x in sorted(d["stages"].items()):
            t.add_row(
                f"wait: {a}",
                _ci(res["baseline"]["stages"][a]["wait_min"]),
                _ci(p["metrics"]["stages"][a]["wait_min"]),
                _ci(x) + (" *" if x["significant"] else ""),
            )
        out.print(t)
    if res["plans"]:
        out.print("* the paired 95 % interval excludes zero")


@flow_app.command()
def station(
    arrivals_per_hour: Annotated[
        float, typer.Option("--arrivals-per-hour", min=0.0, help="Arrival rate λ per hour.")
    ],
    service_minutes: Annotated[
        float, typer.Option("--service-minutes", min=1e-6, help="Mean service time, minutes.")
    ],
    servers: Annotated[int, typer.Option("--servers", min=1, help="Number of servers c.")],
    patients: Annotated[int, typer.Option("--patients", min=10, help="Patients per replication.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
    replications: Annotated[
        int, typer.Option("--replications", min=2, help="Independent replications.")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Capacity check of one station (M/M/c): Erlang C next to the DES with a 95 % CI."""
    from medtwin.models.flow.des import simulate_station

    res = simulate_station(
        arrivals_per_hour, service_minutes, servers, patients=patients, replications=replications, seed=seed
    )
    if as_json:
        typer.echo(json.dumps(res))
        return
    a, s = res["analytic"], res["simulated"]
    if a["wait_minutes"] is None:
        console.print(
            f"[red]unstable:[/red] utilisation {a['utilisation']:.2f} >= 1, the queue grows without bound"
        )
    else:
        out.print(
            f"Erlang C: mean wait {a['wait_minutes']:.2f} min, P(wait) {a['p_wait']:.3f}, "
            f"utilisation {a['utilisation']:.3f}"
        )
    lo, hi = s["ci95"]
    out.print(
        f"DES ({s['replications']} x {s['patients_per_replication']:,} patients): mean wait "
        f"{s['wait_minutes']:.2f} min [{lo}, {hi}], Little's law error {s['little_law_max_rel_error']:.1e}"
    )


@flow_app.command()
def discover(
    log: Annotated[Path, typer.Argument(help="Event log (any supported format).")],
    miner: Annotated[str, typer.Option(help="inductive | heuristics")] = "inductive",
    noise: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Inductive miner noise threshold (IMf).")
    ] = 0.0,
    sample: Annotated[int | None, typer.Option(help="Mine a random sample of this many journeys.")] = None,
    precision: Annotated[
        bool, typer.Option("--precision", help="Also token-replay precision (slow).")
    ] = False,
    pnml: Annotated[Path | None, typer.Option(help="Write the Petri net (PNML).")] = None,
    bpmn: Annotated[Path | None, typer.Option(help="Write the model as BPMN 2.0.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    mapping: Mapping = None,
    timezone: Tz = None,
) -> None:
    """Discover a process model (Petri net / BPMN) and its fitness with PM4Py (optional, AGPL-3.0)."""
    from medtwin.services.operations.logs import open_log
    from medtwin.services.operations.pm4py_adapter import discover as run

    try:
        with open_log(log, _mapping(mapping, timezone=timezone)) as lg:
            res = run(
                lg, miner=miner, noise=noise, sample_cases=sample, precision=precision, pnml=pnml, bpmn=bpmn
            )
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(res))
    else:
        out.print(
            f"{res['miner']} miner: {res['places']} places, {res['transitions']} transitions "
            f"({res['visible_transitions']} activities); token-replay fitness "
            f"{res['fitness'].get('log_fitness', float('nan')):.3f}"
            + (f", precision {res['precision']:.3f}" if "precision" in res else "")
        )


@flow_app.command()
def convert(
    log: Annotated[Path, typer.Argument(help="Input log (any supported format).")],
    dest: Annotated[Path, typer.Argument(help="Output file.")],
    to: Annotated[
        str, typer.Option("--to", help="parquet | csv | xes | ocel-json | ocel-sqlite")
    ] = "parquet",
    mapping: Mapping = None,
    timezone: Tz = None,
) -> None:
    """Convert a log between Parquet, CSV, XES and OCEL 2.0 (JSON or SQLite)."""
    from medtwin.services.operations.convert import export
    from medtwin.services.operations.logs import open_log

    try:
        with open_log(log, _mapping(mapping, timezone=timezone)) as lg:
            n = export(lg, dest, to)
    except MedtwinError as exc:
        _fail(exc, False)
        return
    except ValueError as exc:
        console.print(f"[red]error:[/red] --to: {exc}")
        raise typer.Exit(2) from None
    console.print(f"wrote {n:,} rows to {dest}")
