"""R1: ``medtwin worker`` killed with SIGKILL at random moments of a stream: 10 runs x 10,000 readings.

Each run: a fresh database, a worker on a private broker, 500 QoS 1 messages of 20 readings
published at ~400 messages/s; the worker is killed at a random moment and restarted at once (the
broker keeps its persistent session and the unacknowledged messages). Pass: exactly 10,000 rows,
every expected key once, every message medtwin acknowledged as committed is stored.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from medtwin.core.model import Twin, TwinKind
from medtwin.store.sql import SqlStore
from medtwin.testing.broker import Mosquitto
from tests.integration.reliability_helpers import (
    readings,
    start_process,
    stop_process,
    stored_keys,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(240)]
RUNS, MESSAGES, PER_MESSAGE = 10, 500, 20


@pytest.fixture(scope="module")
def broker() -> Any:
    with Mosquitto(max_inflight=100) as b:
        yield b


def _worker(db: str, port: int, prefix: str, client_id: str, log: Path) -> Any:
    return start_process(
        [
            "medtwin.cli.main",
            "worker",
            "--db",
            db,
            "--mqtt-port",
            str(port),
            "--prefix",
            prefix,
            "--client-id",
            client_id,
            "--session-expiry",
            "300",
        ],
        log,
        "worker connected",
    )


@pytest.mark.parametrize("run", range(RUNS))
def test_consumer_kill_9_at_a_random_moment_loses_and_duplicates_nothing(
    run: int, broker: Mosquitto, tmp_path: Path
) -> None:
    rnd = random.Random(6000 + run)
    db = str(tmp_path / "kill.db")
    s = SqlStore(db)
    s.put_twin(Twin("P1", TwinKind.PATIENT))
    s.close()
    prefix, client_id = f"kill{run}-{uuid.uuid4().hex[:6]}", f"w-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    worker = _worker(db, broker.port, prefix, client_id, log)
    time.sleep(0.3)  # its SUBSCRIBE is processed before we publish (the session is new)
    acks: list[dict[str, Any]] = []
    pub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="p-" + uuid.uuid4().hex[:8], protocol=mqtt.MQTTv5
    )
    pub.max_inflight_messages_set(200)
    pub.on_message = lambda _c, _u, m: acks.append(json.loads(m.payload))
    pub.connect("127.0.0.1", broker.port)
    pub.subscribe(f"{prefix}/devices/+/ack", qos=1)
    pub.loop_start()
    infos = []

    def stream() -> None:
        for seq in range(MESSAGES):
            device = f"MON-{seq % 10}"
            body = {"device": device, "patient": "P1", "seq": seq, "readings": readings(seq, PER_MESSAGE)}
            infos.append(pub.publish(f"{prefix}/devices/{device}/obs", json.dumps(body), qos=1))
            time.sleep(0.0025)

    t = threading.Thread(target=stream)
    try:
        t.start()
        time.sleep(rnd.uniform(0.1, 1.2))
        stop_process(worker, sig_kill=True)
        killed_at = len(infos)
        worker = _worker(db, broker.port, prefix, client_id, log)
        t.join()
        for i in infos:
            i.wait_for_publish(10)
        store = SqlStore(db)
        try:
            ok = wait_until(lambda: store.count_observations() >= MESSAGES * PER_MESSAGE, 60, 0.2)
            keys = stored_keys(store)
        finally:
            store.close()
        assert ok, f"stored {len(keys)} of {MESSAGES * PER_MESSAGE} (killed after {killed_at} messages)"
        expected = {(f"MON-{q % 10}", f"{q}/{i}") for q in range(MESSAGES) for i in range(PER_MESSAGE)}
        assert len(keys) == len(set(keys)) == MESSAGES * PER_MESSAGE  # 0 duplicated
        assert set(keys) == expected  # 0 lost
        acked = {(a["seq"]) for a in acks if a.get("status") == "committed"}
        assert acked <= {str(q) for q in range(MESSAGES)}
    finally:
        pub.loop_stop()
        pub.disconnect()
        stop_process(worker)
