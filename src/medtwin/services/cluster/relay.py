"""FeedRelay: deliver the readings of owned patients, committed by any worker, to this process's bus.

Every PostgreSQL write batch adds one ``obs_feed`` row (observation ids, each one's patient slot,
the writing transaction's id) when the feed is on (:mod:`medtwin.store.pg_schema`). A round:

1. take the snapshot's ``xmin`` (every transaction below it has finished; PostgreSQL 13+
   ``pg_current_snapshot``), then read the visible feed rows with ``xid >= pos``;
2. deliver those not delivered before whose slots belong to an owned shard: fetch the
   observations by id (pruned to the batch's time range) and publish one
   :class:`~medtwin.core.events.ObservationsRecorded` on the local bus, in transaction order;
3. ``pos`` becomes the snapshot's ``xmin``; the xids at or above it already delivered are
   remembered, so a long-running writer delays nothing committed after it and nothing is skipped.

Positions are saved per shard in ``feed_cursors`` (``shard:<n>``) every ``save_s`` and when a
shard is handed over; a shard taken over resumes from its saved position (at-least-once: up to
``save_s`` of readings may be delivered twice after a crash; the alarm engine and the scoring
service tolerate a repeated reading).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from medtwin.core.bus import Bus
from medtwin.core.events import Context, ObservationsRecorded
from medtwin.core.model import Observation
from medtwin.store.sql import OBS_SELECT, SqlStore, row_to_obs

log = logging.getLogger(__name__)
CONTEXT = Context(actor="system:cluster")


class FeedRelay:
    def __init__(self, store: SqlStore, bus: Bus, shards: int, conn: Any, *, save_s: float = 1.0) -> None:
        self.store = store
        self.bus = bus
        self.shards = shards
        self.conn = conn  # an autocommit psycopg connection of the cluster thread
        self.save_s = save_s
        self.pos: int | None = None
        self.above: set[int] = set()  # xids >= pos already delivered
        self.owned: set[int] = set()
        self._last_save = 0.0
        self.delivered = 0
        self.rounds = 0

    # ------------------------------------------------------------------ positions
    def _snapshot_xmin(self) -> int:
        return int(
            self.conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()[0]
        )

    def start(self) -> None:
        if self.pos is None:
            self.pos = self._snapshot_xmin()

    def gain(self, shard: int) -> None:
        """Take over a shard: deliver what its previous owner had not (from its saved position)."""
        assert self.pos is not None
        row = self.conn.execute(
            "SELECT xid FROM feed_cursors WHERE name = %s", (f"shard:{shard}",)
        ).fetchone()
        self.owned.add(shard)
        since = self.pos if row is None else min(int(row[0]), self.pos)
        if since >= self.pos and not self.above:
            return
        rows = self.conn.execute(
            "SELECT xid, ids, slots, lo_us, hi_us FROM obs_feed WHERE xid >= %s ORDER BY xid", (since,)
        ).fetchall()
        self._deliver([r for r in rows if r[0] < self.pos or r[0] in self.above], {shard})

    def lose(self, shards: Iterable[int]) -> None:
        lost = set(shards) & self.owned
        if lost:
            self.save(lost)
            self.owned -= lost

    def save(self, shards: Iterable[int] | None = None) -> None:
        names = [f"shard:{s}" for s in (self.owned if shards is None else shards)]
        if not names or self.pos is None:
            return
        self.conn.execute(
            "INSERT INTO feed_cursors (name, xid, updated_us) SELECT unnest(%s::text[]), %s, %s "
            "ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, updated_us = excluded.updated_us",
            (names, self.pos, int(time.time() * 1e6)),
        )
        self._last_save = time.monotonic()

    # ------------------------------------------------------------------ rounds
    def round(self) -> int:
        """One delivery round; returns how many observations were published."""
        self.start()
        assert self.pos is not None
        xmin = self._snapshot_xmin()
        rows = self.conn.execute(
            "SELECT xid, ids, slots, lo_us, hi_us FROM obs_feed WHERE xid >= %s ORDER BY xid", (self.pos,)
        ).fetchall()
        fresh = [r for r in rows if r[0] not in self.above]
        n = self._deliver(fresh, self.owned) if self.owned else 0
        self.above = {r[0] for r in rows if r[0] >= xmin}
        self.pos = max(self.pos, xmin)
        self.rounds += 1
        if time.monotonic() - self._last_save >= self.save_s:
            self.save()
        return n

    def _deliver(self, rows: list[Any], shards: set[int]) -> int:
        mod = self.shards
        ids: list[int] = []
        lo, hi = None, None
        for _xid, row_ids, slots, lo_us, hi_us in rows:
            mine = [i for i, s in zip(row_ids, slots, strict=True) if s % mod in shards]
            if mine:
                ids.extend(mine)
                lo = lo_us if lo is None else min(lo, lo_us)
                hi = hi_us if hi is None else max(hi, hi_us)
        if not ids:
            return 0
        obs = self.fetch(ids, lo, hi)
        if obs:
            self.bus.publish(
                ObservationsRecorded(time=self.store.clock.now(), context=CONTEXT, observations=obs)
            )
        self.delivered += len(obs)
        return len(obs)

    def fetch(self, ids: list[int], lo: int | None, hi: int | None) -> tuple[Observation, ...]:
        order = {i: k for k, i in enumerate(ids)}
        cur = self.conn.execute(
            f"SELECT {OBS_SELECT} FROM observations WHERE id = ANY(%s) AND t_us >= %s AND t_us <= %s",
            (ids, lo, hi),
        )
        found = [row_to_obs(r) for r in cur.fetchall()]
        found.sort(key=lambda o: order.get(o.id or 0, 0))
        return tuple(found)


class LocalTap:
    """The writer's bus in an owner process: its own ``ObservationsRecorded`` events are dropped
    (they come back through the feed, like every other worker's), everything else passes."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def publish(self, event: Any) -> None:
        if not isinstance(event, ObservationsRecorded):
            self.bus.publish(event)

    def subscribe(self, event_type: Any, handler: Callable[[Any], None]) -> Callable[[], None]:
        return self.bus.subscribe(event_type, handler)
