"""``medtwin gateway``: run a ward/home gateway, or inspect its outbox.

Register with ``app.add_typer(gateway_app, name="gateway")``; also runnable as
``python -m medtwin.cli.gateway run ...``.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

gateway_app = typer.Typer(help="Store-and-forward gateway for wards and homes.", no_args_is_help=True)


def _hostport(value: str | None, default_port: int) -> tuple[str | None, int | None]:
    if not value:
        return None, None
    host, _, port = value.rpartition(":")
    if not host:
        return value, default_port
    return host, int(port)


@gateway_app.command("run")
def run(
    config: Annotated[Path | None, typer.Option(help="TOML file with a [gateway] table.")] = None,
    gateway_id: Annotated[str | None, typer.Option("--id", help="Gateway id.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder of the outbox file.")] = None,
    budget_mb: Annotated[float | None, typer.Option(help="Outbox disk budget in MiB.")] = None,
    local_mqtt: Annotated[
        str | None, typer.Option(help="Local broker HOST:PORT to take readings from.")
    ] = None,
    http_port: Annotated[
        int | None, typer.Option(help="Port of /ingest, /healthz, /metrics (0 = off).")
    ] = None,
    http_host: Annotated[str | None, typer.Option(help="Address of that listener.")] = None,
    files: Annotated[list[str] | None, typer.Option("--file", help="Glob of NDJSON files to tail.")] = None,
    uplink: Annotated[str | None, typer.Option(help="mqtt or https.")] = None,
    hospital_mqtt: Annotated[str | None, typer.Option(help="Hospital broker HOST:PORT.")] = None,
    hospital_prefix: Annotated[str | None, typer.Option(help="Hospital topic prefix.")] = None,
    local_prefix: Annotated[str | None, typer.Option(help="Local topic prefix.")] = None,
    hospital_url: Annotated[str | None, typer.Option(help="Hospital base URL for the https uplink.")] = None,
    ack_timeout: Annotated[
        float | None, typer.Option(help="Resend what is unconfirmed after this many s.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the gateway until SIGTERM/SIGINT."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from medtwin.core.errors import MedtwinError
    from medtwin.gateway.config import GatewayConfig
    from medtwin.gateway.service import Gateway

    lh, lp = _hostport(local_mqtt, 1883)
    hh, hp = _hostport(hospital_mqtt, 1883)
    try:
        cfg = GatewayConfig.load(
            config,
            gateway_id=gateway_id,
            data_dir=data_dir,
            budget_bytes=int(budget_mb * 1024 * 1024) if budget_mb else None,
            local_mqtt_host=lh,
            local_mqtt_port=lp,
            http_port=http_port,
            http_host=http_host,
            files=files or None,
            uplink=uplink,
            hospital_mqtt_host=hh,
            hospital_mqtt_port=hp,
            hospital_prefix=hospital_prefix,
            local_prefix=local_prefix,
            hospital_url=hospital_url,
            ack_timeout_s=ack_timeout,
        )
    except MedtwinError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    gw = Gateway(cfg).start()
    typer.echo(f"gateway {cfg.gateway_id} running (outbox {cfg.outbox_path}, uplink {cfg.uplink})", err=True)
    try:
        if cfg.http_port:
            import uvicorn

            from medtwin.gateway.app import create_gateway_app

            uvicorn.run(create_gateway_app(gw), host=cfg.http_host, port=cfg.http_port, log_level="warning")
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            while not stop.wait(1.0):
                pass
    finally:
        gw.stop()


@gateway_app.command("status")
def status(
    config: Annotated[Path | None, typer.Option(help="TOML file with a [gateway] table.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder of the outbox file.")] = None,
) -> None:
    """Print the outbox's state (works while the gateway runs or not)."""
    import sqlite3

    from medtwin.gateway.config import GatewayConfig

    cfg = GatewayConfig.load(config, data_dir=data_dir)
    if not cfg.outbox_path.exists():
        typer.echo(f"no outbox at {cfg.outbox_path}", err=True)
        raise typer.Exit(1)
    c = sqlite3.connect(f"file:{cfg.outbox_path}?mode=ro", uri=True)
    try:
        rows, size, oldest = c.execute(
            "SELECT count(*), coalesce(sum(size), 0), min(received_us) FROM outbox"
        ).fetchone()
        dead = c.execute("SELECT count(*) FROM dead").fetchone()[0]
        devices = c.execute("SELECT count(DISTINCT device) FROM outbox").fetchone()[0]
    finally:
        c.close()
    typer.echo(
        json.dumps(
            {
                "outbox_rows": rows,
                "payload_bytes": size,
                "devices": devices,
                "oldest_received_us": oldest,
                "dead_letters": dead,
                "budget_bytes": cfg.budget_bytes,
            }
        )
    )


if __name__ == "__main__":
    gateway_app()
