"""BusWorker: the life cycle shared by services that react to committed readings in a thread.

The bus handler (``_on_observations``) runs in the writer's thread, so a service only notes what
changed there and wakes its own thread (``_run``), which does the work. ``attach`` registers the
service in ``runtime.services`` and as a stopper; ``start`` subscribes and starts the thread;
``stop`` unsubscribes, wakes the thread with ``_stop`` set and joins it. Subclasses set
:attr:`key` and :attr:`thread_name`, implement ``_on_observations`` and ``_run``, and may
override ``_before_start`` / ``_after_stop``.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Self

from medtwin.core.events import ObservationsRecorded


class BusWorker:
    key: ClassVar[str]
    thread_name: ClassVar[str]
    stop_timeout: ClassVar[float] = 10.0

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._unsub: Any = None

    @classmethod
    def attach(cls, runtime: Any, **kw: Any) -> Self:
        svc = cls(runtime, **kw)
        runtime.services[cls.key] = svc
        runtime.add_stopper(svc.stop)
        return svc

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        if self._thread is None:
            self._stop = False
            self._before_start()
            self._unsub = self.rt.bus.subscribe(ObservationsRecorded, self._on_observations)
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(self.stop_timeout if timeout is None else timeout)
            self._thread = None
        self._after_stop()

    def _before_start(self) -> None:
        """Load state before the subscription starts (e.g. who is enrolled)."""

    def _after_stop(self) -> None:
        """Release resources after the thread has ended."""

    def _on_observations(self, ev: ObservationsRecorded) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError
