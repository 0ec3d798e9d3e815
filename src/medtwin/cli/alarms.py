"""``medtwin alarms ...``: list and acknowledge alarms.

* ``medtwin alarms list [--db URL] [--ward ID] [--twin ID] [--state open|active|...] [--json]``
  reads the ``alarms`` table (works with or without a running server).
* ``medtwin alarms ack ID --by NAME [--url http://host:port | --db URL]`` acknowledges through the
  running server's API (the server owns the live alarm state; default URL from settings host/port);
  with ``--db`` it acknowledges offline in the database, for when the server is stopped (the
  server restores the acknowledged state when it starts).

Exit codes: 0 done, 1 not found / refused, 2 bad usage or server unreachable.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from medtwin.config import Settings
from medtwin.core.errors import MedtwinError

alarms_app = typer.Typer(help="Alarms: list open alarms, acknowledge one.", no_args_is_help=True)
console = Console(stderr=True)
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path (env MEDTWIN_DB).")]
STATE_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def _store(db: str | None) -> Any:
    from medtwin.store.sql import SqlStore

    return SqlStore(Settings.load(db=db).db_url)


@alarms_app.command("list")
def list_cmd(
    db: DbOpt = None,
    ward: Annotated[str | None, typer.Option(help="Only this ward (id).")] = None,
    twin: Annotated[str | None, typer.Option(help="Only this patient or room (id).")] = None,
    state: Annotated[str, typer.Option(help="open | active | acknowledged | paused | resolved")] = "open",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List alarms, highest priority first, then oldest first."""
    from medtwin.services.monitoring.alarms.model import State, sort_key
    from medtwin.services.monitoring.alarms.repository import AlarmRepository

    choices = ("open", "active", "acknowledged", "paused", "resolved")
    if state not in choices:
        raise typer.BadParameter(f"must be one of {', '.join(choices)}", param_hint="'--state'")
    store = _store(db)
    try:
        states = [s.value for s in State if s is not State.RESOLVED] if state == "open" else [state]
        alarms = sorted(AlarmRepository(store).list(ward=ward, twin=twin, states=states), key=sort_key)
    finally:
        store.close()
    rows = [a.to_json() for a in alarms]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title=f"{len(rows)} {state} alarm(s)")
    for col in ("priority", "state", "bed", "twin", "condition", "message", "since", "level", "id"):
        table.add_column(col)
    for a in rows:
        table.add_row(
            f"[{STATE_STYLE[a['priority']]}]{a['priority']}[/]",
            a["state"] + ("" if a["condition_active"] else " (ended, latched)"),
            a["bed"] or "-",
            a["twin"],
            a["condition"],
            a["message"],
            a["started"],
            str(a["escalation_level"]),
            a["id"],
        )
    Console().print(table)


@alarms_app.command("ack")
def ack_cmd(
    alarm_id: Annotated[str, typer.Argument(help="Alarm id.")],
    by: Annotated[str, typer.Option("--by", help="Who acknowledges (staff id or name).")],
    url: Annotated[
        str | None, typer.Option(help="Server base URL (default from settings host/port).")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Acknowledge offline in this database (server stopped).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the alarm as JSON.")] = False,
    token: Annotated[
        str | None,
        typer.Option(envvar="MEDTWIN_TOKEN", help="Access token (medtwin login); the server requires one."),
    ] = None,
) -> None:
    """Acknowledge one alarm (IEC 60601-1-8 ACKNOWLEDGED; a latched alarm whose condition ended resolves)."""
    if not by.strip():
        raise typer.BadParameter("must not be empty", param_hint="'--by'")
    if db is not None:
        out = _ack_offline(alarm_id, by, db)
    else:
        s = Settings.load()
        base = (url or f"http://{s.host}:{s.port}").rstrip("/")
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = httpx.post(
                f"{base}/api/alarms/{alarm_id}/acknowledge", json={"by": by}, headers=headers, timeout=10
            )
        except httpx.HTTPError as exc:
            console.print(
                f"[red]cannot reach {base}: {type(exc).__name__}[/red] (use --db when the server is stopped)"
            )
            raise typer.Exit(2) from None
        if r.status_code >= 400:
            detail = (
                r.json().get("detail", r.text)
                if r.headers.get("content-type", "").endswith("json")
                else r.text
            )
            console.print(f"[red]{r.status_code}: {detail}[/red]")
            raise typer.Exit(1)
        out = r.json()
    if as_json:
        typer.echo(json.dumps(out))
    else:
        console.print(
            f"alarm {out['id']} ({out['condition']}, bed {out['bed'] or '-'}) is now {out['state']}"
        )


def _ack_offline(alarm_id: str, by: str, db: str) -> dict[str, Any]:
    from medtwin.core.clock import WallClock
    from medtwin.services.monitoring.alarms.config import AlarmConfig
    from medtwin.services.monitoring.alarms.machine import AlarmMachine
    from medtwin.services.monitoring.alarms.repository import AlarmRepository

    store = _store(db)
    try:
        repo = AlarmRepository(store)
        alarm = repo.get(alarm_id)
        if alarm is None:
            console.print(f"[red]no alarm {alarm_id!r}[/red]")
            raise typer.Exit(1)
        try:
            transitions = AlarmMachine(AlarmConfig()).acknowledge(alarm, by, WallClock().now())
        except MedtwinError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        repo.record(alarm, transitions)
        return alarm.to_json()
    finally:
        store.close()
