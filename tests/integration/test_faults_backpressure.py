"""Backpressure and bounded memory under overload.

* Ingest: the store stalls (another process holds SQLite's write lock for 5 s) while 60,000
  readings arrive over MQTT. The writer queue stays within its bound, nothing is acknowledged
  while nothing commits (the broker keeps the rest), memory stays flat, and after the stall every
  reading is stored once.
* Gateway: the hospital is unreachable while local devices keep posting. The outbox takes what
  fits in its budget, then answers 503 with Retry-After (never a silent drop); every reading it
  answered 200 for is in the outbox; memory stays flat (the backlog is on disk).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from medtwin.gateway.app import create_gateway_app
from medtwin.gateway.config import GatewayConfig
from medtwin.gateway.service import Gateway
from medtwin.testing.broker import Mosquitto, free_port
from tests.integration.reliability_helpers import Hospital, readings, stored_keys, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(120)]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_stalled_store_slows_acknowledgements_and_bounds_memory(tmp_path: Path) -> None:
    messages, per = 600, 100
    with Mosquitto(max_inflight=100) as broker:
        hosp = Hospital(str(tmp_path / "h.db"), "127.0.0.1", broker.port, "hosp", patients=1)
        hosp.rt.writer.max_queue_rows = 5_000
        pub = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bp-" + uuid.uuid4().hex[:6], protocol=mqtt.MQTTv5
        )
        pub.max_inflight_messages_set(200)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        payloads = [
            json.dumps(
                {"device": f"MON-{k % 50}", "patient": "P0000", "seq": k, "readings": readings(k, per)}
            )
            for k in range(messages)
        ]
        lock = sqlite3.connect(tmp_path / "h.db", isolation_level=None, timeout=5)
        try:
            assert wait_until(hosp.mqtt.connected.is_set, 10)
            base = rss_mb()
            lock.execute("BEGIN EXCLUSIVE")  # the store stalls
            acked0 = hosp.mqtt.acked
            infos = [pub.publish(f"hosp/devices/MON-{k % 50}/obs", p, qos=1) for k, p in enumerate(payloads)]
            peak_queue = peak_rss = 0.0
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                peak_queue = max(peak_queue, hosp.rt.writer.queued_rows)
                peak_rss = max(peak_rss, rss_mb())
                assert hosp.mqtt.acked == acked0  # nothing acknowledged while nothing commits
                time.sleep(0.05)
            pending = hosp.mqtt.pending
            lock.execute("COMMIT")
            for i in infos:
                i.wait_for_publish(10)
            assert wait_until(lambda: hosp.count() == messages * per, 60), hosp.count()
            keys = stored_keys(hosp.rt.store)
            assert len(set(keys)) == len(keys) == messages * per
            assert peak_queue <= 5_000 + per, peak_queue  # bounded queue: producers blocked instead
            assert pending <= 60, pending  # the rest waited in the broker, unacknowledged
            assert peak_rss - base < 60, (base, peak_rss)
            print(
                f"stall: peak queue {peak_queue:.0f} rows, {pending} messages pending, RSS +{peak_rss - base:.1f} MB"
            )
        finally:
            lock.close()
            pub.loop_stop()
            pub.disconnect()
            hosp.stop()


def test_gateway_sheds_to_its_outbox_and_refuses_at_budget(tmp_path: Path) -> None:
    cfg = GatewayConfig(
        gateway_id="gw-bp", data_dir=tmp_path / "gw", hospital_mqtt_port=free_port(), http_port=0,
        budget_bytes=1024 * 1024,
    ).check()  # fmt: skip  # the hospital broker's port: nobody listens
    gw = Gateway(cfg).start()
    ok = refused = 0
    try:
        with TestClient(create_gateway_app(gw)) as client:
            base = rss_mb()
            for k in range(20_000):
                r = client.post(
                    "/ingest", json={"device": f"BAND-{k % 20}", "seq": k, "readings": readings(k, 10)}
                )
                if r.status_code == 200:
                    ok += 1
                else:
                    assert r.status_code == 503 and r.headers["retry-after"] == "5"
                    assert r.json()["errors"][0]["field"] == "outbox"
                    refused += 1
                    if refused >= 50:
                        break
            grown = rss_mb() - base
            st = client.get("/status").json()
            assert client.get("/readyz").status_code == 503  # not ready while refusing
        assert refused == 50 and ok > 300
        assert st["outbox"]["rows"] == ok  # every 200 is in the outbox
        assert st["alarms"] == {"outbox_high": True, "outbox_full": True}
        assert st["outbox"]["used_bytes"] <= cfg.budget_bytes
        assert grown < 40, grown  # the backlog is on disk, not in memory
        print(f"gateway: {ok} stored, then 503; RSS +{grown:.1f} MB")
    finally:
        gw.stop()
