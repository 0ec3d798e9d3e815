"""Clocks. Time is injected: never call ``datetime.now()`` in the kernel or the models.

* :class:`WallClock` reads the system clock (UTC, timezone-aware).
* :class:`ManualClock` only moves when told to; tests and simulations use it.
* :class:`PacedClock` runs simulated time at a multiple of wall time (accelerated demos).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("naive datetime")
        self._now = when


class PacedClock:
    """Simulated time that runs ``speed`` times faster than the wall clock from ``start``."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._start = start
        self._t0 = time.monotonic()
        self.speed = speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)


def to_us(when: datetime) -> int:
    """Microseconds since the Unix epoch for an aware datetime (the store's time column)."""
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)
