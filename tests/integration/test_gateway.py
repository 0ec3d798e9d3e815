"""The gateway: outbox budget and restarts, intake (HTTP, files, local MQTT), MQTT and HTTPS uplinks."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from medtwin.core.events import Generic
from medtwin.gateway.app import create_gateway_app
from medtwin.gateway.config import GatewayConfig
from medtwin.gateway.outbox import Outbox, OutboxFull, Record
from medtwin.gateway.service import Gateway
from medtwin.testing.broker import Mosquitto, free_port
from tests.integration.reliability_helpers import Hospital, readings, stored_keys, wait_until


def _rec(device: str, seq: int | None, n: int = 5) -> Record:
    return Record(device=device, items=readings(seq or 0, n), dseq=seq, patient="P0000")


def test_outbox_budget_alarm_refusal_and_clear(tmp_path: Path) -> None:
    events: list[tuple[str, bool]] = []
    ob = Outbox(tmp_path / "o.db", budget_bytes=20_000, on_alarm=lambda n, p, _i: events.append((n, p)))
    stored = 0
    with pytest.raises(OutboxFull):
        for s in range(1000):
            ob.submit([_rec("D1", s)]).result(10)
            stored += 1
    assert ("outbox_high", True) in events
    assert 0.8 * 20_000 <= ob.used <= 20_000 and ob.rows == stored
    assert events[-1] == ("outbox_full", True)
    # the hospital confirms most of it: both alarms clear
    seqs = [r.seq for r in ob.pending(0, 10_000)]
    ob.confirm(seqs[: stored - 2]).result(10)
    assert ob.rows == 2 and ("outbox_high", False) in events and events[-1][1] is False
    ob.submit([_rec("D1", 5000)]).result(10)  # room again
    ob.close()


def test_outbox_survives_restart_and_recognises_redelivery(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", budget_bytes=10_000_000)
    [a] = ob.submit([_rec("D1", 7)]).result(10)
    [b] = ob.submit([_rec("D1", 7)]).result(10)  # local redelivery of the same message
    [c] = ob.submit([_rec("D2", None)]).result(10)  # the gateway numbers it
    [d] = ob.submit([_rec("D2", None)]).result(10)
    assert not a.duplicate and b.duplicate and a.dseq == 7
    assert d.dseq == c.dseq + 1 and c.dseq > 1_700_000_000_000  # a counter starts at epoch ms
    used, rows = ob.used, ob.rows
    ob.close()
    ob2 = Outbox(tmp_path / "o.db", budget_bytes=10_000_000)
    assert (ob2.used, ob2.rows) == (used, rows) == (used, 3)
    [e] = ob2.submit([_rec("D2", None)]).result(10)
    assert e.dseq == d.dseq + 1
    ob2.close()


@pytest.fixture
def broker() -> Any:
    with Mosquitto() as b:
        yield b


def _cfg(tmp_path: Path, port: int, **kw: Any) -> GatewayConfig:
    base = {
        "gateway_id": "gw-t",
        "data_dir": tmp_path / "gw",
        "hospital_mqtt_port": port,
        "hospital_prefix": "hosp",
        "local_prefix": "local",
        "http_port": 0,
        "ack_timeout_s": 3.0,
        "linger_s": 0.02,
    }
    base.update(kw)
    return GatewayConfig(**base).check()


def test_gateway_forwards_http_file_and_local_mqtt_intake_over_mqtt(
    tmp_path: Path, broker: Mosquitto
) -> None:
    hosp = Hospital(str(tmp_path / "h.db"), "127.0.0.1", broker.port, "hosp", patients=3)
    feed = tmp_path / "serial-cuff.ndjson"
    feed.write_text("")
    cfg = _cfg(tmp_path, broker.port, local_mqtt_port=broker.port, files=[str(tmp_path / "*.ndjson")],
               patients={"CUFF-1": "P0002"})  # fmt: skip
    gw = Gateway(cfg)
    alarms: list[Any] = []
    gw.bus.subscribe(Generic, alarms.append)
    gw.start()
    dev = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="dev-" + uuid.uuid4().hex[:6], protocol=mqtt.MQTTv5
    )
    local_acks: list[dict[str, Any]] = []
    dev.on_message = lambda _c, _u, m: local_acks.append(json.loads(m.payload))
    dev.connect("127.0.0.1", broker.port)
    dev.subscribe("local/devices/+/ack", qos=1)
    dev.loop_start()
    try:
        with TestClient(create_gateway_app(gw)) as client:
            for s in range(10):  # HTTP intake, the device's own numbers
                r = client.post(
                    "/ingest",
                    json={"device": "MON-H", "patient": "P0000", "seq": s, "readings": readings(s, 3)},
                )
                assert r.status_code == 200 and r.json()["status"] == "stored"
            r = client.post(
                "/ingest", json={"device": "MON-H", "seq": 3, "patient": "P0000", "readings": readings(3, 3)}
            )
            assert r.status_code == 200  # a resend: stored once at the hospital (end-to-end key)
            assert client.post("/ingest", json={"device": "bad id!", "readings": []}).status_code == 422
            assert client.get("/healthz").status_code == 200
            assert "medtwin_gateway_outbox_rows" in client.get("/metrics").text
        assert wait_until(dev.is_connected, 5) and wait_until(gw.local_mqtt.connected.is_set, 10)  # type: ignore[union-attr]
        for s in range(20):  # local MQTT intake
            body = {"patient": "P0001", "seq": 100 + s, "readings": readings(s, 2)}
            dev.publish("local/devices/MON-M/obs", json.dumps(body), qos=1).wait_for_publish(5)
        dev.publish("local/devices/MON-M/obs", b"not json", qos=1)
        with feed.open("a") as f:  # serial-like file intake, with a partial last line
            for s in range(15):
                f.write(json.dumps({"device": "CUFF-1", "code": "sbp", "value": 120 + s, "unit": "mm[Hg]",
                                    "time": f"2026-11-28T09:00:{s:02d}Z"}) + "\n")  # fmt: skip
            f.write('{"device": "CUFF-1", "code": "sbp", "val')
        expected = 10 * 3 + 20 * 2 + 15
        assert wait_until(lambda: hosp.count() == expected and gw.outbox.rows == 0, 30), (
            hosp.count(),
            gw.status(),
        )
        keys = stored_keys(hosp.rt.store)
        assert len(keys) == len(set(keys)) == expected
        assert ("MON-H", "3/1") in keys and ("MON-M", "105/0") in keys  # the devices' own keys, end to end
        assert sum(1 for k in keys if k[0] == "CUFF-1") == 15
        assert hosp.rt.store.count_observations("P0002") == 15
        assert wait_until(lambda: len(local_acks) >= 20, 5)
        assert {a["status"] for a in local_acks} == {"stored"}
        assert gw.outbox.counters["dead"] == 1  # the junk message, kept
        with feed.open("a") as f:
            f.write('ue": 99, "unit": "mm[Hg]", "time": "2026-11-28T09:01:00Z"}\n')
        assert wait_until(lambda: hosp.count() == expected + 1, 10)
    finally:
        dev.loop_stop()
        dev.disconnect()
        gw.stop()
        hosp.stop()
    # a restarted gateway resumes the file after the last stored line: nothing twice
    gw2 = Gateway(cfg).start()
    hosp2 = Hospital(str(tmp_path / "h.db"), "127.0.0.1", broker.port, "hosp")
    try:
        time.sleep(1.5)
        assert gw2.outbox.counters["stored"] == 0 and hosp2.count() == expected + 1
    finally:
        gw2.stop()
        hosp2.stop()


def test_gateway_https_uplink_answers_after_commit(tmp_path: Path) -> None:
    import uvicorn

    from medtwin.api.app import create_app
    from medtwin.config import Settings
    from medtwin.runtime import Runtime

    rt = Runtime(Settings.load(db=str(tmp_path / "h.db"), mqtt_enabled=False, auto_register=True))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    from medtwin.security.service import security_for

    key = security_for(rt).accounts.add_device_key("gw-t", relay=True, devices=["CGM-*"])  # the gateway's key
    cfg = _cfg(tmp_path, 1, uplink="https", hospital_url=f"http://127.0.0.1:{port}", hospital_token=key)
    gw = Gateway(cfg).start()
    try:
        for s in range(30):  # stored while the hospital is not up yet
            gw.submit([Record("CGM-1", readings(s, 4), dseq=s, patient="P0009")]).result(5)
        bad = [{"code": "hr", "value": "fast", "time": "2026-11-28T08:00:00Z"}]
        gw.submit([Record("CGM-1", bad, patient="P0008")])  # a message of its own, refused as a whole (422)
        gw.submit([Record("CGM-1", [*readings(99, 1), *bad], dseq=99, patient="P0009")])  # one item refused
        time.sleep(1.0)
        assert gw.outbox.rows == 32
        t.start()
        assert wait_until(lambda: gw.outbox.rows == 0, 30), gw.status()
        assert rt.store.count_observations() == 121
        assert gw.outbox.counters["dead"] == 2  # refused for good: kept as dead letters
        reasons = sorted(d["reason"] for d in gw.outbox.dead_letters())
        assert reasons[0].startswith("HTTP 422") and reasons[1].startswith(
            "hospital rejected 1 item(s): value"
        )
    finally:
        gw.stop()
        server.should_exit = True
        t.join(10)


def test_gateway_restarting_above_the_alarm_level_raises_the_alarm_at_once(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 1, budget_bytes=20_000)
    gw = Gateway(cfg)  # not started: the hospital is unreachable anyway
    while gw.outbox.ratio < 0.85:
        gw.submit([_rec("D1", None)]).result(10)
    gw.stop()
    gw2 = Gateway(cfg)
    events: list[Any] = []
    gw2.bus.subscribe(Generic, events.append)
    try:
        assert gw2.outbox.alarms["outbox_high"] and gw2.alarm_events == 1
    finally:
        gw2.stop()
