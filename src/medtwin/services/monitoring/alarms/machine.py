"""The alarm state machine: pure transitions on one :class:`Alarm`, no I/O, no clock reads.

States (IEC 60601-1-8 §6.8; BICEPS AlertSignalPresence in brackets)::

    raise -> ACTIVE (On) --acknowledge--> ACKNOWLEDGED (Ack) --condition ends--> RESOLVED (Off)
               |   ^                                                  ^
             pause |  pause expires (condition present or latched)   |
               v   |                                                  |
             PAUSED (Psd) --------- condition ends, not latched ------+

* Condition ends, alarm not latched (or already acknowledged): RESOLVED at once.
* Condition ends, alarm latched and not acknowledged: the alarm stays (state unchanged,
  ``condition_active`` false: BICEPS Latch) until someone acknowledges it, which resolves it.
* The condition comes back while the alarm is still open: the same alarm (``condition_returned``);
  a new alarm is raised only after resolution (one open alarm per condition and twin).
* Priority rises while open (BICEPS CanEscalate): acknowledgement and pause are cancelled and the
  alarm is announced again; it falls (CanDeEscalate) when the condition eases, except for a
  latched alarm nobody has acknowledged yet, which keeps the priority it latched at.
* Acknowledging or pausing one alarm never touches another: every function takes one alarm.
* Escalation: an ACTIVE alarm not acknowledged within the timeout of its priority moves one level
  up the chain; the timer restarts at every level and after a pause; anyone may escalate by hand.
  When an escalated alarm is acknowledged or resolved, the people up the chain get a stand-down.
* Manual resolution: only when the condition is no longer present, or for technical alarms (a
  monitor removed on purpose: the stale-data alarm would otherwise never end).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from medtwin.core.errors import ConflictError, ValidationError
from medtwin.services.monitoring.alarms.config import AlarmConfig
from medtwin.services.monitoring.alarms.model import Alarm, Kind, Priority, State, Transition

TargetsFor = Callable[[Alarm, int], list[str]]


def _touch(alarm: Alarm, now: datetime) -> None:
    alarm.updated = now


def _add_targets(alarm: Alarm, targets: list[str]) -> list[str]:
    new = [t for t in targets if t not in alarm.escalated_to]
    alarm.escalated_to.extend(new)
    return new


class AlarmMachine:
    def __init__(self, config: AlarmConfig, targets_for: TargetsFor | None = None) -> None:
        self.config = config
        self.targets_for: TargetsFor = targets_for or (lambda _a, _lvl: [])

    # ------------------------------------------------------------------ raise
    def start(self, alarm: Alarm, now: datetime, initial_level: int = 0) -> list[Transition]:
        """Announce a freshly built alarm (state ACTIVE); notify levels 0..initial_level at once."""
        alarm.latched = self.config.latches(alarm.priority)
        alarm.level_since = now
        top = max(0, min(initial_level, len(self.config.chain) - 1))
        for lvl in range(top + 1):
            _add_targets(alarm, self.targets_for(alarm, lvl))
        alarm.escalation_level = top
        _touch(alarm, now)
        return [Transition("raised", now, data={"targets": list(alarm.escalated_to), "level": top})]

    # ------------------------------------------------------------------ the condition
    def condition(
        self,
        alarm: Alarm,
        active: bool,
        now: datetime,
        *,
        priority: Priority | None = None,
        tier: int | None = None,
        message: str | None = None,
        evidence: dict[str, object] | None = None,
    ) -> list[Transition]:
        """The engine's view of the condition changed (present or not, severity, evidence)."""
        if alarm.state is State.RESOLVED:
            return []
        out: list[Transition] = []
        if evidence is not None:
            alarm.evidence = dict(evidence)
        if message is not None and message != alarm.message:
            alarm.message = message
            if priority is None or priority is alarm.priority:
                out.append(Transition("updated", now, data={"message": message}))
        if tier is not None:
            alarm.tier = tier
        if priority is not None and priority is not alarm.priority:
            out += self._reprioritise(alarm, priority, now)
        if active and not alarm.condition_active:
            alarm.condition_active = True
            alarm.condition_ended = None
            out.append(Transition("condition_returned", now))
        elif not active and alarm.condition_active:
            alarm.condition_active = False
            alarm.condition_ended = now
            if alarm.latched and alarm.state is not State.ACKNOWLEDGED:
                out.append(Transition("condition_ended", now, data={"latched": True}))
            else:
                out.append(Transition("condition_ended", now, data={"latched": False}))
                if alarm.state is not State.ACKNOWLEDGED:
                    out += self._stand_down(alarm, now, "system")
                out += self._resolve(alarm, now, "system")
        _touch(alarm, now)
        return out

    def _reprioritise(self, alarm: Alarm, priority: Priority, now: datetime) -> list[Transition]:
        old = alarm.priority
        if priority.rank > old.rank:
            alarm.priority = priority
            alarm.latched = alarm.latched or self.config.latches(priority)
            data: dict[str, object] = {"from": old.value, "to": priority.value}
            if alarm.state in (State.ACKNOWLEDGED, State.PAUSED):
                data["reannounced_from"] = alarm.state.value
                alarm.state = State.ACTIVE
                alarm.paused_until = None
                alarm.acknowledged_by = None
                alarm.acknowledged_at = None
            alarm.level_since = now
            return [Transition("priority_escalated", now, data=data)]
        if alarm.latched and alarm.state is not State.ACKNOWLEDGED and self.config.latches(old):
            return []  # a latched alarm keeps its priority until acknowledged
        alarm.priority = priority
        alarm.latched = self.config.latches(priority) and alarm.latched
        return [Transition("priority_deescalated", now, data={"from": old.value, "to": priority.value})]

    # ------------------------------------------------------------------ operators
    def acknowledge(self, alarm: Alarm, by: str, now: datetime) -> list[Transition]:
        if alarm.state is State.RESOLVED:
            raise ConflictError("the alarm is already resolved", field="state")
        if alarm.state is State.ACKNOWLEDGED:
            return []
        alarm.state = State.ACKNOWLEDGED
        alarm.acknowledged_by = by
        alarm.acknowledged_at = now
        alarm.paused_until = None
        _touch(alarm, now)
        out = [Transition("acknowledged", now, actor=by)]
        out += self._stand_down(alarm, now, by)
        if not alarm.condition_active:
            out += self._resolve(alarm, now, by)
        return out

    def pause(self, alarm: Alarm, by: str, now: datetime, seconds: float | None = None) -> list[Transition]:
        """AUDIO PAUSED for ``seconds`` (default: the disclosed ``pause_s``); the alarm stays visible."""
        s = self.config.pause_s if seconds is None else float(seconds)
        if not 0 < s <= self.config.max_pause_s:
            raise ValidationError(
                f"pause must be 1-{self.config.max_pause_s:g} s (the maximum is set by the hospital)",
                field="seconds",
            )
        if alarm.state is State.RESOLVED:
            raise ConflictError("the alarm is already resolved", field="state")
        if alarm.state is State.ACKNOWLEDGED:
            raise ConflictError("the alarm is acknowledged: its audio is already off", field="state")
        alarm.state = State.PAUSED
        alarm.paused_until = now + timedelta(seconds=s)
        alarm.paused_by = by
        _touch(alarm, now)
        return [Transition("paused", now, actor=by, data={"seconds": s})]

    def escalate(self, alarm: Alarm, by: str, now: datetime) -> list[Transition]:
        if alarm.state is State.RESOLVED:
            raise ConflictError("the alarm is already resolved", field="state")
        if alarm.escalation_level >= len(self.config.chain) - 1:
            raise ConflictError(
                "the alarm is already at the last level of the escalation chain", field="level"
            )
        return self._escalate(alarm, now, by)

    def resolve(self, alarm: Alarm, by: str, now: datetime) -> list[Transition]:
        if alarm.state is State.RESOLVED:
            raise ConflictError("the alarm is already resolved", field="state")
        if alarm.condition_active and alarm.kind is Kind.PHYSIOLOGICAL:
            raise ConflictError(
                "the condition is still present: acknowledge the alarm instead", field="condition_active"
            )
        out = self._stand_down(alarm, now, by)
        return out + self._resolve(alarm, now, by)

    # ------------------------------------------------------------------ time
    def tick(self, alarm: Alarm, now: datetime) -> list[Transition]:
        """Pause expiry and escalation timeouts."""
        out: list[Transition] = []
        if alarm.state is State.PAUSED and alarm.paused_until is not None and now >= alarm.paused_until:
            alarm.state = State.ACTIVE
            alarm.paused_until = None
            alarm.level_since = now
            _touch(alarm, now)
            out.append(Transition("pause_expired", now))
        if alarm.state is State.ACTIVE:
            timeout = self.config.timeout(alarm.priority)
            since = alarm.level_since or alarm.started
            if (
                timeout is not None
                and alarm.escalation_level < len(self.config.chain) - 1
                and (now - since).total_seconds() >= timeout
            ):
                out += self._escalate(alarm, now, "system")
        return out

    # ------------------------------------------------------------------ helpers
    def _escalate(self, alarm: Alarm, now: datetime, by: str) -> list[Transition]:
        alarm.escalation_level += 1
        new = _add_targets(alarm, self.targets_for(alarm, alarm.escalation_level))
        alarm.level_since = now
        _touch(alarm, now)
        role = self.config.chain[alarm.escalation_level]
        return [
            Transition(
                "escalated",
                now,
                actor=by,
                data={"level": alarm.escalation_level, "role": role, "targets": new},
            )
        ]

    def _stand_down(self, alarm: Alarm, now: datetime, by: str) -> list[Transition]:
        if alarm.escalation_level == 0:
            return []
        first = set(self.targets_for(alarm, 0))
        release = [t for t in alarm.escalated_to if t not in first]
        return [Transition("stand_down", now, actor=by, data={"targets": release})] if release else []

    def _resolve(self, alarm: Alarm, now: datetime, by: str) -> list[Transition]:
        alarm.state = State.RESOLVED
        alarm.resolved_at = now
        alarm.paused_until = None
        _touch(alarm, now)
        return [Transition("resolved", now, actor=by)]
