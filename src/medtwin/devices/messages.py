"""MQTT JSON messages for simulated devices (the format medtwin's MQTT adapter ingests).

One message per device per instant, on ``{prefix}/devices/{device_id}/obs``::

    {"device": "w1-mon-001", "patient": "w1-pt-001", "seq": 17, "sent": "2026-03-01T08:00:16Z",
     "readings": [{"code": "hr", "value": 72, "unit": "/min", "time": "2026-03-01T08:00:16Z"}, ...]}

and medication administrations on ``{prefix}/devices/{device_id}/med``::

    {"device": "w1-mar-001", "patient": "w1-pt-001", "seq": 3,
     "medications": [{"drug": "paracetamol", "dose": 1000, "unit": "mg", "route": "oral",
                      "time": "...", "performer": "rn-04", "id": "w1-mar-001-0-2"}]}

``seq`` increases by one per message of a device (both topics share the counter), so a
consumer can spot gaps and duplicates; ``patient`` is left out when the device has none (a room
sensor). Builders are pure; transports live in :mod:`medtwin.devices.mqtt_out`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from medtwin.core.ids import valid_id
from medtwin.devices.base import DeviceBatch, epoch, iso

DEFAULT_PREFIX = "medtwin/v1"


def _check(device_id: str) -> None:
    if not valid_id(device_id):
        raise ValueError(f"device id {device_id[:40]!r} is not a valid id (letters, digits, '.', '_', '-')")


def obs_topic(device_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    _check(device_id)
    return f"{prefix}/devices/{device_id}/obs"


def med_topic(device_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    _check(device_id)
    return f"{prefix}/devices/{device_id}/med"


def obs_message(
    device_id: str,
    readings: Sequence[dict[str, Any]],
    *,
    seq: int,
    sent: datetime,
    patient_id: str | None = None,
) -> dict[str, Any]:
    msg: dict[str, Any] = {"device": device_id}
    if patient_id is not None:
        msg["patient"] = patient_id
    msg.update(seq=seq, sent=iso(epoch(sent)), readings=list(readings))
    return msg


def med_message(
    device_id: str, medications: Sequence[dict[str, Any]], *, seq: int, patient_id: str | None = None
) -> dict[str, Any]:
    msg: dict[str, Any] = {"device": device_id}
    if patient_id is not None:
        msg["patient"] = patient_id
    msg.update(seq=seq, medications=list(medications))
    return msg


class Sequencer:
    """Per-device message counters (start at ``start + 1``).

    A device that restarts its counter would have its new messages taken for duplicates of old
    ones (the idempotency key is (device, seq)); a real device keeps its counter across restarts,
    a simulator that cannot should start from a time-based ``start`` (e.g. epoch milliseconds).
    """

    def __init__(self, start: int = 0) -> None:
        self._n: dict[str, int] = {}
        self._start = start

    def next(self, device_id: str) -> int:
        n = self._n.get(device_id, self._start) + 1
        self._n[device_id] = n
        return n


def batch_messages(
    batches: Iterable[DeviceBatch],
    seq: Sequencer,
    prefix: str = DEFAULT_PREFIX,
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) for each batch; ``sent`` is the batch's (simulated) time."""
    out = []
    for b in batches:
        if b.kind == "med":
            if b.medications:
                out.append(
                    (
                        med_topic(b.device_id, prefix),
                        med_message(
                            b.device_id, b.medications, seq=seq.next(b.device_id), patient_id=b.patient_id
                        ),
                    )
                )
        elif b.readings:
            out.append(
                (
                    obs_topic(b.device_id, prefix),
                    obs_message(
                        b.device_id,
                        b.readings,
                        seq=seq.next(b.device_id),
                        sent=b.time,
                        patient_id=b.patient_id,
                    ),
                )
            )
    return out


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
