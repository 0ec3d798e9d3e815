"""MQTT ingest end to end against the real Mosquitto: device -> broker -> ingest -> commit -> ack."""

from __future__ import annotations

import uuid
from pathlib import Path

from medtwin.config import Settings
from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.ingest.mqtt import MqttIngest, decode
from medtwin.runtime import Runtime
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
