"""Running the server: ``medtwin serve`` and ``medtwin demo`` share this wiring."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
from typing import Any

import uvicorn

from medtwin.api.app import StartHook, create_app
from medtwin.config import Settings
from medtwin.runtime import Runtime

log = logging.getLogger("medtwin")


def broker_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_mqtt(rt: Runtime, _loop: asyncio.AbstractEventLoop) -> None:
    s = rt.settings
    if not s.mqtt_enabled:
        return
    from medtwin.ingest.mqtt import MqttIngest

    client_id = s.mqtt_client_id
    if client_id == "medtwin-ingest":  # one persistent session per database, not one for all
        client_id += "-" + hashlib.sha256(rt.store.url.encode()).hexdigest()[:10]
    m = MqttIngest(
        rt.ingestor,
        host=s.mqtt_host,
        port=s.mqtt_port,
        prefix=s.mqtt_prefix,
        client_id=client_id,
        username=s.mqtt_username,
        password=s.mqtt_password,
        shared_group=s.mqtt_shared_group,
    )
    m.start()
    rt.services["mqtt"] = m
    rt.add_stopper(m.stop)
    if not broker_reachable(s.mqtt_host, s.mqtt_port):
        log.warning(
            "MQTT broker %s:%s not reachable yet; ingest will connect when it is", s.mqtt_host, s.mqtt_port
        )


async def start_mllp(rt: Runtime, _loop: asyncio.AbstractEventLoop) -> None:
    if not rt.settings.mllp_port:
        return
    from medtwin.ingest.mllp import serve_mllp

    server = await serve_mllp(rt.ingestor, rt.settings.host, rt.settings.mllp_port)
    rt.services["mllp"] = server
    log.info("MLLP listening on %s:%s", rt.settings.host, rt.settings.mllp_port)


async def start_retention(rt: Runtime, loop: asyncio.AbstractEventLoop) -> None:
    """Purge readings older than ``retention_days`` once at start and then daily (PostgreSQL: the
    maintenance thread, which also keeps monthly partitions ahead and drops old ones)."""
    if getattr(rt.store, "partitioned", False):
        from medtwin.store.pg_history import Maintenance

        m = Maintenance(rt.store, retention_days=rt.settings.retention_days,
                        rollup_retention_days=rt.settings.rollup_retention_days).start()  # fmt: skip
        rt.add_stopper(m.stop)
        return
    days = rt.settings.retention_days
    if days <= 0:
        return
    from datetime import timedelta

    async def job() -> None:
        while True:
            before = rt.clock.now() - timedelta(days=days)
            n = await asyncio.to_thread(rt.store.purge, before)
            log.info("retention: purged %d readings older than %s", n, before.date())
            await asyncio.sleep(86_400)

    task = loop.create_task(job())
    rt.add_stopper(task.cancel)


def start_background_services(rt: Runtime, _loop: asyncio.AbstractEventLoop) -> None:
    from medtwin.api.metrics import start_metrics
    from medtwin.services.wiring import start_services

    start_metrics(rt)
    start_services(rt)


def run_app(rt: Runtime, hooks: list[StartHook], host: str, port: int) -> None:
    app = create_app(
        rt, on_start=[start_background_services, start_mqtt, start_mllp, start_retention, *hooks]
    )
    log.info("medtwin on http://%s:%s (database %s)", host, port, rt.store.dialect)
    uvicorn.run(app, host=host, port=port, log_level="info", ws_ping_interval=20)


def run_server(settings: Settings) -> None:
    rt = Runtime(settings)
    run_app(rt, [], settings.host, settings.port)


def run_demo(
    *, host: str, port: int, db: str | None, speed: float, keep: bool, backfill_hours: float, **_: Any
) -> None:
    from medtwin.demo.run import prepare_demo

    rt, hooks = prepare_demo(
        host=host, port=port, db=db, speed=speed, keep=keep, backfill_hours=backfill_hours
    )
    run_app(rt, hooks, host, port)
