"""AlarmService: the alarm engine wired into the runtime (bus, store, registry, notifiers).

The bus handler runs in the writer's thread, so it only queues the committed readings and
returns (the writer is never blocked by alarm work). The service's own thread evaluates them,
calls ``tick`` every ``tick_s`` (1 s), stores every transition (``alarms`` + append-only
``alarm_events``), publishes it as ``Generic(type="alarm", data=<alarm json + "event">)`` (the
WebSocket feeds forward it), and hands the ones that reach people to the
:class:`~medtwin.services.monitoring.notify.NotificationRouter`. Operators' actions (acknowledge,
pause, escalate, resolve) come from API threads and take the same lock. On start the open alarms
are restored from the store, and the last-seen time of each monitored code is seeded from the
latest readings, so stale-data alarms also cover a restart.

Wiring: ``AlarmService.attach(runtime).start()`` or the start hook :func:`start_alarms` for
:func:`medtwin.api.app.create_app`; the runtime holds the service as ``runtime.services["alarms"]``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from medtwin.core.clock import to_us
from medtwin.core.codes import BY_REF
from medtwin.core.errors import ConflictError, NotFoundError, ValidationError
from medtwin.core.events import Context, Generic, ObservationsRecorded, RelationshipChanged, TwinChanged
from medtwin.core.model import Observation, Twin, TwinKind
from medtwin.services.monitoring.alarms import limits as lim
from medtwin.services.monitoring.alarms.config import AlarmConfig
from medtwin.services.monitoring.alarms.engine import AlarmEngine
from medtwin.services.monitoring.alarms.model import NOTIFY, Alarm, State, Transition, iso, sort_key
from medtwin.services.monitoring.alarms.repository import AlarmRepository
from medtwin.services.monitoring.notify import (
    LoggingNotifier,
    NotificationRouter,
    Notifier,
    Roster,
    WebhookNotifier,
)

if TYPE_CHECKING:
    from medtwin.runtime import Runtime

log = logging.getLogger(__name__)
STATES = ("open", "active", "acknowledged", "paused", "resolved")
LIMIT_KINDS = (TwinKind.PATIENT, TwinKind.WARD)


class AlarmService:
    def __init__(
        self,
        runtime: Runtime,
        *,
        config: AlarmConfig | None = None,
        notifiers: Sequence[Notifier] | None = None,
        tick_s: float = 1.0,
        max_queue: int = 100_000,
    ) -> None:
        self.rt = runtime
        self.config = config or AlarmConfig.from_mapping(runtime.settings.extra.get("alarms"))
        self.repo = AlarmRepository(runtime.store)
        self.roster = Roster(runtime.registry, self.config.chain, self.config.rapid_response_team)
        if notifiers is None:
            notifiers = [LoggingNotifier(), *_webhooks(runtime.settings.extra.get("alarm_webhooks", ()))]
        self.router = NotificationRouter(notifiers, self.config.group_wait_s)
        self.engine = AlarmEngine(
            self.config,
            clock=runtime.clock,
            limits_for=self._limits_for,
            locate=self._locate,
            targets_for=lambda a, level: self.roster.targets(a.twin, a.ward, level),
            sink=self._sink,
        )
        self.tick_s = tick_s
        self._lock = threading.RLock()
        self._cv = threading.Condition()
        self._q: deque[tuple[Observation, ...]] = deque()
        self.max_queue = max_queue
        self._dirty = False
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._unsubs: list[Callable[[], None]] = []
        self._unrecorded: list[tuple[Alarm, list[Transition]]] = []
        self.dropped_batches = 0
        self.errors = 0
        self.owns: Callable[[str], bool] | None = None  # cluster: patients of this owner's shards

    @classmethod
    def attach(cls, runtime: Runtime, **kw: Any) -> AlarmService:
        """Create the service, register it as ``runtime.services["alarms"]`` and its stopper."""
        svc = cls(runtime, **kw)
        runtime.services["alarms"] = svc
        runtime.add_stopper(svc.stop)
        return svc

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> AlarmService:
        if self.running:
            return self
        cluster = self.rt.services.get("cluster")  # medtwin.services.cluster: owned patients only
        self.owns = cluster.owns if cluster is not None else None
        with self._lock:
            n = self.adopt(lambda _twin: True)
        if n:
            log.info("restored %d open alarms", n)
        bus = self.rt.bus
        self._unsubs = [
            bus.subscribe(ObservationsRecorded, self._on_observations),
            bus.subscribe(TwinChanged, self._on_topology),
            bus.subscribe(RelationshipChanged, self._on_topology),
        ]
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="medtwin-alarms", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for u in self._unsubs:
            u()
        self._unsubs = []
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None
        self.router.close()

    def _mine(self, twin: str, extra: Callable[[str], bool]) -> bool:
        return (self.owns is None or self.owns(twin)) and extra(twin)

    def adopt(self, twins: Callable[[str], bool]) -> int:
        """Take on these twins (cluster shards gained, or all at start): open alarms, liveness."""
        with self._lock:
            n = self.engine.restore(a for a in self.repo.open_alarms() if self._mine(a.twin, twins))
            self._seed_liveness(twin_filter=twins)
        return n

    def release(self, twins: Callable[[str], bool]) -> None:
        """Forget these twins' state without transitions (their shards went to another owner)."""
        with self._lock:
            for key, a in list(self.engine.open.items()):
                if twins(a.twin):
                    del self.engine.open[key]
                    self.engine.by_id.pop(a.id, None)
            for twin in [t for t in self.engine.twins if twins(t)]:
                del self.engine.twins[twin]

    def _seed_liveness(self, window_s: float = 3600.0, twin_filter: Callable[[str], bool] = bool) -> None:
        """Codes a device reported within the last hour are watched for staleness from the start
        time on: devices get ``stale_after_s`` to resume after a restart before anyone is alarmed,
        and a monitor that never resumes is still noticed."""
        now = self.rt.clock.now().timestamp()
        twins = [
            t.id
            for t in self.rt.store.list_twins()
            if t.kind in (TwinKind.PATIENT, TwinKind.ROOM) and t.active and self._mine(t.id, twin_filter)
        ]
        for twin, latest in self.rt.store.latest_many(twins).items():
            for o in latest.values():
                info = BY_REF.get(o.code)
                rx = o.received.timestamp()
                if info is not None and o.method.value == "device" and rx >= now - window_s:
                    self.engine.seed_liveness(twin, info.key, max(rx, now), o.source)

    # ------------------------------------------------------------------ bus (other threads)
    def _on_observations(self, event: ObservationsRecorded) -> None:
        with self._cv:
            if len(self._q) >= self.max_queue:
                self._q.popleft()
                self.dropped_batches += 1
                log.error("alarm queue full: oldest batch of readings dropped from alarm evaluation")
            self._q.append(event.observations)
            self._cv.notify()

    def _on_topology(self, _event: object) -> None:
        self._dirty = True

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        next_tick = time.monotonic()
        while True:
            with self._cv:
                while not self._q and not self._stop and time.monotonic() < next_tick:
                    self._cv.wait(max(0.0, next_tick - time.monotonic()))
                if self._stop:
                    return
                batches = list(self._q)
                self._q.clear()
                self._busy = True
            try:
                with self._lock:
                    if self._dirty:
                        self._dirty = False
                        self.roster.invalidate()
                        self.engine.invalidate()
                    for b in batches:
                        owns = self.owns
                        self.engine.process(b if owns is None else [o for o in b if owns(o.twin_id)])
                    if time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + self.tick_s
                        self.engine.tick(self.rt.clock.now())
                        self._retry_unrecorded()
                self.router.flush()
            except Exception:
                self.errors += 1
                log.exception("alarm evaluation failed")
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued batch has been evaluated (tests, benchmarks)."""
        end = time.monotonic() + timeout
        with self._cv:
            while self._q or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def tick(self) -> None:
        """Run one tick now (tests on a ManualClock)."""
        with self._lock:
            self.engine.tick(self.rt.clock.now())
        self.router.flush()

    # ------------------------------------------------------------------ the sink
    def _sink(self, alarm: Alarm, transitions: list[Transition]) -> None:
        try:
            self._retry_unrecorded()
            self.repo.record(alarm, transitions)
        except Exception:
            self.errors += 1
            self._unrecorded.append((alarm, list(transitions)))
            log.exception("could not store alarm %s transitions; will retry", alarm.id)
        base = alarm.to_json()
        for tr in transitions:
            data = {**base, "event": tr.as_dict()}
            self.rt.bus.publish(
                Generic(time=tr.time, context=Context(actor=tr.actor), type="alarm", data=data)
            )
            if tr.type in NOTIFY:
                targets = (
                    tr.data.get("targets") if tr.type in ("escalated", "stand_down") else alarm.escalated_to
                )
                self.router.add(base, list(targets or []), tr.type, iso(tr.time) or "")

    def _retry_unrecorded(self) -> None:
        if self._unrecorded:
            pending, self._unrecorded = self._unrecorded, []
            self.repo.record_many(pending)

    # ------------------------------------------------------------------ topology helpers
    def _ward(self, twin: Twin) -> Twin | None:
        return twin if twin.kind is TwinKind.WARD else self.rt.registry.ward_of(twin.id)

    def _limits_for(self, twin_id: str) -> lim.Limits:
        twin = self.rt.store.get_twin(twin_id)
        if twin is None:
            return lim.effective_limits(None)
        ward = self._ward(twin)
        own = twin.attributes if twin.kind is TwinKind.PATIENT else None
        return lim.effective_limits(ward.attributes if ward else None, own)

    def _locate(self, twin_id: str) -> tuple[str | None, str | None]:
        chain = self.rt.registry.location_chain(twin_id)
        bed = next((t for t in chain if t.kind is TwinKind.BED), None)
        ward = next((t for t in chain if t.kind is TwinKind.WARD), None)
        return (bed.name or bed.id) if bed else None, ward.id if ward else None

    # ------------------------------------------------------------------ queries and operators
    def list(
        self, *, ward: str | None = None, twin: str | None = None, state: str = "open"
    ) -> list[dict[str, Any]]:
        if state not in STATES:
            raise ValidationError(f"state must be one of {', '.join(STATES)}", field="state")
        if state == "resolved":
            alarms = self.repo.list(ward=ward, twin=twin, states=[State.RESOLVED.value])
        else:
            with self._lock:
                alarms = [
                    a
                    for a in self.engine.alarms()
                    if (ward is None or a.ward == ward)
                    and (twin is None or a.twin == twin)
                    and (state == "open" or a.state.value == state)
                ]
        return [a.to_json() for a in sorted(alarms, key=sort_key)]

    def get(self, alarm_id: str, history: bool = True) -> dict[str, Any]:
        with self._lock:
            a = self.engine.get(alarm_id)
            out = a.to_json() if a is not None else None
        if out is None:
            stored = self.repo.get(alarm_id)
            if stored is None:
                raise NotFoundError(f"no alarm {alarm_id!r}", field="id")
            out = stored.to_json()
        if history:
            out["history"] = self.repo.history(alarm_id)
        return out

    def _act(self, alarm_id: str, fn: Callable[[], Alarm]) -> dict[str, Any]:
        with self._lock:
            if self.engine.get(alarm_id) is None:
                if self.repo.get(alarm_id) is not None:
                    raise ConflictError("the alarm is already resolved", field="state")
                raise NotFoundError(f"no alarm {alarm_id!r}", field="id")
            alarm = fn()
            out = alarm.to_json()
        self.router.flush()
        return out

    def acknowledge(self, alarm_id: str, by: str) -> dict[str, Any]:
        return self._act(alarm_id, lambda: self.engine.acknowledge(alarm_id, by))

    def pause(self, alarm_id: str, by: str, seconds: float | None = None) -> dict[str, Any]:
        return self._act(alarm_id, lambda: self.engine.pause(alarm_id, by, seconds))

    def escalate(self, alarm_id: str, by: str) -> dict[str, Any]:
        return self._act(alarm_id, lambda: self.engine.escalate(alarm_id, by))

    def resolve(self, alarm_id: str, by: str) -> dict[str, Any]:
        return self._act(alarm_id, lambda: self.engine.resolve(alarm_id, by))

    # ------------------------------------------------------------------ limits
    def get_limits(self, twin_id: str) -> dict[str, Any]:
        twin = self.rt.registry.get(twin_id)
        if twin.kind not in LIMIT_KINDS:
            raise ValidationError("alarm limits belong to a patient or a ward twin", field="id")
        ward = self._ward(twin)
        own = dict(twin.attributes.get("alarm_limits") or {})
        inherited = self._inherited(twin, ward)
        effective = lim.merge(inherited, own)
        overridden = {f"{k}.{f}" for k, spec in own.items() if isinstance(spec, dict) for f in spec}
        return {
            "twin": twin.id,
            "kind": twin.kind.value,
            "ward": ward.id if ward else None,
            "limits": own,
            "inherited": inherited,
            "effective": effective,
            "sources": lim.sources_for(effective, overridden),
        }

    def _inherited(self, twin: Twin, ward: Twin | None) -> lim.Limits:
        if twin.kind is TwinKind.WARD:
            return lim.merge(
                lim.DEFAULT_LIMITS, lim.ENVIRONMENT_LIMITS[lim.environment_profile(twin.attributes)]
            )
        return lim.effective_limits(ward.attributes if ward else None)

    def put_limits(self, twin_id: str, raw: Any, by: str) -> dict[str, Any]:
        """Replace the twin's own limit overrides (validated; logged in the alarm system log)."""
        twin = self.rt.registry.get(twin_id)
        if twin.kind not in LIMIT_KINDS:
            raise ValidationError("alarm limits belong to a patient or a ward twin", field="id")
        clean = lim.validate_limits(raw, self._inherited(twin, self._ward(twin)), field="limits")
        old = twin.attributes.get("alarm_limits")
        attrs = {**twin.attributes, "alarm_limits": clean}
        self.rt.registry.put(
            Twin(twin.id, twin.kind, twin.name, attrs, twin.identity, twin.active),
            Context(actor=f"user:{by}"),
        )
        self.repo.log(
            f"limits:{twin.id}", "limits_changed", by, to_us(self.rt.clock.now()), {"old": old, "new": clean}
        )
        with self._lock:
            self.engine.invalidate()
        return self.get_limits(twin_id)


def _webhooks(specs: Any) -> list[Notifier]:
    out: list[Notifier] = []
    for spec in specs or ():
        out.append(WebhookNotifier(spec["url"], spec["secret"]))
    return out


def start_alarms(runtime: Runtime, _loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Start hook for :func:`medtwin.api.app.create_app` (``on_start=[start_alarms]``)."""
    if "alarms" not in runtime.services:
        AlarmService.attach(runtime).start()
