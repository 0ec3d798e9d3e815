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


def register(app: typer.Typer) -> None:
    """Add ``triage`` (top level) and the ``homecare`` sub-app to the ``medtwin`` command."""
    app.command("triage")(triage)
    app.add_typer(homecare_app, name="homecare")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(homecare_app())
