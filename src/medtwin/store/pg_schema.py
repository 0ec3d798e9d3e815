"""PostgreSQL history at scale: the partitioned observation schema (store migration 13).

SQLite keeps the plain ``observations`` table of migration 1; on PostgreSQL migration 13 turns it
into this layout (the query API of :class:`~medtwin.store.sql.SqlStore` is the same):

``observations``
    declaratively partitioned by ``RANGE (t_us)``, one partition per calendar month (UTC) named
    ``observations__YYYYMM``, plus ``observations__default`` for readings outside every monthly
    partition (historical imports; the maintenance job moves them into their month). Primary key
    ``(id, t_us)`` (a unique index must contain the partition key); index
    ``(twin_id, code, t_us)`` for per-patient time ranges. Ids come from the sequence
    ``observation_ids`` (PostgreSQL 15 has no identity columns on partitioned tables).
``observation_keys (source, source_id) PRIMARY KEY -> obs_id, t_us``
    the global idempotency key, unpartitioned (a partitioned table cannot enforce uniqueness of a
    key without ``t_us``). A write inserts the keys first with ``ON CONFLICT DO NOTHING
    RETURNING`` and only the returned ones go into ``observations``, in the same transaction, so
    a reading delivered to two workers is stored once. BRIN on ``t_us`` for retention.
``obs_rollup_1m`` (partitioned by month like ``observations``) and ``obs_rollup_1h``
    per (twin, code, bucket): rows, numeric values, sum, min and max of the valid
    (not entered-in-error) readings, added in the write transaction; a correction recomputes its
    buckets from the raw rows. :meth:`SqlStore.buckets` reads them for whole-minute/hour buckets.
``obs_feed``
    one row per committed write batch (transaction id, writer, observation ids and each one's
    patient slot), written when ``store_settings.feed = 'on'``: the change feed that shard owners
    read in commit-safe order (:mod:`medtwin.services.cluster`). ``feed_cursors`` keeps each
    consumer's position.

Migration 13 converts an existing table in one transaction: it renames the plain table, creates
the partitioned one with a partition per month present in the data (and the months around now),
copies rows, keys and rollups, and drops the old table. The rename takes an ACCESS EXCLUSIVE lock
held until commit: reads and writes of observations wait for the whole copy (measured rate in
docs/scaling.md); run it in a maintenance window for large tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

PARTITIONED = ("observations", "obs_rollup_1m")
OBS_TABLE_COLUMNS = (
    "twin_id TEXT NOT NULL, code TEXT NOT NULL, t_us BIGINT NOT NULL, received_us BIGINT NOT NULL, "
    "value DOUBLE PRECISION, value_text TEXT, unit TEXT NOT NULL DEFAULT '', source TEXT NOT NULL, "
    "source_id TEXT NOT NULL, method TEXT NOT NULL, status TEXT NOT NULL, meta TEXT"
)
ROLLUP_COLUMNS = (
    "twin_id TEXT NOT NULL, code TEXT NOT NULL, bucket_us BIGINT NOT NULL, n BIGINT NOT NULL, "
    "nv BIGINT NOT NULL, vsum DOUBLE PRECISION, vmin DOUBLE PRECISION, vmax DOUBLE PRECISION, "
    "PRIMARY KEY (twin_id, code, bucket_us)"
)
MINUTE_US = 60_000_000
HOUR_US = 3_600_000_000

# SQL expression: the first microsecond of the UTC month of the date ``m``.
_MONTH_US = "(extract(epoch FROM (%s)::timestamp AT TIME ZONE 'UTC') * 1000000)::bigint"
_PART_FN = f"""CREATE OR REPLACE FUNCTION medtwin_month_partition(parent text, m date) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'CREATE TABLE IF NOT EXISTS ' || quote_ident(parent || '__' || to_char(m, 'YYYYMM'))
    || ' PARTITION OF ' || quote_ident(parent) || ' FOR VALUES FROM ('
    || {_MONTH_US % "m"} || ') TO (' || {_MONTH_US % "(m + interval '1 month')::date"} || ')';
