"""History at scale on PostgreSQL: partition upkeep, retention by dropping partitions, rollup reads.

Partition upkeep (:func:`ensure_partitions`): monthly partitions of ``observations`` and
``obs_rollup_1m`` exist from one month back to ``months_ahead`` months ahead of now, so live
readings never land in the default partition. Readings written to a month without a partition
(historical imports) go to ``__default``; once such a month holds ``split_min_rows`` rows (and is
not older than the retention cutoff) its rows are moved into a new partition of their own
(created, filled and attached in one transaction).

Retention (:func:`purge`): with no code filter, every monthly partition entirely before the cutoff
is dropped whole (no row-by-row DELETE, no vacuum debt); the rows the ``latest`` table points at
(each series' latest state) are first copied out and put back (they land in the default
partition, since their month no longer exists), and the idempotency keys of the dropped rows are
deleted (BRIN range on ``observation_keys.t_us``). Rows before the cutoff in the default or a
partially old partition are deleted row by row, as on SQLite. Rollups are kept: the downsampled
history outlives the raw rows (1-minute rollup partitions have their own retention).

Why not pg_partman: Debian's postgresql-15-partman is 4.7.2, whose ``p_epoch`` accepts seconds,
milliseconds and nanoseconds but not microseconds (``t_us``); a pg_partman 5 installation can take
over upkeep (see docs/scaling.md). This module is ~the same few statements, driven from Python.
Its transactions do not take the store's in-process write lock: ingest goes on meanwhile.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.store.pg_schema import (
    HOUR_US,
    MINUTE_US,
    PARTITIONED,
    add_months,
    month_start,
    month_us,
    partition_name,
)

if TYPE_CHECKING:
    from medtwin.store.sql import Bucket, SqlStore

log = logging.getLogger(__name__)
MAINTENANCE_LOCK = 727276  # pg_try_advisory_xact_lock key: one maintenance run at a time per database


def partitions(c: Any, parent: str) -> dict[datetime, str]:
    """Monthly partitions of ``parent``: month start -> table name (the default one excluded)."""
    rows = c.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :p"
        ),
        {"p": parent},
    ).all()
    out = {}
    for (name,) in rows:
        tail = name.rsplit("__", 1)[-1]
        if tail.isdigit() and len(tail) == 6:
            out[datetime(int(tail[:4]), int(tail[4:]), 1, tzinfo=UTC)] = name
    return out


def _create(c: Any, parent: str, month: datetime) -> None:
    c.execute(text("SELECT medtwin_month_partition(:p, CAST(:m AS date))"), {"p": parent, "m": month.date()})


def _split_default(c: Any, parent: str, col: str, month: datetime) -> int:
    """Move ``parent``'s default-partition rows of ``month`` into a new partition of their own."""
    name, lo, hi = partition_name(parent, month), month_us(month), month_us(add_months(month, 1))
    c.execute(text(f"CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS)"))
    n = c.execute(
        text(
            f"WITH m AS (DELETE FROM {parent}__default WHERE {col} >= :lo AND {col} < :hi RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM m"
        ),
        {"lo": lo, "hi": hi},
    ).rowcount
    c.execute(text(f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})"))
    return int(n)


def _ensure_month(c: Any, parent: str, month: datetime) -> int | None:
    """Create ``parent``'s partition of ``month``; when the default partition already holds rows of
    that month, move them into it (returns how many), else None."""
    col = "t_us" if parent == "observations" else "bucket_us"
    lo, hi = month_us(month), month_us(add_months(month, 1))
    stray = c.execute(
        text(f"SELECT 1 FROM {parent}__default WHERE {col} >= :lo AND {col} < :hi LIMIT 1"),
        {"lo": lo, "hi": hi},
    ).first()
    if stray is None:
        _create(c, parent, month)
        return None
    return _split_default(c, parent, col, month)


