"""Helpers for MQTT tests against the real Mosquitto broker."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Publisher:
    """A device (or gateway) publishing QoS 1 messages and collecting medtwin's acks."""

    def __init__(self, host: str, port: int, prefix: str, client_id: str) -> None:
        self.prefix = prefix
        self.acks: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.on_message = self._on_ack
        self.c.connect(host, port)
        self.c.subscribe(f"{prefix}/devices/+/ack", qos=1)
        self.c.loop_start()

    def _on_ack(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.acks.append(json.loads(msg.payload))

    def send(self, device: str, seq: int, readings: list[dict[str, Any]], patient: str | None = None) -> None:
        body: dict[str, Any] = {"device": device, "seq": seq, "readings": readings}
        if patient:
            body["patient"] = patient
        info = self.c.publish(f"{self.prefix}/devices/{device}/obs", json.dumps(body), qos=1)
        info.wait_for_publish(10)

    def send_raw(self, topic_tail: str, payload: bytes) -> None:
        self.c.publish(f"{self.prefix}/{topic_tail}", payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def readings_for(seq: int, n: int = 5, t0: datetime | None = None) -> list[dict[str, Any]]:
    t = (t0 or datetime(2026, 11, 28, 8, 0, tzinfo=UTC)) + timedelta(seconds=seq)
    iso = t.isoformat().replace("+00:00", "Z")
    kinds = [
        ("hr", 60 + seq % 40, "/min"),
        ("spo2", 90 + seq % 10, "%"),
        ("rr", 12 + seq % 8, "/min"),
        ("temp", 36.5 + (seq % 10) / 10, "Cel"),
        ("sbp", 100 + seq % 40, "mm[Hg]"),
    ]
    return [{"code": c, "value": v, "unit": u, "time": iso} for c, v, u in kinds[:n]]


def wait_until(pred: Any, timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
