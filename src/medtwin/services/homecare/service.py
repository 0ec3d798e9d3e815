"""HomecareService: every enrolled home patient continuously placed in a tier.

The service subscribes to :class:`~medtwin.core.events.ObservationsRecorded`; the handler (in the
writer's thread) only notes which enrolled patients got new readings and wakes the service's
thread, which re-assesses each of them (at most once per ``min_interval_s``) and every enrolled
patient every ``tick_s`` (gaps and inactivity grow with time alone). A decision that differs from
the previous one (tier, or the rules that raised it) is stored with its reasons and inputs, and
published as ``Generic(type="homecare_triage", data={"twin", "tier", "previous", "decision_id",
"reasons"})``; reasons above ``self`` open or escalate worklist items (``homecare_worklist``
events) and notify the caregivers who asked for that tier or kind, through the monitoring
notifiers (:mod:`medtwin.services.monitoring.notify`: log, signed webhooks; targets are caregiver
references, never names or numbers).

Settings (``[medtwin.homecare]``): ``rules`` (overrides of the default rule set), ``tick_s`` (60),
``min_interval_s`` (2), ``webhooks`` ([{"url", "secret"}]).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from medtwin.core.events import Context, Generic, ObservationsRecorded
from medtwin.models.triage import Decision, RuleSet, Tier, assess
from medtwin.services.background import BusWorker
from medtwin.services.homecare import enrol as enrolment
from medtwin.services.homecare.collect import inputs_snapshot, patient_data
from medtwin.services.homecare.repository import HomecareRepository
from medtwin.services.monitoring.notify import LoggingNotifier, Notification, Notifier, WebhookNotifier

log = logging.getLogger(__name__)
ACTOR = "service:homecare"
KIND_OF = {"clinical": "triage", "trend": "triage", "baseline": "triage", "activity": "activity",
           "adherence": "adherence"}  # fmt: skip


class HomecareService(BusWorker):
    key = "homecare"
    thread_name = "medtwin-homecare"

    def __init__(
        self, runtime: Any, *, rules: RuleSet | None = None, notifiers: list[Notifier] | None = None
    ) -> None:
        super().__init__(runtime)
        cfg = dict(runtime.settings.extra.get("homecare", {}))
        self.rules = rules or RuleSet(cfg.get("rules") or {})
        self.repo = HomecareRepository(runtime.store)
        self.tick_s = float(cfg.get("tick_s", 60.0))
        self.min_interval_s = float(cfg.get("min_interval_s", 2.0))
        if notifiers is None:
            notifiers = [
                LoggingNotifier(),
                *(WebhookNotifier(w["url"], w["secret"]) for w in cfg.get("webhooks", [])),
            ]
        self.notifiers = notifiers
        self._enrolled: set[str] = set()
        self._pending: set[str] = set()
        self._last_run: dict[str, float] = {}
        self._signature: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._devices: dict[str, tuple[str, ...]] = {}
        self._busy = False
        self.evaluations = 0
        self.notifications = 0

    def _before_start(self) -> None:
        self._enrolled = {e["twin"] for e in self.repo.enrolments()}
        self._pending |= self._enrolled

    def _after_stop(self) -> None:
        for n in self.notifiers:
            n.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        with self._cv:
            while (self._pending or self._busy) and time.monotonic() < end:
                self._cv.wait(0.05)
            return not self._pending and not self._busy

    # ------------------------------------------------------------------ bus (writer thread)
    def _on_observations(self, ev: ObservationsRecorded) -> None:
        twins = {o.twin_id for o in ev.observations} & self._enrolled
        if twins:
            with self._cv:
                self._pending |= twins
                self._cv.notify()

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick_s
        while True:
            with self._cv:
                while not self._stop and not self._pending and time.monotonic() < next_tick:
                    self._cv.wait(min(1.0, max(0.01, next_tick - time.monotonic())))
                if self._stop:
                    return
                if time.monotonic() >= next_tick:
                    self._pending |= self._enrolled
                    next_tick = time.monotonic() + self.tick_s
                now_m = time.monotonic()
                due = {t for t in self._pending if now_m - self._last_run.get(t, 0.0) >= self.min_interval_s}
                self._pending -= due
                self._busy = bool(due)
            for twin in sorted(due):
                self._last_run[twin] = time.monotonic()
                try:
                    self.evaluate(twin)
                except Exception:
                    log.exception("home-care assessment failed for one patient")
            with self._cv:
                self._busy = False
                self._cv.notify_all()
                if self._pending and not due:
                    self._cv.wait(0.05)

    # ------------------------------------------------------------------ enrolment
    def enrol(self, twin_id: str, body: dict[str, Any], by: str) -> dict[str, Any]:
        record, caregivers = enrolment.validate(body, self.rules)
        enrolment.link(self.rt.registry, twin_id, record)
        e = self.repo.put_enrolment(twin_id, record, caregivers, by=by, when=self.rt.clock.now())
        with self._cv:
            self._enrolled.add(twin_id)
            self._pending.add(twin_id)
            self._signature.pop(twin_id, None)
            self._cv.notify()
        return e

    def end(self, twin_id: str) -> None:
        self.repo.require(twin_id)
        self.repo.end_enrolment(twin_id, self.rt.clock.now())
        with self._cv:
            self._enrolled.discard(twin_id)

    # ------------------------------------------------------------------ assessment
    def rules_for(self, e: dict[str, Any]) -> RuleSet:
        return self.rules.for_patient(e.get("thresholds") or {})

    def evaluate(
        self, twin_id: str, now: datetime | None = None, *, store: bool = True
    ) -> tuple[Decision, int | None]:
        """Assess now; store the decision when it changed. Returns (decision, stored decision id)."""
        e = self.repo.require(twin_id)
        now = now or self.rt.clock.now()
        rules = self.rules_for(e)
        p = patient_data(self.rt.store, e, now)
        d = assess(p, rules)
        self.evaluations += 1
        if not store:
            return d, None
        sig = self._signature.get(twin_id)
        if sig is None and e.get("decision_id"):
            last = self.repo.decisions(twin_id, 1)
            if last:
                r = last[0]
                sig = (r["tier"], tuple(sorted(x["rule"] for x in r["reasons"] if x["tier"] != "self")))
        devices = tuple(sorted(r.rule for r in d.reasons if r.kind == "device"))
        if sig == d.signature:
            self._device_notes(e, d, devices)
            return d, None
        did = self.repo.add_decision(twin_id, now, d, inputs_snapshot(p), rules.version)
        self._signature[twin_id] = d.signature
        prev = sig[0] if sig else None
        self.rt.bus.publish(Generic(time=now, context=Context(actor=ACTOR), type="homecare_triage", data={
            "twin": twin_id, "tier": d.tier.value, "previous": prev, "decision_id": did,
            "reasons": [r.as_dict() for r in d.reasons if r.tier is not Tier.SELF]}))  # fmt: skip
        self._worklist(e, d, did, now)
        self._device_notes(e, d, devices)
        return d, did

    def _worklist(self, e: dict[str, Any], d: Decision, did: int, now: datetime) -> None:
        by_kind: dict[str, list[Any]] = {}
        for r in d.reasons:
            kind = KIND_OF.get(r.kind)
            if kind and r.tier is not Tier.SELF:
                by_kind.setdefault(kind, []).append(r)
        for kind, rs in by_kind.items():
            tier = min((r.tier for r in rs), key=lambda t: t.rank)
            item, event = self.repo.raise_item(e["twin"], kind, tier, [r.as_dict() for r in rs], did, now)
            if event is None:
                continue
            self.rt.bus.publish(Generic(time=now, context=Context(actor=ACTOR), type="homecare_worklist",
                                        data={"twin": e["twin"], "event": event, "item": item}))  # fmt: skip
            if event in ("opened", "escalated"):
                self._notify(e, kind, tier, item, event, now)

    def _device_notes(self, e: dict[str, Any], d: Decision, devices: tuple[str, ...]) -> None:
        if devices and self._devices.get(e["twin"]) != devices:
            item = {
                "id": f"battery-{e['twin']}",
                "reasons": [r.as_dict() for r in d.reasons if r.kind == "device"],
            }
            self._notify(e, "device", Tier.SELF, item, "device", self.rt.clock.now())
        self._devices[e["twin"]] = devices

    def _notify(
        self, e: dict[str, Any], kind: str, tier: Tier, item: dict[str, Any], event: str, now: datetime
    ) -> None:
        targets = [
            f"caregiver:{cg['user']}" if cg.get("user") else f"caregiver:{e['twin']}#{i}"
            for i, cg in enumerate(e.get("caregivers", []))
            if tier.value in cg["notify"] or kind in cg["notify"]
        ]
        if not targets:
            return
        prio = {"emergency": "high", "primary": "medium"}.get(tier.value, "low")
        alarm = {"id": f"homecare-{item['id']}", "twin": e["twin"], "condition": f"homecare_{kind}",
                 "priority": prio, "event": event, "tier": tier.value,
                 "message": "; ".join(r["detail"] for r in item.get("reasons", [])[:3])}  # fmt: skip
        n = Notification(e["twin"], None, None, targets, [alarm], now.isoformat())
        for ch in self.notifiers:
            try:
                ch.send(n)
            except Exception:
                log.exception("home-care notifier %s failed", getattr(ch, "name", ch))
        self.notifications += 1


def start_homecare(rt: Any, _loop: Any = None) -> None:
    """Start hook (``create_app(on_start=[start_homecare])``) and ``start_services`` entry."""
    HomecareService.attach(rt).start()


def service_of(rt: Any) -> HomecareService:
    svc = rt.services.get("homecare")
    return svc if isinstance(svc, HomecareService) else HomecareService(rt)
