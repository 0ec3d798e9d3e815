"""R3 (short version; the 10-minute one is benchmarks/gateway_outage.py): the gateway's uplink is cut,
the gateway itself is killed with SIGKILL and restarted during the outage, then the link comes back.

20 devices publish 10 messages/s of 5 readings each to the ward's local broker for 10 s; the
``medtwin gateway`` process forwards to the hospital broker through a TCP proxy that the test
cuts at 1.5 s and restores at 7 s. The outbox budget is small (0.3 MiB), so the outage fills it past 80 %
(alarm) and to 100 % (refusal: local messages wait unacknowledged in the local broker). Pass: every
reading stored once at the hospital, per-device sequences without gaps, the alarm logged.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from medtwin.services.reliability.gaps import GapService
from medtwin.testing.broker import Mosquitto, free_port
from tests.integration.reliability_helpers import (
    Hospital,
    TcpProxy,
    readings,
    start_process,
    stop_process,
    stored_keys,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(180)]
DEVICES, RATE, SECONDS, PER_MESSAGE = 20, 10, 10, 5


def _gateway(tmp_path: Path, local: int, proxy: int, http: int) -> object:
    return start_process(
        [
            "medtwin.cli.gateway",
            "run",
            "--id",
            "gw-ward",
            "--data-dir",
            str(tmp_path / "gw"),
            "--local-mqtt",
            f"127.0.0.1:{local}",
            "--hospital-mqtt",
            f"127.0.0.1:{proxy}",
            "--hospital-prefix",
            "hosp",
            "--local-prefix",
            "ward",
            "--http-port",
            str(http),
            "--budget-mb",
            "0.3",
            "--ack-timeout",
            "2",
        ],
        tmp_path / "gateway.log",
        "gateway gw-ward running",
    )


def test_uplink_outage_and_gateway_kill_lose_nothing(tmp_path: Path) -> None:
    hospital_broker = Mosquitto().start()
    local_broker = Mosquitto(persistence=True).start()
    proxy = TcpProxy(hospital_broker.port)
    hosp = Hospital(str(tmp_path / "h.db"), "127.0.0.1", hospital_broker.port, "hosp")
    gaps = GapService.attach(hosp.rt, grace_s=3.0).start()
    http = free_port()
    gw = _gateway(tmp_path, local_broker.port, proxy.port, http)
    dev = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="ward-devs-" + uuid.uuid4().hex[:6], protocol=mqtt.MQTTv5
    )
    dev.max_inflight_messages_set(500)
    dev.connect("127.0.0.1", local_broker.port)
    dev.loop_start()
    infos = []

    def stream() -> None:
        start = time.monotonic()
        for k in range(RATE * SECONDS):
            for d in range(DEVICES):
                body = {"patient": f"P{d:02d}", "seq": k, "readings": readings(k, PER_MESSAGE)}
                infos.append(dev.publish(f"ward/devices/BAND-{d:02d}/obs", json.dumps(body), qos=1))
            time.sleep(max(0.0, start + (k + 1) / RATE - time.monotonic()))

    t = threading.Thread(target=stream)
    try:
        t.start()
        time.sleep(1.5)
        proxy.cut()
        time.sleep(2.0)
        stop_process(gw, sig_kill=True)  # the gateway crashes during the outage
        gw = _gateway(tmp_path, local_broker.port, proxy.port, http)
        time.sleep(3.5)
        proxy.restore()
        t.join()
        for i in infos:
            i.wait_for_publish(10)
        total = DEVICES * RATE * SECONDS * PER_MESSAGE
        ok = wait_until(lambda: hosp.count() == total, 90, 0.25)
        assert ok, f"stored {hosp.count()} of {total}"
        keys = stored_keys(hosp.rt.store)
        assert len(keys) == len(set(keys)) == total
        expected = {
            (f"BAND-{d:02d}", f"{k}/{i}")
            for d in range(DEVICES)
            for k in range(RATE * SECONDS)
            for i in range(PER_MESSAGE)
        }
        assert set(keys) == expected
        time.sleep(3.5)  # past the gap service's grace period
        gaps.tick()
        assert gaps.stats()["open_gaps"] == 0 and gaps.alarms_raised == 0
        log = (tmp_path / "gateway.log").read_text(errors="replace")
        assert "gateway alarm outbox_high raised" in log  # the 80 % alarm during the outage
        assert "gateway alarm outbox_full raised" in log  # and refusal at 100 %: held back, not dropped
        import httpx

        m = httpx.get(f"http://127.0.0.1:{http}/metrics", timeout=5).text
        assert "medtwin_gateway_outbox_rows" in m
        assert wait_until(lambda: "medtwin_gateway_outbox_rows{gateway=\"gw-ward\"} 0.0" in httpx.get(
            f"http://127.0.0.1:{http}/metrics", timeout=5).text, 10)  # fmt: skip
    finally:
        dev.loop_stop()
        dev.disconnect()
        stop_process(gw)
        hosp.stop()
        proxy.close()
        local_broker.stop()
        hospital_broker.stop()
