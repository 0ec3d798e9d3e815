"""Forwarding the outbox to the hospital, deleting only what the hospital confirmed as committed.

The :class:`Forwarder` thread reads outbox rows in order, groups rows of the same device (and
patient, and kind) into uplink messages in medtwin's native shape, and hands them to a transport:

* :class:`MqttTransport`: QoS 1 to ``{prefix}/devices/{device}/obs|med`` on the hospital broker
  (MQTT v5, persistent session); medtwin answers on ``{prefix}/devices/{device}/ack`` with
  ``{"seq", "status": "committed", ...}`` *after its commit* (a broker PUBACK is not storage).
* :class:`HttpTransport`: ``POST {url}/api/ingest``, which answers after the commit.

Every reading carries its idempotency key as ``"id": "<device seq>/<i>"``, exactly the key the
hospital would give it had the device published directly, so a resend (after a timeout, a
reconnect, a restart of the gateway or of either broker) is stored once. A message not confirmed
within ``ack_timeout_s`` is sent again; rows are deleted only when confirmed. Rows the hospital
refused for good (HTTP 422 or 400) become dead letters in the outbox file, never silently dropped.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from medtwin.gateway.config import GatewayConfig
from medtwin.gateway.outbox import Outbox, Row

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass
class Message:
    key: str  # the uplink message's "seq" (the first outbox seq in it): what the ack names
    device: str
    kind: str
    seqs: list[int]
    body: bytes
    items: int
    sent: float = 0.0
    attempts: int = 0


@dataclass
class Confirmation:
    device: str
    key: str
    ok: bool  # committed (True) or refused for good (False)
    rejected: int = 0
    reason: str = ""
    rejects: list[dict[str, Any]] | None = None  # {"index", "field", "reason"} of items refused


class Transport(Protocol):
    connected: threading.Event

    def start(self, on_confirm: Any) -> None: ...
    def send(self, msg: Message) -> None: ...
    def stop(self) -> None: ...


def build_messages(rows: list[Row], cfg: GatewayConfig) -> list[Message]:
    """Group rows (kept in outbox order) by device, kind and patient into uplink messages."""
    groups: dict[tuple[str, str, str | None], list[Row]] = {}
    for r in rows:
        patient = r.patient or cfg.patients.get(r.device)
        groups.setdefault((r.device, r.kind, patient), []).append(r)
    out: list[Message] = []
    for (device, kind, patient), rs in groups.items():
        items: list[dict[str, Any]] = []
        seqs: list[int] = []
        size = 0
        for r in rs:
            row_items = orjson.loads(r.body)
            if items and (
                len(items) + len(row_items) > cfg.max_readings_per_message
                or size + r.size > MAX_MESSAGE_BYTES
            ):
                out.append(_message(device, kind, patient, seqs, items, cfg))
                items, seqs, size = [], [], 0
            for i, it in enumerate(row_items):
                if isinstance(it, dict) and it.get("id") in (None, ""):
                    it["id"] = f"{r.dseq}/{i}" if kind == "obs" else f"{r.dseq}/m{i}"
                items.append(it)
            seqs.append(r.seq)
            size += r.size
        if seqs:
            out.append(_message(device, kind, patient, seqs, items, cfg))
    return out


def _message(
    device: str, kind: str, patient: str | None, seqs: list[int], items: list[Any], cfg: GatewayConfig
) -> Message:
    body: dict[str, Any] = {"device": device, "seq": seqs[0], "gateway": cfg.gateway_id}
    if patient:
        body["patient"] = patient
    body["readings" if kind == "obs" else "medications"] = items
    return Message(str(seqs[0]), device, kind, list(seqs), orjson.dumps(body), len(items))


class Forwarder:
    def __init__(self, outbox: Outbox, cfg: GatewayConfig, transport: Transport) -> None:
        self.outbox = outbox
        self.cfg = cfg
        self.transport = transport
        self.inflight: dict[tuple[str, str], Message] = {}
        self._confirms: deque[Confirmation] = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._cursor = 0
        self._was_connected = False
        self._thread: threading.Thread | None = None
        self.counters = {
            "sent": 0,
            "resent": 0,
            "confirmed_messages": 0,
            "refused_messages": 0,
            "rejected_items": 0,
        }
        self.last_confirm = 0.0  # wall time of the last confirmation

    def start(self) -> Forwarder:
        self.transport.start(self._on_confirm)
        self._thread = threading.Thread(target=self._run, name="gateway-uplink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(10)
        self.transport.stop()

    def wake(self) -> None:
        with self._cv:
            self._cv.notify()

    def _on_confirm(self, c: Confirmation) -> None:
        with self._cv:
            self._confirms.append(c)
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                if not self._confirms and not self._stop:
                    self._cv.wait(self.cfg.linger_s)
                if self._stop:
                    return
                confirms = list(self._confirms)
                self._confirms.clear()
            try:
                self._apply(confirms)
                self._pump()
            except Exception:
                log.exception("uplink loop failed; retrying")
                time.sleep(0.5)

    def _apply(self, confirms: list[Confirmation]) -> None:
        done: list[int] = []
        dead: list[tuple[int, str]] = []
        for c in confirms:
            msg = self.inflight.pop((c.device, c.key), None)
            if msg is None:
                continue  # an ack of an earlier copy, already handled
            self.last_confirm = time.time()
            if c.ok:
                done.extend(msg.seqs)
                self.counters["confirmed_messages"] += 1
                self.counters["rejected_items"] += c.rejected
                if c.rejects:
                    self._keep_rejects(msg, c.rejects)
            else:
                dead.extend((s, c.reason or "refused by the hospital") for s in msg.seqs)
                self.counters["refused_messages"] += 1
        if done or dead:
            self.outbox.confirm(done, dead)

    def _keep_rejects(self, msg: Message, rejects: list[dict[str, Any]]) -> None:
        """Items the hospital refused inside a committed message: keep them as a local dead letter."""
        from medtwin.gateway.intake import dead_record

        key = "readings" if msg.kind == "obs" else "medications"
        items = orjson.loads(msg.body).get(key, [])
        kept = [
            {
                **r,
                "item": items[r["index"]]
                if isinstance(r.get("index"), int) and r["index"] < len(items)
                else None,
            }
            for r in rejects
        ]
        reason = f"hospital rejected {len(rejects)} item(s): " + "; ".join(
            f"{r.get('field')}: {r.get('reason')}" for r in rejects[:3]
        )
        self.outbox.submit([dead_record(msg.device, reason, orjson.dumps(kept))])

    def _pump(self) -> None:
        connected = self.transport.connected.is_set()
        if not connected:
            self._was_connected = False
            return
        now = time.monotonic()
        reconnected = not self._was_connected
        self._was_connected = True
        for msg in list(self.inflight.values()):
            if reconnected or now - msg.sent >= self.cfg.ack_timeout_s:
                self._send(msg, resend=True)
        room = self.cfg.max_inflight - len(self.inflight)
        while room > 0 and self.transport.connected.is_set():
            rows = self.outbox.pending(self._cursor, min(room * 20, 5000))
            if not rows:
                return
            self._cursor = rows[-1].seq
            for msg in build_messages(rows, self.cfg):
                self.inflight[(msg.device, msg.key)] = msg
                self._send(msg)
            room = self.cfg.max_inflight - len(self.inflight)

    def _send(self, msg: Message, resend: bool = False) -> None:
        msg.sent = time.monotonic()
        msg.attempts += 1
        self.counters["resent" if resend else "sent"] += 1
        try:
            self.transport.send(msg)
        except Exception as exc:  # the transport reconnects; the message is resent after the timeout
            log.warning("uplink send failed: %s", exc)


# ---------------------------------------------------------------------- MQTT
class MqttTransport:
    def __init__(self, cfg: GatewayConfig) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.cfg = cfg
        self.prefix = cfg.hospital_prefix
        self.connected = threading.Event()
        self._devices: set[str] = set()
        self._lock = threading.Lock()
        self._on_confirm: Any = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"medtwin-gw-{cfg.gateway_id}", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        if cfg.hospital_username:
            self.client.username_pw_set(cfg.hospital_username, cfg.hospital_password)
        if cfg.hospital_tls:
            self.client.tls_set(ca_certs=cfg.hospital_ca_file or None)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self, on_confirm: Any) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._on_confirm = on_confirm
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        self.client.connect_async(
            self.cfg.hospital_mqtt_host, self.cfg.hospital_mqtt_port, keepalive=15, clean_start=False,
            properties=props,
        )  # fmt: skip
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _ack_topic(self, device: str) -> str:
        return f"{self.prefix}/devices/{device}/ack"

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("hospital broker refused the connection: %s", reason)
            return
        with self._lock:
            topics = [self._ack_topic(d) for d in sorted(self._devices)]
        for i in range(0, len(topics), 100):  # the session may be new (broker restarted without it)
            client.subscribe([(t, 1) for t in topics[i : i + 100]])
        self.connected.set()
        log.info("uplink connected to the hospital broker")

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        log.warning("uplink disconnected (%s); reconnecting", reason)

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        parts = msg.topic.split("/")
        if len(parts) < 3 or parts[-1] != "ack":
            return
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        seq = body.get("seq")
        if seq is None:
            return
        ok = body.get("status") == "committed"
        rejected = body.get("rejected") or []
        self._on_confirm(
            Confirmation(parts[-2], str(seq), ok, len(rejected), "rejected by the hospital", rejected)
        )

    def send(self, msg: Message) -> None:
        with self._lock:
            new = msg.device not in self._devices
            if new:
                self._devices.add(msg.device)
        if new:
            self.client.subscribe(self._ack_topic(msg.device), qos=1)
        self.client.publish(f"{self.prefix}/devices/{msg.device}/{msg.kind}", msg.body, qos=1)


# ---------------------------------------------------------------------- HTTPS
class HttpTransport:
    """POST /api/ingest; the answer comes after the hospital's commit. Runs in the forwarder thread."""

    def __init__(self, cfg: GatewayConfig) -> None:
        import httpx

        self.cfg = cfg
        self.connected = threading.Event()
        self.connected.set()
        self._on_confirm: Any = None
        headers = {"content-type": "application/json", "x-medtwin-gateway": cfg.gateway_id}
        if cfg.hospital_token:
            headers["authorization"] = f"Bearer {cfg.hospital_token}"
        verify: Any = True
        if cfg.hospital_ca_file:
            verify = ssl.create_default_context(cafile=cfg.hospital_ca_file)
        self.client = httpx.Client(base_url=cfg.hospital_url, headers=headers, timeout=30.0, verify=verify)
        self._down_until = 0.0
        self._backoff = 0.5

    def start(self, on_confirm: Any) -> None:
        self._on_confirm = on_confirm

    def stop(self) -> None:
        self.client.close()

    def send(self, msg: Message) -> None:
        import httpx

        if time.monotonic() < self._down_until:
            return
        try:
            r = self.client.post("/api/ingest", content=msg.body)
        except httpx.HTTPError as exc:
            self._down(f"{type(exc).__name__}")
            return
        if r.status_code == 200:
            self._backoff = 0.5
            rejects = r.json().get("rejected") or []
            self._on_confirm(Confirmation(msg.device, msg.key, True, len(rejects), "", rejects))
        elif r.status_code in (400, 422):
            self._on_confirm(
                Confirmation(msg.device, msg.key, False, msg.items, f"HTTP {r.status_code}: {r.text[:300]}")
            )
        else:  # 5xx, 401/403 (configuration), 413, 429: keep and retry later
            self._down(f"HTTP {r.status_code}")

    def _down(self, why: str) -> None:
        """Mark the uplink down; it counts as reconnected (and everything unconfirmed is resent)
        after a backoff."""
        log.warning("hospital HTTPS uplink unavailable (%s); retrying in %.1fs", why, self._backoff)
        self._down_until = time.monotonic() + self._backoff
        if self.connected.is_set():
            self.connected.clear()
            t = threading.Timer(self._backoff, self.connected.set)
            t.daemon = True
            t.start()
        self._backoff = min(self._backoff * 2, 30.0)
