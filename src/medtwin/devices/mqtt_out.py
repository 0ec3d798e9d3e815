"""Publish simulated device output to an MQTT broker (paho-mqtt 2.x, MQTT v5, QoS 1).

Each :class:`~medtwin.devices.base.DeviceBatch` becomes one message (see
:mod:`medtwin.devices.messages`): readings on ``{prefix}/devices/{id}/obs``, medication
administrations on ``{prefix}/devices/{id}/med``. A :class:`MqttPublisher` is callable with a
list of batches, so it plugs straight into :class:`~medtwin.devices.runner.SimulationRunner`.

QoS 1 means at-least-once delivery to the broker (a broker's PUBACK is not storage; see
DESIGN.md); paho keeps unacknowledged messages in memory and resends them after a reconnect.
``max_queued`` bounds that memory (and must stay below 65,535, the MQTT packet-id space):
when that many messages await acknowledgement the publisher waits up to ``block_s`` for room
(back-pressure, which a :class:`SimulationRunner` absorbs by skipping ahead), then drops and
counts. Credentials, if any, are passed in by the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from medtwin.devices.base import DeviceBatch
from medtwin.devices.messages import DEFAULT_PREFIX, Sequencer, batch_messages, encode

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PublishStats:
    published: int = 0
    acknowledged: int = 0
    dropped: int = 0


class MqttPublisher:
    def __init__(
        self,
        host: str = "localhost",
        port: int = 1883,
        *,
        prefix: str = DEFAULT_PREFIX,
        client_id: str = "",
        qos: int = 1,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        keepalive: int = 30,
        max_inflight: int = 100,
        max_queued: int = 20_000,
        block_s: float = 5.0,
        client: Any = None,
    ) -> None:
        if not 0 < max_queued < 65_535:
            raise ValueError("max_queued must be 1-65534 (MQTT packet ids are 16-bit)")
        self.host, self.port, self.prefix, self.qos, self.keepalive = host, port, prefix, qos, keepalive
        self.max_queued, self.block_s = max_queued, block_s
        self.seq = Sequencer()
        self.stats = PublishStats()
        self._connected = threading.Event()
        self._lock = threading.Lock()
        if client is None:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
            )
            client.max_inflight_messages_set(max_inflight)
            client.max_queued_messages_set(min(65_000, max_queued + max_inflight + 100))
            if username is not None:
                client.username_pw_set(username, password)
            if tls:
                client.tls_set()
        self.client = client
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish

    # paho VERSION2 callbacks
    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any = None
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            log.warning("MQTT connect refused: %s", reason_code)
            return
        self._connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any = None
    ) -> None:
        self._connected.clear()
        log.info("MQTT disconnected: %s", reason_code)

    def _on_publish(
        self, client: Any, userdata: Any, mid: int, reason_code: Any = None, properties: Any = None
    ) -> None:
        with self._lock:
            self.stats.acknowledged += 1

    def connect(self, timeout: float = 10.0) -> None:
        """Connect and start paho's network thread; raise if the broker does not answer in time."""
        self.client.connect(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.client.loop_stop()
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} did not accept the connection")

    def publish_batches(self, batches: Iterable[DeviceBatch]) -> int:
        """Publish one message per batch; returns how many were handed to the client.

        Back-pressure: while ``max_queued`` messages await their PUBACK, wait (up to
        ``block_s``) rather than queue more; a message that still cannot be queued is dropped
        and counted.
        """
        n = 0
        for topic, payload in batch_messages(batches, self.seq, self.prefix):
            data = encode(payload)
            deadline = time.monotonic() + self.block_s
            while True:
                if self.qos == 0 or self.pending() < self.max_queued:
                    info = self.client.publish(topic, data, qos=self.qos)
                    if info.rc == 0:
                        n += 1
                        with self._lock:
                            self.stats.published += 1
                        break
                if time.monotonic() >= deadline:
                    with self._lock:
                        self.stats.dropped += 1
                    break
                time.sleep(0.002)
        return n

    __call__ = publish_batches

    def pending(self) -> int:
        with self._lock:
            return self.stats.published - self.stats.acknowledged if self.qos > 0 else 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the broker acknowledged everything published (QoS 1); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending() > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.pending() <= 0

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttPublisher:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
