"""``medtwin triage --json '{...}'`` (one-shot triage) and ``medtwin homecare ...`` (remote care).

* ``medtwin triage --json '{"conditions": ["hypertension"], "sbp": 150, "dbp": 95, "hr": 80,
  "spo2": 97, "temp_c": 36.8, "glucose_mg_dl": 110}'`` prints
  ``{"tier": "emergency|primary|self", "reasons": [{"rule", "source", "detail"}]}``; an unknown
  key or condition name exits 2 naming it. ``--rules FILE`` (TOML or JSON) tunes the rule set.
* ``medtwin homecare rules``: the effective rule set with its sources.
* ``medtwin homecare enrol``, ``assess``, ``worklist``, ``ack``, ``outcome``, ``summary``,
  ``import``: see docs/remote-care.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

homecare_app = typer.Typer(help="Remote care of chronic patients at home and in nursing homes.",
                           no_args_is_help=True)  # fmt: skip
console = Console(stderr=True)


def _fail(field: str, reason: str, code: int = 2) -> None:
    typer.echo(json.dumps({"error": {"field": field, "reason": reason}}))
    console.print(f"[red]error:[/red] {field}: {reason}")
    raise typer.Exit(code)


def load_rules_file(path: Path | None) -> Any:
    from medtwin.models.triage import RuleError, RuleSet

    if path is None:
        return RuleSet()
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
            data = data.get("medtwin", {}).get("homecare", {}).get("rules", data.get("rules", data))
        else:
            data = json.loads(text)
        return RuleSet(data)
    except (OSError, ValueError) as exc:
        field = exc.field if isinstance(exc, RuleError) else "rules"
        _fail(field, str(exc.reason if isinstance(exc, RuleError) else exc))


def triage(
    payload: Annotated[str, typer.Option("--json", help="Readings and conditions as a JSON object.")],
    rules: Annotated[Path | None, typer.Option(help="Rule overrides (TOML or JSON).")] = None,
) -> None:
    """Place one set of readings in emergency / primary / self, with reasons citing the guideline."""
    from medtwin.models.triage import TriageInputError, triage_once

    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        _fail("json", f"not valid JSON: {exc.msg}")
    ruleset = load_rules_file(rules)
    try:
        decision = triage_once(data, ruleset)
    except TriageInputError as exc:
        _fail(exc.field, exc.reason)
    typer.echo(json.dumps(decision.as_dict(full=False), ensure_ascii=False))


@homecare_app.command("rules")
def show_rules(
    rules: Annotated[Path | None, typer.Option(help="Rule overrides (TOML or JSON).")] = None,
) -> None:
    """Print the effective rule set (defaults merged with overrides) and its sources as JSON."""
    rs = load_rules_file(rules)
    typer.echo(json.dumps({"version": rs.version, "rules": rs.rules, "sources": rs.sources}, indent=2))


Db = Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")]
Patient = Annotated[str, typer.Option("--patient", help="Patient twin id.")]


def _service(db: str | None) -> Any:
    from medtwin.config import Settings
    from medtwin.runtime import Runtime
    from medtwin.services.homecare.service import HomecareService

    rt = Runtime(Settings.load(db=db, mqtt_enabled=False)).start()
    return rt, HomecareService(rt, notifiers=[])


def _run(db: str | None, fn: Any) -> None:
    from medtwin.core.errors import MedtwinError

    rt, svc = _service(db)
    try:
        typer.echo(json.dumps(fn(rt, svc), default=str, ensure_ascii=False, indent=1))
    except MedtwinError as exc:
        _fail(exc.field or "input", exc.reason)
    finally:
        rt.stop()


@homecare_app.command("enrol")
def enrol_cmd(
    patient: Patient, body: Annotated[str, typer.Option("--json", help="Enrolment JSON.")], db: Db = None
) -> None:
    """Enrol (or update) a patient: conditions, medications, targets, thresholds, schedule, care team, caregivers."""
    _run(db, lambda rt, svc: svc.enrol(patient, json.loads(body), "cli"))


@homecare_app.command("assess")
def assess_cmd(patient: Patient, db: Db = None) -> None:
    """Assess a patient now (stores the decision when it changed)."""
    _run(db, lambda rt, svc: {**svc.evaluate(patient)[0].as_dict()})


@homecare_app.command("worklist")
def worklist_cmd(db: Db = None, include_closed: bool = False) -> None:
    """The remote-care worklist, most urgent tier first, then the longest waiting."""
    _run(db, lambda rt, svc: svc.repo.worklist(include_closed=include_closed))


@homecare_app.command("ack")
def ack_cmd(item: int, by: Annotated[str, typer.Option(help="Who acknowledges.")], db: Db = None) -> None:
    """Acknowledge a worklist item."""
    _run(db, lambda rt, svc: svc.repo.acknowledge(item, f"user:{by}", rt.clock.now()))


@homecare_app.command("outcome")
def outcome_cmd(item: int, disposition: str, by: Annotated[str, typer.Option(help="Who decided.")],
                note: str = "", db: Db = None) -> None:  # fmt: skip
    """Record the outcome of a worklist item (closes it)."""
    _run(
        db,
        lambda rt, svc: svc.repo.close(
            item, f"user:{by}", rt.clock.now(), {"disposition": disposition, "note": note}
        ),
    )


@homecare_app.command("summary")
def summary_cmd(
    patient: Patient, day: Annotated[str | None, typer.Option("--date")] = None, db: Db = None
) -> None:
    """A patient's daily summary (local date of the home; default today)."""
    from datetime import date

    from medtwin.services.homecare.summary import daily_summary

    _run(
        db,
        lambda rt, svc: daily_summary(
            svc.repo, patient, date.fromisoformat(day) if day else None, rt.clock.now()
        ),
    )


