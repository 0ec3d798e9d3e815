"""Alarm notifications: who is told, and through which channel.

* The WebSocket push to dashboards goes through the bus: every alarm transition is published as
  ``Generic(type="alarm", data=<alarm json with "twin">)`` and :class:`medtwin.api.live.LiveHub`
  forwards it to the ward and patient feeds. Nothing here.
* :class:`Notifier` is the port for channels that reach people (pager, SMS, nurse call, chat);
  :class:`LoggingNotifier` is the reference implementation and :class:`WebhookNotifier` posts
  JSON to an HTTP endpoint with retry, exponential backoff, a bounded queue, a dead-letter list
  after ``max_tries`` and an HMAC-SHA256 signature of the body (header ``X-Medtwin-Signature:
  sha256=<hex>``, the GitHub/Stripe webhook convention) with a configured secret.
* :class:`Roster` resolves escalation levels to people: level 0 the patient's nurse(s)
  (``cared_for_by`` staff with role ``nurse``, else the ward's nurses), then the ward's charge
  nurse(s), the patient's physician(s) (else the ward's), then the rapid response team
  (configured names). Staff are twins of kind STAFF with ``attributes["role"]``, ``works_in`` a ward.
* :class:`NotificationRouter` groups what happens to one patient within ``group_wait_s`` into a
  single notification per recipient set (Alertmanager's ``group_wait`` idea), so three alarms
  raised together on one patient page once.

Notifications and log lines carry ids, bed labels and alarm texts only, never patient names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from medtwin.core.model import RelType, TwinKind
from medtwin.services.registry import Registry

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Medtwin-Signature"


@dataclass
class Notification:
    twin: str
    bed: str | None
    ward: str | None
    targets: list[str]
    alarms: list[dict[str, Any]]  # alarm json (contract shape) with "event": the transition type
    time: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "alarm.notification",
            "twin": self.twin,
            "bed": self.bed,
            "ward": self.ward,
            "targets": self.targets,
            "time": self.time,
            "alarms": self.alarms,
        }


class Notifier(Protocol):
    """A channel that reaches people (port). ``send`` must not block for long."""

    name: str

    def send(self, notification: Notification) -> None: ...

    def close(self) -> None: ...


class LoggingNotifier:
    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or log
        self.sent: deque[Notification] = deque(maxlen=1000)

    def send(self, n: Notification) -> None:
        self.sent.append(n)
        summary = ", ".join(f"{a['condition']}/{a['priority']}/{a.get('event')}" for a in n.alarms)
        self.log.info(
            "alarm notification twin=%s bed=%s to=%s: %s", n.twin, n.bed, ",".join(n.targets), summary
        )

    def close(self) -> None:
        pass


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    return hmac.compare_digest(sign(body, secret), header)


@dataclass
class _Delivery:
    body: bytes
    tries: int = 0
    due: float = 0.0


class WebhookNotifier:
    """POST each notification as JSON; retry 5xx, 429 and network errors with exponential backoff."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        max_queue: int = 1000,
        max_tries: int = 6,
        backoff_s: float = 0.5,
        max_backoff_s: float = 60.0,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        start: bool = True,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret for its HMAC signature")
        self.url = url
        self._secret = secret
        self.max_queue = max_queue
        self.max_tries = max_tries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._sleep = sleep
        self._mono = monotonic
        self._q: deque[_Delivery] = deque()
        self._cv = threading.Condition()
        self._stop = False
        self.dead_letter: deque[dict[str, Any]] = deque(maxlen=1000)
        self.delivered = 0
        self.dropped = 0
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="medtwin-webhook", daemon=True)
            self._thread.start()

    def send(self, n: Notification) -> None:
        body = json.dumps(n.as_dict(), separators=(",", ":")).encode()
        with self._cv:
            if len(self._q) >= self.max_queue:
                self._q.popleft()  # bounded: the oldest undelivered goes to the dead letters
                self.dropped += 1
                self.dead_letter.append({"reason": "queue full", "body": None})
                log.error("webhook queue full; oldest notification dropped")
            self._q.append(_Delivery(body, 0, self._mono()))
            self._cv.notify()

    def attempt(self, d: _Delivery) -> bool:
        """One delivery attempt; True when done (delivered, or permanently refused)."""
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(d.body, self._secret)}
        d.tries += 1
        try:
            r = self._client.post(self.url, content=d.body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("webhook attempt %d failed: %s", d.tries, type(exc).__name__)
            return False
        if r.status_code < 300:
            self.delivered += 1
            return True
        if r.status_code in (408, 429) or r.status_code >= 500:
            log.warning("webhook attempt %d answered %d", d.tries, r.status_code)
            return False
        self.dead_letter.append(
            {"reason": f"HTTP {r.status_code}", "tries": d.tries, "body": d.body.decode()}
        )
        log.error("webhook refused a notification with HTTP %d; dead-lettered", r.status_code)
        return True

    def backoff(self, tries: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (tries - 1)))

    def deliver(self, d: _Delivery) -> None:
        """Try until delivered or ``max_tries`` (then dead-letter). Used by the worker and tests."""
        while not self.attempt(d):
            if d.tries >= self.max_tries:
                self.dead_letter.append({"reason": "max tries", "tries": d.tries, "body": d.body.decode()})
                log.error("webhook gave up after %d tries; dead-lettered", d.tries)
                return
            if self._stop:
                return
            self._sleep(self.backoff(d.tries))

    def drain(self) -> None:
        """Deliver everything queued, in the calling thread (tests, or a final flush without the worker)."""
        while True:
            with self._cv:
                if not self._q:
                    return
                d = self._q.popleft()
            self.deliver(d)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._stop:
                    self._cv.wait()
                if self._stop and not self._q:
                    return
                d = self._q.popleft()
            self.deliver(d)

    def flush(self, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._cv:
                if not self._q:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)
        self._client.close()


