"""Local intake of the gateway: MQTT on the local broker and tailed newline-delimited JSON files
(the HTTP intake is in :mod:`medtwin.gateway.app`). Each acknowledges a message only after the
outbox holds it durably; when the outbox is full it holds back instead of dropping:

* MQTT: the message stays unacknowledged (MQTT v5 Receive Maximum bounds how many the local broker
  hands us meanwhile; the rest wait in the broker) and is retried every ``retry_s``;
* files: the file is the buffer; reading resumes from the last stored offset.

A local message is ``{"device", "seq"?, "patient"?, "readings": [...]}`` (medications on the
``med`` topic or with ``"medications"``), or one reading with a ``device``:
``{"device": "cuff-1", "code": "sbp", "value": 128, "unit": "mm[Hg]", "time": "..."}``. Readings
without a ``time`` get the gateway's intake time. Bytes that are not such a message are kept as
dead letters in the outbox file (and acknowledged, since retrying them cannot help).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import threading
from collections import deque
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.core.ids import valid_id
from medtwin.gateway.config import GatewayConfig
from medtwin.gateway.outbox import Outbox, OutboxFull, Record, Stored

log = logging.getLogger(__name__)
MAX_MESSAGE = 1_048_576


def parse_local(body: Any, device: str | None = None, kind: str | None = None) -> Record:
    """Build an outbox record from a local message, or raise naming the field and reason."""
    if not isinstance(body, dict):
        raise ValidationError("a message must be a JSON object", field="body")
    claimed = body.get("device")
    if device is not None and claimed not in (None, device):
        raise ValidationError("payload device differs from the topic's", field="device")
    device = device or claimed
    if not isinstance(device, str) or not valid_id(device):
        raise ValidationError("device must be an id of 1-64 letters, digits, '.', '_' or '-'", field="device")
    seq = body.get("seq")
    if seq is not None:
        if isinstance(seq, str) and seq.isdigit():
            seq = int(seq)
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValidationError("seq must be a non-negative integer", field="seq")
    patient = body.get("patient")
    if patient is not None and (not isinstance(patient, str) or not valid_id(patient)):
        raise ValidationError("patient must be an id", field="patient")
    if kind is None:
        kind = "med" if "medications" in body else "obs"
    key = "readings" if kind == "obs" else "medications"
    items = body.get(key)
    if items is None and kind == "obs" and "code" in body:  # one reading, serial-device style
        items = [{k: v for k, v in body.items() if k not in ("device", "seq", "patient")}]
    if not isinstance(items, list) or not items:
        raise ValidationError(f"{key} must be a non-empty list", field=key)
    now = None
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            raise ValidationError(f"item {i} must be an object", field=key)
        if "time" not in it and "t" not in it:
            now = now or datetime.now(UTC).isoformat().replace("+00:00", "Z")
            it["time"] = now
    return Record(device=device, items=items, kind=kind, dseq=seq, patient=patient)


def dead_record(
    device: str | None, reason: str, raw: bytes, offset: tuple[str, int, int] | None = None
) -> Record:
    return Record(device=device or "", items=[], dead_reason=reason, raw=raw[:65536], offset=offset)


# ---------------------------------------------------------------------- local MQTT
class LocalMqttIntake:
    def __init__(
        self, cfg: GatewayConfig, outbox: Outbox, on_stored: Any = None, retry_s: float = 0.5
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.cfg, self.outbox = cfg, outbox
        self.on_stored = on_stored or (lambda: None)
        self.retry_s = retry_s
        self.prefix = cfg.local_prefix
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"medtwin-gw-{cfg.gateway_id}-local",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a: self.connected.clear()
        self.client.on_message = self._on_message
        self._held: deque[Any] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._retry_loop, name="gateway-local-mqtt", daemon=True)
        self.counters = {"messages": 0, "stored": 0, "held": 0, "dead": 0}

    def start(self) -> LocalMqttIntake:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        props.ReceiveMaximum = self.cfg.local_receive_max
        self.client.connect_async(
            self.cfg.local_mqtt_host,
            self.cfg.local_mqtt_port,
            keepalive=15,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def held(self) -> int:
        return len(self._held)

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("local broker refused the connection: %s", reason)
            return
        client.subscribe([(f"{self.prefix}/devices/+/obs", 1), (f"{self.prefix}/devices/+/med", 1)])
        self.connected.set()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        self.counters["messages"] += 1
        with self._lock:
            if self._held:  # keep the order: behind what is already waiting
                self._held.append(msg)
                return
        if not self._try(msg):
            with self._lock:
                self._held.append(msg)
                self.counters["held"] += 1

    def _retry_loop(self) -> None:
        while not self._stop.wait(self.retry_s):
            while True:
                with self._lock:
                    if not self._held:
                        break
                    msg = self._held[0]
                if not self._try(msg):
                    break
                with self._lock:
                    self._held.popleft()

    def _record(self, msg: Any) -> Record:
        parts = msg.topic.split("/")
        device = parts[-2] if len(parts) >= 3 else None
        kind = parts[-1] if parts and parts[-1] in ("obs", "med") else "obs"
        try:
            if len(msg.payload) > MAX_MESSAGE:
                raise ValidationError("message larger than 1 MiB", field="payload")
            return parse_local(json.loads(msg.payload), device, kind)
        except (ValueError, ValidationError) as exc:
            return dead_record(device, str(exc), msg.payload)

    def _try(self, msg: Any) -> bool:
        rec = self._record(msg)
        try:
            fut = self.outbox.submit([rec])
        except OutboxFull:
            return False
        fut.add_done_callback(lambda f: self._stored(msg, rec, f))
        return True

    def _stored(self, msg: Any, rec: Record, fut: Future[list[Stored]]) -> None:
        [st] = fut.result()
        if msg.qos > 0:
            self.client.ack(msg.mid, msg.qos)
        if rec.dead_reason is not None:
            self.counters["dead"] += 1
            return
        self.counters["stored"] += 1
        ack = {"seq": rec.dseq, "status": "stored", "duplicate": st.duplicate, "gateway_seq": st.dseq}
        self.client.publish(f"{self.prefix}/devices/{rec.device}/ack", json.dumps(ack), qos=1)
        self.on_stored()


# ---------------------------------------------------------------------- tailed files
class FileTailer:
    """Tail newline-delimited JSON files (glob patterns); offsets are stored with the records."""

    def __init__(self, cfg: GatewayConfig, outbox: Outbox, on_stored: Any = None, chunk: int = 200) -> None:
        self.cfg, self.outbox = cfg, outbox
        self.on_stored = on_stored or (lambda: None)
        self.chunk = chunk
        self._offsets: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-files", daemon=True)
        self.counters = {"lines": 0, "stored": 0, "dead": 0, "held": 0}
        self.blocked = False

    def start(self) -> FileTailer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                progressed = self.poll()
            except Exception:
                log.exception("file intake failed; retrying")
                progressed = False
            if not progressed:
                self._stop.wait(self.cfg.file_poll_s)

    def poll(self) -> bool:
        """One pass over the files; True if anything was stored."""
        progressed = False
        for pattern in self.cfg.files:
            for path in sorted(glob.glob(pattern)):
                progressed |= self._tail(path)
        return progressed

    def _tail(self, path: str) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return False
        saved = self._offsets.get(path) or self.outbox.file_offset(path)
        offset = 0
        if saved is not None and saved[0] == st.st_ino and saved[1] <= st.st_size:
            offset = saved[1]
        elif saved is not None:
            log.info("a tailed file was replaced or truncated; reading it from the start")
        if st.st_size <= offset:
            return False
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(min(st.st_size - offset, 4 * MAX_MESSAGE))
        end = data.rfind(b"\n")
        if end < 0:
            return False  # an incomplete last line: wait for the rest
        records: list[Record] = []
        pos = offset
        for line in data[: end + 1].split(b"\n")[:-1]:
            pos += len(line) + 1
            self.counters["lines"] += 1
            text = line.strip()
            if not text:
                continue
            where = (path, st.st_ino, pos)
            try:
                rec = parse_local(json.loads(text))
                rec.offset = where
            except (ValueError, ValidationError) as exc:
                rec = dead_record(None, str(exc), text, where)
            records.append(rec)
            if len(records) >= self.chunk:
                if not self._store(path, st.st_ino, records):
                    return False
                records = []
        if records and not self._store(path, st.st_ino, records):
            return False
        self._offsets[path] = (st.st_ino, pos)
        return True

    def _store(self, path: str, inode: int, records: list[Record]) -> bool:
        try:
            fut = self.outbox.submit(records)
        except OutboxFull:
            self.blocked = True
            self.counters["held"] += 1
            return False
        fut.result()
        self.blocked = False
        last = records[-1].offset
        if last is not None:
            self._offsets[path] = (inode, last[2])
        self.counters["stored"] += sum(1 for r in records if r.dead_reason is None)
        self.counters["dead"] += sum(1 for r in records if r.dead_reason is not None)
        self.on_stored()
        return True
