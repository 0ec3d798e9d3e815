"""In-process event bus.

``subscribe(event_type, handler)`` returns an unsubscribe callable. ``publish`` calls handlers
synchronously in the publishing thread, in subscription order; a failing handler is logged and
never breaks the publisher or other handlers (Home Assistant's rule). Async consumers hand the
event to their loop themselves (see :class:`medtwin.api.live.LiveHub`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from medtwin.core.events import Event

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]


class Bus:
    def __init__(self) -> None:
        self._subs: dict[type[Event], list[Handler]] = {}
        self._lock = threading.Lock()
        self.errors = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        with self._lock:
            self._subs.setdefault(event_type, []).append(handler)

        def unsubscribe() -> None:
            with self._lock:
                handlers = self._subs.get(event_type, [])
                if handler in handlers:
                    handlers.remove(handler)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            handlers = [h for t, hs in self._subs.items() if isinstance(event, t) for h in hs]
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                self.errors += 1
                log.exception("bus handler %r failed on %s", handler, type(event).__name__)
