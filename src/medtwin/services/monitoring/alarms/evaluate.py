"""Condition evaluators of the alarm engine (limits, implausible values, trends, NEWS2, technical).

A mixin of :class:`~medtwin.services.monitoring.alarms.engine.AlarmEngine`, kept apart so each
module stays small. Rules and sources: :mod:`.conditions`, :mod:`.signals`, :mod:`.limits`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from medtwin.core.codes import BY_KEY
from medtwin.core.model import Observation
from medtwin.services.monitoring.alarms import conditions as c
from medtwin.services.monitoring.alarms.config import AlarmConfig, TrendRule
from medtwin.services.monitoring.alarms.model import Alarm, Kind, iso_t
from medtwin.services.monitoring.alarms.signals import Series

SUBSUMED = {"rr": "hr"}  # impedance respiration comes from the ECG leads: one lead-off alarm


class Evaluators:
    config: AlarmConfig
    open: dict[tuple[str, str], Alarm]
    twins: dict[str, c.TwinState]
    _trends: dict[str, list[TrendRule]]
    _gap_s: float  # noise tolerance of a run for the reading being evaluated (set by ``feed``)

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
        raise NotImplementedError

    def _ensure_level(self, alarm: Alarm, level: int) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ evaluators
    def _limit(
        self, twin: str, st: c.TwinState, key: str, direction: str, spec: Mapping[str, float | None],
        t: float, value: float, suspect: bool, sparse: bool, obs_id: int | None, corroborated: bool = False,
        series: Series | None = None,
    ) -> None:  # fmt: skip
        alert = spec.get(direction)
        critical = spec.get(f"critical_{direction}")
        if alert is None and critical is None:
            return
        cond = f"{key}_{direction}"
        trk = st.trackers.get(cond)
        raw, hold, crossed = c.tiers_for(
            value, direction, alert, critical, self.config.hysteresis.get(key, 0.0)
        )
        if raw == 0 and (
            trk is None or (trk.tier == 0 and trk.run_start[1] is None and trk.run_start[2] is None)
        ):
            return
        if trk is None:
            trk = st.trackers[cond] = c.Tracker()
        res = trk.sample(
            t, raw, hold, delay_s=self.config.delay(key), clear_s=self.config.clear(key),
            gap_s=self._gap_s, hold_s=self._hold_of(series),
            suspect=suspect, sparse=sparse, obs_id=obs_id, corroborated=corroborated,
        )  # fmt: skip
        if res is None:
            return
        limit = crossed if crossed is not None else (critical if res >= 2 and critical is not None else alert)
        assert limit is not None
        kind = Kind.TECHNICAL if key in c.ENVIRONMENT_KEYS or key == "battery" else Kind.PHYSIOLOGICAL
        self._set(
            twin, cond, res, kind=kind, family=c.family_of(key, direction),
            message=c.limit_message(key, direction, value, limit, res >= 2 and critical is not None),
            evidence=self._evidence(key, value, limit, trk, extra=None),
        )  # fmt: skip

    def _hold_of(self, s: Series | None) -> float:
        if s is not None and s.suspect_since is not None:
            return s.suspect_hold
        return self.config.suspect_hold_s

    def _implausible(
        self, twin: str, st: c.TwinState, key: str, t: float, reason: str | None, value: float, sparse: bool,
        obs_id: int | None,
    ) -> None:  # fmt: skip
        cond = "bp_implausible" if key in c.BP_KEYS else f"{key}_implausible"
        trk = st.trackers.get(cond)
        if reason is None and (trk is None or (trk.tier == 0 and trk.run_start[1] is None)):
            return
        if trk is None:
            trk = st.trackers[cond] = c.Tracker()
        raw = 1 if reason else 0
        res = trk.sample(
            t, raw, raw, delay_s=self.config.implausible_delay_s, clear_s=self.config.default_clear_s,
            gap_s=self._gap_s, hold_s=0.0, sparse=sparse, obs_id=obs_id,
        )  # fmt: skip
        if res is not None:
            label = c.LABEL.get(key, key)
            self._set(
                twin, cond, res, kind=Kind.TECHNICAL, family="implausible",
                message=f"{'Blood pressure' if key in c.BP_KEYS else label}: implausible values ({reason or 'resolved'}); they are not used for alarms",
                evidence=self._evidence(key, value, None, trk, extra={"reason": reason}),
            )  # fmt: skip

    def _trend(self, twin: str, st: c.TwinState, s: Series, minute: int) -> None:
        for rule in self._trends[s.key]:
            w = max(1, int(rule.window_s // 60))
            b = max(1, int(rule.baseline_s // 60))
            cur, _ = s.window_median(minute - w + 1, minute)
            base, n2 = s.window_median(minute - w - b + 1, minute - w)
            first = s.minutes[0][0] if s.minutes else minute
            if cur is None or base is None or n2 < 2 or first > minute - w - b // 2:
                continue
            limit = rule.factor * base + rule.offset
            up = rule.direction == "up"
            raw = int(cur >= limit if up else cur <= limit)
            hold = max(raw, int(cur > limit - rule.hysteresis if up else cur < limit + rule.hysteresis))
            trk = st.trackers.get(rule.name)
            if raw == 0 and (trk is None or trk.tier == 0):
                continue
            if trk is None:
                trk = st.trackers[rule.name] = c.Tracker()
            t = minute * 60.0 + 60.0
            res = trk.sample(
                t, raw, hold, delay_s=0.0, clear_s=self.config.default_clear_s,
                gap_s=max(self.config.gap_tolerance_s, rule.window_s), hold_s=0.0,
            )  # fmt: skip
            if res is not None:
                label, u = c.LABEL.get(s.key, s.key), c.unit_of(s.key)
                word = "rising" if up else "falling"
                msg = (
                    f"{label} {word}: median {c.fmt(round(cur, 1))}{u} over {w} min against "
                    f"{c.fmt(round(base, 1))}{u} before (limit {c.fmt(round(limit, 1))}{u})"
                )
                ev = self._evidence(
                    s.key, cur, round(limit, 2), trk, extra={"baseline": base, "rule": rule.source}
                )
                self._set(
                    twin, rule.name, res, kind=Kind.PHYSIOLOGICAL, family="trend", message=msg, evidence=ev
                )

    def _news2(self, o: Observation, t: float, now_t: float) -> None:
        meta = o.meta or {}
        band = meta.get("band")
        if band not in c.NEWS2_TIER or o.value is None or t < now_t - self.config.max_reading_age_s:
            return
        raw = c.NEWS2_TIER[band]
        if raw == 0 and meta.get("partial"):
            return  # a partial score in the low band proves nothing
        st = self.twins.setdefault(o.twin_id, c.TwinState())
        s = st.series.setdefault("news2", Series("news2"))
        sparse = s.prev_t is None or t - s.prev_t > self.config.sparse_after_s
        s.prev_t, s.prev_v, s.last_t = t, o.value, t
        trk = st.trackers.get("news2")
        if raw == 0 and (trk is None or (trk.tier == 0 and trk.run_start[1] is None)):
            return
        if trk is None:
            trk = st.trackers["news2"] = c.Tracker()
        res = trk.sample(
            t, raw, raw, delay_s=self.config.delay("news2"), clear_s=self.config.clear("news2"),
            gap_s=max(self.config.gap_tolerance_s, 30.0), hold_s=0.0, sparse=sparse, obs_id=o.id,
        )  # fmt: skip
        alarm = self.open.get((o.twin_id, "news2"))
        if res is None and (alarm is None or raw == 0 or alarm.evidence.get("band") == band):
            return
        response = meta.get("response") or c.NEWS2_RESPONSE.get(band, "")
        partial = (
            " (partial: " + ", ".join(meta.get("missing") or []) + " missing)" if meta.get("partial") else ""
        )
        msg = f"NEWS2 {c.fmt(o.value)} ({band}){partial}: {response}"
        ev = {
            "code": o.code,
            "value": o.value,
            "limit": band,
            "obs_ids": [o.id] if o.id else [],
            "band": band,
        }
        ev["derived_from"] = meta.get("derived_from", [])
        tier = res if res is not None else trk.tier
        self._set(o.twin_id, "news2", tier, kind=Kind.PHYSIOLOGICAL, family="news2", message=msg, evidence=ev)
        alarm = self.open.get((o.twin_id, "news2"))
        if alarm is not None and tier > 0:
            self._ensure_level(alarm, self.config.news2_initial_level.get(band, 0))

    @staticmethod
    def _evidence(
        key: str, value: float, limit: float | None, trk: c.Tracker, extra: dict[str, Any] | None
    ) -> dict[str, Any]:
        ev: dict[str, Any] = {
            "code": BY_KEY[key].ref if key in BY_KEY else key,
            "value": value,
            "limit": limit,
            "obs_ids": list(trk.obs_ids),
            "unit": c.unit_of(key),
        }
        if trk.since is not None:
            ev["since"] = iso_t(trk.since)
        if extra:
            ev.update(extra)
        return ev

    @staticmethod
    def _tech_evidence(key: str, rx: float, limit_s: float, source: str | None) -> dict[str, Any]:
        return {
            "code": BY_KEY[key].ref if key in BY_KEY else key,
            "value": None,
            "limit": limit_s,
            "obs_ids": [],
            "source": source,
            "last_seen": iso_t(rx),
        }

    def _technical(self, now: datetime) -> None:
        """Sensor-off (the device reports, this code does not) and stale data (the device is silent)."""
        now_t = now.timestamp()
        cfg = self.config
        for twin, st in list(self.twins.items()):
            off: dict[str, float] = {}
            for key, rx in st.last_rx.items():
                limit = cfg.sensor_off_after_s.get(key)
                src = st.key_source.get(key, "")
                if (
                    limit is not None
                    and now_t - rx >= limit
                    and now_t - st.source_rx.get(src, -math.inf) <= cfg.source_alive_s
                ):
                    off[key] = rx
            for key, rx in off.items():
                if SUBSUMED.get(key) in off:
                    continue
                cond = c.SENSOR_CONDITION.get(key, f"{key}_sensor_off")
                text = c.SENSOR_TEXT.get(key, f"{c.LABEL.get(key, key)} sensor off")
                self._set(
                    twin, cond, 1, kind=Kind.TECHNICAL, family="slow_sensor" if key in c.SLOW_KEYS else "sensor_off",
                    message=f"{text} from {st.key_source.get(key)} while it reports other parameters",
                    evidence=self._tech_evidence(key, rx, cfg.sensor_off_after_s[key], st.key_source.get(key)),
                )  # fmt: skip
            for key, rx in st.last_rx.items():
                limit = cfg.stale_after_s.get(key)
                if limit is None or key in off or now_t - rx < limit:
                    continue
                if (twin, c.SENSOR_CONDITION.get(key, f"{key}_sensor_off")) in self.open:
                    continue
                self._set(
                    twin, f"{key}_stale", 1, kind=Kind.TECHNICAL,
                    family="slow_sensor" if key in c.SLOW_KEYS else "stale",
                    message=f"No {c.LABEL.get(key, key)} data for over {c.fmt(limit)} s "
                    f"(source {st.key_source.get(key)} silent)",
                    evidence=self._tech_evidence(key, rx, limit, st.key_source.get(key)),
                )  # fmt: skip
