"""Prometheus ``/metrics`` for the platform (prometheus-client, text exposition format).

One registry per runtime. Counters and gauges are read from the live objects at scrape time (the
writer, the MQTT adapter, the gap service, the alarm service, a gateway when one runs in the same
process); two histograms are fed by a bus subscriber on every commit:

* ``medtwin_ingest_lag_seconds``: received time minus effective (device) time of the newest reading
  of each commit: how old readings are when they reach medtwin (device clock skew shows here too);
* ``medtwin_commit_latency_seconds``: commit time minus the earliest received time of each commit:
  how long readings wait in the queue and the transaction before they are acknowledged.

Wire it with ``app.include_router(metrics.router)``; ``start_metrics`` (a start hook for
:func:`medtwin.api.app.create_app`) attaches the histograms at start-up, otherwise the first
scrape does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import text

from medtwin.core.events import ObservationsRecorded

if TYPE_CHECKING:
    from medtwin.runtime import Runtime

router = APIRouter(tags=["ops"])
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, float("inf"))
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))
_lock = threading.Lock()


class RuntimeMetrics:
    """The registry of one runtime: live collectors plus commit-fed histograms."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.registry = CollectorRegistry(auto_describe=False)
        self.lag = Histogram(
            "medtwin_ingest_lag_seconds",
            "Received minus effective time of the newest reading of each commit.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "medtwin_commit_latency_seconds",
            "Commit time minus the earliest received time of each commit.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.last_lag = 0.0
        self.registry.register(_Collector(self))
        self.registry.register(ProcessCollector(registry=None))
        self._unsub = runtime.bus.subscribe(ObservationsRecorded, self._on_commit)

    def _on_commit(self, event: ObservationsRecorded) -> None:
        obs = event.observations
        if not obs:
            return
        newest = max(obs, key=lambda o: o.effective)
        earliest = min(o.received for o in obs)
        self.last_lag = (newest.received - newest.effective).total_seconds()
        self.lag.observe(max(self.last_lag, 0.0))
        self.latency.observe(max((event.time - earliest).total_seconds(), 0.0))

    def close(self) -> None:
        self._unsub()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    def __init__(self, m: RuntimeMetrics) -> None:
        self.m = m

    def collect(self) -> Iterator[Metric]:
        rt = self.m.rt
        w = rt.writer
        yield _counter("medtwin_commits", "Transactions committed by the ingest writer.", w.commits)
        yield _counter("medtwin_rows_committed", "New readings and medications committed.", w.rows_committed)
        yield _counter(
            "medtwin_duplicates", "Readings already stored (idempotent re-deliveries).", w.duplicates
        )
        yield _counter("medtwin_store_write_failures", "Failed write attempts (retried).", w.failures)
        yield _gauge("medtwin_ingest_queue_rows", "Rows waiting for the writer.", w.queued_rows)
        yield _gauge("medtwin_ingest_queue_capacity_rows", "Rows the writer queue holds before producers block.",
                     w.max_queue_rows)  # fmt: skip
        yield _gauge("medtwin_last_commit_seconds", "Duration of the last transaction.", w.last_commit_s)
        yield _gauge("medtwin_ingest_last_lag_seconds", "Ingest lag of the newest commit.", self.m.last_lag)
        yield from _rejects(rt)
        yield from _mqtt(rt.services.get("mqtt"))
        yield from _gaps(rt.services.get("gaps"))
        yield from _alarms(rt.services.get("alarms"))
        gw = rt.services.get("gateway")
        if gw is not None and hasattr(gw, "metric_families"):
            yield from gw.metric_families()


def _counter(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> Metric:
    m = CounterMetricFamily(name, doc, labels=list(labels or {}))
    m.add_metric(list((labels or {}).values()), value)
    return m


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> Metric:
    m = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    m.add_metric(list((labels or {}).values()), value)
    return m


def _rejects(rt: Runtime) -> Iterator[Metric]:
    try:
        with rt.store.engine.connect() as c:
            n = c.execute(text("SELECT coalesce(max(id), 0) FROM ingest_rejects")).scalar() or 0
        up = 1
    except Exception:
        n, up = 0, 0
    yield _counter("medtwin_rejects", "Items refused at ingest and kept as dead letters.", int(n))
    yield _gauge("medtwin_database_up", "1 when the database answered this scrape.", up)


def _mqtt(m: Any) -> Iterator[Metric]:
    if m is None:
        return
    yield _gauge("medtwin_mqtt_connected", "1 while connected to the broker.", int(m.connected.is_set()))
    yield _gauge(
        "medtwin_mqtt_pending", "MQTT messages received, not yet committed and acknowledged.", m.pending
    )
    yield _counter("medtwin_mqtt_messages", "MQTT messages received.", m.messages)
    yield _counter("medtwin_mqtt_acked", "MQTT messages acknowledged after commit.", m.acked)
    yield _counter("medtwin_mqtt_rejected_messages", "MQTT messages refused as a whole.", m.rejected_messages)


def _gaps(g: Any) -> Iterator[Metric]:
    if g is None:
        return
    s = g.stats()
    yield _gauge("medtwin_sequence_gaps_open", "Confirmed sequence gaps not yet filled.", s["open_gaps"])
    yield _gauge("medtwin_sequence_missing_messages", "Messages missing in open gaps.", s["missing_messages"])
    yield _counter("medtwin_sequence_late_fills", "Missing messages that arrived late.", s["late_fills"])
    yield _counter("medtwin_sequence_resets", "Device counter restarts seen.", s["resets"])
    yield _gauge("medtwin_sequence_devices", "Devices whose message numbers are tracked.", s["devices"])


def _alarms(svc: Any) -> Iterator[Metric]:
    if svc is None:
        return
    fam = GaugeMetricFamily("medtwin_alarms_open", "Open alarms by priority, state and kind.",
                            labels=["priority", "state", "kind"])  # fmt: skip
    counts: dict[tuple[str, str, str], int] = {}
    try:
        for a in svc.list(state="open"):
            k = (str(a.get("priority", "")), str(a.get("state", "")), str(a.get("kind", "")))
            counts[k] = counts.get(k, 0) + 1
    except Exception:
        return
    for k, n in sorted(counts.items()):
        fam.add_metric(list(k), n)
    yield fam


def metrics_for(runtime: Runtime) -> RuntimeMetrics:
    """The runtime's metrics (created and attached on first use)."""
    with _lock:
        m = runtime.services.get("metrics")
        if m is None:
            m = runtime.services["metrics"] = RuntimeMetrics(runtime)
            runtime.add_stopper(m.close)
        return m


def start_metrics(runtime: Runtime, _loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Start hook: attach the commit histograms as soon as the app starts."""
    metrics_for(runtime)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    return Response(metrics_for(rt).render(), media_type=CONTENT_TYPE_LATEST)
