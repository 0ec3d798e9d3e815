"""History at scale on the real PostgreSQL: migration 13 (plain -> partitioned), monthly partitions,
retention by dropping partitions, rollups against raw aggregates, corrections, concurrent writers."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text

from medtwin.core.model import Observation, ObsStatus
from medtwin.store import corrections, migrations, pg_history
from medtwin.store.sql import SqlStore
from tests.conftest import add_patients

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def obs(i: int, t: datetime, *, twin: str = "P1", code: str = "8867-4", value: float | None = 70.0,
        source: str = "mon-1", status: ObsStatus = ObsStatus.FINAL) -> Observation:  # fmt: skip
    return Observation(
        twin_id=twin, code=code, effective=t, received=t, source=source, source_id=str(i), value=value,
        value_text=None if value is not None else "note", unit="/min", status=status,
    )  # fmt: skip


def _v12_database(url: str) -> None:
    """A database as medtwin left it before migration 13 (plain observations table)."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_us BIGINT NOT NULL)")
        for m in migrations.MIGRATIONS[:12]:
            for stmt in m.postgresql:
                c.execute(stmt)
            c.execute("INSERT INTO schema_version VALUES (%s, 0)", (m.version,))


def test_migration_converts_a_plain_table(pg_url: str) -> None:
    _v12_database(pg_url)
    old = SqlStore(pg_url, migrate=False)
    assert not old.partitioned
    add_patients(old, "P1")
    months = [T0 - timedelta(days=200), T0 - timedelta(days=40), T0]
    r = old.write([obs(i, months[i % 3] + timedelta(seconds=i)) for i in range(300)])
    ids = {o.source_id: o.id for o in r.accepted}
    latest_before = old.latest("P1")["8867-4"]
    old.close()
    s = SqlStore(pg_url)  # migrates to 13
    try:
        assert s.partitioned and s.schema_version() == migrations.LATEST_VERSION
        assert s.count_observations() == 300
        assert s.find_observation("mon-1", "7").id == ids["7"]  # type: ignore[union-attr]
        assert s.latest("P1")["8867-4"].id == latest_before.id
        with s.engine.connect() as c:
            parts = pg_history.partitions(c, "observations")
            assert {m.strftime("%Y%m") for m in parts} >= {t.strftime("%Y%m") for t in months}
            assert c.execute(text("SELECT count(*) FROM observations__default")).scalar() == 0
            assert c.execute(text("SELECT count(*) FROM observation_keys")).scalar() == 300
        again = s.write([obs(i, months[i % 3] + timedelta(seconds=i)) for i in range(290, 310)])
        assert again.duplicates == 10 and len(again.accepted) == 10
        assert min(o.id for o in again.accepted) > max(ids.values())  # type: ignore[operator]
    finally:
        s.close()


def test_partitions_retention_and_latest_kept(pg_url: str) -> None:
    s = SqlStore(pg_url)
    try:
        add_patients(s, "P1", "P2")
        old_t = datetime(2026, 5, 10, tzinfo=UTC)  # no partition yet: lands in the default partition
        s.write([obs(i, old_t + timedelta(minutes=i)) for i in range(50)])
        s.write([obs(1000 + i, old_t + timedelta(minutes=i), twin="P2", source="mon-2") for i in range(5)])
        s.write([obs(100 + i, T0 + timedelta(seconds=i)) for i in range(20)])
        report = pg_history.ensure_partitions(s, now=T0, split_min_rows=10)
        assert report["split"] == {"observations__202605": 55}
        with s.engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM observations__default")).scalar() == 0
            assert c.execute(text("SELECT count(*) FROM observations__202605")).scalar() == 55
        n = s.purge(datetime(2026, 10, 1, tzinfo=UTC))
        assert n == 54  # P2's latest reading (May) is the twin's state: kept
        assert s.count_observations() == 21
        assert s.latest("P2")["8867-4"].source_id == "1004"
        with s.engine.connect() as c:
            assert "observations__202605" not in {
                v for v in pg_history.partitions(c, "observations").values()
            }
            assert c.execute(text("SELECT count(*) FROM observation_keys")).scalar() == 21
        # rollups outlive the raw rows: the May hour is still charted
        b = s.buckets("P1", "8867-4", old_t, old_t + timedelta(hours=1), 3600)
        assert [x.count for x in b] == [50]
        assert s.purge(T0 + timedelta(seconds=10), codes=["8867-4"]) == 10
    finally:
        s.close()


