"""The gateway's on-disk outbox: SQLite (WAL, ``synchronous=FULL``), group-committed.

Intake calls :meth:`Outbox.submit` with :class:`Record` objects and gets a future that resolves
once the record is durable; only then does it acknowledge the local device (MQTT PUBACK, HTTP
200, file offset). Each record gets, in the same transaction:

* an outbox sequence number (``seq``, gateway-wide, never reused), and
* a per-device message number (``dseq``): the device's own ``seq`` when it sends one (then the
  hospital's idempotency key is the device's own, end to end), else the next number of the
  gateway's counter for that device. A new counter starts at the epoch time in milliseconds, so
  counters of the same device on different gateways do not collide.

A record whose ``(device, dseq)`` is already pending is a duplicate (a local redelivery) and is
not stored twice. Rows are deleted only by :meth:`confirm`, when the hospital said the readings
are committed (or refused them for good: they move to the ``dead`` table with the reason).

Disk budget: ``used_bytes`` counts the pending payload bytes plus a fixed overhead per row. At
``warn_ratio`` (80 %) the outbox raises its high-water alarm (cleared below ``clear_ratio``); a
record that would pass 100 % is refused with :class:`OutboxFull`, and so is everything while the
file system has less than ``min_free_bytes`` free: intake then holds back (backpressure), it
never drops.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)
ROW_OVERHEAD = 96
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=30000")
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, dseq INTEGER NOT NULL, kind TEXT NOT NULL,
        patient TEXT, body BLOB NOT NULL, size INTEGER NOT NULL, received_us INTEGER NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS outbox_device_seq ON outbox (device, dseq)",
    "CREATE TABLE IF NOT EXISTS counters (device TEXT PRIMARY KEY, next INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS file_offsets (path TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS dead (
        id INTEGER PRIMARY KEY, t_us INTEGER NOT NULL, device TEXT, dseq INTEGER, reason TEXT NOT NULL,
        body BLOB)""",
    "CREATE TABLE IF NOT EXISTS stats (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class OutboxFull(Exception):
    """The outbox is at its budget (or the disk is nearly full): try again later."""


@dataclass
class Record:
    """One local message: readings (kind "obs") or medications (kind "med") of one device."""

    device: str
    items: list[dict[str, Any]]
    kind: str = "obs"
    dseq: int | None = None  # the device's own message number, if it sent one
    patient: str | None = None
    offset: tuple[str, int, int] | None = None  # (path, inode, offset) to store with it (file intake)
    dead_reason: str | None = None  # a local message that can never be forwarded: keep it as a dead letter
    raw: bytes | None = None  # for dead letters
    _payload: bytes | None = field(default=None, repr=False)

    def payload(self) -> bytes:
        if self._payload is None:
            self._payload = orjson.dumps(self.items)
        return self._payload


@dataclass
class Stored:
    seq: int | None
    dseq: int | None
    duplicate: bool = False


@dataclass
class Row:
    seq: int
    device: str
    dseq: int
    kind: str
    patient: str | None
    body: bytes
    size: int
    received_us: int


