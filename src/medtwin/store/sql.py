"""SqlStore: the one store implementation, for SQLite (default) and PostgreSQL.

Reads go through a SQLAlchemy engine (pooling, URL handling, one named-parameter query text for
both dialects). The hot path, writing observation batches, uses the driver directly on one
dedicated connection: ``executemany`` with ``INSERT ... ON CONFLICT DO NOTHING`` on the
idempotency key ``(source, source_id)``, and one durable commit per batch (SQLite WAL with
``synchronous=FULL``; PostgreSQL with its default ``synchronous_commit=on``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, text

from medtwin.core.clock import Clock, WallClock, from_us, to_us
from medtwin.core.errors import NotFoundError, StoreError, ValidationError
from medtwin.core.model import (
    MedicationAdministration,
    Method,
    Observation,
    ObsStatus,
    Relationship,
    RelType,
    Twin,
    TwinKind,
)
from medtwin.security import crypto
from medtwin.security.codec import FieldCodec, unseal_opt
from medtwin.store import migrations, pg_history, pg_write, sealing

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
)
OBS_COLUMNS = (
    "twin_id, code, t_us, received_us, value, value_text, unit, source, source_id, method, status, meta"
)
OBS_SELECT = "id, " + OBS_COLUMNS
EXCLUDED_STATUSES = ("entered-in-error",)


@dataclass
class WriteResult:
    """What one committed batch did: the new observations (with ids) and how many were duplicates."""

    accepted: list[Observation] = field(default_factory=list)
    duplicates: int = 0
    medications: list[MedicationAdministration] = field(default_factory=list)
    medication_duplicates: int = 0


@dataclass(frozen=True)
class Bucket:
    start: datetime
    count: int
    min: float | None
    max: float | None
    mean: float | None


def normalise_url(url: str) -> tuple[str, str]:
    """Return (sqlalchemy_url, dialect). A bare path means a SQLite file."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1], "postgresql"
    if url.startswith("postgresql+psycopg://"):
        return url, "postgresql"
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
    elif "://" in url:
        raise ValidationError(f"unsupported database URL scheme in {url.split('://')[0]!r}", field="db")
    else:
        path = url
    if path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        path = str(Path(path).expanduser())
    return f"sqlite:///{path}", "sqlite"


def _accepted(obs: Sequence[Observation], ids: dict[tuple[str, str], int]) -> tuple[list[Observation], int]:
    """The readings the database took (their key got a new id), in order, each key once, with
    their ids set; and how many were duplicates (already stored, or twice in the batch)."""
    accepted: list[Observation] = []
    seen: set[tuple[str, str]] = set()
    for o in obs:
        k = o.key
        if k in ids and k not in seen:
            seen.add(k)
            accepted.append(_set_id(o, ids[k]))
    return accepted, len(obs) - len(accepted)


def _obs_rows(obs: Sequence[Observation], codec: FieldCodec | None = None) -> list[tuple[Any, ...]]:
    """Rows for executemany. Readings of one message share their datetime objects, so the epoch
    conversion is memoised per object; Method and ObsStatus are StrEnums (already the stored text).
    Free text (notes) is sealed by ``codec``."""
    us: dict[int, int] = {}
    sealed = sealing.SEALED_CODES
    rows = []
    for o in obs:
        e, r = o.effective, o.received
        eu = us.get(id(e))
        if eu is None:
            eu = us[id(e)] = to_us(e)
        ru = us.get(id(r))
        if ru is None:
            ru = us[id(r)] = to_us(r)
        rows.append(
            (
                o.twin_id,
                o.code,
                eu,
                ru,
                o.value,
                o.value_text
                if codec is None or o.value_text is None or o.code not in sealed
                else codec.seal_opt(o.value_text, "observations", "value_text", o.twin_id),
                o.unit,
                o.source,
                o.source_id,
                str.__str__(o.method),
                str.__str__(o.status),
                json.dumps(o.meta) if o.meta else None,
            )
        )
    return rows