def ensure_partitions(
    store: SqlStore,
    *,
    now: datetime | None = None,
    months_ahead: int = 3,
    split_min_rows: int = 1000,
    keep_after: datetime | None = None,
) -> dict[str, Any]:
    """Create the monthly partitions around ``now``; move large default-partition months out."""
    now = now or store.clock.now()
    first = add_months(month_start(now), -1)
    created: list[str] = []
    split: dict[str, int] = {}
    with store.engine.begin() as c:
        for parent in PARTITIONED:
            have = partitions(c, parent)
            for k in range(months_ahead + 2):
                m = add_months(first, k)
                if m not in have:
                    moved = _ensure_month(c, parent, m)
                    if moved is not None:
                        split[partition_name(parent, m)] = moved
                    created.append(partition_name(parent, m))
    # months of historical imports sitting in the default partition
    with store.engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT date_trunc('month', to_timestamp(t_us / 1000000.0) AT TIME ZONE 'UTC')::date AS m, "
                "count(*) FROM observations__default GROUP BY 1"
            )
        ).all()
    for m_date, n in rows:
        m = datetime(m_date.year, m_date.month, 1, tzinfo=UTC)
        if n < split_min_rows or (keep_after is not None and add_months(m, 1) <= keep_after):
            continue
        with store.engine.begin() as c:
            split[partition_name("observations", m)] = _split_default(c, "observations", "t_us", m)
            if m not in partitions(c, "obs_rollup_1m"):
                _ensure_month(c, "obs_rollup_1m", m)
    return {"created": created, "split": split}


def purge(store: SqlStore, before: datetime, codes: list[str] | None) -> int:
    """Retention: drop whole monthly partitions before ``before`` (keeping each series' latest
    row), delete the remaining older rows; returns the number of observations removed."""
    b = to_us(before)
    removed = 0
    if codes is None:
        with store.engine.connect() as c:
            old = {m: n for m, n in partitions(c, "observations").items() if month_us(add_months(m, 1)) <= b}
        for m, name in sorted(old.items()):
            removed += _drop_month(store, name, month_us(m), month_us(add_months(m, 1)))
    q = (
        "WITH d AS (DELETE FROM observations WHERE t_us < :b AND id NOT IN (SELECT obs_id FROM latest)"
        + (" AND code IN :codes" if codes is not None else "")
        + " RETURNING source, source_id), k AS (DELETE FROM observation_keys k USING d "
        "WHERE k.source = d.source AND k.source_id = d.source_id RETURNING 1) SELECT count(*) FROM d"
    )
    stmt = text(q)
    params: dict[str, Any] = {"b": b}
    if codes is not None:
        stmt = stmt.bindparams(sa.bindparam("codes", expanding=True))
        params["codes"] = list(codes)
    with store.engine.begin() as c:
        removed += int(c.execute(stmt, params).scalar() or 0)
    return removed


def _drop_month(store: SqlStore, name: str, lo: int, hi: int) -> int:
    with store.engine.connect() as c:
        total = int(c.execute(text(f"SELECT count(*) FROM {name}")).scalar() or 0)
    with store.engine.begin() as c:
        c.execute(
            text(
                f"CREATE TEMP TABLE medtwin_keep ON COMMIT DROP AS SELECT * FROM {name} "
                "WHERE id IN (SELECT obs_id FROM latest)"
            )
        )
        kept = int(c.execute(text("SELECT count(*) FROM medtwin_keep")).scalar() or 0)
        c.execute(
            text(
                "DELETE FROM observation_keys WHERE t_us >= :lo AND t_us < :hi "
                "AND obs_id NOT IN (SELECT id FROM medtwin_keep)"
            ),
            {"lo": lo, "hi": hi},
        )
        c.execute(text(f"DROP TABLE {name}"))
        c.execute(text("INSERT INTO observations SELECT * FROM medtwin_keep"))
    log.info("retention: dropped partition %s (%d rows, %d latest-state rows kept)", name, total - kept, kept)
    return total - kept


def purge_rollups(store: SqlStore, before: datetime) -> int:
    """Drop 1-minute rollup partitions entirely before ``before`` (hourly rollups are kept)."""
    b = to_us(before)
    with store.engine.connect() as c:
        old = [n for m, n in partitions(c, "obs_rollup_1m").items() if month_us(add_months(m, 1)) <= b]
    for name in old:
        with store.engine.begin() as c:
            c.execute(text(f"DROP TABLE {name}"))
    return len(old)


def gc_feed(store: SqlStore, keep_s: float = 3600.0, max_keep_s: float = 86_400.0) -> int:
    """Delete change-feed rows every consumer has passed (and anything older than ``max_keep_s``)."""
    now = to_us(store.clock.now())
    with store.engine.begin() as c:
        return int(
            c.execute(
                text(
                    "DELETE FROM obs_feed WHERE t_us < :old OR (t_us < :keep AND xid < "
                    "coalesce((SELECT min(xid) FROM feed_cursors), 9223372036854775807))"
                ),
                {"old": now - int(max_keep_s * 1e6), "keep": now - int(keep_s * 1e6)},
            ).rowcount
        )


