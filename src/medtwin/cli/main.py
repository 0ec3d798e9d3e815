"""``medtwin``: serve the platform, run the demo hospital, ingest files, run listeners."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from medtwin import __version__
from medtwin.config import Settings

app = typer.Typer(
    help="medtwin: medical digital twin platform.", no_args_is_help=True, pretty_exceptions_enable=False
)
console = Console(stderr=True)


def _settings(**kw: object) -> Settings:
    return Settings.load(**kw)


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the medtwin version."""
    typer.echo(__version__)


@app.command()
def serve(
    db: Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port.")] = None,
    mqtt: Annotated[
        bool | None, typer.Option("--mqtt/--no-mqtt", help="Consume device readings from MQTT.")
    ] = None,
    mqtt_host: Annotated[str | None, typer.Option(help="MQTT broker host.")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="MQTT broker port.")] = None,
    mllp_port: Annotated[
        int | None, typer.Option(help="Also listen for HL7 v2 over MLLP on this port.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the API, the live feed and the ingest listeners."""
    _logging(verbose)
    from medtwin.cli.server import run_server

    s = _settings(
        db=db,
        host=host,
        port=port,
        mqtt_enabled=mqtt,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        mllp_port=mllp_port,
    )
    run_server(s)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    db: Annotated[str | None, typer.Option(help="Database (default data/demo.db, recreated).")] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 1.0,
    keep: Annotated[
        bool, typer.Option(help="Keep the existing demo database instead of recreating it.")
    ] = False,
    backfill_hours: Annotated[float, typer.Option(help="Hours of history to backfill at 1/min.")] = 6.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start the live demo hospital (synthetic patients and monitors) at http://HOST:PORT."""
    _logging(verbose)
    from medtwin.cli.server import run_demo

    run_demo(host=host, port=port, db=db, speed=speed, keep=keep, backfill_hours=backfill_hours)


@app.command()
def ingest(
    path: Annotated[
        Path,
        typer.Argument(
            help="File to load (FHIR JSON/NDJSON, HL7 v2, CSV).", exists=True, dir_okay=False, readable=True
        ),
    ],
    db: Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto | fhir | hl7v2 | csv")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the outcome.")] = False,
    auto_register: Annotated[
        bool | None, typer.Option(help="Create unknown patients instead of rejecting.")
    ] = None,
) -> None:
    """Ingest a file; exit 0 when nothing was rejected, 1 when something was."""
    from medtwin.cli.ingest_cmd import FORMATS, detect_format, ingest_file
    from medtwin.core.errors import MedtwinError
    from medtwin.runtime import Runtime

    if fmt not in FORMATS:
        console.print(f"[red]--format: {fmt!r} is not one of {', '.join(FORMATS)}[/red]")
        raise typer.Exit(2)
    s = _settings(db=db, auto_register=auto_register)
    try:
        with path.open("rb") as f:
            head = f.read(4096)
        kind = detect_format(path, head) if fmt == "auto" else fmt
        with Runtime(s) as rt:
            if as_json or not sys.stderr.isatty():
                res = ingest_file(rt, path, kind)
            else:
                from rich.progress import Progress

                with Progress(console=console, transient=True) as prog:
                    task = prog.add_task(f"ingesting {path.name} ({kind})", total=None)
                    res = ingest_file(rt, path, kind, progress=lambda n: prog.advance(task, n))
    except MedtwinError as exc:
        out = {"accepted": 0, "duplicates": 0, "rejected": [{"index": None, **exc.as_dict()}]}
        if as_json:
            typer.echo(json.dumps(out))
        else:
            console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(res.as_dict()))
    else:
        console.print(
            f"accepted [green]{res.accepted}[/green], duplicates {res.duplicates}, "
            f"rejected [{'red' if res.rejected else 'green'}]{len(res.rejected)}[/]"
        )
        for r in res.rejected[:20]:
            console.print(f"  item {r.get('index')}: {r.get('field')}: {r.get('reason')}")
        if len(res.rejected) > 20:
            console.print(f"  ... and {len(res.rejected) - 20} more")
    raise typer.Exit(1 if res.rejected else 0)