def _obs_row(o: Observation) -> tuple[Any, ...]:
    return _obs_rows((o,))[0]


def _set_id(o: Observation, obs_id: int) -> Observation:
    """Give a freshly validated observation its store id. The object is not yet shared with anyone
    (it was built for this batch), so setting the field in place is safe and avoids a copy per row
    on the hot path."""
    o.id = obs_id
    return o


def row_to_obs(r: Sequence[Any]) -> Observation:
    """An observation from its row; sealed free text (notes, correction reasons) is opened."""
    return Observation(
        id=int(r[0]),
        twin_id=r[1],
        code=r[2],
        effective=from_us(int(r[3])),
        received=from_us(int(r[4])),
        value=r[5],
        value_text=unseal_opt(r[6], "observations", "value_text", r[1]),
        unit=r[7],
        source=r[8],
        source_id=r[9],
        method=Method(r[10]),
        status=ObsStatus(r[11]),
        meta=sealing.open_meta(r[1], json.loads(r[12])) if r[12] else None,
    )


_row_to_twin = sealing.open_twin


class SqlStore:
    def __init__(
        self, url: str, *, clock: Clock | None = None, migrate: bool = True, codec: FieldCodec | None = None
    ) -> None:
        self.url, self.dialect = normalise_url(url)
        self.codec = codec or FieldCodec()  # personal fields sealed at rest (medtwin.store.sealing)
        self.clock = clock or WallClock()
        self._write_lock = threading.RLock()
        self._writer: Any = None
        if self.dialect == "sqlite":
            self.path: str | None = self.url[len("sqlite:///") :]
            self.engine = sa.create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
                cur = dbapi_conn.cursor()
                for p in SQLITE_PRAGMAS:
                    cur.execute(p)
                cur.close()
        else:
            self.path = None
            self.engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        self.ph = "?" if self.dialect == "sqlite" else "%s"
        # PostgreSQL (migration 13): partitioned history, key table, rollups, change feed (pg_schema)
        self.partitioned = False
        self.feed_on = False
        self._feed_checked = 0.0
        self.writer_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        if migrate:
            self.migrate()
        if self.dialect == "postgresql":
            with self.engine.connect() as c:
                self.partitioned = (
                    c.execute(text("SELECT to_regclass('observation_keys')")).scalar() is not None
                )
        self.codec.attach(self)
        if migrate:
            sealing.encrypt_existing(self)

    # ---------------------------------------------------------------- schema
    def migrate(self) -> list[int]:
        try:
            with self.transaction() as c:
                if self.dialect == "postgresql":
                    c.execute(text("SELECT pg_advisory_xact_lock(727274)"))
                c.exec_driver_sql(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_us BIGINT NOT NULL)"
                )
                current = c.execute(text("SELECT max(version) FROM schema_version")).scalar() or 0
                applied = migrations.migrate(c.exec_driver_sql, int(current), self.dialect)
                for v in applied:
                    c.execute(
                        text("INSERT INTO schema_version VALUES (:v, :t)"), {"v": v, "t": self._now_us()}
                    )
                return applied
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open database: {exc.orig}") from exc

    def schema_version(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text("SELECT max(version) FROM schema_version")).scalar() or 0)

    def _now_us(self) -> int:
        return to_us(self.clock.now())

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    self._writer.close()
                self._writer = None
        self.engine.dispose()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write transaction for anything besides the observation hot path (twins, alarms,
        corrections...). It takes the store's write lock, so writers in this process queue here
        rather than in SQLite's busy handler, whose sleeps would stall the ingest writer."""
        with self._write_lock, self.engine.begin() as c:
            yield c

    # ---------------------------------------------------------------- twins
    def put_twin(self, twin: Twin) -> Twin | None:
        """Create or replace a twin; returns the previous version (None when new)."""
        now = self._now_us()
        old = self.get_twin(twin.id)
        self.codec.reserve(2)
        name, identity = sealing.seal_twin(self.codec, twin)
        params = {
            "id": twin.id,
            "kind": twin.kind.value,
            "name": name,
            "attributes": json.dumps(twin.attributes),
            "identity": identity,
            "active": int(twin.active),
            "now": now,
        }
        with self.transaction() as c:
            sealing.write_blind_indexes(c, twin.id, twin.identity)
            c.execute(
                text(
                    "INSERT INTO twins (id, kind, name, attributes, identity, active, created_us, updated_us) "
                    "VALUES (:id, :kind, :name, :attributes, :identity, :active, :now, :now) "
                    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, "
                    "attributes = excluded.attributes, identity = excluded.identity, active = excluded.active, "
                    "updated_us = excluded.updated_us"
                ),
                params,
            )
        return old

    def get_twin(self, twin_id: str) -> Twin | None:
        with self.engine.connect() as c:
            r = c.execute(
                text("SELECT id, kind, name, attributes, identity, active FROM twins WHERE id = :id"),
                {"id": twin_id},
            ).first()
        return _row_to_twin(r) if r else None

    def require_twin(self, twin_id: str) -> Twin:
        t = self.get_twin(twin_id)
        if t is None:
            raise NotFoundError(f"no twin {twin_id!r}", field="id")
        return t

    def list_twins(self, kind: TwinKind | None = None, ids: Iterable[str] | None = None) -> list[Twin]:
        q = "SELECT id, kind, name, attributes, identity, active FROM twins"
        params: dict[str, Any] = {}
        where = []
        if kind is not None:
            where.append("kind = :kind")
            params["kind"] = kind.value
        if ids is not None:  # in SQL: only the wanted rows are read (and decrypted)
            params["ids"] = list(set(ids))
            if not params["ids"]:
                return []
            where.append("id IN :ids")
        stmt = text(q + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id")
        if ids is not None:
            stmt = stmt.bindparams(sa.bindparam("ids", expanding=True))
        with self.engine.connect() as c:
            rows = c.execute(stmt, params).all()
        return [_row_to_twin(r) for r in rows]

    def find_twins(self, identifier: str) -> list[Twin]:
        """Twins with this identifier (MRN or any ``identity.identifiers[].value``), found through
        the keyed blind index without decrypting other twins."""
        b = crypto.blind_index(sealing.IDENTIFIER_KIND, identifier)
        with self.engine.connect() as c:
            ids = [
                r[0]
                for r in c.execute(text("SELECT twin_id FROM twin_identifiers WHERE bidx = :b"), {"b": b})
            ]
        return self.list_twins(ids=ids) if ids else []

    def twin_ids(self) -> set[str]:
        with self.engine.connect() as c:
            return {r[0] for r in c.execute(text("SELECT id FROM twins"))}

    def delete_twin(self, twin_id: str) -> None:
        with self.transaction() as c:
            c.execute(text("DELETE FROM relationships WHERE src = :id OR dst = :id"), {"id": twin_id})
            c.execute(text("UPDATE twins SET active = 0 WHERE id = :id"), {"id": twin_id})

    # ---------------------------------------------------------------- relationships
    def relate(self, rel: Relationship, *, exclusive: bool = False) -> None:
        """Add an edge. ``exclusive`` first removes the source's other edges of the same type
        (a patient is located in one bed at a time)."""
        with self.transaction() as c:
            if exclusive:
                c.execute(
                    text("DELETE FROM relationships WHERE src = :s AND type = :t"),
                    {"s": rel.src, "t": rel.type.value},
                )
            c.execute(
                text(
                    "INSERT INTO relationships (src, type, dst, attributes, created_us) VALUES (:s, :t, :d, :a, :now) "
                    "ON CONFLICT (src, type, dst) DO UPDATE SET attributes = excluded.attributes"
                ),
                {
                    "s": rel.src,
                    "t": rel.type.value,
                    "d": rel.dst,
                    "a": json.dumps(rel.attributes),
                    "now": self._now_us(),
                },
            )

    def unrelate(self, src: str, type_: RelType, dst: str) -> bool:
        with self.transaction() as c:
            n = c.execute(
                text("DELETE FROM relationships WHERE src = :s AND type = :t AND dst = :d"),
                {"s": src, "t": type_.value, "d": dst},
            ).rowcount
        return bool(n)

    def relationships(
        self, twin_id: str | None = None, *, type_: RelType | None = None, direction: str = "both"
    ) -> list[Relationship]:
        where, params = [], {}
        if twin_id is not None:
            if direction == "out":
                where.append("src = :id")
            elif direction == "in":
                where.append("dst = :id")
            else:
                where.append("(src = :id OR dst = :id)")
            params["id"] = twin_id
        if type_ is not None:
            where.append("type = :t")
            params["t"] = type_.value
        q = "SELECT src, type, dst, attributes FROM relationships"
        if where:
            q += " WHERE " + " AND ".join(where)
        with self.engine.connect() as c:
            rows = c.execute(text(q + " ORDER BY src, type, dst"), params).all()
        return [Relationship(r[0], RelType(r[1]), r[2], json.loads(r[3])) for r in rows]

    # ---------------------------------------------------------------- writes (hot path)
    def _writer_conn(self) -> Any:
        if self._writer is None:
            conn: Any
            if self.dialect == "sqlite":
                assert self.path is not None
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
                for p in SQLITE_PRAGMAS:
                    conn.execute(p)
            else:
                import psycopg

                conn = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
            self._writer = conn
        return self._writer

    def _reset_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None

    def write(
        self, observations: Sequence[Observation] = (), medications: Sequence[MedicationAdministration] = ()
    ) -> WriteResult:
        """Store a batch in one durable transaction; duplicates (same source and source_id) are
        skipped and counted. Raises :class:`StoreError` when nothing could be committed."""
        with self._write_lock:
            try:
                return self._write(observations, medications)
            except (sqlite3.Error, OSError) as exc:
                self._reset_writer()
                raise StoreError(f"write failed: {exc}") from exc
            except Exception as exc:
                if type(exc).__module__.startswith("psycopg"):
                    self._reset_writer()
                    raise StoreError(f"write failed: {exc}") from exc
                raise

    def _write(
        self, observations: Sequence[Observation], medications: Sequence[MedicationAdministration]
    ) -> WriteResult:
        notes = sum(1 for o in observations if o.value_text and o.code in sealing.SEALED_CODES)
        self.codec.reserve(2 * notes + 2 * len(medications))  # before the transaction (codec.py)
        conn = self._writer_conn()
        result = WriteResult()
        if self.dialect == "sqlite":
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if observations:
                    result.accepted, result.duplicates = self._sqlite_insert_obs(cur, observations)
                    self._upsert_latest(cur, result.accepted)
                if medications:
                    result.medications, result.medication_duplicates = self._insert_meds(cur, medications)
                cur.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        else:
            with conn.transaction(), conn.cursor() as cur:
                if observations:
                    result.accepted, result.duplicates = self._pg_insert_obs(cur, observations)
                    self._upsert_latest(cur, result.accepted)
                    if self.partitioned and self._feed_enabled(cur):
                        pg_write.record_feed(cur, self.writer_id, self._now_us(), result.accepted)
                if medications:
                    result.medications, result.medication_duplicates = self._insert_meds(cur, medications)
        return result

    def _sqlite_insert_obs(self, cur: Any, obs: Sequence[Observation]) -> tuple[list[Observation], int]:
        before = cur.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0]
        cur.executemany(
            f"INSERT INTO observations ({OBS_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (source, source_id) DO NOTHING",
            _obs_rows(obs, self.codec),
        )
        inserted = cur.rowcount
        if inserted == len(obs):
            # No conflicts: SQLite gave the rows consecutive ids in order (single writer, max+1).
            return [_set_id(o, before + i + 1) for i, o in enumerate(obs)], 0
        rows = cur.execute(
            "SELECT id, source, source_id FROM observations WHERE id > ?", (before,)
        ).fetchall()
        ids = {(r[1], r[2]): r[0] for r in rows}
        return _accepted(obs, ids)

    def _feed_enabled(self, cur: Any) -> bool:
        """Whether to write the change feed (``store_settings.feed``, set by cluster shard owners);
        re-read every 10 s, so writers notice a cluster being switched on."""
        now = time.monotonic()
        if now - self._feed_checked > 10.0:
            cur.execute("SELECT value FROM store_settings WHERE name = 'feed'")
            row = cur.fetchone()
            self.feed_on, self._feed_checked = bool(row and row[0] == "on"), now
        return self.feed_on

    def _pg_insert_obs(self, cur: Any, obs: Sequence[Observation]) -> tuple[list[Observation], int]:
        if self.partitioned:
            ids: dict[tuple[str, str], int] = pg_write.insert_batch(cur, _obs_rows(obs, self.codec))
            return _accepted(obs, ids)
        cur.executemany(
            f"INSERT INTO observations ({OBS_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (source, source_id) DO NOTHING RETURNING id, source, source_id",
            _obs_rows(obs, self.codec),
            returning=True,
        )
        ids = {}
        while True:
            for r in cur.fetchall():
                ids[(r[1], r[2])] = r[0]
            if not cur.nextset():
                break
        return _accepted(obs, ids)

    def _upsert_latest(self, cur: Any, accepted: Sequence[Observation]) -> None:
        newest: dict[tuple[str, str], Observation] = {}
        for o in accepted:
            if o.status is ObsStatus.ENTERED_IN_ERROR:
                continue
            k = (o.twin_id, o.code)
            cur_best = newest.get(k)
            if cur_best is None or o.effective >= cur_best.effective:
                newest[k] = o
        if not newest:
            return
        ph = self.ph
        cur.executemany(
            f"INSERT INTO latest (twin_id, code, obs_id, t_us, value, value_text, unit) "
            f"VALUES ({ph},{ph},{ph},{ph},{ph},{ph},{ph}) ON CONFLICT (twin_id, code) DO UPDATE SET "
            "obs_id = excluded.obs_id, t_us = excluded.t_us, value = excluded.value, "
            "value_text = excluded.value_text, unit = excluded.unit WHERE excluded.t_us >= latest.t_us",
            [
                (
                    o.twin_id,
                    o.code,
                    o.id,
                    to_us(o.effective),
                    o.value,
                    o.value_text
                    if o.code not in sealing.SEALED_CODES
                    else self.codec.seal_opt(o.value_text, "observations", "value_text", o.twin_id),
                    o.unit,
                )
                for _k, o in sorted(newest.items())  # one lock order for concurrent writers
            ],
        )

    def _insert_meds(
        self, cur: Any, meds: Sequence[MedicationAdministration]
    ) -> tuple[list[MedicationAdministration], int]:
        accepted = []
        ph = self.ph
        now = self._now_us()
        for m in meds:
            cur.execute(
                "INSERT INTO medications (twin_id, drug, dose, dose_unit, route, t_us, source, source_id, "
                f"performer, status, note, received_us) VALUES ({', '.join([ph] * 12)}) "
                "ON CONFLICT (source, source_id) DO NOTHING RETURNING id",
                (
                    m.twin_id,
                    m.drug,
                    m.dose,
                    m.dose_unit,
                    m.route,
                    to_us(m.effective),
                    m.source,
                    m.source_id,
                    self.codec.seal_opt(m.performer, "medications", "performer", m.twin_id),
                    m.status,
                    self.codec.seal_opt(m.note, "medications", "note", m.twin_id),
                    now,
                ),
            )
            row = cur.fetchone()
            if row is not None:
                accepted.append(replace(m, id=int(row[0])))
        return accepted, len(meds) - len(accepted)

    def record_rejects(
        self, adapter: str, source: str, rejects: Sequence[dict[str, Any]], payload: str | None = None
    ) -> None:
        """Keep a dead-letter record of what was refused, so nothing vanishes silently."""
        if not rejects:
            return
        now = self._now_us()
        if payload:
            self.codec.reserve(1)
            payload = self.codec.seal(payload[:65536], "ingest_rejects", "payload", source)
        with self.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO ingest_rejects (received_us, adapter, source, item_index, field, reason, payload) "
                    "VALUES (:t, :a, :s, :i, :f, :r, :p)"
                ),
                [
                    {
                        "t": now,
                        "a": adapter,
                        "s": source,
                        "i": r.get("index"),
                        "f": r.get("field"),
                        "r": str(r.get("reason", ""))[:1000],
                        "p": payload or None,
                    }
                    for r in rejects
                ],
            )

    def rejects(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT id, received_us, adapter, source, item_index, field, reason FROM ingest_rejects "
                    "ORDER BY id DESC LIMIT :n"
                ),
                {"n": limit},
            ).all()
        return [
            {
                "id": r[0],
                "received": from_us(r[1]).isoformat(),
                "adapter": r[2],
                "source": r[3],
                "index": r[4],
                "field": r[5],
                "reason": r[6],
            }
            for r in rows
        ]

    # ---------------------------------------------------------------- reads
    def latest(self, twin_id: str, codes: Iterable[str] | None = None) -> dict[str, Observation]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    f"SELECT {', '.join('o.' + x.strip() for x in OBS_SELECT.split(','))} FROM latest l "
                    "JOIN observations o ON o.id = l.obs_id AND o.t_us = l.t_us WHERE l.twin_id = :t"
                ),
                {"t": twin_id},
            ).all()
        out = {r[2]: row_to_obs(r) for r in rows}
        if codes is not None:
            wanted = set(codes)
            out = {k: v for k, v in out.items() if k in wanted}
        return out

    def latest_many(self, twin_ids: Iterable[str]) -> dict[str, dict[str, Observation]]:
        ids = list(twin_ids)
        out: dict[str, dict[str, Observation]] = {i: {} for i in ids}
        if not ids:
            return out
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    f"SELECT {', '.join('o.' + x.strip() for x in OBS_SELECT.split(','))} FROM latest l "
                    "JOIN observations o ON o.id = l.obs_id AND o.t_us = l.t_us WHERE l.twin_id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": ids},
            ).all()
        for r in rows:
            out[r[1]][r[2]] = row_to_obs(r)
        return out

    def history(
        self,
        twin_id: str,
        code: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10_000,
        *,
        include_errors: bool = False,
        descending: bool = False,
    ) -> list[Observation]:
        where = ["twin_id = :t"]
        params: dict[str, Any] = {"t": twin_id, "n": limit}
        if code is not None:
            where.append("code = :c")
            params["c"] = code
        if start is not None:
            where.append("t_us >= :s")
            params["s"] = to_us(start)
        if end is not None:
            where.append("t_us < :e")
            params["e"] = to_us(end)
        if not include_errors:
            where.append("status <> 'entered-in-error'")
        order = "DESC" if descending else "ASC"
        q = (
            f"SELECT {OBS_SELECT} FROM observations WHERE {' AND '.join(where)} "
            f"ORDER BY t_us {order}, id {order} LIMIT :n"
        )
        with self.engine.connect() as c:
            return [row_to_obs(r) for r in c.execute(text(q), params)]

    def get_observation(self, obs_id: int) -> Observation:
        with self.engine.connect() as c:
            r = c.execute(text(f"SELECT {OBS_SELECT} FROM observations WHERE id = :i"), {"i": obs_id}).first()
        if r is None:
            raise NotFoundError(f"no observation {obs_id}", field="id")
        return row_to_obs(r)

    def find_observation(self, source: str, source_id: str) -> Observation | None:
        """The stored observation with this idempotency key, if any."""
        q = f"SELECT {OBS_SELECT} FROM observations WHERE source = :s AND source_id = :i"
        if self.partitioned:  # through the key table: one partition, by primary key
            cols = ", ".join("o." + x.strip() for x in OBS_SELECT.split(","))
            q = (
                f"SELECT {cols} FROM observation_keys k JOIN observations o ON o.id = k.obs_id "
                "AND o.t_us = k.t_us WHERE k.source = :s AND k.source_id = :i"
            )
        with self.engine.connect() as c:
            r = c.execute(text(q), {"s": source, "i": source_id}).first()
        return row_to_obs(r) if r is not None else None

    def buckets(
        self, twin_id: str, code: str, start: datetime, end: datetime, bucket_s: float
    ) -> list[Bucket]:
        """Downsampled series for charts: count, min, max and mean per bucket of ``bucket_s`` seconds."""
        if bucket_s <= 0:
            raise ValidationError("bucket must be positive", field="bucket")
        b = int(bucket_s * 1_000_000)
        if self.partitioned:  # rollups for whole hours/minutes of long ranges
            return pg_history.buckets(self, twin_id, code, start, end, b)
        q = (
            "SELECT (t_us / :b) * :b AS bucket, count(*), min(value), max(value), avg(value) FROM observations "
            "WHERE twin_id = :t AND code = :c AND t_us >= :s AND t_us < :e AND status <> 'entered-in-error' "
            "GROUP BY bucket ORDER BY bucket"
        )
        with self.engine.connect() as c:
            rows = c.execute(
                text(q), {"b": b, "t": twin_id, "c": code, "s": to_us(start), "e": to_us(end)}
            ).all()
        return [
            Bucket(from_us(int(r[0])), int(r[1]), r[2], r[3], None if r[4] is None else float(r[4]))
            for r in rows
        ]

    def medications(
        self, twin_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[MedicationAdministration]:
        where: list[str] = ["twin_id = :t"]
        params: dict[str, Any] = {"t": twin_id}
        if start is not None:
            where.append("t_us >= :s")
            params["s"] = to_us(start)
        if end is not None:
            where.append("t_us < :e")
            params["e"] = to_us(end)
        q = (
            "SELECT id, twin_id, drug, dose, dose_unit, route, t_us, source, source_id, performer, status, note "
            f"FROM medications WHERE {' AND '.join(where)} ORDER BY t_us"
        )
        with self.engine.connect() as c:
            rows = c.execute(text(q), params).all()
        return [
            MedicationAdministration(
                id=r[0],
                twin_id=r[1],
                drug=r[2],
                dose=r[3],
                dose_unit=r[4],
                route=r[5],
                effective=from_us(r[6]),
                source=r[7],
                source_id=r[8],
                performer=unseal_opt(r[9], "medications", "performer", r[1]) or "",
                status=r[10],
                note=unseal_opt(r[11], "medications", "note", r[1]) or "",
            )
            for r in rows
        ]

    def count_observations(self, twin_id: str | None = None) -> int:
        q = "SELECT count(*) FROM observations" + (" WHERE twin_id = :t" if twin_id else "")
        with self.engine.connect() as c:
            return int(c.execute(text(q), {"t": twin_id}).scalar() or 0)

    # ---------------------------------------------------------------- retention
    def purge(self, before: datetime, codes: Iterable[str] | None = None) -> int:
        """Delete observations older than ``before`` (optionally only some codes); returns rows deleted.
        The latest-state row of a series is kept even when it is older (the twin keeps its state)."""
        if self.partitioned:  # whole monthly partitions are dropped
            return pg_history.purge(self, before, None if codes is None else list(codes))
        params: dict[str, Any] = {"b": to_us(before)}
        q = "DELETE FROM observations WHERE t_us < :b AND id NOT IN (SELECT obs_id FROM latest)"
        stmt = text(q)
        if codes is not None:
            q += " AND code IN :codes"
            stmt = text(q).bindparams(sa.bindparam("codes", expanding=True))
            params["codes"] = list(codes)
        with self.transaction() as c:
            return int(c.execute(stmt, params).rowcount)


def open_store(url: str, *, clock: Clock | None = None) -> SqlStore:
    return SqlStore(url, clock=clock)
