"""R4: replay storm. Everything re-sent over MQTT, plus 10 % random duplicates, shuffled: the row count
and the twins' state (latest values and a hash of every stored row) stay exactly the same."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from medtwin.store.sql import SqlStore
from medtwin.testing.broker import Mosquitto
from tests.integration.reliability_helpers import Hospital, readings, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(120)]
DEVICES, MESSAGES, PER_MESSAGE = 20, 100, 5


def state_hash(store: SqlStore) -> str:
    h = hashlib.sha256()
    with store.engine.connect() as c:
        for table, order in (("observations", "id"), ("latest", "twin_id, code"), ("twins", "id")):
            cols = "*" if table != "twins" else "id, kind, attributes, active"
            for r in c.execute(text(f"SELECT {cols} FROM {table} ORDER BY {order}")):
                h.update(repr(tuple(r)).encode())
    return h.hexdigest()


def test_replay_storm_changes_nothing(tmp_path: Path) -> None:
    rnd = random.Random(64)
    with Mosquitto() as broker:
        hosp = Hospital(str(tmp_path / "h.db"), "127.0.0.1", broker.port, "hosp")
        acks: list[dict[str, Any]] = []
        pub = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="r-" + uuid.uuid4().hex[:6], protocol=mqtt.MQTTv5
        )
        pub.max_inflight_messages_set(500)
        pub.on_message = lambda _c, _u, m: acks.append(json.loads(m.payload))
        pub.connect("127.0.0.1", broker.port)
        pub.subscribe("hosp/devices/+/ack", qos=1)
        pub.loop_start()
        msgs = []
        for k in range(MESSAGES):
            for d in range(DEVICES):
                body = {
                    "device": f"MON-{d}",
                    "patient": f"P{d}",
                    "seq": k,
                    "readings": readings(k, PER_MESSAGE),
                }
                msgs.append((f"hosp/devices/MON-{d}/obs", json.dumps(body)))
        try:
            for topic, payload in msgs:
                pub.publish(topic, payload, qos=1)
            total = len(msgs) * PER_MESSAGE
            assert wait_until(lambda: len(acks) >= len(msgs), 60), len(acks)
            assert hosp.count() == total
            before = state_hash(hosp.rt.store)
            storm = msgs + rnd.sample(msgs, len(msgs) // 10)
            rnd.shuffle(storm)
            acks.clear()
            for topic, payload in storm:
                pub.publish(topic, payload, qos=1)
            assert wait_until(lambda: len(acks) >= len(storm), 60), len(acks)
            assert hosp.count() == total
            assert sum(a["accepted"] for a in acks) == 0
            assert sum(a["duplicates"] for a in acks) == len(storm) * PER_MESSAGE
            assert state_hash(hosp.rt.store) == before
        finally:
            pub.loop_stop()
            pub.disconnect()
            hosp.stop()
