"""Small helpers shared by the simulated devices: time conversion and interval schedules.

Devices take timezone-aware datetimes and work internally in epoch seconds (float). A device
with a sampling interval emits at ``origin + k * interval``; :func:`boundaries` lists the
instants in (last, now], so stepping once per second or once per hour gives the same readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol


def epoch(t: datetime) -> float:
    if t.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware time")
    return t.timestamp()


def iso(ts: float) -> str:
    """Epoch seconds as ISO 8601 UTC with a 'Z' (milliseconds only when not whole seconds)."""
    when = datetime.fromtimestamp(ts, UTC)
    if when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def boundaries(last: float, now: float, origin: float, interval: float, limit: int = 100_000) -> list[float]:
    """Instants ``origin + k * interval`` (k >= 0) with last < instant <= now."""
    if now <= last or interval <= 0 or not math.isfinite(interval):
        return []
    k0 = max(0, math.floor((last - origin) / interval) + 1)
    k1 = math.floor((now - origin) / interval)
    if k1 - k0 + 1 > limit:
        k0 = k1 - limit + 1
    return [origin + k * interval for k in range(k0, k1 + 1)]


def phase_s(key: int, interval: float) -> float:
    """A whole-second offset in [0, interval) per device, so devices are not synchronised."""
    if not math.isfinite(interval) or interval < 2:
        return 0.0
    h = (key * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)
    return float(h % int(interval))


def next_boundary(after: float, origin: float, interval: float) -> float:
    """The first ``origin + k * interval`` (k >= 0) strictly after ``after``."""
    if not math.isfinite(interval):
        return math.inf
    k = max(0, math.floor((after - origin) / interval) + 1)
    return origin + k * interval


class Device(Protocol):
    """What a :class:`~medtwin.devices.ward.Ward` needs from a simulated device."""

    kind: ClassVar[str]  # "obs" (readings) or "med" (medication administrations)
    device_id: str
    patient_id: str | None

    def step(self, t: datetime) -> list[dict[str, Any]]: ...

    def next_due(self) -> float:
        """Epoch seconds of the next instant this device has something to send (inf: never)."""
        ...

    def ground_truth(self, end: datetime) -> dict[str, Any]: ...


@dataclass(slots=True)
class DeviceBatch:
    """Everything one device sends at one instant (one MQTT message)."""

    device_id: str
    patient_id: str | None
    time: datetime
    kind: str = "obs"  # "obs" or "med"
    readings: list[dict[str, Any]] = field(default_factory=list)
    medications: list[dict[str, Any]] = field(default_factory=list)
