"""The gateway: outbox + local intakes + uplink, with its alarms, status and metrics.

Alarm events (on the gateway's own bus, logged, and exported as metrics)::

    Generic(type="technical_alarm", context=Context(actor="gateway:<id>"), data={
        "twin": "<gateway id>", "device": "<gateway id>",
        "condition": "gateway_outbox_high" | "gateway_outbox_full",
        "present": True | False,
        "used_bytes": ..., "budget_bytes": ..., "ratio": 0.81, "rows": ...})

``gateway_outbox_high`` is raised at ``warn_ratio`` (80 %) of the budget and cleared below
``clear_ratio`` (75 %); ``gateway_outbox_full`` while intake is being refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from medtwin.core.bus import Bus
from medtwin.core.events import Context, Generic
from medtwin.gateway.config import GatewayConfig
from medtwin.gateway.intake import FileTailer, LocalMqttIntake
from medtwin.gateway.outbox import Outbox, Record, Stored
from medtwin.gateway.uplink import Forwarder, HttpTransport, MqttTransport, Transport

log = logging.getLogger(__name__)


class Gateway:
    def __init__(
        self, cfg: GatewayConfig, *, bus: Bus | None = None, transport: Transport | None = None
    ) -> None:
        self.cfg = cfg.check()
        self.bus = bus or Bus()
        self.context = Context(actor=f"gateway:{cfg.gateway_id}")
        self.alarm_events = 0  # before the outbox: reopening one above 80 % raises its alarm at once
        self.outbox = Outbox(
            cfg.outbox_path,
            budget_bytes=cfg.budget_bytes,
            warn_ratio=cfg.warn_ratio,
            clear_ratio=cfg.clear_ratio,
            min_free_bytes=cfg.min_free_bytes,
            on_alarm=self._alarm,
        )
        if transport is None:
            transport = MqttTransport(cfg) if cfg.uplink == "mqtt" else HttpTransport(cfg)
        self.forwarder = Forwarder(self.outbox, cfg, transport)
        self.local_mqtt = (
            LocalMqttIntake(cfg, self.outbox, on_stored=self.forwarder.wake) if cfg.local_mqtt_port else None
        )
        self.files = FileTailer(cfg, self.outbox, on_stored=self.forwarder.wake) if cfg.files else None
        self.started = time.time()

    def start(self) -> Gateway:
        self.forwarder.start()
        if self.local_mqtt is not None:
            self.local_mqtt.start()
        if self.files is not None:
            self.files.start()
        log.info("gateway %s started (uplink %s)", self.cfg.gateway_id, self.cfg.uplink)
        return self

    def stop(self) -> None:
        if self.files is not None:
            self.files.stop()
        if self.local_mqtt is not None:
            self.local_mqtt.stop()
        self.forwarder.stop()
        self.outbox.close()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(self, records: Sequence[Record]) -> Future[list[Stored]]:
        """Store records (raises OutboxFull when they do not fit); the forwarder is woken on commit."""
        fut = self.outbox.submit(records)
        fut.add_done_callback(lambda _f: self.forwarder.wake())
        return fut

    def _alarm(self, name: str, present: bool, info: dict[str, Any]) -> None:
        self.alarm_events += 1
        level = logging.WARNING if present else logging.INFO
        log.log(level, "gateway alarm %s %s (%.0f%% of budget)", name, "raised" if present else "cleared",
                info["ratio"] * 100)  # fmt: skip
        gid = self.cfg.gateway_id
        self.bus.publish(
            Generic(
                time=datetime.now(UTC),
                context=self.context,
                type="technical_alarm",
                data={"twin": gid, "device": gid, "condition": f"gateway_{name}", "present": present, **info},
            )
        )

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        ob = self.outbox
        oldest = ob.oldest_us()
        return {
            "gateway": self.cfg.gateway_id,
            "uplink": self.cfg.uplink,
            "uplink_connected": self.forwarder.transport.connected.is_set(),
            "outbox": {
                "rows": ob.rows,
                "used_bytes": ob.used,
                "budget_bytes": ob.budget,
                "ratio": round(ob.ratio, 4),
                "oldest_age_s": round(time.time() - oldest / 1e6, 3) if oldest else 0.0,
                **ob.counters,
            },
            "alarms": dict(ob.alarms),
            "inflight_messages": len(self.forwarder.inflight),
            "uplink_counters": dict(self.forwarder.counters),
            "local_mqtt": None
            if self.local_mqtt is None
            else {
                **self.local_mqtt.counters,
                "connected": self.local_mqtt.connected.is_set(),
                "held_now": self.local_mqtt.held,
            },
            "files": None if self.files is None else {**self.files.counters, "blocked": self.files.blocked},
        }

    def healthy(self) -> bool:
        t = self.forwarder._thread
        return t is not None and t.is_alive() and self.outbox._thread.is_alive()

    def metric_families(self) -> Iterator[Metric]:
        ob, fw = self.outbox, self.forwarder
        lab = {"gateway": self.cfg.gateway_id}

        def g(name: str, doc: str, v: float) -> Metric:
            m = GaugeMetricFamily(name, doc, labels=["gateway"])
            m.add_metric([lab["gateway"]], v)
            return m

        def c(name: str, doc: str, v: float) -> Metric:
            m = CounterMetricFamily(name, doc, labels=["gateway"])
            m.add_metric([lab["gateway"]], v)
            return m

        oldest = ob.oldest_us()
        yield g(
            "medtwin_gateway_outbox_rows", "Local messages waiting for the hospital's confirmation.", ob.rows
        )
        yield g("medtwin_gateway_outbox_bytes", "Bytes counted against the outbox budget.", ob.used)
        yield g("medtwin_gateway_outbox_budget_bytes", "The outbox disk budget.", ob.budget)
        yield g("medtwin_gateway_outbox_ratio", "Used share of the outbox budget.", ob.ratio)
        yield g("medtwin_gateway_outbox_oldest_age_seconds", "Age of the oldest unconfirmed message.",
                time.time() - oldest / 1e6 if oldest else 0.0)  # fmt: skip
        yield g("medtwin_gateway_alarm_outbox_high", "1 while the outbox is above 80 % of its budget.",
                int(ob.alarms["outbox_high"]))  # fmt: skip
        yield g("medtwin_gateway_alarm_outbox_full", "1 while intake is refused (budget reached).",
                int(ob.alarms["outbox_full"]))  # fmt: skip
        yield g("medtwin_gateway_uplink_connected", "1 while the uplink is connected.",
                int(fw.transport.connected.is_set()))  # fmt: skip
        yield g(
            "medtwin_gateway_inflight_messages", "Uplink messages awaiting confirmation.", len(fw.inflight)
        )
        yield c("medtwin_gateway_stored", "Local messages stored in the outbox.", ob.counters["stored"])
        yield c(
            "medtwin_gateway_local_duplicates", "Local re-deliveries recognised.", ob.counters["duplicates"]
        )
        yield c(
            "medtwin_gateway_confirmed",
            "Messages confirmed as committed and deleted.",
            ob.counters["confirmed"],
        )
        yield c("medtwin_gateway_dead_letters", "Messages kept as dead letters.", ob.counters["dead"])
        yield c(
            "medtwin_gateway_refused", "Intake attempts refused for lack of budget.", ob.counters["refused"]
        )
        yield c("medtwin_gateway_uplink_sent", "Uplink messages sent (first time).", fw.counters["sent"])
        yield c("medtwin_gateway_uplink_resent", "Uplink messages sent again.", fw.counters["resent"])
        yield c(
            "medtwin_gateway_rejected_items", "Items the hospital refused.", fw.counters["rejected_items"]
        )