def _raw(rows: list[Observation], start: datetime, end: datetime, width: int) -> list[tuple]:
    got: dict[int, list[Observation]] = {}
    s0 = int(start.timestamp())
    for o in rows:
        t = int(o.effective.timestamp())
        if o.status is ObsStatus.ENTERED_IN_ERROR or not s0 <= t < int(end.timestamp()):
            continue
        got.setdefault(t // width * width, []).append(o)
    out = []
    for k in sorted(got):
        vals = [o.value for o in got[k] if o.value is not None]
        mean = sum(vals) / len(vals) if vals else None
        out.append((k, len(got[k]), min(vals, default=None), max(vals, default=None), mean))
    return out


def _as_tuples(buckets: list) -> list[tuple]:
    return [(int(b.start.timestamp()), b.count, b.min, b.max, b.mean) for b in buckets]


def test_rollups_equal_raw_aggregates_and_follow_corrections(pg_url: str) -> None:
    s = SqlStore(pg_url)
    try:
        add_patients(s, "P1")
        rng = random.Random(7)
        rows = []
        for i in range(3000):  # ~3.3 h, irregular, some text-only and entered-in-error rows
            t = T0 + timedelta(seconds=4 * i + rng.randint(0, 3))
            status = ObsStatus.ENTERED_IN_ERROR if i % 97 == 0 else ObsStatus.FINAL
            rows.append(
                obs(i, t, value=None if i % 53 == 0 else round(rng.uniform(40, 140), 1), status=status)
            )
        for k in range(0, len(rows), 700):
            s.write(rows[k : k + 700])
        start, end = T0 + timedelta(minutes=7, seconds=13), T0 + timedelta(hours=3, minutes=1)
        for width in (3600, 600, 60, 45):
            got = _as_tuples(s.buckets("P1", "8867-4", start, end, width))
            want = _raw(rows, start, end, width)
            assert [g[:4] for g in got] == [w[:4] for w in want], width
            assert [g[4] for g in got] == pytest.approx([w[4] for w in want])
        # a correction recomputes its minute and hour
        target = next(o for o in rows if o.value is not None and o.status is ObsStatus.FINAL and o.id)
        assert target.id is not None
        now = T0 + timedelta(hours=4)
        _orig, new, _c = corrections.amend(s, target.id, value=500.0, value_text=None, unit="/min", by="n1",
                                           reason="wrong patient", now=now)  # fmt: skip
        rows = [o for o in rows if o.id != target.id] + [new]
        whole = T0, T0 + timedelta(hours=4)
        for width in (3600, 60):
            got = _as_tuples(s.buckets("P1", "8867-4", *whole, width))
            want = _raw(rows, *whole, width)
            assert [g[:4] for g in got] == [w[:4] for w in want]
    finally:
        s.close()


def test_two_writers_store_each_reading_once(pg_url: str) -> None:
    a, b = SqlStore(pg_url), SqlStore(pg_url)
    try:
        add_patients(a, *[f"P{i}" for i in range(20)])
        rows = [
            obs(i, T0 + timedelta(seconds=i // 20), twin=f"P{i % 20}", source=f"m{i % 20}")
            for i in range(4000)
        ]
        results: dict[str, list] = {"a": [], "b": []}

        def run(store: SqlStore, name: str, order: list[Observation]) -> None:
            for k in range(0, len(order), 250):
                results[name].append(store.write(order[k : k + 250]))

        rev = list(reversed(rows))
        ta = threading.Thread(target=run, args=(a, "a", rows))
        tb = threading.Thread(target=run, args=(b, "b", rev))
        ta.start(), tb.start()  # type: ignore[func-returns-value]
        ta.join(120), tb.join(120)  # type: ignore[func-returns-value]
        accepted = sum(len(r.accepted) for v in results.values() for r in v)
        dups = sum(r.duplicates for v in results.values() for r in v)
        assert accepted == 4000 and dups == 4000
        assert a.count_observations() == 4000
        b20 = a.buckets("P3", "8867-4", T0, T0 + timedelta(minutes=5), 60)
        assert sum(x.count for x in b20) == 200
    finally:
        a.close()
        b.close()
