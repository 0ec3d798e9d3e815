"""The tamper-evident audit log: an append-only RFC 9162 Merkle tree over audit events in SQL.

Storage (created on first use; SQLite: its own file next to the main database, ``<name>-audit.db``,
so audit appends never wait behind ingest and the log can be kept on other media; PostgreSQL: the
same database, tables ``audit_*``)::

    audit_entries (idx, t_us, type, subject, role, patient, outcome, event, leaf)
        event = the canonical JSON (medtwin.security.audit.canonical), leaf = SHA-256(0x00 || event);
        the event's ``prev`` is the previous entry's leaf hash, so a moved entry is located exactly
    audit_nodes   (level, idx, hash)   every perfect subtree of 2**level leaves (level >= 1)
    audit_sth     (tree_size, timestamp, root, key_id, public_key, signature)   signed tree heads
    audit_meta    (name, value)        log_id

Triggers refuse UPDATE and DELETE on all three; the Merkle tree and the signed heads are what make
an edit that bypasses them (dropping the triggers, editing the file) detectable.

Appends go through one writer thread per process: events queue up, a batch is written in one
transaction (group commit) with its leaf hashes and the new perfect nodes from the in-memory
frontier (O(log n) per event), and a tree head is signed in the same transaction every
``sth_every`` events or ``sth_seconds`` seconds. Each batch takes the database's write lock and
checks the log's size first, so several processes may append to one log.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.pool import StaticPool

from medtwin.core.clock import to_us
from medtwin.core.ids import new_id
from medtwin.security import audit as audit_events
from medtwin.security import merkle
from medtwin.security.audit_reads import AuditReads, DbHashes
from medtwin.security.audit_sth import Signer, TreeHead

log = logging.getLogger(__name__)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS audit_entries (
        idx BIGINT PRIMARY KEY, t_us BIGINT NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL,
        role TEXT NOT NULL, patient TEXT, outcome INTEGER NOT NULL, event TEXT NOT NULL, leaf TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS audit_entries_time ON audit_entries (t_us)",
    "CREATE INDEX IF NOT EXISTS audit_entries_patient ON audit_entries (patient, t_us)",
    "CREATE INDEX IF NOT EXISTS audit_entries_subject ON audit_entries (subject, t_us)",
    """CREATE TABLE IF NOT EXISTS audit_nodes (
        level INTEGER NOT NULL, idx BIGINT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (level, idx))""",
    """CREATE TABLE IF NOT EXISTS audit_sth (
        tree_size BIGINT PRIMARY KEY, timestamp BIGINT NOT NULL, root TEXT NOT NULL, key_id TEXT NOT NULL,
        public_key TEXT NOT NULL, signature TEXT NOT NULL)""",
)
_GUARDED = ("audit_entries", "audit_nodes", "audit_sth")


def _guards(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
            f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END"
            for t in _GUARDED
            for op in ("UPDATE", "DELETE")
        ]
    out = [
        "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME; END $$"  # %% for the driver
    ]
    for t in _GUARDED:
        out.append(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        out.append(
            f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
    return out


def audit_url(main_url: str) -> str:
    """Where the audit log of the database ``main_url`` lives (``MEDTWIN_AUDIT_DB`` overrides)."""
    env = os.environ.get("MEDTWIN_AUDIT_DB")
    if env:
        return env
    if main_url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return main_url
    path = main_url[len("sqlite:///") :] if main_url.startswith("sqlite:///") else main_url
    if path == ":memory:":
        return path
    p = Path(path).expanduser()
    return str(p.with_name(f"{p.stem}-audit{p.suffix or '.db'}"))


def _engine(url: str) -> tuple[sa.Engine, str]:
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("postgresql+psycopg://"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=3, max_overflow=5), "postgresql"
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
    if path == ":memory:":
        eng = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        eng = sa.create_engine(
            f"sqlite:///{Path(path).expanduser()}", connect_args={"check_same_thread": False, "timeout": 30}
        )

    @sa_event.listens_for(eng, "connect")
    def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
        cur = dbapi_conn.cursor()
        for p in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=30000"):
            cur.execute(p)
        cur.close()

    return eng, "sqlite"


class AuditLog(AuditReads):
    def __init__(
        self,
        url: str,
        *,
        signer: Signer | None = None,
        sth_every: int = 1000,
        sth_seconds: float = 60.0,
        sth_file: Path | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.url = url
        self.engine, self.dialect = _engine(url)
        self.signer = signer or Signer.load(data_dir)
        self.sth_every = max(1, sth_every)
        self.sth_seconds = sth_seconds
        self.sth_file = sth_file
        self._q: queue.SimpleQueue[tuple[dict[str, Any] | None, concurrent.futures.Future[int]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wlock = threading.RLock()  # one batch at a time in this process
        self._closed = False
        self._create()
        self.log_id = self._meta("log_id")
        self.frontier = merkle.Frontier()
        self.last_leaf = ""  # hex leaf hash of the newest entry
        self.last_sth_size = 0
        self.last_sth_time = time.monotonic()
        with self.engine.connect() as c:
            self._sync(c)

    @classmethod
    def for_settings(cls, settings: Any, **kw: Any) -> AuditLog:
        """The audit log of a :class:`medtwin.config.Settings` (``[medtwin.audit]`` table / env)."""
        cfg: dict[str, Any] = dict(settings.extra.get("audit", {})) if hasattr(settings, "extra") else {}
        every = int(os.environ.get("MEDTWIN_AUDIT_STH_EVERY", cfg.get("sth_every", 1000)))
        secs = float(os.environ.get("MEDTWIN_AUDIT_STH_SECONDS", cfg.get("sth_seconds", 60.0)))
        url = str(cfg.get("db") or audit_url(settings.db_url))
        sth_file = cfg.get("sth_file") or os.environ.get("MEDTWIN_AUDIT_STH_FILE")
        if not sth_file and url != ":memory:" and "://" not in url:
            sth_file = str(Path(url).with_suffix(".sth.jsonl"))
        return cls(
            url, sth_every=every, sth_seconds=secs, sth_file=Path(sth_file) if sth_file else None,
            data_dir=settings.data_dir, **kw,
        )  # fmt: skip

    # ---------------------------------------------------------------- schema and state
    def _create(self) -> None:
        with self.engine.begin() as c:
            if self.dialect == "postgresql":
                c.execute(text("SELECT pg_advisory_xact_lock(727275)"))
            for stmt in (*_TABLES, *_guards(self.dialect)):
                c.exec_driver_sql(stmt)
            ins = "INSERT INTO audit_meta (name, value) VALUES ('log_id', :v) ON CONFLICT (name) DO NOTHING"
            c.execute(text(ins), {"v": new_id("log")})

    def _meta(self, name: str) -> str:
        with self.engine.connect() as c:
            return str(c.execute(text("SELECT value FROM audit_meta WHERE name = :n"), {"n": name}).scalar())

    def _sync(self, c: sa.Connection) -> None:
        """Load the frontier for the stored size (after start, or when another process appended)."""
        size = int(c.execute(text("SELECT coalesce(max(idx) + 1, 0) FROM audit_entries")).scalar() or 0)
        if size != self.frontier.size:
            src = DbHashes(c)
            self.frontier = merkle.Frontier(
                size, [src.perfect(lv, ix) for lv, ix in merkle.Frontier.nodes_for(size)]
            )
            self.last_leaf = src.perfect(0, size - 1).hex() if size else ""
        self.last_sth_size = int(
            c.execute(text("SELECT coalesce(max(tree_size), 0) FROM audit_sth")).scalar() or 0
        )

    @property
    def size(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text("SELECT coalesce(max(idx) + 1, 0) FROM audit_entries")).scalar() or 0)

    # ---------------------------------------------------------------- appending
    def append(self, event: dict[str, Any]) -> concurrent.futures.Future[int]:
        """Queue an event; the future resolves to its index once it is committed."""
        audit_events.validate(event)
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        if self._closed:
            fut.set_exception(RuntimeError("audit log is closed"))
            return fut
        self._q.put((event, fut))
        self._ensure_thread()  # after the put: an idle writer that is exiting re-checks the queue
        return fut

    def append_sync(self, event: dict[str, Any], timeout: float = 30.0) -> int:
        return self.append(event).result(timeout)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until everything queued so far is committed."""
        if self._thread is None and self._q.empty():
            return
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._q.put((None, fut))
        self._ensure_thread()
        fut.result(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            timeout = max(0.05, self.sth_seconds - (time.monotonic() - self.last_sth_time))
            try:
                first = self._q.get(timeout=timeout)
            except queue.Empty:
                if self.frontier.size > self.last_sth_size:
                    self._safely(lambda: self.write([], force_sth=True), [])
                    continue
                with self._lock:  # idle and nothing to sign: stop; the next append starts a writer
                    if self._q.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < 5000:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            events = [(e, f) for e, f in batch if e is not None]
            self._safely(lambda evs=events: self.write([e for e, _ in evs]), events, batch)
            if self._closed and self._q.empty():
                return

    def _safely(self, fn: Any, events: list[Any], batch: list[Any] | None = None) -> None:
        try:
            idxs = fn()
        except Exception as exc:
            log.exception("audit log write failed")
            for _e, f in batch or events:
                if not f.done():
                    f.set_exception(exc)
            return
        for (_e, f), i in zip(events, idxs, strict=True):
            if not f.done():  # (a waiter may have given up: the event is stored all the same)
                f.set_result(i)
        for e, f in batch or []:
            if e is None and not f.done():
                f.set_result(-1)

    def write(self, events: list[dict[str, Any]], *, force_sth: bool = False) -> list[int]:
        """Append ``events`` in one transaction (signing a tree head when due); returns their indexes.
        Called by the writer thread; usable directly by tools and benchmarks."""
        with self._wlock:
            return self._write(events, force_sth)

    def _write(self, events: list[dict[str, Any]], force_sth: bool) -> list[int]:
        raw = self.engine.raw_connection()
        ph = "?" if self.dialect == "sqlite" else "%s"
        try:
            cur = raw.cursor()
            if self.dialect == "sqlite":
                cur.execute("BEGIN IMMEDIATE")
            else:
                cur.execute("SELECT pg_advisory_xact_lock(727276)")
            try:
                cur.execute("SELECT coalesce(max(idx) + 1, 0), (SELECT coalesce(max(tree_size), 0) FROM audit_sth) "
                            "FROM audit_entries")  # fmt: skip
                size, sth_size = (int(x) for x in cast(tuple[Any, ...], cur.fetchone()))
                if size != self.frontier.size or sth_size != self.last_sth_size:
                    with self.engine.connect() as c:  # another process appended: reload
                        self._sync(c)
                rows: list[tuple[Any, ...]] = []
                nodes: list[tuple[Any, ...]] = []
                idxs: list[int] = []
                for ev in events:
                    ev["prev"] = self.last_leaf  # links each entry to the one before (locates reorders)
                    body = audit_events.canonical(ev)
                    leaf = merkle.leaf_hash(body)
                    self.last_leaf = leaf.hex()
                    i = self.frontier.size
                    nodes.extend((lv, ix, h.hex()) for lv, ix, h in self.frontier.append(leaf))
                    t_us = to_us(datetime.fromisoformat(ev["time"].replace("Z", "+00:00")))
                    patient = ev["patients"][0] if ev.get("patients") else None
                    rows.append(
                        (i, t_us, ev["type"], ev["subject"], ev["role"], patient, ev["outcome"], body.decode(), leaf.hex())
                    )  # fmt: skip
                    idxs.append(i)
                if rows:
                    cur.executemany(
                        "INSERT INTO audit_entries (idx, t_us, type, subject, role, patient, outcome, event, leaf) "
                        f"VALUES ({', '.join([ph] * 9)})",
                        rows,
                    )
                if nodes:
                    cur.executemany(
                        f"INSERT INTO audit_nodes (level, idx, hash) VALUES ({ph}, {ph}, {ph})", nodes
                    )
                sth = None
                due = self.frontier.size - self.last_sth_size >= self.sth_every or (
                    time.monotonic() - self.last_sth_time >= self.sth_seconds
                )
                if self.frontier.size > self.last_sth_size and (force_sth or due):
                    sth = self.signer.sign(
                        self.log_id, self.frontier.size, self.frontier.root(), int(time.time() * 1000)
                    )
                    cur.execute(
                        "INSERT INTO audit_sth (tree_size, timestamp, root, key_id, public_key, signature) "
                        f"VALUES ({', '.join([ph] * 6)})",
                        (
                            sth.tree_size,
                            sth.timestamp,
                            sth.root_hash,
                            sth.key_id,
                            sth.public_key,
                            sth.signature,
                        ),
                    )
                if self.dialect == "sqlite":
                    cur.execute("COMMIT")
                else:
                    raw.commit()
            except BaseException:
                if self.dialect == "sqlite":
                    if raw.driver_connection.in_transaction:  # type: ignore[union-attr]
                        cur.execute("ROLLBACK")
                else:
                    raw.rollback()
                with self.engine.connect() as c:
                    self.frontier = merkle.Frontier()
                    self._sync(c)
                raise
        finally:
            raw.close()
        if sth is not None:
            self.last_sth_size, self.last_sth_time = sth.tree_size, time.monotonic()
            self._export(sth)
        return idxs

    def _export(self, sth: TreeHead) -> None:
        if self.sth_file is None:
            return
        try:
            self.sth_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.sth_file, "a") as f:
                f.write(sth.to_json() + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            log.exception("could not append the signed tree head to %s", self.sth_file)

    def sign_now(self) -> TreeHead | None:
        """Commit what is queued and sign a tree head for the current size (if it has none yet)."""
        self.flush()
        self.write([], force_sth=True)
        return self.latest_sth()

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.sign_now()
        except Exception:
            log.exception("could not sign the final tree head")
        self._closed = True
        if self._thread is not None and self._thread.is_alive():
            fut: concurrent.futures.Future[int] = concurrent.futures.Future()
            self._q.put((None, fut))
            self._thread.join(10)
        self.engine.dispose()
