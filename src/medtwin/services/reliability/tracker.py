"""Per-device message-sequence bookkeeping (pure: no I/O, time passed in).

Every device (or gateway) numbers its messages: ``seq`` increases by one per message. A reading
stored under the key ``(device, "<seq>/<i>")`` proves message ``seq`` arrived. The tracker keeps,
per device, the highest number seen and the ranges below it that have not been seen yet:

* ``seq == high + 1``: the normal case.
* ``seq > high + 1``: messages ``high+1 .. seq-1`` are missing: a new :class:`Gap`, *pending*
  until ``grace`` has passed (QoS 1 redelivery and gateways resending after an outage deliver
  late and out of order; most gaps close within seconds).
* ``seq <= high``: a late message; it fills its gap (a pending gap that fills is forgotten, a
  confirmed one shrinks and closes when empty).
* a jump of more than ``max_gap`` either way is a counter restart (a device reset, a simulator
  numbering from the clock), not a loss: the device is re-based and the jump is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Range = list[int]  # [first, last], inclusive


def remove_seq(ranges: list[Range], seq: int) -> bool:
    """Remove ``seq`` from sorted disjoint ranges in place; True if it was there."""
    for i, (a, b) in enumerate(ranges):
        if a <= seq <= b:
            if a == b:
                del ranges[i]
            elif seq == a:
                ranges[i] = [a + 1, b]
            elif seq == b:
                ranges[i] = [a, b - 1]
            else:
                ranges[i : i + 1] = [[a, seq - 1], [seq + 1, b]]
            return True
        if a > seq:
            return False
    return False


def count(ranges: list[Range]) -> int:
    return sum(b - a + 1 for a, b in ranges)


@dataclass
class Gap:
    device: str
    twin: str
    first: int
    last: int
    detected: datetime
    missing: list[Range] = field(default_factory=list)
    confirmed: bool = False
    id: int | None = None  # row id once persisted

    def __post_init__(self) -> None:
        if not self.missing:
            self.missing = [[self.first, self.last]]


@dataclass
class DeviceState:
    twin: str
    high: int
    gaps: list[Gap] = field(default_factory=list)
    dirty: bool = True


@dataclass
class Change:
    """What one call changed: ``kind`` is opened, filled (part of a confirmed gap arrived), closed
    (a confirmed gap is complete), forgotten (a pending gap filled in time) or reset (counter restart)."""

    kind: str
    device: str
    gap: Gap | None = None
    data: dict[str, Any] = field(default_factory=dict)


class SequenceTracker:
    def __init__(self, *, max_gap: int = 10_000) -> None:
        self.max_gap = max_gap
        self.devices: dict[str, DeviceState] = {}
        self.late_fills = 0
        self.resets = 0

    def seen(self, device: str, seq: int, twin: str, now: datetime) -> list[Change]:
        st = self.devices.get(device)
        if st is None:
            self.devices[device] = DeviceState(twin=twin, high=seq)
            return []
        st.twin = twin or st.twin
        if seq == st.high + 1:
            st.high = seq
            st.dirty = True
            return []
        if seq > st.high:
            if seq - st.high - 1 > self.max_gap:
                return [self._reset(st, device, seq)]
            gap = Gap(device, st.twin, st.high + 1, seq - 1, now)
            st.gaps.append(gap)
            st.high = seq
            st.dirty = True
            return [Change("opened", device, gap)]
        if st.high - seq > self.max_gap:
            return [self._reset(st, device, seq)]
        for gap in st.gaps:
            if gap.first <= seq <= gap.last and remove_seq(gap.missing, seq):
                self.late_fills += 1
                if gap.missing:
                    return [Change("filled", device, gap)] if gap.confirmed else []
                st.gaps.remove(gap)
                return [Change("closed" if gap.confirmed else "forgotten", device, gap)]
        return []  # already seen (a duplicate is never re-announced, so this is rare)

    def _reset(self, st: DeviceState, device: str, seq: int) -> Change:
        self.resets += 1
        old = st.high
        st.high = seq
        st.dirty = True
        return Change("reset", device, None, {"previous": old, "seq": seq})

    def due(self, now: datetime, grace_s: float) -> list[Gap]:
        """Pending gaps older than ``grace_s``: to verify against the store and then confirm."""
        out = []
        for st in self.devices.values():
            for gap in st.gaps:
                if not gap.confirmed and (now - gap.detected).total_seconds() >= grace_s:
                    out.append(gap)
        return out

    def drop(self, gap: Gap) -> None:
        st = self.devices.get(gap.device)
        if st is not None and gap in st.gaps:
            st.gaps.remove(gap)

    def open_missing(self, device: str) -> list[Range]:
        """The confirmed missing ranges of a device, sorted."""
        st = self.devices.get(device)
        if st is None:
            return []
        return sorted(r for g in st.gaps if g.confirmed for r in g.missing)

    def restore(self, device: str, twin: str, high: int, gaps: list[Gap]) -> None:
        self.devices[device] = DeviceState(twin=twin, high=high, gaps=gaps, dirty=False)
