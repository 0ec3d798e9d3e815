"""ClusterNode: one owner per patient shard, elected with PostgreSQL advisory locks.

A patient's shard is ``crc32(patient id) % 4096 % shards`` (``shards`` a power of two, default
64). Each owner process holds

* one *membership* lock ``(727277, its backend pid)`` for as long as its connection lives, and
* the *shard* locks ``(727278, shard)`` it owns, taken with ``pg_try_advisory_lock``.

Every ``rebalance_s`` an owner counts the members (``pg_locks`` of this database) and aims at
``ceil(shards / members)`` shards: above it, it hands the highest ones back (saving their feed
positions first); below it, it tries free shards, starting at an offset that depends on its rank
so members do not all race for shard 0. Locks are session locks: when an owner dies, or its
connection to PostgreSQL breaks, they are released by the server and the other owners take the
orphaned shards at their next rebalance; an owner whose connection breaks gives up all its shards
at once (it cannot know whether it still holds them) and reconnects.

Between rounds the same thread runs the :class:`~medtwin.services.cluster.relay.FeedRelay`, which
publishes the owned patients' readings (committed by any worker) on this process's bus.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from medtwin.services.cluster.relay import FeedRelay, LocalTap
from medtwin.store.pg_write import SLOTS, slot_of

log = logging.getLogger(__name__)
NS_MEMBER = 727277
NS_SHARD = 727278
Callback = Callable[[set[int]], object]


def enable_feed(store: Any) -> None:
    """Switch the change feed on for every writer of this database (they re-read it every 10 s)."""
    with store.engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO store_settings (name, value) VALUES ('feed', 'on') "
            "ON CONFLICT (name) DO UPDATE SET value = 'on'"
        )
    store._feed_checked = 0.0  # this process: at once


class ClusterNode:
    def __init__(
        self, runtime: Any, shards: int = 64, *, rebalance_s: float = 2.0, poll_s: float = 0.1
    ) -> None:
        if shards < 1 or shards > SLOTS or SLOTS % shards:
            raise ValueError(f"shards must be a power of two between 1 and {SLOTS}")
        store = runtime.store
        if not getattr(store, "partitioned", False):
            raise ValueError("a cluster needs PostgreSQL (schema version 13 or later)")
        self.rt = runtime
        self.store = store
        self.shards = shards
        self.rebalance_s = rebalance_s
        self.poll_s = poll_s
        self.owned: set[int] = set()
        self.on_gain: list[Callback] = []
        self.on_lose: list[Callback] = []
        self.conn: Any = None
        self.relay: FeedRelay | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_rebalance = 0.0
        self.errors = 0

    # ------------------------------------------------------------------ ownership
    def shard_of(self, twin_id: str) -> int:
        return slot_of(twin_id) % self.shards

    def owns(self, twin_id: str) -> bool:
        return slot_of(twin_id) % self.shards in self.owned

    def _connect(self) -> None:
        url = self.store.url.replace("postgresql+psycopg://", "postgresql://")
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("SELECT pg_advisory_lock(%s, pg_backend_pid())", (NS_MEMBER,))
        relay = FeedRelay(self.store, self.rt.bus, self.shards, self.conn)
        if self.relay is not None:  # keep the position across reconnects
            relay.pos, relay.above = self.relay.pos, self.relay.above
        self.relay = relay
        relay.start()

    def members(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objsubid = 2 "
            "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (NS_MEMBER,),
        ).fetchall()
        return sorted(int(r[0]) for r in rows)

    def rebalance(self) -> tuple[set[int], set[int]]:
        """Hand back shards above the fair share, take free ones below it; (gained, lost)."""
        assert self.relay is not None
        members = self.members()
        if not members:
            return set(), set()
        target = math.ceil(self.shards / len(members))
        lost: set[int] = set()
        gained: set[int] = set()
        if len(self.owned) > target:
            lost = set(sorted(self.owned)[target:])
            self._lose(lost)
            for k in sorted(lost):
                self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", (NS_SHARD, k))
        elif len(self.owned) < target:
            pid = int(self.conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            rank = members.index(pid) if pid in members else 0
            start = (rank * target) % self.shards
            for k in [(start + i) % self.shards for i in range(self.shards)]:
                if len(self.owned) >= target:
                    break
                if k in self.owned:
                    continue
                got = self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (NS_SHARD, k)).fetchone()[0]
                if got:
                    gained.add(k)
                    self.owned.add(k)
            if gained:
                for cb in self.on_gain:
                    cb(set(gained))
                for k in sorted(gained):
                    self.relay.gain(k)
        if gained or lost:
            log.info(
                "cluster: shards gained %s, lost %s (%d owned)", sorted(gained), sorted(lost), len(self.owned)
            )
        return gained, lost

    def _lose(self, shards: set[int]) -> None:
        if self.relay is not None:  # connection gone: the saved positions are older (at-least-once)
            with contextlib.suppress(psycopg.Error):
                self.relay.lose(shards)
        self.owned -= shards
        for cb in self.on_lose:
            cb(set(shards))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ClusterNode:
        enable_feed(self.store)
        self._connect()
        self.rt.writer.bus = LocalTap(self.rt.bus)  # own commits come back through the feed
        self.rebalance()
        self._next_rebalance = time.monotonic() + self.rebalance_s
        self._thread = threading.Thread(target=self._run, name="medtwin-cluster", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self.conn is not None:
            try:
                if self.relay is not None:
                    self.relay.save()
                self.conn.close()  # releases every advisory lock
            except psycopg.Error:
                pass
            self.conn = None
        self.owned.clear()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if self.conn is None or self.conn.closed:
                    self._connect()
                if time.monotonic() >= self._next_rebalance:
                    self._next_rebalance = time.monotonic() + self.rebalance_s
                    self.rebalance()
                assert self.relay is not None
                if self.relay.round() == 0:
                    self._stop.wait(self.poll_s)
                backoff = 0.5
            except psycopg.Error as exc:
                self.errors += 1
                log.warning(
                    "cluster: database connection lost (%s); giving up %d shards", exc, len(self.owned)
                )
                if self.owned:
                    self._lose(set(self.owned))
                try:
                    if self.conn is not None:
                        self.conn.close()
                except psycopg.Error:
                    pass
                self.conn = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:
                self.errors += 1
                log.exception("cluster round failed")
                self._stop.wait(self.poll_s)
