"""Horizontal ingest on one PostgreSQL: two MQTT workers given the same messages store each reading
once; two workers in an MQTT v5 shared subscription split the load; two HTTP app instances (as
behind a load balancer) accept the same and different requests on one database."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.ingest.mqtt import MqttIngest
from medtwin.runtime import Runtime
from tests.conftest import MQTT_HOST, MQTT_PORT, auth_headers
from tests.integration.mqtt_helpers import Publisher, readings_for, wait_until

DEVICES = [f"MON-{i}" for i in range(4)]


def _worker(pg_url: str, tmp: Path, prefix: str, group: str = "") -> tuple[Runtime, MqttIngest]:
    rt = Runtime(Settings.load(db=pg_url, mqtt_enabled=False, data_dir=tmp)).start()
    ing = MqttIngest(rt.ingestor, host=MQTT_HOST, port=MQTT_PORT, prefix=prefix, shared_group=group,
                     client_id="w-" + uuid.uuid4().hex[:8], session_expiry_s=60).start()  # fmt: skip
    assert ing.wait_connected(10)
    return rt, ing


def _register(rt: Runtime) -> None:
    for i, d in enumerate(DEVICES):
        rt.registry.put(Twin(f"P{i}", TwinKind.PATIENT, f"Synthetic {i}"))
        rt.registry.put(Twin(d, TwinKind.DEVICE, d))
        rt.registry.relate(d, RelType.MONITORS, f"P{i}")


def _run(pg_url: str, tmp_path: Path, prefix: str, group: str, n: int) -> tuple[list, Publisher]:
    workers = [_worker(pg_url, tmp_path / str(k), prefix, group) for k in range(2)]
    _register(workers[0][0])
    pub = Publisher(MQTT_HOST, MQTT_PORT, prefix, "p-" + uuid.uuid4().hex[:8])
    for seq in range(n):
        pub.send(DEVICES[seq % 4], seq, readings_for(seq))
    return workers, pub


def test_same_messages_to_two_workers_are_stored_once(pg_url: str, tmp_path: Path, mqtt_prefix: str) -> None:
    workers, pub = _run(pg_url, tmp_path, mqtt_prefix, "", 40)  # no shared group: both get every message
    try:
        assert wait_until(lambda: all(w[1].acked >= 40 for w in workers), 30)
        rt = workers[0][0]
        assert rt.store.count_observations() == 40 * 5
        acks = pub.acks
        assert wait_until(lambda: len(acks) >= 80, 10)
        assert sum(a["accepted"] for a in acks) == 200 and sum(a["duplicates"] for a in acks) == 200
    finally:
        pub.close()
        for rt, ing in workers:
            ing.stop()
            rt.stop()


def test_shared_subscription_splits_the_load(pg_url: str, tmp_path: Path, mqtt_prefix: str) -> None:
    group = "g" + uuid.uuid4().hex[:6]
    workers, pub = _run(pg_url, tmp_path, mqtt_prefix, group, 60)
    try:
        assert wait_until(lambda: sum(w[1].acked for w in workers) >= 60, 30)
        counts = [w[1].messages for w in workers]
        assert sum(counts) == 60 and min(counts) > 0, counts  # each message to one worker, both busy
        assert workers[0][0].store.count_observations() == 60 * 5
    finally:
        pub.close()
        for rt, ing in workers:
            ing.stop()
            rt.stop()


def test_two_http_instances_on_one_database(pg_url: str, tmp_path: Path) -> None:
    rts = [
        Runtime(Settings.load(db=pg_url, mqtt_enabled=False, data_dir=tmp_path / str(k))) for k in range(2)
    ]
    _register(rts[0])
    with TestClient(create_app(rts[0])) as a, TestClient(create_app(rts[1])) as b:
        ha, hb = auth_headers(a), auth_headers(b)
        body = {"device": "MON-0", "seq": 7, "readings": readings_for(7)}
        ra = a.post("/api/ingest", json=body, headers=ha)
        rb = b.post("/api/ingest", json=body, headers=hb)  # the load balancer retried on the other one
        assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
        assert (ra.json()["accepted"], rb.json()["accepted"], rb.json()["duplicates"]) == (5, 0, 5)
        for seq in range(8, 12):
            client, h = (a, ha) if seq % 2 else (b, hb)
            r = client.post("/api/ingest", json={"device": "MON-1", "seq": seq, "readings": readings_for(seq)},
                            headers=h)  # fmt: skip
            assert r.status_code == 200 and r.json()["accepted"] == 5
        assert rts[1].store.count_observations() == 25
        window = {"start": "2026-11-28T00:00:00Z", "end": "2026-11-29T00:00:00Z"}
        hist = b.get("/api/twins/P1/observations", params=window, headers=hb)  # written by a and b, read on b
        assert hist.status_code == 200 and len(hist.json()) >= 20
