"""The PostgreSQL write path on the partitioned layout (:mod:`medtwin.store.pg_schema`).

One statement per batch: the rows travel as 12 arrays (``unnest``), the first occurrence of each
idempotency key gets an id from ``observation_ids`` in input order, the keys go into
``observation_keys`` with ``ON CONFLICT DO NOTHING RETURNING`` (in key order, so two workers
inserting overlapping batches lock keys in the same order), only the returned ones go into
``observations``, and the 1-minute and 1-hour rollups of the stored rows are added in the same
statement (sorted by key, for the same reason). The caller's transaction then upserts the latest
state and, when the change feed is on, one ``obs_feed`` row. Semantics are those of the plain
table: accepted rows with their ids, duplicates (already stored, or twice in the batch) counted.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from medtwin.core.clock import to_us
from medtwin.store.pg_schema import HOUR_US, MINUTE_US

SLOTS = 4096  # patient slots in the change feed; cluster shards group slots (slot % shards)


def slot_of(twin_id: str) -> int:
    """The stable slot of a patient (CRC-32 of its id; never Python's salted ``hash``)."""
    return zlib.crc32(twin_id.encode()) % SLOTS


def _rollup(table: str, width: int) -> str:
    return (
        f"INSERT INTO {table} AS r (twin_id, code, bucket_us, n, nv, vsum, vmin, vmax) "
        f"SELECT twin_id, code, (t_us / {width}) * {width}, count(*), count(value), sum(value), min(value), "
        "max(value) FROM o WHERE status <> 'entered-in-error' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 "
        "ON CONFLICT (twin_id, code, bucket_us) DO UPDATE SET n = r.n + excluded.n, nv = r.nv + excluded.nv, "
        "vsum = coalesce(r.vsum + excluded.vsum, r.vsum, excluded.vsum), vmin = least(r.vmin, excluded.vmin), "
        "vmax = greatest(r.vmax, excluded.vmax)"
    )


_COLS = "twin_id, code, t_us, received_us, value, value_text, unit, source, source_id, method, status, meta"
INSERT_BATCH = f"""
WITH i AS (
  SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::float8[], %s::text[],
                       %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
    WITH ORDINALITY AS i({_COLS}, ord)
), f AS (
  SELECT DISTINCT ON (source, source_id) * FROM i ORDER BY source, source_id, ord
), n AS (
  SELECT nextval('observation_ids') AS id, f.* FROM (SELECT * FROM f ORDER BY ord) f
), k AS (
  INSERT INTO observation_keys (source, source_id, obs_id, t_us)
  SELECT source, source_id, id, t_us FROM n ORDER BY source, source_id
  ON CONFLICT (source, source_id) DO NOTHING RETURNING obs_id
), o AS (
  INSERT INTO observations (id, {_COLS})
  SELECT n.id, {", ".join("n." + c.strip() for c in _COLS.split(","))} FROM n JOIN k ON k.obs_id = n.id
  RETURNING id, source, source_id, twin_id, code, t_us, value, status
), r1 AS ({_rollup("obs_rollup_1m", MINUTE_US)}
), r2 AS ({_rollup("obs_rollup_1h", HOUR_US)}
)
SELECT id, source, source_id FROM o
"""


def insert_batch(cur: Any, rows: Sequence[tuple[Any, ...]]) -> dict[tuple[str, str], int]:
    """Insert rows (in ``_obs_rows`` order); return the stored ones' keys -> ids."""
    cols = [list(c) for c in zip(*rows, strict=True)]
    cur.execute(INSERT_BATCH, cols)
    return {(r[1], r[2]): int(r[0]) for r in cur.fetchall()}


FEED_INSERT = "INSERT INTO obs_feed (t_us, writer, ids, slots, lo_us, hi_us) VALUES (%s, %s, %s, %s, %s, %s)"


def feed_row(writer: str, now_us: int, changed: Sequence[Any]) -> tuple[Any, ...]:
    """The change-feed row of the observations a transaction stored or changed (ids, each one's
    patient slot, their time range)."""
    times = [to_us(o.effective) for o in changed]
    return (
        now_us,
        writer,
        [int(o.id) for o in changed],
        [slot_of(o.twin_id) for o in changed],
        min(times),
        max(times),
    )


def record_feed(cur: Any, writer: str, now_us: int, accepted: Sequence[Any]) -> None:
    if accepted:
        cur.execute(FEED_INSERT, feed_row(writer, now_us, accepted))


def insert_one(c: Any, params: dict[str, Any]) -> int | None:
    """One observation inside an SQLAlchemy transaction (corrections): the key first, then the row;
    None when the key exists."""
    from sqlalchemy import text

    new_id = c.execute(text(INSERT_ONE_KEY), params).scalar()
    if new_id is not None:
        c.execute(text(INSERT_ONE_ROW), {**params, "id": new_id})
    return None if new_id is None else int(new_id)


def after_correction(c: Any, store: Any, changed: Sequence[Any]) -> None:
    """A correction's rollups (recomputed from the raw rows) and change-feed row (when on)."""
    from sqlalchemy import text

    first = changed[0]
    recompute_rollups(c, first.twin_id, first.code, to_us(first.effective))
    on = c.execute(text("SELECT value FROM store_settings WHERE name = 'feed'")).scalar()
    if on == "on":
        c.exec_driver_sql(FEED_INSERT, feed_row(store.writer_id, to_us(store.clock.now()), changed))


INSERT_ONE_KEY = (
    "INSERT INTO observation_keys (source, source_id, obs_id, t_us) "
    "VALUES (:source, :source_id, nextval('observation_ids'), :t_us) "
    "ON CONFLICT (source, source_id) DO NOTHING RETURNING obs_id"
)
INSERT_ONE_ROW = f"INSERT INTO observations (id, {_COLS}) VALUES (:id, {', '.join(':' + c.strip() for c in _COLS.split(','))})"


def recompute_rollups(c: Any, twin_id: str, code: str, t_us: int) -> None:
    """Recompute the 1-minute and 1-hour rollups holding ``t_us`` from the raw rows (after a
    correction). The rollup rows are locked first, so a concurrent write adding to them commits
    before the raw rows are read (READ COMMITTED: the next statement sees it)."""
    from sqlalchemy import text

    for table, width in (("obs_rollup_1m", MINUTE_US), ("obs_rollup_1h", HOUR_US)):
        b = (t_us // width) * width
        p = {"t": twin_id, "c": code, "b": b, "e": b + width}
        where = "twin_id = :t AND code = :c AND bucket_us = :b"
        c.execute(text(f"UPDATE {table} SET n = n WHERE {where}"), p)  # lock the row (waits for writers)
        r = c.execute(
            text(
                "SELECT count(*), count(value), sum(value), min(value), max(value) FROM observations "
                "WHERE twin_id = :t AND code = :c AND t_us >= :b AND t_us < :e AND status <> 'entered-in-error'"
            ),
            p,
        ).one()
        if not r[0]:
            c.execute(text(f"DELETE FROM {table} WHERE {where}"), p)
            continue
        c.execute(
            text(
                f"INSERT INTO {table} (twin_id, code, bucket_us, n, nv, vsum, vmin, vmax) "
                "VALUES (:t, :c, :b, :n, :nv, :s, :lo, :hi) ON CONFLICT (twin_id, code, bucket_us) DO UPDATE "
                "SET n = excluded.n, nv = excluded.nv, vsum = excluded.vsum, vmin = excluded.vmin, vmax = excluded.vmax"
            ),
            {**p, "n": r[0], "nv": r[1], "s": r[2], "lo": r[3], "hi": r[4]},
        )
