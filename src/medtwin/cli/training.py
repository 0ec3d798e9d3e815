"""``medtwin training ...``: training cases, scripted sessions, scores, cohorts, the virtual patient.

* ``medtwin training cases [--status published] [--json]``: the library;
* ``medtwin training build --patient P001 [--condition sepsis] [--diagnosis A41.9] [--publish]``:
  a case from a real twin through the de-identified export;
* ``medtwin training new --condition opioid_overdose [--publish]``: a synthetic case from a template;
* ``medtwin training show CASE``, ``edit CASE --patch JSON``, ``publish CASE``, ``export CASE [--out F]``,
  ``import FILE``, ``demo-cases``;
* ``medtwin training play CASE --script JSON --diagnosis CODE [--differential C1,C2] [--trainee ID]``:
  a whole session from a script of ``{"t": minute, "action": {...}}`` / ``{"t", "order": test}``
  steps (simulated minutes from presentation), scored; prints the report;
* ``medtwin training report SESSION``, ``replay SESSION``, ``cohort [CASE]``;
* ``medtwin training simulate --condition C [--severity 0.6] [--actions JSON] [--minutes 60]``: the
  virtual patient alone, minute by minute.

Commands work on the database (``--db``); they act as the system user ``cli`` (educator rights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from medtwin.core.errors import MedtwinError, ValidationError

training_app = typer.Typer(help="Training on virtual patients cloned from real cases.", no_args_is_help=True)
console = Console(stderr=True)
Db = Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _svc(db: str | None) -> Any:
    from medtwin.config import Settings
    from medtwin.runtime import Runtime
    from medtwin.services.training.service import TrainingService

    rt = Runtime(Settings.load(db=db, mqtt_enabled=False))
    return rt, TrainingService(rt.store, rt.clock)


def _educator() -> Any:
    from medtwin.services.training.service import Viewer

    return Viewer("cli", teach=True)


def _out(data: Any, as_json: bool, table: Any = None) -> None:
    if as_json or table is None:
        typer.echo(json.dumps(data, indent=1, default=str))
    else:
        table(data)


def _run(fn: Any, as_json: bool = False) -> Any:
    try:
        return fn()
    except MedtwinError as exc:
        if as_json:
            typer.echo(json.dumps({"error": exc.as_dict()}))
        else:
            console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _json_arg(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON: {exc.msg}", field=name) from None


def _cases_table(rows: list[dict[str, Any]]) -> None:
    t = Table("title", "condition", "specialty", "difficulty", "status", "source")
    t.add_column("id", no_wrap=True)
    for c in rows:
        t.add_row(c["title"], c.get("condition", ""), c.get("specialty", ""), c.get("difficulty", ""),
                  c.get("status", ""), c.get("source", {}).get("kind", ""), c["id"])  # fmt: skip
    Console().print(t)


@training_app.command("cases")
def cases(
    db: Db = None, status: Annotated[str | None, typer.Option()] = None,
    condition: Annotated[str | None, typer.Option()] = None, specialty: Annotated[str | None, typer.Option()] = None,
    difficulty: Annotated[str | None, typer.Option()] = None, tag: Annotated[str | None, typer.Option()] = None,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """List the case library (filters: status, condition, specialty, difficulty, tag)."""
    rt, svc = _svc(db)
    f = {
        "status": status,
        "condition": condition,
        "specialty": specialty,
        "difficulty": difficulty,
        "tag": tag,
    }
    with rt:
        _out(_run(lambda: svc.cases(_educator(), **f), as_json), as_json, _cases_table)


@training_app.command("sessions")
def sessions(
    case_id: Annotated[str | None, typer.Option("--case", help="Only this case's sessions.")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """List training sessions (every trainee's), newest first."""
    rt, svc = _svc(db)

    def table(rows: list[dict[str, Any]]) -> None:
        t = Table("created", "trainee", "case", "status", "score", "diagnosis")
        t.add_column("id", no_wrap=True)
        for s in rows:
            dx = (s.get("diagnosis") or {}).get("primary", {}).get("code", "")
            t.add_row(str(s["created"])[:19], s["trainee"], s["case_id"], s["status"],
                      "" if s.get("score_total") is None else f"{s['score_total']:g}", dx, s["id"])  # fmt: skip
        Console().print(t)

    with rt:
        _out(_run(lambda: svc.sessions(_educator(), case_id=case_id), as_json), as_json, table)


@training_app.command("build")
def build(
    patient: Annotated[str, typer.Option(help="Twin id of the real patient.")],
    condition: Annotated[str | None, typer.Option()] = None,
    diagnosis: Annotated[str | None, typer.Option(help="ICD-10 code (or snomed|id).")] = None,
    title: Annotated[str | None, typer.Option()] = None,
    presentation_min: Annotated[
        float | None, typer.Option(help="Presentation, minutes from the first reading.")
    ] = None,
    publish: Annotated[bool, typer.Option("--publish")] = False,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Build a de-identified case from a real twin."""
    rt, svc = _svc(db)
    body = {
        "condition": condition,
        "diagnosis": diagnosis,
        "title": title,
        "presentation_min": presentation_min,
    }
    with rt:
        case = _run(lambda: svc.case_from_twin(patient, body, "user:cli"), as_json)
        if publish:
            case = _run(lambda: svc.edit_case(case["id"], {"status": "published"}), as_json)
    _out(case if as_json else [case], as_json, None if as_json else _cases_table)
    warning = (case["physiology"].get("calibration") or {}).get("warning")
    if warning and not as_json:
        console.print(f"[yellow]calibration:[/yellow] {warning}")


@training_app.command("new")
def new(
    condition: Annotated[str, typer.Option()],
    title: Annotated[str | None, typer.Option()] = None,
    severity: Annotated[float | None, typer.Option()] = None,
    publish: Annotated[bool, typer.Option("--publish")] = False,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """A synthetic case from a condition template."""
    rt, svc = _svc(db)
    body = {"title": title, "severity": severity, "status": "published" if publish else None}
    with rt:
        case = _run(lambda: svc.case_from_template(condition, body, "user:cli"), as_json)
    _out(case if as_json else [case], as_json, None if as_json else _cases_table)


@training_app.command("show")
def show(case_id: str, db: Db = None) -> None:
    """A case in full (educator view, JSON)."""
    rt, svc = _svc(db)
    with rt:
        _out(_run(lambda: svc.case(case_id, _educator())), True)


@training_app.command("edit")
def edit(
    case_id: str, patch: Annotated[str, typer.Option(help="JSON object of fields to change.")], db: Db = None
) -> None:
    """Edit a case (title, stages, labs, reports, diagnosis, accepted, tags, difficulty, status, scoring...)."""
    rt, svc = _svc(db)
    with rt:
        _out(_run(lambda: svc.edit_case(case_id, _json_arg(patch, "patch") or {})), True)


@training_app.command("publish")
def publish_case(case_id: str, db: Db = None) -> None:
    """Publish a case to trainees."""
    rt, svc = _svc(db)
    with rt:
        c = _run(lambda: svc.edit_case(case_id, {"status": "published"}))
    typer.echo(f"{c['id']} published")


@training_app.command("export")
def export(case_id: str, out: Annotated[Path | None, typer.Option()] = None, db: Db = None) -> None:
    """The case as a de-identified JSON document."""
    rt, svc = _svc(db)
    with rt:
        doc = _run(lambda: svc.export_case(case_id))
    text = json.dumps(doc, indent=1)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text)
        console.print(f"written {out}")


@training_app.command("import")
def import_case(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], db: Db = None) -> None:
    """Import an exported case (as a draft)."""
    rt, svc = _svc(db)
    with rt:
        c = _run(lambda: svc.import_case(_json_arg(path.read_text(), "file"), "user:cli"))
    typer.echo(c["id"])


@training_app.command("demo-cases")
def demo_cases(db: Db = None, as_json: AsJson = False) -> None:
    """Build the demo hospital's cases (deteriorating patients + synthetic ones)."""
    from medtwin.services.training.demo import seed_demo_cases

    rt, svc = _svc(db)
    with rt:
        _out(_run(lambda: seed_demo_cases(svc, "user:cli"), as_json), True)


@training_app.command("play")
def play(
    case_id: str,
    diagnosis: Annotated[str, typer.Option(help="The primary diagnosis submitted (ICD-10).")],
    script: Annotated[
        str, typer.Option(help='JSON list of {"t", "action": {...}} or {"t", "order": test}.')
    ] = "[]",
    differential: Annotated[str, typer.Option(help="Comma-separated ranked codes.")] = "",
    trainee: Annotated[str, typer.Option()] = "cli-trainee",
    seed: Annotated[int | None, typer.Option()] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Play a scripted session on a case and print its score."""
    from medtwin.services.training.service import Viewer

    rt, svc = _svc(db)
    who = Viewer(trainee, teach=False)

    def go() -> dict[str, Any]:
        steps = _json_arg(script, "script") or []
        if not isinstance(steps, list):
            raise ValidationError("a list of steps", field="script")
        st = svc.start(case_id, who, seed=seed, speed=0.0)
        sid = st["session"]["id"]
        for stage in ("history", "examination", "vitals", "orders"):
            svc.reveal(sid, who, stage)
        now = 0.0
        for i, step in enumerate(sorted(steps, key=lambda s: float(s.get("t", 0)))):
            t = float(step.get("t", 0))
            while t > now + 1e-9:
                dt = min(t - now, 120.0)
                svc.clock_change(sid, who, {"advance_min": dt})
                now += dt
            if "action" in step:
                svc.act(sid, who, step["action"])
            elif "order" in step:
                svc.order(sid, who, step["order"])
            else:
                raise ValidationError("a step has an action or an order", field=f"script[{i}]")
        diff = [d for d in differential.split(",") if d.strip()]
        return svc.submit(sid, who, {"primary": diagnosis, "differential": diff})  # type: ignore[no-any-return]

    with rt:
        rep = _run(go, as_json)
    if as_json:
        _out(rep, True)
        return
    console.print(f"session {rep['session']['id']}: total {rep['total']} {rep['parts']}")
    for it in rep["management"]["items"]:
        console.print(f"  {it['status']:>14}  {it['label']}  (t={it['t']}, {it['source']})")
    for p in rep["management"]["penalties"]:
        console.print(f"  [red]penalty -{p['penalty']:g}[/red]  {p['label']} (t={p['t']}, {p['source']})")
    for c in rep["outcome"]["comparisons"]:
        console.print(f"  {c['text']}")


@training_app.command("report")
def report(session_id: str, db: Db = None) -> None:
    """The feedback report of a submitted session (JSON)."""
    rt, svc = _svc(db)
    with rt:
        _out(_run(lambda: svc.report(session_id, _educator())), True)


@training_app.command("replay")
def replay(session_id: str, db: Db = None) -> None:
    """Every step of a session with the course it produced (JSON)."""
    rt, svc = _svc(db)
    with rt:
        _out(_run(lambda: svc.replay(session_id, _educator())), True)


@training_app.command("cohort")
def cohort(case_id: Annotated[str | None, typer.Argument()] = None, db: Db = None) -> None:
    """Cohort results and difficulty of one case, or of every case."""
    rt, svc = _svc(db)
    with rt:
        _out(_run(lambda: svc.cohort(case_id) if case_id else svc.cohorts()), True)


@training_app.command("simulate")
def simulate(
    condition: Annotated[str, typer.Option()],
    severity: Annotated[float | None, typer.Option(help="0-1 (default: the condition's)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    actions: Annotated[str, typer.Option(help='JSON list of {"t", "kind", ...params}.')] = "[]",
    params: Annotated[
        str | None, typer.Option(help='JSON overrides of modelling choices, e.g. {"reservoir_fio2": 0.6}.')
    ] = None,
    minutes: Annotated[float, typer.Option()] = 60.0,
    every: Annotated[int, typer.Option(help="Print every n-th minute.")] = 5,
    as_json: AsJson = False,
) -> None:
    """Run the virtual patient alone (no database)."""
    from medtwin.models.virtual_patient import PatientSpec, parse_action
    from medtwin.models.virtual_patient import simulate as run

    def go() -> list[dict[str, Any]]:
        acts = _json_arg(actions, "actions") or []
        parsed = [parse_action(a, float(a.get("t", 0))) for a in acts]
        from medtwin.models.virtual_patient.conditions import get_condition

        sev = get_condition(condition).default_severity if severity is None else severity
        vp = run(PatientSpec(condition, sev, seed, params=_json_arg(params, "params") or {}), parsed, minutes)
        return [{k: v for k, v in h.items() if k != "shown"} for h in vp.history]

    rows = _run(go, as_json)
    if as_json:
        _out(rows, True)
        return
    t = Table("min", "HR", "SBP", "MAP", "RR", "SpO2", "Temp", "ACVPU", "glucose", "NEWS2")
    for h in rows[::every]:
        t.add_row(
            *(str(h[k]) for k in ("t", "hr", "sbp", "map", "rr", "spo2", "temp", "acvpu", "glucose", "news2"))
        )
    Console().print(t)
