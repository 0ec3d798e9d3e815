"""BatchWriter: group commit in front of the store (the recorder pattern).

Adapters ``submit`` validated observations and get a :class:`concurrent.futures.Future` that
resolves with the per-submission :class:`Ack` only after the batch holding them is committed.
Only then may an adapter acknowledge upstream (MQTT PUBACK, MLLP ACK, HTTP 2xx).

One thread owns the write connection. It takes the first waiting submission, lingers up to
``linger`` seconds (never more than ``max_delay``) for more, up to ``max_rows``, commits once,
resolves every future of the batch, then publishes one :class:`ObservationsRecorded` event.
When the store is unavailable it retries with backoff and keeps the submissions (nothing is
acknowledged meanwhile); the queue is bounded in rows, so producers block instead of growing
memory without limit (backpressure).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from medtwin.core.bus import Bus
from medtwin.core.errors import StoreError
from medtwin.core.events import Context, Generic, ObservationsRecorded
from medtwin.core.model import MedicationAdministration, Observation
from medtwin.store.sql import SqlStore, WriteResult

log = logging.getLogger(__name__)
_WRITER_CONTEXT = Context(actor="system:writer")


@dataclass
class Ack:
    """The outcome of one submission: what was newly stored and how many were already there."""

    accepted: list[Observation] = field(default_factory=list)
    duplicates: int = 0
    medications: list[MedicationAdministration] = field(default_factory=list)
    medication_duplicates: int = 0


@dataclass
class _Item:
    observations: Sequence[Observation]
    medications: Sequence[MedicationAdministration]
    future: Future[Any]
    context: Context
    enqueued: float
    finish: Callable[[Ack], Any] | None = None

    @property
    def rows(self) -> int:
        return len(self.observations) + len(self.medications)


class BatchWriter:
    def __init__(
        self,
        store: SqlStore,
        bus: Bus | None = None,
        *,
        max_rows: int = 20_000,
        linger: float = 0.02,
        max_delay: float = 0.25,
        max_queue_rows: int = 200_000,
        retry_for: float | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.max_rows = max_rows
        self.linger = min(linger, max_delay)
        self.max_queue_rows = max_queue_rows
        self.retry_for = retry_for  # None = retry until the store comes back
        self._q: deque[_Item] = deque()
        self._queued_rows = 0
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        # metrics
        self.commits = 0
        self.rows_committed = 0
        self.duplicates = 0
        self.failures = 0
        self.last_commit_s = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> BatchWriter:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="medtwin-writer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Drain what is queued, then stop."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> BatchWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    # ------------------------------------------------------------------ producers
    def submit(
        self,
        observations: Sequence[Observation] = (),
        medications: Sequence[MedicationAdministration] = (),
        *,
        context: Context | None = None,
        block: bool = True,
        timeout: float | None = None,
        finish: Callable[[Ack], Any] | None = None,
    ) -> Future[Any]:
        """Queue rows; the future resolves with the :class:`Ack` (or ``finish(ack)``) after commit."""
        fut: Future[Any] = Future()
        item = _Item(observations, medications, fut, context or _WRITER_CONTEXT, time.monotonic(), finish)
        if item.rows == 0:
            fut.set_result(finish(Ack()) if finish else Ack())
            return fut
        with self._cv:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._queued_rows + item.rows > self.max_queue_rows and self._queued_rows > 0:
                if not block:
                    raise StoreError("ingest queue full", field="queue")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise StoreError("ingest queue full (timed out waiting)", field="queue")
                self._cv.wait(remaining)
            self._q.append(item)
            self._queued_rows += item.rows
            # Wake the writer only when it has something new to decide: the first item (it may be
            # idle) or a full batch (it may be lingering). Waking it per item costs a GIL hand-off each.
            if len(self._q) == 1 or self._queued_rows >= self.max_rows:
                self._cv.notify_all()
        return fut

    def write(
        self,
        observations: Sequence[Observation] = (),
        medications: Sequence[MedicationAdministration] = (),
        *,
        context: Context | None = None,
        timeout: float | None = None,
    ) -> Ack:
        """Submit and wait for the commit."""
        ack: Ack = self.submit(observations, medications, context=context).result(timeout)
        return ack

    # ------------------------------------------------------------------ the writer thread
    def _take_batch(self) -> list[_Item]:
        with self._cv:
            while not self._q and not self._stop:
                self._cv.wait()
            if not self._q:
                return []
            first = self._q[0].enqueued
            deadline = first + self.linger
            while self._queued_rows < self.max_rows and not self._stop:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cv.wait(remaining)
            batch, rows = [], 0
            while self._q and (rows == 0 or rows + self._q[0].rows <= self.max_rows):
                item = self._q.popleft()
                rows += item.rows
                batch.append(item)
            return batch

    def _release(self, batch: list[_Item]) -> None:
        with self._cv:
            self._queued_rows -= sum(i.rows for i in batch)
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            obs = [o for it in batch for o in it.observations]
            meds = [m for it in batch for m in it.medications]
            result = self._commit_with_retry(obs, meds)
            self._release(batch)
            if result is None:
                err = StoreError("store unavailable: batch not committed")
                for it in batch:
                    it.future.set_exception(err)
                continue
            self._resolve(batch, result)

    def _commit_with_retry(
        self, obs: list[Observation], meds: list[MedicationAdministration]
    ) -> WriteResult | None:
        started = time.monotonic()
        delay = 0.05
        while True:
            try:
                t0 = time.perf_counter()
                res = self.store.write(obs, meds)
                self.last_commit_s = time.perf_counter() - t0
                self.commits += 1
                self.rows_committed += len(res.accepted) + len(res.medications)
                self.duplicates += res.duplicates + res.medication_duplicates
                return res
            except StoreError as exc:
                self.failures += 1
                if self.retry_for is not None and time.monotonic() - started > self.retry_for:
                    log.error("giving up on a batch of %d rows: %s", len(obs) + len(meds), exc)
                    return None
                log.warning("store write failed (%s); retrying in %.2fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _resolve(self, batch: list[_Item], res: WriteResult) -> None:
        # Announce first, then acknowledge: whoever gets an ack can rely on subscribers having seen it.
        if self.bus is not None and res.accepted:
            ctx = batch[0].context if len(batch) == 1 else Context(actor="system:writer")
            self.bus.publish(
                ObservationsRecorded(
                    time=self.store.clock.now(), context=ctx, observations=tuple(res.accepted)
                )
            )
        if self.bus is not None and res.medications:
            self.bus.publish(
                Generic(
                    time=self.store.clock.now(),
                    context=batch[0].context,
                    type="medications_recorded",
                    data={"medications": list(res.medications)},
                )
            )
        # The store sets ids in place on the submitted objects it stored; duplicates keep id None.
        med_by_key = {(m.source, m.source_id): m for m in res.medications}
        for it in batch:
            ack = Ack()
            if res.duplicates == 0:
                ack.accepted = list(it.observations)
            else:
                ack.accepted = [o for o in it.observations if o.id is not None]
                ack.duplicates = len(it.observations) - len(ack.accepted)
            for m in it.medications:
                sm = med_by_key.pop((m.source, m.source_id), None)
                if sm is None:
                    ack.medication_duplicates += 1
                else:
                    ack.medications.append(sm)
            it.future.set_result(it.finish(ack) if it.finish is not None else ack)