def maintain(
    store: SqlStore, *, retention_days: float = 0.0, rollup_retention_days: float = 0.0, months_ahead: int = 3
) -> dict[str, Any] | None:
    """One maintenance pass (partitions ahead, retention, feed clean-up); None when another
    process holds the maintenance lock."""
    with store.engine.begin() as c:
        if not c.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": MAINTENANCE_LOCK}).scalar():
            return None
        now = store.clock.now()
        cutoff = now - timedelta(days=retention_days) if retention_days > 0 else None
        report = ensure_partitions(store, now=now, months_ahead=months_ahead, keep_after=cutoff)
        if cutoff is not None:
            report["purged"] = purge(store, cutoff, None)
        if rollup_retention_days > 0:
            report["rollup_partitions_dropped"] = purge_rollups(
                store, now - timedelta(days=rollup_retention_days)
            )
        report["feed_deleted"] = gc_feed(store)
    return report


def buckets(store: SqlStore, twin_id: str, code: str, start: datetime, end: datetime, b: int) -> list[Bucket]:
    """:meth:`SqlStore.buckets` on PostgreSQL: whole hours (or minutes) inside the range come from
    the rollups when the bucket is a multiple of an hour (a minute); the edges from raw rows."""
    from medtwin.store.sql import Bucket

    s, e = to_us(start), to_us(end)
    g = HOUR_US if b % HOUR_US == 0 else MINUTE_US if b % MINUTE_US == 0 else 0
    a = -(-s // g) * g if g else e
    z = (e // g) * g if g else e
    if a >= z:  # short range or odd bucket: raw rows only
        a = z = e
    table = "obs_rollup_1h" if g == HOUR_US else "obs_rollup_1m"
    q = (
        "SELECT bucket, sum(n), min(vmin), max(vmax), sum(vsum), sum(nv) FROM ("
        "SELECT (t_us / :b) * :b AS bucket, count(*) AS n, count(value) AS nv, sum(value) AS vsum, "
        "min(value) AS vmin, max(value) AS vmax FROM observations WHERE twin_id = :t AND code = :c "
        "AND status <> 'entered-in-error' AND ((t_us >= :s AND t_us < :a) OR (t_us >= :z AND t_us < :e)) "
        "GROUP BY 1"
        + (
            f" UNION ALL SELECT (bucket_us / :b) * :b, sum(n), sum(nv), sum(vsum), min(vmin), max(vmax) "
            f"FROM {table} WHERE twin_id = :t AND code = :c AND bucket_us >= :a AND bucket_us < :z GROUP BY 1"
            if a < z
            else ""
        )
        + ") x GROUP BY bucket ORDER BY bucket"
    )
    with store.engine.connect() as c:
        rows = c.execute(text(q), {"b": b, "t": twin_id, "c": code, "s": s, "a": a, "z": z, "e": e}).all()
    return [
        Bucket(from_us(int(r[0])), int(r[1]), r[2], r[3], None if not r[5] else float(r[4]) / int(r[5]))
        for r in rows
    ]


class Maintenance:
    """Background upkeep for a PostgreSQL store: :func:`maintain` at start, then every
    ``interval_s`` (partitions stay ``months_ahead`` months ahead; retention and feed clean-up).
    Every process may run one: the advisory lock lets one pass run at a time per database."""

    def __init__(
        self, store: SqlStore, *, retention_days: float = 0.0, rollup_retention_days: float = 0.0,
        interval_s: float = 3600.0, months_ahead: int = 3,
    ) -> None:  # fmt: skip
        import threading

        self.store = store
        self.kw = {
            "retention_days": retention_days,
            "rollup_retention_days": rollup_retention_days,
            "months_ahead": months_ahead,
        }
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="medtwin-pg-maintenance", daemon=True)
        self.last: dict[str, Any] | None = None

    def start(self) -> Maintenance:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = maintain(self.store, **self.kw)  # type: ignore[arg-type]
                if self.last:
                    log.info("PostgreSQL maintenance: %s", self.last)
            except Exception:
                log.exception("PostgreSQL maintenance failed; retrying at the next interval")
            self._stop.wait(self.interval_s)