class Roster:
    """Escalation targets from the ward's staff roster (cached; call ``invalidate`` on changes)."""

    def __init__(self, registry: Registry, chain: Sequence[str], rapid_response: Sequence[str]) -> None:
        self.registry = registry
        self.chain = tuple(chain)
        self.rapid_response = list(rapid_response)
        self._cache: dict[tuple[str, int], list[str]] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    def targets(self, twin: str, ward: str | None, level: int) -> list[str]:
        key = (twin, level)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._resolve(twin, ward, level)
        return list(hit)

    def _resolve(self, twin: str, ward: str | None, level: int) -> list[str]:
        if level >= len(self.chain):
            return []
        role = self.chain[level]
        if role == "rapid_response":
            return list(self.rapid_response)
        store = self.registry.store
        staff = {t.id: t for t in store.list_twins(TwinKind.STAFF) if t.active}

        def with_role(ids: Sequence[str]) -> list[str]:
            return sorted(i for i in ids if i in staff and staff[i].attributes.get("role") == role)

        own = [r.dst for r in store.relationships(twin, type_=RelType.CARED_FOR_BY, direction="out")]
        mine = with_role(own)
        if mine and role in ("nurse", "physician"):
            return mine
        if ward is None:
            return [f"role:{role}"]
        ward_staff = [r.src for r in store.relationships(ward, type_=RelType.WORKS_IN, direction="in")]
        return with_role(ward_staff) or [f"role:{role}@{ward}"]


@dataclass
class _Group:
    first: float
    twin: str
    bed: str | None
    ward: str | None
    targets: list[str] = field(default_factory=list)
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)


class NotificationRouter:
    """Groups per patient for ``group_wait_s``, then sends one notification to every channel."""

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        group_wait_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifiers = list(notifiers)
        self.group_wait_s = group_wait_s
        self._clock = clock
        self._groups: dict[str, _Group] = {}
        self._lock = threading.Lock()
        self.sent = 0

    def add(self, alarm_json: dict[str, Any], targets: Sequence[str], event: str, iso_time: str) -> None:
        if not self.notifiers:
            return
        twin = alarm_json["twin"]
        with self._lock:
            g = self._groups.get(twin)
            if g is None:
                g = self._groups[twin] = _Group(
                    self._clock(), twin, alarm_json.get("bed"), alarm_json.get("ward")
                )
            for t in targets:
                if t not in g.targets:
                    g.targets.append(t)
            g.alarms[alarm_json["id"]] = {**alarm_json, "event": event, "event_time": iso_time}
        if self.group_wait_s <= 0:
            self.flush(force=True)

    def flush(self, force: bool = False) -> int:
        now = self._clock()
        with self._lock:
            due = [t for t, g in self._groups.items() if force or now - g.first >= self.group_wait_s]
            groups = [self._groups.pop(t) for t in due]
        for g in groups:
            times = [a["event_time"] for a in g.alarms.values()]
            n = Notification(g.twin, g.bed, g.ward, g.targets, list(g.alarms.values()), max(times))
            for ch in self.notifiers:
                try:
                    ch.send(n)
                except Exception:
                    log.exception("notifier %s failed", getattr(ch, "name", ch))
            self.sent += 1
        return len(groups)

    def close(self) -> None:
        self.flush(force=True)
        for ch in self.notifiers:
            try:
                ch.close()
            except Exception:
                log.exception("closing notifier %s failed", getattr(ch, "name", ch))
