"""GapService: per-device sequence-gap detection on committed readings, as technical alarms.

It subscribes to :class:`ObservationsRecorded` (and the writer's ``medications_recorded``): every
newly committed device reading keyed ``(device, "<seq>/<i>")`` (MQTT, HTTP ``/api/ingest``,
gateways, numeric HL7 control ids) tells that message ``seq`` of ``device`` arrived. The bus
handler runs in the writer's thread, so it only queues the sequence numbers; the service's own
thread feeds them to a :class:`~medtwin.services.reliability.tracker.SequenceTracker`.

A gap stays *pending* for ``grace_s`` (30 s): late and reordered messages fill most gaps. Then
each missing number is looked up in the store (another worker of a shared subscription, or this
one before a restart, may have committed it); what is still missing is persisted in
``sequence_gaps`` and announced as a technical alarm. A message that arrives later fills its
gap; when a device has nothing missing any more the alarm is announced as no longer present.
Watermarks (highest number per device) are persisted every ``flush_s`` (10 s), so a gap across a
restart of medtwin is also found.

Event contract (one alarm per device, re-announced on every change)::

    Generic(type="technical_alarm", context=Context(actor="system:gaps"), data={
        "twin": "<patient (or place) id of the device's readings>",
        "condition": "sequence_gap",
        "present": True,                      # False once every missing message arrived (or was closed)
        "device": "<device id>",
        "missing": [[first, last], ...],      # inclusive ranges of message numbers still missing
        "missing_count": 3,
        "gap_ids": [12, 13],                  # rows of sequence_gaps still open
        "detected": "<ISO time of the oldest open gap>",
        "reason": "opened" | "filled" | "closed" | "restored",
    })

A counter restart (a jump of more than ``max_gap`` numbers) is not a loss; it is announced as
``Generic(type="sequence_reset", data={"device", "twin", "previous", "seq"})`` and logged.

Limitations: readings that carry their own ``id`` (not ``<seq>/<i>``) are not tracked; a message
whose every reading was rejected counts as missing (its readings are not in the twin; the
rejects are in ``ingest_rejects``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.core.events import Context, Generic, ObservationsRecorded
from medtwin.core.model import Method
from medtwin.services.reliability.tracker import Change, Gap, SequenceTracker, count, remove_seq

if TYPE_CHECKING:
    from medtwin.runtime import Runtime

log = logging.getLogger(__name__)
CONTEXT = Context(actor="system:gaps")
CONDITION = "sequence_gap"
EVENT_TYPE = "technical_alarm"


def message_seq(source_id: str) -> int | None:
    """``"1234/0"`` -> 1234; ``"1234/m0"`` -> 1234; anything else -> None."""
    head, sep, _ = source_id.partition("/")
    if not sep or not head or len(head) > 18 or not head.isdigit():
        return None
    return int(head)


class GapService:
    def __init__(
        self,
        runtime: Runtime,
        *,
        grace_s: float = 30.0,
        max_gap: int = 10_000,
        tick_s: float = 0.5,
        flush_s: float = 10.0,
        verify_limit: int = 2_000,
    ) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.bus = runtime.bus
        self.clock = runtime.clock
        self.grace_s = grace_s
        self.tick_s = tick_s
        self.flush_s = flush_s
        self.verify_limit = verify_limit
        self.tracker = SequenceTracker(max_gap=max_gap)
        self._q: deque[tuple[str, int, str]] = deque()
        self._cv = threading.Condition()
        self._lock = threading.RLock()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._unsubs: list[Any] = []
        self._last_flush = 0.0
        self.alarms_raised = 0
        self.errors = 0

    # ------------------------------------------------------------------ wiring
    @classmethod
    def attach(cls, runtime: Runtime, **kw: Any) -> GapService:
        svc = cls(runtime, **kw)
        runtime.services["gaps"] = svc
        runtime.add_stopper(svc.stop)
        return svc

    def start(self) -> GapService:
        if self._thread is not None:
            return self
        self.restore()
        self._unsubs = [
            self.bus.subscribe(ObservationsRecorded, self._on_observations),
            self.bus.subscribe(Generic, self._on_generic),
        ]
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="medtwin-gaps", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for u in self._unsubs:
            u()
        self._unsubs = []
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        try:
            self._drain()
            self.flush()
        except Exception:
            log.exception("gap service: final flush failed")

    # ------------------------------------------------------------------ bus handlers (writer thread)
    def _on_observations(self, event: ObservationsRecorded) -> None:
        seen: set[tuple[str, int]] = set()
        items = []
        for o in event.observations:
            if o.method is not Method.DEVICE:
                continue
            seq = message_seq(o.source_id)
            if seq is None or (o.source, seq) in seen:
                continue
            seen.add((o.source, seq))
            items.append((o.source, seq, o.twin_id))
        self._enqueue(items)

    def _on_generic(self, event: Generic) -> None:
        if event.type != "medications_recorded":
            return
        items, seen = [], set()
        for m in event.data.get("medications", ()):
            seq = message_seq(getattr(m, "source_id", ""))
            if seq is not None and (m.source, seq) not in seen:
                seen.add((m.source, seq))
                items.append((m.source, seq, m.twin_id))
        self._enqueue(items)

    def _enqueue(self, items: list[tuple[str, int, str]]) -> None:
        if not items:
            return
        with self._cv:
            self._q.extend(items)
            self._cv.notify()

    # ------------------------------------------------------------------ the service thread
    def _run(self) -> None:
        while True:
            with self._cv:
                if not self._q and not self._stop:
                    self._cv.wait(self.tick_s)
                if self._stop:
                    return
            try:
                self._drain()
                self.tick()
            except Exception:
                self.errors += 1
                log.exception("gap service tick failed")

    def _drain(self) -> None:
        changes: list[Change] = []
        now = self.clock.now()
        with self._lock:
            while self._q:
                device, seq, twin = self._q.popleft()
                changes.extend(self.tracker.seen(device, seq, twin, now))
            self._apply(changes, now)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Tests: wait until the queue is processed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._q:
                with self._lock:
                    return True
            time.sleep(0.01)
        return not self._q

    def tick(self) -> None:
        """Confirm due gaps (after verifying them against the store) and flush watermarks."""
        now = self.clock.now()
        with self._lock:
            for gap in self.tracker.due(now, self.grace_s):
                self._confirm(gap, now)
            if time.monotonic() - self._last_flush >= self.flush_s:
                self.flush()

    def _apply(self, changes: list[Change], now: datetime) -> None:
        touched: dict[str, str] = {}
        for ch in changes:
            if ch.kind == "reset":
                st = self.tracker.devices[ch.device]
                log.info(
                    "device sequence restarted (%s -> %s); re-based", ch.data["previous"], ch.data["seq"]
                )
                self.bus.publish(
                    Generic(
                        time=now,
                        context=CONTEXT,
                        type="sequence_reset",
                        data={"device": ch.device, "twin": st.twin, **ch.data},
                    )
                )
            elif ch.kind in ("filled", "closed") and ch.gap is not None:
                self._save_gap(ch.gap, now, closed=ch.kind == "closed")
                touched[ch.device] = ch.kind
        for device, reason in touched.items():
            self._announce(device, now, reason)

    def _confirm(self, gap: Gap, now: datetime) -> None:
        checked = 0
        for a, b in [list(r) for r in gap.missing]:
            for seq in range(a, b + 1):
                if checked >= self.verify_limit:
                    break
                checked += 1
                if self._stored(gap.device, seq):
                    remove_seq(gap.missing, seq)
        if not gap.missing:
            self.tracker.drop(gap)
            return
        gap.confirmed = True
        self._save_gap(gap, now, closed=False)
        self.alarms_raised += 1
        log.warning("sequence gap: %d message(s) missing from a device", count(gap.missing))
        self._announce(gap.device, now, "opened")

    def _stored(self, device: str, seq: int) -> bool:
        lo, hi = f"{seq}/", f"{seq}0"  # '0' sorts right after '/': every "<seq>/..." key lies in [lo, hi)
        q = "SELECT 1 FROM {t} WHERE source = :d AND source_id >= :lo AND source_id < :hi LIMIT 1"
        with self.store.engine.connect() as c:
            for table in ("observations", "medications"):
                if c.execute(text(q.format(t=table)), {"d": device, "lo": lo, "hi": hi}).first():
                    return True
        return False

    def _announce(self, device: str, now: datetime, reason: str) -> None:
        st = self.tracker.devices.get(device)
        if st is None:
            return
        open_gaps = [g for g in st.gaps if g.confirmed]
        missing = self.tracker.open_missing(device)
        self.bus.publish(
            Generic(
                time=now,
                context=CONTEXT,
                type=EVENT_TYPE,
                data={
                    "twin": st.twin or device,
                    "condition": CONDITION,
                    "present": bool(missing),
                    "device": device,
                    "missing": missing,
                    "missing_count": count(missing),
                    "gap_ids": [g.id for g in open_gaps],
                    "detected": min((g.detected for g in open_gaps), default=now).isoformat(),
                    "reason": reason,
                },
            )
        )

    # ------------------------------------------------------------------ persistence
    def _save_gap(self, gap: Gap, now: datetime, *, closed: bool) -> None:
        params = {
            "d": gap.device,
            "t": gap.twin,
            "f": gap.first,
            "l": gap.last,
            "m": json.dumps(gap.missing),
            "s": "filled" if closed else "open",
            "det": to_us(gap.detected),
            "now": to_us(now),
            "closed": to_us(now) if closed else None,
        }
        with self.store.transaction() as c:
            if gap.id is None:
                gap.id = int(
                    c.execute(
                        text(
                            "INSERT INTO sequence_gaps (device, twin_id, first_seq, last_seq, missing, state, "
                            "detected_us, updated_us, closed_us) VALUES (:d, :t, :f, :l, :m, :s, :det, :now, :closed) "
                            "RETURNING id"
                        ),
                        params,
                    ).scalar_one()
                )
            else:
                c.execute(
                    text(
                        "UPDATE sequence_gaps SET missing = :m, state = :s, updated_us = :now, closed_us = :closed "
                        "WHERE id = :id"
                    ),
                    {**params, "id": gap.id},
                )

    def flush(self) -> None:
        """Persist the watermarks of devices that moved."""
        with self._lock:
            dirty = [(d, st) for d, st in self.tracker.devices.items() if st.dirty]
            if dirty:
                now = self._now_us()
                with self.store.transaction() as c:
                    c.execute(
                        text(
                            "INSERT INTO device_sequences (device, twin_id, high_seq, updated_us) "
                            "VALUES (:d, :t, :h, :u) ON CONFLICT (device) DO UPDATE SET "
                            "twin_id = excluded.twin_id, high_seq = excluded.high_seq, updated_us = excluded.updated_us"
                        ),
                        [{"d": d, "t": st.twin, "h": st.high, "u": now} for d, st in dirty],
                    )
                for _, st in dirty:
                    st.dirty = False
            self._last_flush = time.monotonic()

    def _now_us(self) -> int:
        return to_us(self.clock.now())

    def restore(self) -> None:
        """Load watermarks and open gaps (after a restart)."""
        with self.store.engine.connect() as c:
            marks = c.execute(text("SELECT device, twin_id, high_seq FROM device_sequences")).all()
            rows = c.execute(
                text(
                    "SELECT id, device, twin_id, first_seq, last_seq, missing, detected_us FROM sequence_gaps "
                    "WHERE state = 'open' ORDER BY id"
                )
            ).all()
        gaps: dict[str, list[Gap]] = {}
        for r in rows:
            g = Gap(r[1], r[2], int(r[3]), int(r[4]), from_us(int(r[6])), json.loads(r[5]), True, int(r[0]))
            gaps.setdefault(r[1], []).append(g)
        with self._lock:
            for device, twin, high in marks:
                self.tracker.restore(device, twin, int(high), gaps.pop(device, []))
            for device, gs in gaps.items():  # open gaps without a watermark row (should not happen)
                self.tracker.restore(device, gs[0].twin, max(g.last for g in gs) + 1, gs)
            if rows:
                now = self.clock.now()
                for device in {r[1] for r in rows}:
                    self._announce(device, now, "restored")

    # ------------------------------------------------------------------ queries and operators
    def open_gaps(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT id, device, twin_id, first_seq, last_seq, missing, detected_us FROM sequence_gaps "
                    "WHERE state = 'open' ORDER BY id"
                )
            ).all()
        return [
            {
                "id": r[0],
                "device": r[1],
                "twin": r[2],
                "first": r[3],
                "last": r[4],
                "missing": json.loads(r[5]),
                "detected": from_us(int(r[6])).isoformat(),
            }
            for r in rows
        ]

    def close_device(self, device: str) -> int:
        """An operator accepts the loss (e.g. the device was off): close its open gaps."""
        now = self.clock.now()
        with self._lock:
            st = self.tracker.devices.get(device)
            closed = [g for g in st.gaps if g.confirmed] if st else []
            with self.store.transaction() as c:
                c.execute(
                    text(
                        "UPDATE sequence_gaps SET state = 'closed', updated_us = :u, closed_us = :u "
                        "WHERE device = :d AND state = 'open'"
                    ),
                    {"d": device, "u": to_us(now)},
                )
            if st is not None:
                st.gaps = [g for g in st.gaps if not g.confirmed]
                self._announce(device, now, "closed")
        return len(closed)

    def stats(self) -> dict[str, int]:
        with self._lock:
            gaps = [g for st in self.tracker.devices.values() for g in st.gaps if g.confirmed]
            return {
                "devices": len(self.tracker.devices),
                "open_gaps": len(gaps),
                "missing_messages": sum(count(g.missing) for g in gaps),
                "late_fills": self.tracker.late_fills,
                "resets": self.tracker.resets,
                "alarms_raised": self.alarms_raised,
            }


def start_gaps(runtime: Runtime, _loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Start hook for :func:`medtwin.api.app.create_app` (``on_start=[start_gaps]``)."""
    if "gaps" not in runtime.services:
        extra = runtime.settings.extra.get("gaps", {}) or {}
        GapService.attach(runtime, **{k: v for k, v in extra.items() if k in _OPTIONS}).start()


_OPTIONS = frozenset({"grace_s", "max_gap", "tick_s", "flush_s", "verify_limit"})
