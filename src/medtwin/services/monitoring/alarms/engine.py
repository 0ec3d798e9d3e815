"""The alarm engine: readings in, alarm transitions out. Pure apart from the injected callables.

``process(observations)`` evaluates every reading against its twin's limits, trends, NEWS2 band
and artefact rules (:mod:`.signals`, :mod:`.conditions`); ``tick(now)`` drives everything that
depends on time alone: pause expiry, escalation, sensor-off and stale data. Time comes from the
injected clock, so tests and the benchmark run on :class:`~medtwin.core.clock.ManualClock`.
Every transition goes to ``sink(alarm, transitions)``; the service stores, publishes and notifies.

Readings older than ``max_reading_age_s`` (backfills, late uploads) update the signal history
and liveness but never raise an alarm. Persistence is measured on the readings' own times.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from medtwin.core.clock import Clock, WallClock
from medtwin.core.codes import BY_KEY, BY_REF
from medtwin.core.errors import NotFoundError
from medtwin.core.ids import new_id
from medtwin.core.model import Method, Observation, ObsStatus
from medtwin.services.monitoring.alarms import conditions as c
from medtwin.services.monitoring.alarms.config import AlarmConfig, TrendRule
from medtwin.services.monitoring.alarms.evaluate import Evaluators
from medtwin.services.monitoring.alarms.limits import (
    PLAUSIBLE,
    SENTINELS,
    Limits,
    effective_limits,
    priority_of,
)
from medtwin.services.monitoring.alarms.machine import AlarmMachine
from medtwin.services.monitoring.alarms.model import Alarm, Kind, Transition
from medtwin.services.monitoring.alarms.signals import (
    Series,
    co_jumps,
    implausible,
    is_sentinel,
    jump_suspect,
    loose_probe,
    pressure_contradiction,
    steady,
)

Sink = Callable[[Alarm, list[Transition]], None]
LimitsFor = Callable[[str], Limits]
Locate = Callable[[str], tuple[str | None, str | None]]
NEWS2_REF = BY_KEY["news2"].ref
BP_KEYS = ("sbp", "dbp", "map")
ASSUME_INTERMITTENT = frozenset(BP_KEYS)


def _epoch(when: datetime) -> float:
    return when.timestamp()


class AlarmEngine(Evaluators):
    def __init__(
        self,
        config: AlarmConfig | None = None,
        *,
        clock: Clock | None = None,
        limits_for: LimitsFor | None = None,
        locate: Locate | None = None,
        targets_for: Callable[[Alarm, int], list[str]] | None = None,
        sink: Sink | None = None,
    ) -> None:
        self.config = config or AlarmConfig()
        self.clock = clock or WallClock()
        self._limits_for = limits_for or (lambda _twin: effective_limits(None))
        self._locate = locate or (lambda _twin: (None, None))
        self.machine = AlarmMachine(self.config, targets_for or self._role_targets)
        self.sink = sink
        self.twins: dict[str, c.TwinState] = {}
        self.open: dict[tuple[str, str], Alarm] = {}
        self.by_id: dict[str, Alarm] = {}
        self._limits: dict[str, Limits] = {}
        self._where: dict[str, tuple[str | None, str | None]] = {}
        self._trends: dict[str, list[TrendRule]] = {}
        for rule in self.config.trends:
            self._trends.setdefault(rule.code, []).append(rule)
        self.readings = 0
        self._gap_s = self.config.gap_tolerance_s

    # ================================================================== readings
    def process(self, observations: Iterable[Observation]) -> None:
        """Evaluate a batch of committed readings (in order)."""
        now = self.clock.now()
        now_t = _epoch(now)
        obs = [o for o in observations if o.status is not ObsStatus.ENTERED_IN_ERROR]
        bad_bp = self._pressure_sets(obs)
        times: dict[int, float] = {}
        for o in obs:
            info = BY_REF.get(o.code)
            if info is None:
                continue
            t = times.get(id(o.effective))
            if t is None:
                t = times[id(o.effective)] = _epoch(o.effective)
            rx = times.get(id(o.received))
            if rx is None:
                rx = times[id(o.received)] = _epoch(o.received)
            if o.code == NEWS2_REF:
                self._news2(o, t, now_t)
                continue
            if o.value is None or o.method is Method.DERIVED:
                continue
            flag = bad_bp.get((o.twin_id, o.source, t)) if info.key in BP_KEYS else None
            self.feed(
                o.twin_id, info.key, t, o.value, source=o.source, received=rx, obs_id=o.id,
                manual=o.method is Method.MANUAL, now_t=now_t, implausible_reason=flag,
            )  # fmt: skip

    @staticmethod
    def _pressure_sets(obs: list[Observation]) -> dict[tuple[str, str, float], str]:
        sets: dict[tuple[str, str, float], dict[str, float]] = {}
        for o in obs:
            info = BY_REF.get(o.code)
            if info is not None and info.key in BP_KEYS and o.value is not None:
                sets.setdefault((o.twin_id, o.source, o.effective.timestamp()), {})[info.key] = o.value
        out = {}
        for k, s in sets.items():
            if len(s) > 1:
                why = pressure_contradiction(s.get("sbp"), s.get("dbp"), s.get("map"))
                if why:
                    out[k] = why
        return out

    def feed(
        self,
        twin: str,
        key: str,
        t: float,
        value: float,
        *,
        source: str = "",
        received: float | None = None,
        obs_id: int | None = None,
        manual: bool = False,
        now_t: float | None = None,
        implausible_reason: str | None = None,
    ) -> None:
        """One numeric reading (``t`` and ``received`` in epoch seconds)."""
        self.readings += 1
        if is_sentinel(value, SENTINELS):
            return  # A1: as if absent
        st = self.twins.get(twin)
        if st is None:
            st = self.twins[twin] = c.TwinState()
        if not manual:
            rx = t if received is None else received
            st.last_rx[key] = rx
            st.key_source[key] = source
            st.source_rx[source] = rx
            st.src_key_t[(source, key)] = t
            for cond in (c.SENSOR_CONDITION.get(key, f"{key}_sensor_off"), f"{key}_stale"):
                if (twin, cond) in self.open:
                    self._set(twin, cond, 0, kind=Kind.TECHNICAL, family="stale", message="", evidence={})
        if now_t is None:
            now_t = _epoch(self.clock.now())
        s = st.series.get(key)
        if s is None:
            s = st.series[key] = Series(key)
        if t < now_t - self.config.max_reading_age_s or (s.last_t is not None and t < s.last_t):
            return
        sparse = manual or (
            (t - s.prev_t > self.config.sparse_after_s)
            if s.prev_t is not None
            else key in ASSUME_INTERMITTENT
        )
        # a run survives gaps up to 2.5 reading intervals (1 Hz: gap_tolerance_s; a sensor a minute: 150 s)
        self._gap_s = max(self.config.gap_tolerance_s, 2.5 * (t - s.prev_t)) if s.prev_t is not None else 0.0
        self._gap_s = max(self._gap_s, self.config.gap_tolerance_s)
        reason = implausible_reason or implausible(key, value, PLAUSIBLE)
        self._implausible(twin, st, key, t, reason, value, sparse, obs_id)
        if reason:
            return
        limits = self._limits_of(twin)
        spec = limits.get(key)
        suspect = corroborated = False
        if not sparse:
            verdict = jump_suspect(s, t, value, source, self.config.jump.get(key), self.config.suspect_hold_s)
            suspect, corroborated = verdict == "suspect", verdict == "corroborated"
            if suspect and s.suspect_since == t:
                self._contradicted(st, s, key, t, source)
            if key == "spo2" and not suspect:
                suspect = loose_probe((spec or {}).get("low"), value, st.src_key_t.get((source, "hr")), t)
        s.by_source[source] = (t, value)
        s.prev_t, s.prev_v, s.last_t, s.source = t, value, t, source
        if not suspect:
            s.trust(t, value)
            closed = s.add_minute(t, value)
            if closed is not None and key in self._trends:
                self._trend(twin, st, s, closed[0])
        if spec:
            for direction in ("low", "high"):
                self._limit(
                    twin, st, key, direction, spec, t, value, suspect, sparse, obs_id, corroborated, s
                )

    # ================================================================== time
    def tick(self, now: datetime | None = None) -> None:
        """Pause expiry, escalation timeouts, sensor-off and stale-data detection."""
        now = now or self.clock.now()
        for alarm in list(self.open.values()):
            self._emit(alarm, self.machine.tick(alarm, now))
        self._technical(now)

    # ================================================================== operators
    def _get(self, alarm_id: str) -> Alarm:
        alarm = self.by_id.get(alarm_id)
        if alarm is None:
            raise NotFoundError(f"no open alarm {alarm_id!r}", field="id")
        return alarm

    def acknowledge(self, alarm_id: str, by: str) -> Alarm:
        alarm = self._get(alarm_id)
        self._emit(alarm, self.machine.acknowledge(alarm, by, self.clock.now()))
        return alarm

    def pause(self, alarm_id: str, by: str, seconds: float | None = None) -> Alarm:
        alarm = self._get(alarm_id)
        self._emit(alarm, self.machine.pause(alarm, by, self.clock.now(), seconds))
        return alarm

    def escalate(self, alarm_id: str, by: str) -> Alarm:
        alarm = self._get(alarm_id)
        self._emit(alarm, self.machine.escalate(alarm, by, self.clock.now()))
        return alarm

    def resolve(self, alarm_id: str, by: str) -> Alarm:
        alarm = self._get(alarm_id)
        self._emit(alarm, self.machine.resolve(alarm, by, self.clock.now()))
        st = self.twins.get(alarm.twin)
        if st is not None:  # a technical alarm resolved by hand: stop watching until data returns
            for key, cond in list(c.SENSOR_CONDITION.items()) + [(k, f"{k}_stale") for k in list(st.last_rx)]:
                if cond == alarm.condition:
                    st.last_rx.pop(key, None)
            trk = st.trackers.get(alarm.condition)
            if trk is not None:
                trk.reset()
        return alarm

    # ================================================================== state
    def alarms(self) -> list[Alarm]:
        return list(self.open.values())

    def get(self, alarm_id: str) -> Alarm | None:
        return self.by_id.get(alarm_id)

    def restore(self, alarms: Iterable[Alarm]) -> int:
        """Take back open alarms after a restart; trackers resume at the alarm's tier."""
        n = 0
        for a in alarms:
            if not a.open:
                continue
            self.open[(a.twin, a.condition)] = a
            self.by_id[a.id] = a
            if a.condition_active:
                trk = self.twins.setdefault(a.twin, c.TwinState()).trackers.setdefault(
                    a.condition, c.Tracker()
                )
                trk.tier = a.tier
            n += 1
        return n

    def seed_liveness(self, twin: str, key: str, received: float, source: str) -> None:
        """Remember when a code was last seen (at start-up, from the store), for stale detection."""
        if key not in self.config.stale_after_s:
            return
        st = self.twins.setdefault(twin, c.TwinState())
        st.last_rx.setdefault(key, received)
        st.key_source.setdefault(key, source)
        st.source_rx[source] = max(st.source_rx.get(source, -math.inf), received)

    def invalidate(self, twin: str | None = None) -> None:
        """Forget cached limits and locations (after twin or topology changes); relocate alarms."""
        if twin is None:
            self._limits.clear()
            self._where.clear()
        else:
            self._limits.pop(twin, None)
            self._where.pop(twin, None)
        now = self.clock.now()
        for a in list(self.open.values()):
            if twin is not None and a.twin != twin:
                continue
            bed, ward = self._where_of(a.twin)
            if (bed, ward) != (a.bed, a.ward):
                a.bed, a.ward, a.updated = bed, ward, now
                self._emit(a, [Transition("relocated", now, data={"bed": bed, "ward": ward})])

    # ================================================================== helpers
    def _contradicted(self, st: c.TwinState, s: Series, key: str, t: float, source: str) -> None:
        """A6: extend the suspicion of a jump that another signal of the same device contradicts."""
        hold = self.config.contradicted_hold_s
        others = co_jumps(st.series, key, t, source)
        if key == "spo2" and steady(st.series.get("hr"), t, self.config.jump.get("hr"), source):
            others.append(s)
        if others:
            for o in [s, *others]:
                o.suspect_hold = max(o.suspect_hold, hold)

    def _limits_of(self, twin: str) -> Limits:
        lim = self._limits.get(twin)
        if lim is None:
            lim = self._limits[twin] = self._limits_for(twin)
        return lim

    def _where_of(self, twin: str) -> tuple[str | None, str | None]:
        w = self._where.get(twin)
        if w is None:
            w = self._where[twin] = self._locate(twin)
        return w

    def _role_targets(self, alarm: Alarm, level: int) -> list[str]:
        role = self.config.chain[level]
        return list(self.config.rapid_response_team) if role == "rapid_response" else [role]

    def _set(
        self,
        twin: str,
        cond: str,
        tier: int,
        *,
        kind: Kind,
        family: str,
        message: str,
        evidence: dict[str, Any],
    ) -> None:
        """The condition ``cond`` of ``twin`` is now at ``tier`` (0: not present)."""
        now = self.clock.now()
        alarm = self.open.get((twin, cond))
        if tier <= 0:
            if alarm is not None:
                self._emit(alarm, self.machine.condition(alarm, False, now))
            return
        priority = priority_of(family, tier)
        if alarm is None:
            bed, ward = self._where_of(twin)
            alarm = Alarm(
                id=new_id(), twin=twin, condition=cond, kind=kind, priority=priority, message=message,
                started=now, updated=now, bed=bed, ward=ward, evidence=evidence, tier=tier,
            )  # fmt: skip
            self.open[(twin, cond)] = alarm
            self.by_id[alarm.id] = alarm
            self._emit(alarm, self.machine.start(alarm, now))
            return
        self._emit(
            alarm,
            self.machine.condition(
                alarm, True, now, priority=priority, tier=tier, message=message, evidence=evidence
            ),
        )

    def _ensure_level(self, alarm: Alarm, level: int) -> None:
        level = min(level, len(self.config.chain) - 1)
        while alarm.open and alarm.escalation_level < level:
            self._emit(alarm, self.machine.escalate(alarm, "system", self.clock.now()))

    def _emit(self, alarm: Alarm, transitions: list[Transition]) -> None:
        if not transitions:
            return
        if not alarm.open:
            self.open.pop((alarm.twin, alarm.condition), None)
            self.by_id.pop(alarm.id, None)
        if self.sink is not None:
            self.sink(alarm, transitions)