@app.command()
def mllp(
    port: Annotated[int, typer.Option(help="TCP port for HL7 v2 over MLLP.")] = 2575,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    db: Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Listen for HL7 v2 ORU^R01 over MLLP; ACK only after commit."""
    _logging(verbose)
    import asyncio

    from medtwin.ingest.mllp import serve_mllp
    from medtwin.runtime import Runtime

    async def main() -> None:
        with Runtime(_settings(db=db)) as rt:
            server = await serve_mllp(rt.ingestor, host, port)
            console.print(f"MLLP listening on {host}:{port}")
            async with server:
                await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command()
def worker(
    db: Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")] = None,
    mqtt_host: Annotated[str | None, typer.Option(help="MQTT broker host.")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="MQTT broker port.")] = None,
    prefix: Annotated[str | None, typer.Option(help="MQTT topic prefix.")] = None,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id (one persistent session each).")
    ] = None,
    shared_group: Annotated[
        str | None, typer.Option(help="Share the load with other workers ($share group).")
    ] = None,
    session_expiry: Annotated[
        int, typer.Option(help="Seconds the broker keeps our session when we are away.")
    ] = 7 * 24 * 3600,
    services: Annotated[
        bool, typer.Option("--services/--no-services", help="Also own patient shards: scores, alarms.")
    ] = False,
    cluster_shards: Annotated[
        int | None, typer.Option(help="Patient shards of the owners (PostgreSQL; docs/scaling.md).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Ingest worker without HTTP: consume MQTT, commit, then acknowledge (docs/scaling.md)."""
    _logging(verbose)
    import signal
    import threading

    from medtwin.ingest.mqtt import MqttIngest
    from medtwin.runtime import Runtime

    s = _settings(
        db=db,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        mqtt_prefix=prefix,
        mqtt_client_id=client_id,
        mqtt_shared_group=shared_group,
        cluster_shards=cluster_shards,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Runtime(s) as rt:
        _worker_roles(rt, services)
        m = MqttIngest(
            rt.ingestor,
            host=s.mqtt_host,
            port=s.mqtt_port,
            prefix=s.mqtt_prefix,
            client_id=s.mqtt_client_id,
            username=s.mqtt_username,
            password=s.mqtt_password,
            shared_group=s.mqtt_shared_group,
            session_expiry_s=session_expiry,
        )
        m.start()
        if m.wait_connected(30):
            console.print(f"worker connected to {s.mqtt_host}:{s.mqtt_port} ({s.mqtt_prefix})")
        while not stop.wait(1.0):
            pass
        m.stop()


def _worker_roles(rt: object, services: bool) -> None:
    """PostgreSQL upkeep, the change feed of a cluster, and the shard owner (``--services``)."""
    from medtwin.runtime import Runtime

    assert isinstance(rt, Runtime)
    if not rt.store.partitioned:
        if services:
            from medtwin.services.wiring import start_services

            start_services(rt)
        return
    from medtwin.store.pg_history import Maintenance

    s = rt.settings
    m = Maintenance(rt.store, retention_days=s.retention_days, rollup_retention_days=s.rollup_retention_days)
    rt.add_stopper(m.start().stop)
    if s.cluster_shards or services:
        from medtwin.services.cluster import enable_feed, start_cluster

        enable_feed(rt.store)
        if services:
            start_cluster(rt, shards=s.cluster_shards or None)
            console.print(f"owning patient shards ({s.cluster_shards or 64} in the cluster)")


def _register_subapps() -> None:
    from medtwin.cli.access import devices_app, user_app
    from medtwin.cli.alarms import alarms_app
    from medtwin.cli.evacuation import evac_app
    from medtwin.cli.flow import flow_app
    from medtwin.cli.gateway import gateway_app
    from medtwin.cli.homecare import register as homecare_commands
    from medtwin.cli.imaging import imaging_app
    from medtwin.cli.ops import ops_commands
    from medtwin.cli.score import score_app
    from medtwin.cli.security_cmd import security_commands
    from medtwin.cli.training import training_app
    from medtwin.cli.treatment import pk_app, treat_app

    app.add_typer(score_app, name="score")
    app.add_typer(alarms_app, name="alarms")
    app.add_typer(user_app, name="user")
    app.add_typer(devices_app, name="devices")
    app.add_typer(gateway_app, name="gateway")
    app.add_typer(flow_app, name="flow")
    app.add_typer(evac_app, name="evac")
    app.add_typer(imaging_app, name="imaging")
    app.add_typer(pk_app, name="pk")
    app.add_typer(treat_app, name="treat")
    app.add_typer(training_app, name="training")
    ops_commands(app)
    security_commands(app)  # audit ..., keys ...
    homecare_commands(app)  # triage, homecare ...


_register_subapps()

if __name__ == "__main__":
    app()
