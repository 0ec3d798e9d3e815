"""MQTT ingest end to end against the real Mosquitto: device -> broker -> ingest -> commit -> ack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from medtwin.config import Settings
from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.ingest.mqtt import MqttIngest, decode
from medtwin.runtime import Runtime
from medtwin.store.sql import SqlStore
from tests.conftest import MQTT_HOST, MQTT_PORT
from tests.integration.mqtt_helpers import Publisher, readings_for, wait_until


def _runtime(tmp_path: Path) -> Runtime:
    rt = Runtime(Settings.load(db=str(tmp_path / "mqtt.db"), mqtt_enabled=False))
    rt.registry.put(Twin("P1", TwinKind.PATIENT, "Synthetic One"))
    rt.registry.put(Twin("MON-1", TwinKind.DEVICE, "Monitor 1"))
    rt.registry.relate("MON-1", RelType.MONITORS, "P1")
    return rt.start()


def test_readings_stored_once_and_acked_after_commit(tmp_path: Path, mqtt_prefix: str) -> None:
    rt = _runtime(tmp_path)
    ing = MqttIngest(
        rt.ingestor,
        host=MQTT_HOST,
        port=MQTT_PORT,
        prefix=mqtt_prefix,
        client_id="t-" + uuid.uuid4().hex[:8],
        session_expiry_s=60,
    ).start()
    assert ing.wait_connected(10)
    pub = Publisher(MQTT_HOST, MQTT_PORT, mqtt_prefix, "p-" + uuid.uuid4().hex[:8])
    try:
        for seq in range(20):
            pub.send("MON-1", seq, readings_for(seq))  # patient from the device's monitors link
        for seq in range(10):  # the same messages again: stored once
            pub.send("MON-1", seq, readings_for(seq))
        pub.send(
            "MON-1",
            100,
            [
                {"code": "hr", "value": "fast", "time": "2026-11-28T08:00:00Z"},
                {"code": "spo2", "value": 97, "time": "2026-11-28T08:00:00Z"},
            ],
        )
        pub.send_raw("devices/MON-1/obs", b"\x00\xffnot json")
        assert wait_until(lambda: len(pub.acks) >= 32, 20)
        assert rt.store.count_observations() == 20 * 5 + 1
        by_seq = {a["seq"]: a for a in pub.acks if a["seq"] is not None}
        assert by_seq["0"]["accepted"] + by_seq["0"]["duplicates"] == 5
        assert sum(a["duplicates"] for a in pub.acks) == 50
        assert by_seq["100"]["rejected"] == [
            {"index": 0, "field": "value", "reason": "expected a number, got 'fast'"}
        ]
        assert any(a["status"] == "rejected" and a["rejected"][0]["field"] == "payload" for a in pub.acks)
        rejects = rt.store.rejects()
        assert {r["field"] for r in rejects} >= {"value", "payload"}
    finally:
        pub.close()
        ing.stop()
        rt.stop()


def test_decode_names_bad_fields() -> None:
    import pytest

    from medtwin.core.errors import ValidationError

    with pytest.raises(ValidationError) as e:
        decode("medtwin/v1/devices/A/obs", b'{"device": "B", "readings": []}')
    assert e.value.field == "device"
    with pytest.raises(ValidationError) as e:
        decode("medtwin/v1/devices/A/obs", b'{"readings": {}}')
    assert e.value.field == "readings"
    with pytest.raises(ValidationError) as e:
        decode("medtwin/v1/devices/A/xyz", b"{}")
    assert e.value.field == "topic"
    b = decode("medtwin/v1/devices/A/obs", b'{"readings": []}')
    assert b.msg_id.startswith("sha256:")  # no seq: the payload hash is the idempotency key


def _start_worker(db: str, prefix: str, client_id: str) -> subprocess.Popen[bytes]:
    """Start ``medtwin worker`` and wait until it has connected (and so subscribed) to the broker."""
    log = Path(db + f".{time.monotonic_ns()}.log")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medtwin.cli.main",
            "worker",
            "--db",
            db,
            "--mqtt-host",
            MQTT_HOST,
            "--mqtt-port",
            str(MQTT_PORT),
            "--prefix",
            prefix,
            "--client-id",
            client_id,
            "--session-expiry",
            "300",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert wait_until(
        lambda: "worker connected" in log.read_text(errors="replace") or proc.poll() is not None, 60
    )
    assert proc.poll() is None, log.read_text(errors="replace")
    return proc


def test_kill_9_of_the_ingest_process_loses_no_acknowledged_reading(tmp_path: Path, mqtt_prefix: str) -> None:
    """Kill the worker with SIGKILL mid-stream; every message the publisher sent (each PUBACKed by the
    broker) and every reading medtwin acknowledged is in the database exactly once after restart."""
    db = str(tmp_path / "kill.db")
    setup = SqlStore(db)
    setup.put_twin(Twin("P1", TwinKind.PATIENT, "Synthetic One"))
    setup.close()
    client_id = "kill-" + uuid.uuid4().hex[:8]
    worker = _start_worker(db, mqtt_prefix, client_id)
    pub = Publisher(MQTT_HOST, MQTT_PORT, mqtt_prefix, "kp-" + uuid.uuid4().hex[:8])
    n_msgs = 1500
    try:
        killed = 0
        for seq in range(n_msgs):
            pub.send("MON-K", seq, readings_for(seq), patient="P1")
            if seq in (400, 900):  # kill mid-stream, twice, and restart at once
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
                killed += 1
                worker = _start_worker(db, mqtt_prefix, client_id)
            time.sleep(0.002)
        store = SqlStore(db)
        try:
            ok = wait_until(lambda: store.count_observations() >= n_msgs * 5, 60, 0.5)
            assert ok, f"stored {store.count_observations()} of {n_msgs * 5}"
            acked = {a["seq"] for a in pub.acks if a.get("status") == "committed"}
            # every reading acknowledged by medtwin is there, and nothing is there twice
            from sqlalchemy import text

            with store.engine.connect() as c:
                rows = c.execute(text("SELECT source_id FROM observations")).all()
            stored_seqs = {r[0].split("/")[0] for r in rows}
            assert acked <= stored_seqs
            assert len(rows) == n_msgs * 5 == len({r[0] for r in rows})
            assert killed == 2
        finally:
            store.close()
    finally:
        pub.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
