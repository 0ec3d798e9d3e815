"""Prometheus /metrics: ingest lag, commit latency, queue depth, duplicates, gaps, alarms."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from medtwin.api import metrics
from medtwin.api.app import create_app
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime
from medtwin.services.reliability.gaps import GapService
from tests.conftest import auth_headers


def _value(body: str, name: str) -> float:
    for line in body.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_exposes_ingest_figures(runtime: Runtime) -> None:
    runtime.registry.put(Twin("P1", TwinKind.PATIENT))
    GapService.attach(runtime).start()
    app = create_app(runtime, own_runtime=False, on_start=[metrics.start_metrics])
    with TestClient(app, headers=auth_headers(runtime, "operations")) as client:
        t = (runtime.clock.now() - timedelta(seconds=3)).isoformat()
        for seq in (1, 1, 2):
            batch = ReadingBatch(
                "MON-1", str(seq), [{"code": "hr", "value": 70, "unit": "/min", "time": t}], "P1", "MON-1"
            )
            runtime.ingestor.ingest(batch).result(10)
        r = client.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        body = r.text
    assert _value(body, "medtwin_rows_committed_total") == 2
    assert _value(body, "medtwin_duplicates_total") == 1
    assert _value(body, "medtwin_ingest_queue_rows") == 0
    assert _value(body, "medtwin_ingest_lag_seconds_count") == 2
    assert 2.5 < _value(body, "medtwin_ingest_last_lag_seconds") < 60
    assert _value(body, "medtwin_commit_latency_seconds_count") == 2
    assert _value(body, "medtwin_sequence_gaps_open") == 0
    assert _value(body, "medtwin_database_up") == 1
    assert _value(body, "process_resident_memory_bytes") > 0