@dataclass
class _Op:
    records: Sequence[Record] = ()
    confirm: Sequence[int] = ()
    dead: Sequence[tuple[int, str]] = ()
    future: Future[Any] = field(default_factory=Future)
    reserved: int = 0


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        budget_bytes: int,
        warn_ratio: float = 0.8,
        clear_ratio: float = 0.75,
        min_free_bytes: int = 0,
        on_alarm: Callable[[str, bool, dict[str, Any]], None] | None = None,
        clock_us: Callable[[], int] | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.budget = budget_bytes
        self.warn_ratio, self.clear_ratio = warn_ratio, clear_ratio
        self.min_free = min_free_bytes
        self.on_alarm = on_alarm or (lambda *_: None)
        self.now_us = clock_us or (lambda: int(time.time() * 1_000_000))
        self._w = self._connect()
        for s in SCHEMA:
            self._w.execute(s)
        self._r = self._connect()
        self._rlock = threading.Lock()
        row = self._w.execute("SELECT count(*), coalesce(sum(size), 0) FROM outbox").fetchone()
        self.rows = int(row[0])
        self.used = int(row[1]) + self.rows * ROW_OVERHEAD
        self.reserved = 0
        self._lock = threading.Lock()
        self._q: deque[_Op] = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._refusing = False
        self.alarms: dict[str, bool] = {"outbox_high": False, "outbox_full": False}
        self.counters = {"stored": 0, "duplicates": 0, "confirmed": 0, "dead": 0, "refused": 0, "commits": 0}
        self._disk_free = shutil.disk_usage(self.path.parent).free
        self._disk_checked = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="gateway-outbox", daemon=True)
        self._thread.start()
        self._check_alarms()

    def _connect(self) -> sqlite3.Connection:
        c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        for p in PRAGMAS:
            c.execute(p)
        return c

    # ------------------------------------------------------------------ budget
    @property
    def ratio(self) -> float:
        return self.used / self.budget

    def _disk_ok(self, need: int) -> bool:
        if not self.min_free:
            return True
        now = time.monotonic()
        if now - self._disk_checked > 1.0:
            with contextlib.suppress(OSError):
                self._disk_free = shutil.disk_usage(self.path.parent).free
            self._disk_checked = now
        return self._disk_free - need > self.min_free

    def _check_alarms(self) -> None:
        ratio = (self.used + self.reserved) / self.budget
        info = {
            "used_bytes": self.used,
            "budget_bytes": self.budget,
            "ratio": round(ratio, 4),
            "rows": self.rows,
        }
        changes = []
        with self._lock:
            high = self.alarms["outbox_high"]
            if not high and ratio >= self.warn_ratio:
                self.alarms["outbox_high"] = True
                changes.append(("outbox_high", True))
            elif high and ratio < self.clear_ratio:
                self.alarms["outbox_high"] = False
                changes.append(("outbox_high", False))
            full = self.alarms["outbox_full"]
            is_full = self._refusing
            if is_full != full:
                self.alarms["outbox_full"] = is_full
                changes.append(("outbox_full", is_full))
        for name, present in changes:
            self.on_alarm(name, present, info)

    # ------------------------------------------------------------------ intake
    def submit(self, records: Sequence[Record]) -> Future[list[Stored]]:
        """Store records durably; the future gives one :class:`Stored` per record, in order.
        Raises :class:`OutboxFull` at once when they do not fit (nothing is stored)."""
        need = sum(len(r.payload()) + ROW_OVERHEAD for r in records if r.dead_reason is None)
        with self._lock:
            if need and (self.used + self.reserved + need > self.budget or not self._disk_ok(need)):
                self.counters["refused"] += 1
                full = self._refusing = True
            else:
                self.reserved += need
                full = self._refusing = False
        if full:
            self._check_alarms()
            raise OutboxFull(f"outbox at {self.ratio:.0%} of its {self.budget} byte budget")
        op = _Op(records=records, reserved=need)
        self._enqueue(op)
        return op.future

    def confirm(self, seqs: Sequence[int], dead: Sequence[tuple[int, str]] = ()) -> Future[Any]:
        """The hospital committed these rows (or refused them for good, with a reason): delete them."""
        op = _Op(confirm=seqs, dead=dead)
        self._enqueue(op)
        return op.future

    def _enqueue(self, op: _Op) -> None:
        with self._cv:
            if self._stop:
                raise RuntimeError("outbox closed")
            self._q.append(op)
            self._cv.notify()

    # ------------------------------------------------------------------ the writer thread
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._stop:
                    self._cv.wait()
                if not self._q:
                    return
                ops = list(self._q)
                self._q.clear()
            delay = 0.05
            while True:
                try:
                    results = self._commit(ops)
                    break
                except sqlite3.Error as exc:
                    log.warning("outbox write failed (%s); retrying in %.2fs", exc, delay)
                    with contextlib.suppress(sqlite3.Error):
                        self._w.execute("ROLLBACK")
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
            for op, res in zip(ops, results, strict=True):
                op.future.set_result(res)
            self._check_alarms()

    def _commit(self, ops: list[_Op]) -> list[Any]:
        c = self._w
        now = self.now_us()
        results: list[Any] = []
        added = removed = n_added = n_removed = 0
        counters = {"stored": 0, "duplicates": 0, "confirmed": 0, "dead": 0}
        c.execute("BEGIN IMMEDIATE")
        try:
            next_seq: dict[str, int | None] = {}
            for op in ops:
                out: list[Stored] = []
                for r in op.records:
                    if r.dead_reason is not None:
                        c.execute(
                            "INSERT INTO dead (t_us, device, dseq, reason, body) VALUES (?, ?, ?, ?, ?)",
                            (now, r.device, r.dseq, r.dead_reason[:1000], r.raw),
                        )
                        counters["dead"] += 1
                        out.append(Stored(None, None))
                    else:
                        out.append(self._insert(c, r, now, next_seq))
                        if out[-1].duplicate:
                            counters["duplicates"] += 1
                        else:
                            size = len(r.payload())
                            added += size + ROW_OVERHEAD
                            n_added += 1
                            counters["stored"] += 1
                    if r.offset is not None:
                        c.execute(
                            "INSERT INTO file_offsets (path, inode, offset) VALUES (?, ?, ?) ON CONFLICT (path) "
                            "DO UPDATE SET inode = excluded.inode, offset = excluded.offset",
                            r.offset,
                        )
                if op.confirm or op.dead:
                    dead = dict(op.dead)
                    seqs = list(op.confirm) + list(dead)
                    for i in range(0, len(seqs), 500):
                        chunk = seqs[i : i + 500]
                        marks = ",".join("?" * len(chunk))
                        for s, dev, dseq, body, size in c.execute(
                            f"SELECT seq, device, dseq, body, size FROM outbox WHERE seq IN ({marks})", chunk
                        ).fetchall():
                            if s in dead:
                                c.execute(
                                    "INSERT INTO dead (t_us, device, dseq, reason, body) VALUES (?, ?, ?, ?, ?)",
                                    (now, dev, dseq, dead[s][:1000], body),
                                )
                                counters["dead"] += 1
                            else:
                                counters["confirmed"] += 1
                            removed += size + ROW_OVERHEAD
                            n_removed += 1
                        c.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)
                results.append(out)
            for dev, nxt in next_seq.items():
                if nxt is None:
                    continue
                c.execute(
                    "INSERT INTO counters (device, next) VALUES (?, ?) ON CONFLICT (device) "
                    "DO UPDATE SET next = max(next, excluded.next)",
                    (dev, nxt),
                )
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        with self._lock:
            self.reserved -= sum(op.reserved for op in ops)
            self.used += added - removed
            self.rows += n_added - n_removed
            for k, v in counters.items():
                self.counters[k] += v
            self.counters["commits"] += 1
        return results

    def _insert(self, c: sqlite3.Connection, r: Record, now: int, next_seq: dict[str, int | None]) -> Stored:
        if r.device not in next_seq:
            row = c.execute("SELECT next FROM counters WHERE device = ?", (r.device,)).fetchone()
            next_seq[r.device] = int(row[0]) if row else None
        known = next_seq[r.device]
        # without the device's own number the gateway numbers it; a new counter starts at epoch ms
        dseq = r.dseq if r.dseq is not None else known if known is not None else int(time.time() * 1000)
        next_seq[r.device] = max(known or 0, dseq + 1)
        body = r.payload()
        cur = c.execute(
            "INSERT INTO outbox (device, dseq, kind, patient, body, size, received_us) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (device, dseq) DO NOTHING",
            (r.device, dseq, r.kind, r.patient, body, len(body), now),
        )
        if cur.rowcount == 0:
            return Stored(None, dseq, duplicate=True)
        return Stored(int(cur.lastrowid or 0), dseq)

    # ------------------------------------------------------------------ forwarding side (reads)
    def pending(self, after: int, limit: int) -> list[Row]:
        """Rows with ``seq > after`` in order (at most ``limit``)."""
        with self._rlock:
            rows = self._r.execute(
                "SELECT seq, device, dseq, kind, patient, body, size, received_us FROM outbox WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [Row(*r) for r in rows]

    def file_offset(self, path: str) -> tuple[int, int] | None:
        with self._rlock:
            r = self._r.execute("SELECT inode, offset FROM file_offsets WHERE path = ?", (path,)).fetchone()
        return (int(r[0]), int(r[1])) if r else None

    def oldest_us(self) -> int | None:
        with self._rlock:
            r = self._r.execute("SELECT min(received_us) FROM outbox").fetchone()
        return int(r[0]) if r and r[0] is not None else None

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._rlock:
            rows = self._r.execute(
                "SELECT id, t_us, device, dseq, reason FROM dead ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [{"id": r[0], "t_us": r[1], "device": r[2], "dseq": r[3], "reason": r[4]} for r in rows]

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(30)
        self._w.close()
        self._r.close()