END $$"""

# The new tables, shared by a fresh database and the conversion of an existing one.
_CREATE = (
    "CREATE SEQUENCE observation_ids",
    f"CREATE TABLE observations (id BIGINT NOT NULL DEFAULT nextval('observation_ids'), {OBS_TABLE_COLUMNS}, "
    "PRIMARY KEY (id, t_us)) PARTITION BY RANGE (t_us)",
    "ALTER SEQUENCE observation_ids OWNED BY observations.id",
    "CREATE INDEX observations_series ON observations (twin_id, code, t_us)",
    "CREATE TABLE observations__default PARTITION OF observations DEFAULT",
    """CREATE TABLE observation_keys (
        source TEXT NOT NULL, source_id TEXT NOT NULL, obs_id BIGINT NOT NULL, t_us BIGINT NOT NULL,
        PRIMARY KEY (source, source_id))""",
    "CREATE INDEX observation_keys_t ON observation_keys USING brin (t_us)",
    f"CREATE TABLE obs_rollup_1m ({ROLLUP_COLUMNS}) PARTITION BY RANGE (bucket_us)",
    "CREATE TABLE obs_rollup_1m__default PARTITION OF obs_rollup_1m DEFAULT",
    f"CREATE TABLE obs_rollup_1h ({ROLLUP_COLUMNS})",
    """CREATE TABLE obs_feed (
        xid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint), t_us BIGINT NOT NULL,
        writer TEXT NOT NULL, ids BIGINT[] NOT NULL, slots SMALLINT[] NOT NULL, lo_us BIGINT NOT NULL,
        hi_us BIGINT NOT NULL)""",
    "CREATE INDEX obs_feed_xid ON obs_feed (xid)",
    "CREATE TABLE feed_cursors (name TEXT PRIMARY KEY, xid BIGINT NOT NULL, updated_us BIGINT NOT NULL)",
    "CREATE TABLE store_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    _PART_FN,
)

_OBS_COLS = (
    "id, twin_id, code, t_us, received_us, value, value_text, unit, source, source_id, method, status, meta"
)
_ROLLUP_1M_FROM_OBS = (
    "INSERT INTO obs_rollup_1m (twin_id, code, bucket_us, n, nv, vsum, vmin, vmax) "
    f"SELECT twin_id, code, (t_us / {MINUTE_US}) * {MINUTE_US}, count(*), count(value), sum(value), "
    "min(value), max(value) FROM observations WHERE status <> 'entered-in-error' GROUP BY 1, 2, 3"
)
_ROLLUP_1H_FROM_1M = (
    "INSERT INTO obs_rollup_1h (twin_id, code, bucket_us, n, nv, vsum, vmin, vmax) "
    f"SELECT twin_id, code, (bucket_us / {HOUR_US}) * {HOUR_US}, sum(n), sum(nv), sum(vsum), min(vmin), "
    "max(vmax) FROM obs_rollup_1m GROUP BY 1, 2, 3"
)

# Migration 13 on PostgreSQL: convert the plain table (empty on a new database) in one transaction.
POSTGRESQL_V13: tuple[str, ...] = (
    "LOCK TABLE observations IN ACCESS EXCLUSIVE MODE",
    "ALTER TABLE observations RENAME TO observations_unpartitioned",
    "ALTER INDEX observations_key RENAME TO observations_unpartitioned_key",
    "ALTER INDEX observations_series RENAME TO observations_unpartitioned_series",
    *_CREATE,
    "SELECT setval('observation_ids', (SELECT coalesce(max(id), 0) + 1 FROM observations_unpartitioned), false)",
    """DO $$
DECLARE m date;
BEGIN
  FOR m IN
    SELECT DISTINCT date_trunc('month', to_timestamp(t_us / 1000000.0) AT TIME ZONE 'UTC')::date
      FROM observations_unpartitioned
    UNION SELECT date_trunc('month', (now() AT TIME ZONE 'UTC') + g * interval '1 month')::date
      FROM generate_series(-1, 3) g
  LOOP
    PERFORM medtwin_month_partition('observations', m);
    PERFORM medtwin_month_partition('obs_rollup_1m', m);
  END LOOP;
END $$""",
    f"INSERT INTO observations ({_OBS_COLS}) SELECT {_OBS_COLS} FROM observations_unpartitioned",
    "INSERT INTO observation_keys (source, source_id, obs_id, t_us) "
    "SELECT source, source_id, id, t_us FROM observations_unpartitioned",
    _ROLLUP_1M_FROM_OBS,
    _ROLLUP_1H_FROM_1M,
    "DROP TABLE observations_unpartitioned",
    "INSERT INTO store_settings (name, value) VALUES ('layout', 'partitioned')",
)


def month_start(when: datetime) -> datetime:
    when = when.astimezone(UTC)
    return datetime(when.year, when.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    k = month.year * 12 + month.month - 1 + n
    return datetime(k // 12, k % 12 + 1, 1, tzinfo=UTC)


def month_us(month: datetime) -> int:
    return int(month.timestamp()) * 1_000_000


def partition_name(parent: str, month: datetime) -> str:
    return f"{parent}__{month.year:04d}{month.month:02d}"
