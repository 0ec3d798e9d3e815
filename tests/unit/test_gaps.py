"""Sequence-gap detection: the pure tracker, and the service on a real SQLite store with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from medtwin.config import Settings
from medtwin.core.clock import ManualClock
from medtwin.core.events import Generic
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime
from medtwin.services.reliability.gaps import GapService, message_seq
from medtwin.services.reliability.tracker import SequenceTracker, remove_seq

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_remove_seq_splits_ranges() -> None:
    r = [[3, 7], [10, 10]]
    assert remove_seq(r, 5) and r == [[3, 4], [6, 7], [10, 10]]
    assert remove_seq(r, 10) and r == [[3, 4], [6, 7]]
    assert remove_seq(r, 3) and remove_seq(r, 7) and r == [[4, 4], [6, 6]]
    assert not remove_seq(r, 5)


def test_tracker_in_order_gap_late_fill_and_reset() -> None:
    t = SequenceTracker(max_gap=100)
    assert t.seen("D", 1, "P", T0) == []
    assert t.seen("D", 2, "P", T0) == []
    [ch] = t.seen("D", 6, "P", T0)
    assert ch.kind == "opened" and ch.gap is not None and ch.gap.missing == [[3, 5]]
    assert t.seen("D", 4, "P", T0) == []  # pending gap: silent
    [ch] = t.seen("D", 3, "P", T0) or [None]  # still [5, 5] missing: nothing to say while pending
    assert ch is None
    [ch] = t.seen("D", 5, "P", T0)
    assert ch.kind == "forgotten"  # filled within the grace period
    assert t.devices["D"].gaps == []
    [ch] = t.seen("D", 1000, "P", T0)
    assert ch.kind == "reset" and ch.data == {"previous": 6, "seq": 1000}
    assert t.seen("D", 1001, "P", T0) == []
    assert message_seq("12/0") == 12 and message_seq("12/m3") == 12
    assert message_seq("sha256:ab/0") is None and message_seq("x") is None


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    clock = ManualClock(T0)
    r = Runtime(Settings.load(db=str(tmp_path / "g.db"), mqtt_enabled=False), clock=clock)
    r.registry.put(Twin("P1", TwinKind.PATIENT))
    r.start()
    yield r
    r.stop()


def _send(rt: Runtime, device: str, *seqs: int) -> None:
    for s in seqs:
        t = (T0 + timedelta(seconds=s)).isoformat()
        batch = ReadingBatch(
            source=device,
            msg_id=str(s),
            readings=[{"code": "hr", "value": 70, "unit": "/min", "time": t}],
            subject="P1",
            device=device,
        )
        rt.ingestor.ingest(batch).result(10)


def _alarms(rt: Runtime) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    rt.bus.subscribe(Generic, lambda e: got.append(e.data) if e.type == "technical_alarm" else None)
    return got


def test_gap_is_confirmed_after_grace_then_filled_by_late_messages(rt: Runtime) -> None:
    svc = GapService.attach(rt, grace_s=30).start()
    alarms = _alarms(rt)
    _send(rt, "MON-1", 1, 2, 3, 6, 7, 9)
    assert svc.wait_idle()
    svc.tick()
    assert alarms == []  # not yet: late messages may still come
    _send(rt, "MON-1", 8)  # arrives late, within the grace period
    assert svc.wait_idle()
    rt.clock.advance(31)  # type: ignore[attr-defined]
    svc.tick()
    assert len(alarms) == 1
    a = alarms[0]
    assert a["condition"] == "sequence_gap" and a["present"] is True and a["twin"] == "P1"
    assert a["device"] == "MON-1" and a["missing"] == [[4, 5]] and a["missing_count"] == 2
    with rt.store.engine.connect() as c:
        row = c.execute(text("SELECT first_seq, last_seq, state FROM sequence_gaps")).one()
    assert tuple(row) == (4, 5, "open")
    _send(rt, "MON-1", 4)
    assert svc.wait_idle()
    assert alarms[-1]["missing"] == [[5, 5]] and alarms[-1]["present"] is True
    _send(rt, "MON-1", 5)
    assert svc.wait_idle()
    assert alarms[-1]["present"] is False and alarms[-1]["missing"] == []
    with rt.store.engine.connect() as c:
        assert c.execute(text("SELECT state FROM sequence_gaps")).scalar() == "filled"
    assert svc.stats()["open_gaps"] == 0


def test_gap_across_a_restart_is_verified_against_the_store(rt: Runtime) -> None:
    svc = GapService.attach(rt, grace_s=5).start()
    _send(rt, "MON-2", 1, 2, 3)
    assert svc.wait_idle()
    svc.flush()
    svc.stop()
    rt.services.pop("gaps")
    _send(rt, "MON-2", 4, 5, 7)  # committed while the gap service was not running; 6 never came
    svc2 = GapService.attach(rt, grace_s=5).start()
    alarms = _alarms(rt)
    _send(rt, "MON-2", 8)
    assert svc2.wait_idle()
    rt.clock.advance(6)  # type: ignore[attr-defined]
    svc2.tick()
    assert [a["missing"] for a in alarms] == [[[6, 6]]]
    # a third start restores the open gap and re-announces it
    svc2.stop()
    rt.services.pop("gaps")
    alarms.clear()
    svc3 = GapService.attach(rt, grace_s=5).start()
    assert alarms and alarms[0]["reason"] == "restored" and alarms[0]["missing"] == [[6, 6]]
    assert svc3.close_device("MON-2") == 1
    assert alarms[-1]["present"] is False
