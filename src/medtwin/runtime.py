"""The runtime: one object wiring settings, clock, store, bus, writer, ingestor and registry.

``medtwin serve``, ``medtwin demo``, the tests and the benchmarks all build one of these, so the
path a reading takes is the same everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from medtwin.config import Settings
from medtwin.core.bus import Bus
from medtwin.core.clock import Clock, WallClock
from medtwin.core.events import RelationshipChanged, TwinChanged
from medtwin.ingest.pipeline import Ingestor
from medtwin.services.registry import Registry
from medtwin.store.sql import SqlStore
from medtwin.store.writer import BatchWriter

log = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self, settings: Settings | None = None, *, clock: Clock | None = None, store: SqlStore | None = None
    ) -> None:
        self.settings = settings or Settings.load()
        self.clock = clock or WallClock()
        self.store = store or SqlStore(self.settings.db_url, clock=self.clock)
        self.bus = Bus()
        self.writer = BatchWriter(
            self.store,
            self.bus,
            max_rows=self.settings.commit_max_rows,
            linger=self.settings.commit_linger_s,
            max_delay=self.settings.commit_max_delay_s,
        )
        self.registry = Registry(self.store, self.bus, self.clock)
        self.ingestor = Ingestor(
            self.store,
            self.writer,
            auto_register=self.settings.auto_register,
            clock=self.clock,
            max_future_s=self.settings.max_future_s,
        )
        self.ingestor.register = self.registry.put
        self.bus.subscribe(TwinChanged, lambda _e: self.ingestor.refresh())
        self.bus.subscribe(RelationshipChanged, lambda _e: self.ingestor.refresh())
        self.services: dict[str, Any] = {}
        self._stoppers: list[Callable[[], object]] = []
        self.started = False

    def add_stopper(self, fn: Callable[[], object]) -> None:
        self._stoppers.append(fn)

    def start(self) -> Runtime:
        if not self.started:
            self.writer.start()
            self.started = True
        return self

    def stop(self) -> None:
        for fn in reversed(self._stoppers):
            try:
                fn()
            except Exception:
                log.exception("error while stopping %r", fn)
        self._stoppers.clear()
        self.writer.stop()
        self.store.close()
        self.started = False

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
