"""Several workers on one PostgreSQL: a patient's readings split across two workers give the same
NEWS2 series and one alarm (one owner per patient shard), and a dead owner's shards move."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from medtwin.services.cluster import start_cluster
from medtwin.services.monitoring.alarms.service import AlarmService
from medtwin.services.monitoring.scoring import ScoringService
from tests.integration.cluster_helpers import alarm_rows, news2_series, runtime, scenario, send, settle

N = 22


def _baseline(tmp_path: Path, end: datetime) -> tuple[list, list]:
    rt = runtime(str(tmp_path / "one.db"), tmp_path / "one")
    try:
        AlarmService.attach(rt).start()
        ScoringService().attach(rt).start()
        seed(rt.registry)
        for i, _t, readings in scenario(N, end):
            send(rt, "MON-001", i, readings)
            settle(rt, None)
        return news2_series(rt, "P001"), alarm_rows(rt, "P001")
    finally:
        rt.stop()


def _wait(pred: object, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_split_readings_give_one_series_and_one_alarm(pg_url: str, tmp_path: Path) -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)  # all readings in the past
    want_news2, want_alarms = _baseline(tmp_path, end)
    assert len(want_news2) == N and ("spo2_low", "active") in want_alarms

    a, b = runtime(pg_url, tmp_path / "a"), runtime(pg_url, tmp_path / "b")
    workers: list[Runtime] = [a, b]
    try:
        na = start_cluster(a, shards=8, rebalance_s=0.2, poll_s=0.02)
        nb = start_cluster(b, shards=8, rebalance_s=0.2, poll_s=0.02)
        assert _wait(lambda: len(na.owned) == 4 and len(nb.owned) == 4), (na.owned, nb.owned)
        assert not na.owned & nb.owned
        seed(a.registry)
        owner = a if na.owns("P001") else b
        for i, _t, readings in scenario(N, end):
            send(workers[i % 2], "MON-001", i, readings)  # alternate: half the messages on each worker
            settle(owner, pg_url)
        got = news2_series(owner, "P001")
        assert got == want_news2, (got, want_news2)
        assert alarm_rows(owner, "P001") == want_alarms  # one spo2_low alarm, not one per worker
        other = b if owner is a else a
        assert other.services["scoring"].stored == 0 and not other.services["alarms"].engine.open

        # the owner dies: the other worker takes its shards and the open alarm, without raising it again
        dead = owner.services["cluster"]
        alarm_id = next(al.id for al in owner.services["alarms"].engine.alarms() if al.twin == "P001")
        dead.stop()
        survivor = other.services["cluster"]
        assert _wait(lambda: len(survivor.owned) == 8 and other.services["alarms"].engine.get(alarm_id))
        for i, _t, readings in scenario(3, datetime.now(UTC) - timedelta(seconds=1)):
            send(other, "MON-001", 100 + i, readings)
        settle(other, pg_url)
        assert alarm_rows(other, "P001") == want_alarms
        assert len(news2_series(other, "P001")) > N
    finally:
        for rt in workers:
            rt.stop()