@homecare_app.command("import")
def import_cmd(path: Path, patient: Patient, fmt: Annotated[str, typer.Option("--format", help="omh | fhir | csv")] = "omh",
               gateway: Annotated[str | None, typer.Option(help="Send through a home gateway's HTTP intake (URL).")] = None,
               db: Db = None) -> None:  # fmt: skip
    """Import a device export for a patient: into the database, or through a home gateway (--gateway)."""
    from medtwin.core.errors import MedtwinError
    from medtwin.services.homecare.importers import batches

    raw = path.read_bytes()
    try:
        chunks = list(batches(fmt, raw, patient, f"import:{patient}"))
    except MedtwinError as exc:
        _fail(exc.field or "file", exc.reason)
    rejects = [r for _b, rej in chunks for r in rej]
    if gateway:
        import httpx

        sent = 0
        for bs, _rej in chunks:
            for b in bs:
                if b.readings:
                    r = httpx.post(gateway.rstrip("/") + "/ingest", json={"device": b.source.replace(":", "-"),
                                   "patient": patient, "readings": list(b.readings)}, timeout=30)  # fmt: skip
                    if r.status_code != 200:
                        _fail("gateway", f"HTTP {r.status_code}: {r.text[:200]}", 1)
                    sent += len(b.readings)
        typer.echo(json.dumps({"stored_at_gateway": sent, "rejected": rejects}))
        return

    def run(rt: Any, svc: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"accepted": 0, "duplicates": 0, "rejected": list(rejects)}
        for bs, _rej in chunks:
            res = rt.ingestor.ingest_many(bs).result(60)
            out["accepted"] += res.accepted
            out["duplicates"] += res.duplicates
            out["rejected"] += res.rejected
        return out

    _run(db, run)


def register(app: typer.Typer) -> None:
    """Add ``triage`` (top level) and the ``homecare`` sub-app to the ``medtwin`` command."""
    app.command("triage")(triage)
    app.add_typer(homecare_app, name="homecare")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(homecare_app())
