"""Alarm engine (issue 3): the lifecycle state by state on a ManualClock, fatigue controls,
artefact rules, technical and environment alarms, NEWS2 band changes, notifications, and
persistence across a restart (SQLite).

Sources of the behaviour checked: IEC 60601-1-8 §6.1.2 Table 1 (priorities), §6.8 (acknowledge,
audio pause, one condition never silences another), §6.10 (latching); RCP 2017 NEWS2 Chart 4
(responses); Görges 2009 / Rheineck (15 s delay); defaults in medtwin.services.monitoring.alarms.limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from medtwin.config import Settings
from medtwin.core.clock import ManualClock
from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ConflictError, NotFoundError, ValidationError
from medtwin.core.events import Generic
from medtwin.core.model import Method, Observation
from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from medtwin.services.monitoring.alarms import AlarmConfig, AlarmEngine, Priority, State
from medtwin.services.monitoring.alarms.limits import (
    effective_limits,
    environment_profile,
    merge,
    priority_of,
    validate_limits,
)
from medtwin.services.monitoring.alarms.model import TABLE_1, Alarm, Consequence, Kind, Onset, derive_priority
from medtwin.services.monitoring.alarms.repository import AlarmRepository
from medtwin.services.monitoring.alarms.service import AlarmService
from medtwin.services.monitoring.notify import (
    SIGNATURE_HEADER,
    LoggingNotifier,
    Notification,
    NotificationRouter,
    Roster,
    WebhookNotifier,
    sign,
    verify,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
E0 = T0.timestamp()


def cfg(**kw: Any) -> AlarmConfig:
    """Lifecycle tests step values abruptly; the jump rule (artefact A4) is tested on its own."""
    return replace(AlarmConfig(), jump={}, **kw)


class Harness:
    """An engine on a ManualClock, recording every transition as (condition, type, state, priority)."""

    def __init__(self, config: AlarmConfig | None = None, limits: dict[str, Any] | None = None) -> None:
        config = config or cfg()
        self.clock = ManualClock(T0)
        self.events: list[tuple[str, str, str, str]] = []
        self.transitions: list[Any] = []
        self.engine = AlarmEngine(
            config,
            clock=self.clock,
            sink=self._sink,
            limits_for=(lambda _t: limits) if limits is not None else None,
        )

    def _sink(self, alarm: Alarm, trs: list[Any]) -> None:
        for tr in trs:
            self.events.append((alarm.condition, tr.type, alarm.state.value, alarm.priority.value))
            self.transitions.append(tr)

    def at(self, s: float) -> None:
        self.clock.set(T0 + timedelta(seconds=s))

    def feed(self, s: float, twin: str = "P1", source: str = "MON", **values: float) -> None:
        self.at(s)
        for k, v in values.items():
            self.engine.feed(twin, k, E0 + s, v, source=source)

    def run(
        self, s0: int, s1: int, twin: str = "P1", source: str = "MON", tick: bool = False, **values: float
    ) -> None:
        for s in range(s0, s1):
            self.feed(s, twin, source, **values)
            if tick:
                self.engine.tick(self.clock.now())

    def tick(self, s: float) -> None:
        self.at(s)
        self.engine.tick(self.clock.now())

    def types(self, cond: str | None = None) -> list[str]:
        return [e[1] for e in self.events if cond is None or e[0] == cond]

    def alarm(self, cond: str, twin: str = "P1") -> Alarm | None:
        return self.engine.open.get((twin, cond))


@pytest.fixture
def h() -> Harness:
    return Harness()


# ---------------------------------------------------------------------------------------------------
# priorities (IEC 60601-1-8 Table 1)


def test_table_1_has_every_cell_of_the_standard() -> None:
    assert len(TABLE_1) == 9
    d, r, m = Consequence.DEATH, Consequence.REVERSIBLE, Consequence.MINOR
    assert derive_priority(d, Onset.IMMEDIATE) is Priority.HIGH
    assert derive_priority(d, Onset.PROMPT) is Priority.HIGH
    assert derive_priority(d, Onset.DELAYED) is Priority.MEDIUM
    assert derive_priority(r, Onset.IMMEDIATE) is Priority.HIGH
    assert derive_priority(r, Onset.PROMPT) is Priority.MEDIUM
    assert derive_priority(r, Onset.DELAYED) is Priority.LOW
    assert derive_priority(m, Onset.IMMEDIATE) is Priority.MEDIUM
    assert derive_priority(m, Onset.PROMPT) is Priority.LOW
    assert derive_priority(m, Onset.DELAYED) is Priority.LOW


def test_condition_priorities_follow_their_derivation() -> None:
    assert priority_of("spo2_low", 1) is Priority.MEDIUM
    assert priority_of("spo2_low", 2) is Priority.HIGH
    assert priority_of("news2", 1) is Priority.MEDIUM
    assert priority_of("news2", 2) is Priority.HIGH
    assert priority_of("temp_high", 1) is Priority.LOW
    assert priority_of("stale", 1) is Priority.MEDIUM
    assert priority_of("environment", 1) is Priority.LOW
    assert priority_of("battery_low", 1) is Priority.LOW
    assert priority_of("battery_low", 2) is Priority.MEDIUM


# ---------------------------------------------------------------------------------------------------
# raise, delay, hysteresis


def test_raises_only_after_the_condition_delay(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 75, hr=80, spo2=90)  # 15 samples: 60..74, 14 s of persistence
    assert h.alarm("spo2_low") is None
    h.feed(75, hr=80, spo2=90)  # 15 s after the first low sample
    a = h.alarm("spo2_low")
    assert a is not None and a.priority is Priority.MEDIUM and a.state is State.ACTIVE
    assert a.kind is Kind.PHYSIOLOGICAL and a.evidence["limit"] == 92 and a.evidence["value"] == 90
    assert a.message == "SpO2 low: 90% (limit 92%)"
    assert h.types() == ["raised"]


def test_a_transient_shorter_than_the_delay_raises_nothing(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 72, hr=80, spo2=89)  # 12 s below the limit (Görges 2009: median alarm 17 s)
    h.run(72, 200, hr=80, spo2=97)
    assert h.events == []


def test_noise_around_the_limit_does_not_restart_the_delay(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    for s in range(60, 80):  # 91, 92, 91, 92...: half the samples back at the limit
        h.feed(s, hr=80, spo2=91 if s % 2 == 0 else 92)
    assert h.alarm("spo2_low") is not None


def test_hysteresis_holds_the_alarm_until_clearly_back(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=90)
    h.run(80, 200, hr=80, spo2=93)  # back inside 92 but within the 2 % hysteresis
    assert h.alarm("spo2_low") is not None
    h.run(200, 209, hr=80, spo2=95)
    assert h.alarm("spo2_low") is not None  # 9 s clear: not yet (clear_s 10)
    h.run(209, 212, hr=80, spo2=95)
    assert h.alarm("spo2_low") is None
    assert h.types("spo2_low") == ["raised", "condition_ended", "resolved"]


# ---------------------------------------------------------------------------------------------------
# latching, acknowledge, pause


def test_non_latched_medium_resolves_itself_but_latched_high_waits_for_acknowledgement(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=83)  # below the critical limit 85: high priority
    a = h.alarm("spo2_low")
    assert a is not None and a.priority is Priority.HIGH and a.latched
    h.run(80, 120, hr=80, spo2=97)
    assert a.state is State.ACTIVE and not a.condition_active  # latched: stays until acknowledged
    assert h.types("spo2_low")[-1] == "condition_ended"
    h.engine.acknowledge(a.id, "nurse-1")
    assert a.state is State.RESOLVED and h.types("spo2_low")[-2:] == ["acknowledged", "resolved"]
    assert h.alarm("spo2_low") is None


def test_latching_is_a_hospital_setting() -> None:
    h = Harness(cfg(latching={"high": False, "medium": False, "low": False}))
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=83)
    h.run(80, 120, hr=80, spo2=97)
    assert h.alarm("spo2_low") is None and h.types("spo2_low")[-1] == "resolved"


def test_acknowledge_keeps_the_alarm_until_the_condition_ends_and_stops_escalation(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=90)
    a = h.alarm("spo2_low")
    assert a is not None
    h.engine.acknowledge(a.id, "nurse-1")
    assert a.state is State.ACKNOWLEDGED and a.acknowledged_by == "nurse-1"
    h.tick(80 + 3600)
    assert a.escalation_level == 0
    h.run(4000, 4020, hr=80, spo2=97)
    assert a.state is State.RESOLVED
    assert h.engine.acknowledge is not None
    with pytest.raises(NotFoundError):
        h.engine.acknowledge(a.id, "nurse-1")


def test_pause_has_a_disclosed_default_and_expiry_reannounces(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=90)
    a = h.alarm("spo2_low")
    assert a is not None
    h.engine.pause(a.id, "nurse-1")
    assert a.state is State.PAUSED and a.paused_until == T0 + timedelta(seconds=79 + 120)
    h.tick(79 + 119)
    assert a.state is State.PAUSED
    h.tick(79 + 120)
    assert a.state is State.ACTIVE and h.types("spo2_low")[-1] == "pause_expired"


def test_pause_limits_are_enforced(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=90)
    a = h.alarm("spo2_low")
    assert a is not None
    with pytest.raises(ValidationError) as exc:
        h.engine.pause(a.id, "nurse-1", 300)  # above the hospital's maximum (120 s)
    assert exc.value.field == "seconds"
    h.engine.pause(a.id, "nurse-1", 30)
    h.tick(79 + 30)
    assert a.state is State.ACTIVE
    h.engine.acknowledge(a.id, "nurse-1")
    with pytest.raises(ConflictError):
        h.engine.pause(a.id, "nurse-1")


def test_pausing_or_acknowledging_one_alarm_never_silences_another(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(0, 60, twin="P2", source="MON2", hr=80, spo2=97)
    for s in range(60, 80):
        h.feed(s, hr=125, spo2=90)
        h.feed(s, twin="P2", source="MON2", hr=80, spo2=90)
    spo2, hr, other = h.alarm("spo2_low"), h.alarm("hr_high"), h.alarm("spo2_low", "P2")
    assert spo2 and hr and other
    h.engine.pause(spo2.id, "nurse-1")
    h.engine.acknowledge(other.id, "nurse-2")
    assert hr.state is State.ACTIVE and other.state is State.ACKNOWLEDGED and spo2.state is State.PAUSED
    h.tick(79 + 180)  # medium timeout: the unsilenced one escalates, the paused one waits for its pause
    assert hr.escalation_level == 1 and spo2.escalation_level == 0 and other.escalation_level == 0


# ---------------------------------------------------------------------------------------------------
# escalation


def roles(alarm: Alarm, level: int) -> list[str]:
    return [["nurse-1"], ["charge-1"], ["doctor-1"], ["rrt"]][level]


def test_escalation_chain_timing_per_priority() -> None:
    h = Harness()
    h.engine.machine.targets_for = roles
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=83)  # high priority, raised at 75
    a = h.alarm("spo2_low")
    assert a is not None and a.escalated_to == ["nurse-1"]
    h.tick(75 + 59)
    assert a.escalation_level == 0
    h.tick(75 + 60)
    assert a.escalation_level == 1 and a.escalated_to == ["nurse-1", "charge-1"]
    h.tick(75 + 120)
    h.tick(75 + 180)
    assert a.escalation_level == 3 and a.escalated_to == ["nurse-1", "charge-1", "doctor-1", "rrt"]
    h.tick(75 + 600)
    assert a.escalation_level == 3  # the end of the chain
    with pytest.raises(ConflictError):
        h.engine.escalate(a.id, "nurse-1")


def test_medium_escalates_after_its_own_timeout_and_low_never() -> None:
    h = Harness()
    h.run(0, 60, hr=80, spo2=97, temp=37.0)
    h.run(60, 80, hr=80, spo2=90, temp=39.4)
    med, low = h.alarm("spo2_low"), h.alarm("temp_high")
    assert med and low and low.priority is Priority.LOW
    h.tick(75 + 179)
    assert med.escalation_level == 0
    h.tick(75 + 180)
    assert med.escalation_level == 1 and med.escalated_to == ["nurse", "charge_nurse"]
    h.tick(75 + 86_400)
    assert low.escalation_level == 0


def test_the_escalation_timer_restarts_after_a_pause() -> None:
    h = Harness()
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=83)
    a = h.alarm("spo2_low")
    assert a is not None
    h.engine.pause(a.id, "nurse-1")  # at 79
    h.tick(79 + 119)
    assert a.escalation_level == 0
    h.tick(79 + 120)  # pause over: a fresh 60 s
    h.tick(79 + 179)
    assert a.escalation_level == 0
    h.tick(79 + 180)
    assert a.escalation_level == 1


def test_manual_escalation_and_stand_down_on_acknowledgement() -> None:
    h = Harness()
    h.engine.machine.targets_for = roles
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=90)
    a = h.alarm("spo2_low")
    assert a is not None
    h.engine.escalate(a.id, "nurse-1")
    assert a.escalation_level == 1 and h.transitions[-1].actor == "nurse-1"
    h.engine.acknowledge(a.id, "charge-1")
    stand_down = [t for t in h.transitions if t.type == "stand_down"]
    assert stand_down and stand_down[0].data["targets"] == ["charge-1"]


def test_priority_deescalates_when_the_condition_eases_unless_latched() -> None:
    h = Harness(cfg(latching={"high": False, "medium": False, "low": False}))
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=83)
    a = h.alarm("spo2_low")
    assert a is not None and a.priority is Priority.HIGH
    h.run(80, 100, hr=80, spo2=89)  # above 85 + 2 hysteresis, still below 92
    assert a.priority is Priority.MEDIUM and "priority_deescalated" in h.types()
    latched = Harness()
    latched.run(0, 60, hr=80, spo2=97)
    latched.run(60, 80, hr=80, spo2=83)
    latched.run(80, 100, hr=80, spo2=89)
    b = latched.alarm("spo2_low")
    assert b is not None and b.priority is Priority.HIGH  # latched at high until acknowledged


def test_a_worse_tier_reannounces_an_acknowledged_alarm(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=125, spo2=97)
    a = h.alarm("hr_high")
    assert a is not None and a.priority is Priority.MEDIUM
    h.engine.acknowledge(a.id, "nurse-1")
    h.run(80, 100, hr=128, spo2=97)
    h.run(100, 120, hr=135, spo2=97)
    assert a.priority is Priority.HIGH and a.state is State.ACTIVE
    assert (
        h.transitions[-1].type == "priority_escalated"
        and h.transitions[-1].data["reannounced_from"] == "acknowledged"
    )


# ---------------------------------------------------------------------------------------------------
# resolution and deduplication


def test_one_alarm_per_condition_and_a_new_one_after_resolution(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 900, hr=80, spo2=90)
    assert h.types("spo2_low") == ["raised"]
    first = h.alarm("spo2_low")
    h.run(900, 960, hr=80, spo2=97)
    h.run(960, 1000, hr=80, spo2=90)
    second = h.alarm("spo2_low")
    assert first and second and first.id != second.id and first.state is State.RESOLVED


def test_manual_resolution_only_when_sensible(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 80, hr=80, spo2=90)
    a = h.alarm("spo2_low")
    assert a is not None
    with pytest.raises(ConflictError):
        h.engine.resolve(a.id, "nurse-1")  # the patient is still desaturated
    h.tick(200)  # the monitor went silent: stale data
    stale = h.alarm("hr_stale")
    assert stale is not None and stale.kind is Kind.TECHNICAL
    h.engine.resolve(stale.id, "nurse-1")  # the monitor was removed on purpose
    h.tick(400)
    assert h.alarm("hr_stale") is None  # not raised again until the heart rate comes back


# ---------------------------------------------------------------------------------------------------
# artefact rejection


def test_sentinel_values_are_treated_as_absent(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    for s in range(60, 100):
        h.feed(s, hr=80, spo2=-999)
        h.tick(s)
    assert h.alarm("spo2_low") is None
    assert h.alarm("spo2_sensor_off") is not None  # absent while HR keeps coming


def test_impossible_values_raise_a_technical_alarm_not_a_physiological_one(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 100, hr=320, spo2=97)  # above the 300/min measurement range (ingest accepts up to 350)
    assert h.alarm("hr_high") is None
    a = h.alarm("hr_implausible")
    assert a is not None and a.kind is Kind.TECHNICAL and a.priority is Priority.LOW


def test_systolic_not_above_diastolic_is_implausible() -> None:
    h = Harness()
    t = T0
    ref = {k: BY_KEY[k].ref for k in ("sbp", "dbp", "map")}
    obs = [
        Observation("P1", ref["sbp"], t, t, "MON", "1", 60.0, unit="mm[Hg]"),
        Observation("P1", ref["dbp"], t, t, "MON", "2", 70.0, unit="mm[Hg]"),
        Observation("P1", ref["map"], t, t, "MON", "3", 65.0, unit="mm[Hg]"),
    ]
    h.engine.process(obs)
    assert h.alarm("sbp_low") is None  # a single NIBP reading would alarm at once, but it is impossible
    assert h.alarm("bp_implausible") is not None
    good = [replace(obs[0], value=82.0, source_id="4"), replace(obs[1], value=50.0, source_id="5")]
    later = T0 + timedelta(minutes=15)
    h.clock.set(later)
    h.engine.process([replace(o, effective=later, received=later) for o in good])
    assert h.alarm("sbp_low") is not None  # intermittent NIBP: one reading suffices


def test_an_abrupt_uncorroborated_jump_must_outlast_the_suspect_hold() -> None:
    h = Harness(AlarmConfig())
    h.run(0, 120, hr=80, spo2=97)
    h.run(120, 145, hr=150, spo2=97)  # ECG double counting for 25 s
    h.run(145, 300, hr=80, spo2=97)
    assert h.alarm("hr_high") is None and h.events == []
    h.run(300, 400, hr=150, spo2=97)  # a real, sustained change: believed after the 30 s hold
    a = h.alarm("hr_high")
    assert a is not None and (a.started - T0).total_seconds() == 330


def test_a_jump_corroborated_by_another_source_only_waits_for_the_delay() -> None:
    h = Harness(AlarmConfig())
    for s in range(120):
        h.feed(s, source="MON", hr=80, spo2=97)
        h.feed(s, source="BAND", hr=80)
    for s in range(120, 200):
        h.feed(s, source="BAND", hr=150)
        h.feed(s, source="MON", hr=150, spo2=97)
    a = h.alarm("hr_high")
    assert a is not None and (a.started - T0).total_seconds() == 135


def test_a_desaturation_while_the_device_lost_the_heart_rate_is_a_loose_probe() -> None:
    h = Harness(AlarmConfig())
    h.run(0, 120, hr=80, spo2=97)
    for s in range(120, 124):  # gradual fall, no jump, but the pulse signal is gone
        h.feed(s, spo2=96 - 2 * (s - 120))
    h.run(124, 150, spo2=84)
    assert h.alarm("spo2_low") is None  # suspect: needs 30 s
    h.run(150, 170, spo2=84)
    assert h.alarm("spo2_low") is not None


# ---------------------------------------------------------------------------------------------------
# technical alarms


def test_stale_data_when_the_device_goes_silent(h: Harness) -> None:
    h.run(0, 60, hr=80, spo2=97)
    h.tick(59 + 59)
    assert h.alarm("hr_stale") is None
    h.tick(59 + 60)
    a, b = h.alarm("hr_stale"), h.alarm("spo2_stale")
    assert a and b and a.priority is Priority.MEDIUM and a.kind is Kind.TECHNICAL
    assert h.alarm("ecg_lead_off") is None  # silent device: stale, not sensor-off
    h.feed(200, hr=80, spo2=97)
    assert h.alarm("hr_stale") is None and h.types("hr_stale")[-1] == "resolved"


def test_sensor_off_while_the_device_reports_other_parameters(h: Harness) -> None:
    h.run(0, 60, hr=80, rr=16, spo2=97)
    h.run(60, 69, spo2=97, tick=True)  # leads off: HR and RR gone, SpO2 still comes
    assert h.alarm("ecg_lead_off") is None
    h.run(69, 75, spo2=97, tick=True)
    a = h.alarm("ecg_lead_off")
    assert a is not None and a.priority is Priority.MEDIUM and "ECG lead off" in a.message
    assert h.alarm("resp_sensor_off") is None  # impedance respiration: the same leads, one alarm
    h.run(75, 80, hr=80, rr=16, spo2=97, tick=True)
    assert h.alarm("ecg_lead_off") is None


def test_low_battery_low_then_medium_then_resolved(h: Harness) -> None:
    h.feed(0, battery=80)
    h.feed(600, battery=28)
    a = h.alarm("battery_low")
    assert a is not None and a.priority is Priority.LOW and a.kind is Kind.TECHNICAL
    h.feed(1200, battery=18)
    assert a.priority is Priority.MEDIUM
    h.feed(1800, battery=100)
    assert h.alarm("battery_low") is None


def test_readings_older_than_the_maximum_age_never_raise(h: Harness) -> None:
    h.at(3600)
    for s in range(60):
        h.engine.feed("P1", "spo2", E0 + s, 80, source="MON")  # an hour late (backfill)
    assert h.events == []


# ---------------------------------------------------------------------------------------------------
# NEWS2 band changes


def news2(s: float, value: int, band: str, partial: bool = False, twin: str = "P1") -> Observation:
    t = T0 + timedelta(seconds=s)
    meta = {"band": band, "partial": partial, "missing": ["temp"] if partial else [], "derived_from": [1, 2]}
    return Observation(
        twin, BY_KEY["news2"].ref, t, t, "medtwin:scores", f"n{s}", float(value), unit="{score}",
        method=Method.DERIVED, meta=meta, id=int(s) + 1000,
    )  # fmt: skip


def test_news2_band_changes_raise_escalate_and_resolve() -> None:
    h = Harness()
    h.engine.machine.targets_for = roles
    h.at(0)
    h.engine.process([news2(0, 2, "low")])
    assert h.events == []
    for s in range(10, 25, 5):  # scores every 5 s from continuous data: the 15 s delay applies
        h.at(s)
        h.engine.process([news2(s, 5, "medium")])
    assert h.alarm("news2") is None
    h.at(25)
    h.engine.process([news2(25, 5, "medium")])
    a = h.alarm("news2")
    assert a is not None and a.priority is Priority.MEDIUM
    assert "urgent response" in a.message and a.evidence["band"] == "medium"
    assert a.escalation_level == 2 and a.escalated_to == ["nurse-1", "charge-1", "doctor-1"]  # RCP Chart 4
    for s in range(30, 60, 5):
        h.at(s)
        h.engine.process([news2(s, 7, "high")])
    assert a.priority is Priority.HIGH and a.escalation_level == 3 and "emergency response" in a.message
    for s in range(60, 420, 5):
        h.at(s)
        h.engine.process([news2(s, 1, "low")])
    assert a.open and not a.condition_active  # high latches
    h.engine.acknowledge(a.id, "doctor-1")
    assert not a.open


def test_news2_low_medium_band_and_partial_scores() -> None:
    h = Harness()
    h.engine.process([news2(0, 3, "low-medium")])  # a first (e.g. charted) score: no history, acts at once
    a = h.alarm("news2")
    assert a is not None and a.priority is Priority.MEDIUM and a.escalation_level == 0
    assert "single parameter" in a.message
    for s in range(5, 600, 5):
        h.at(s)
        h.engine.process([news2(s, 1, "low", partial=True)])  # partial low proves nothing
    assert h.alarm("news2") is not None


# ---------------------------------------------------------------------------------------------------
# environment and trends


def test_room_temperature_out_of_range_is_a_low_priority_environment_alarm(h: Harness) -> None:
    for m in range(30):
        h.feed(m * 60, twin="ROOM-1", source="ENV-1", room_temp=22.0, room_humidity=45)
    for m in range(30, 40):
        h.feed(m * 60, twin="ROOM-1", source="ENV-1", room_temp=26.5, room_humidity=45)
    a = h.alarm("room_temp_high", "ROOM-1")
    assert a is not None and a.priority is Priority.LOW and a.kind is Kind.TECHNICAL
    assert (a.started - T0).total_seconds() == 35 * 60  # after the 300 s environment delay
    assert h.alarm("room_humidity_low", "ROOM-1") is None  # no minimum in a ward patient room


def test_environment_profile_from_the_ward() -> None:
    assert environment_profile({"specialty": "critical care"}) == "critical_care"
    assert environment_profile({"specialty": "medicine"}) == "patient_room"
    icu = effective_limits({"specialty": "critical care"})
    assert icu["room_humidity"] == {"low": 30, "high": 60}


def test_heart_rate_rising_against_its_own_baseline() -> None:
    h = Harness()
    h.run(0, 3900, hr=70, spo2=97)
    assert h.events == []
    for s in range(3900, 4020):  # rises 70 -> 94 over two minutes, no jump
        h.feed(s, hr=70 + (s - 3900) / 5, spo2=97)
    h.run(4020, 4400, hr=94, spo2=97)
    a = h.alarm("hr_rising")
    assert a is not None and a.priority is Priority.LOW and a.kind is Kind.PHYSIOLOGICAL
    assert a.evidence["baseline"] == 70 and "rising" in a.message
    assert h.alarm("hr_high") is None


# ---------------------------------------------------------------------------------------------------
# limits


def test_patient_overrides_merge_over_ward_and_defaults() -> None:
    lim = effective_limits({"alarm_limits": {"hr": {"high": 130}}}, {"alarm_limits": {"spo2": {"low": 88}}})
    assert lim["hr"]["high"] == 130 and lim["hr"]["low"] == 50
    assert lim["spo2"] == {"low": 88, "critical_low": 85}
    off = merge(lim, {"temp": {"high": None}})
    assert "high" not in off["temp"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"hr": {"low": "fifty"}}, "alarm_limits.hr.low"),
        ({"hr": {"lowest": 40}}, "alarm_limits.hr"),
        ({"pulse": {"low": 40}}, "alarm_limits.pulse"),
        ({"hr": {"low": 130}}, "alarm_limits.hr.low"),
        ({"spo2": {"low": 120}}, "alarm_limits.spo2.low"),
        ({"spo2": {"low": 84}}, "alarm_limits.spo2.critical_low"),
        ({"news2": {"high": 5}}, "alarm_limits.news2"),
        (["hr"], "alarm_limits"),
    ],
)
def test_limit_validation_names_the_field(raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_limits(raw, effective_limits(None))
    assert exc.value.field == field


def test_limit_override_changes_the_threshold() -> None:
    h = Harness(limits=effective_limits(None, {"alarm_limits": {"spo2": {"low": 88}}}))  # scale-2 patient
    h.run(0, 60, hr=80, spo2=97)
    h.run(60, 100, hr=80, spo2=89)
    assert h.alarm("spo2_low") is None


# ---------------------------------------------------------------------------------------------------
# notifications


def test_router_groups_one_patients_alarms_into_one_notification() -> None:
    sink = LoggingNotifier()
    now = [0.0]
    r = NotificationRouter([sink], group_wait_s=2.0, clock=lambda: now[0])
    a = {"id": "a1", "twin": "P1", "bed": "Bed 1", "ward": "ICU", "condition": "spo2_low", "priority": "high"}
    b = {**a, "id": "a2", "condition": "hr_high", "priority": "medium"}
    r.add(a, ["nurse-1"], "raised", "t1")
    r.add(b, ["nurse-1", "charge-1"], "raised", "t2")
    assert r.flush() == 0
    now[0] = 2.0
    assert r.flush() == 1
    (n,) = sink.sent
    assert [x["condition"] for x in n.alarms] == ["spo2_low", "hr_high"] and n.targets == [
        "nurse-1",
        "charge-1",
    ]
    assert "name" not in json.dumps(n.as_dict())


def notification() -> Notification:
    return Notification("P1", "Bed 1", "ICU", ["nurse-1"], [{"id": "a1", "condition": "spo2_low"}], "t")


def test_webhook_signs_the_body_and_retries_with_backoff() -> None:
    calls: list[httpx.Request] = []
    answers = [503, 500, 200]

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        return httpx.Response(answers[len(calls) - 1])

    sleeps: list[float] = []
    w = WebhookNotifier(
        "http://hooks.test/x",
        "s3cret",
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        start=False,
    )
    w.send(notification())
    w.drain()
    assert len(calls) == 3 and w.delivered == 1 and not w.dead_letter
    assert sleeps == [0.5, 1.0]  # exponential backoff
    body = calls[0].content
    assert calls[0].headers[SIGNATURE_HEADER] == sign(body, "s3cret") and verify(
        body, "s3cret", sign(body, "s3cret")
    )
    assert json.loads(body)["twin"] == "P1"
    w.close()


def test_webhook_dead_letters_after_max_tries_and_on_refusal() -> None:
    w = WebhookNotifier(
        "http://hooks.test/x", "k", transport=httpx.MockTransport(lambda r: httpx.Response(500)), sleep=lambda s: None,
        max_tries=3, start=False,
    )  # fmt: skip
    w.send(notification())
    w.drain()
    assert w.dead_letter[-1]["reason"] == "max tries" and w.dead_letter[-1]["tries"] == 3
    w2 = WebhookNotifier(
        "http://hooks.test/x", "k", transport=httpx.MockTransport(lambda r: httpx.Response(400)), sleep=lambda s: None,
        start=False, max_queue=1,
    )  # fmt: skip
    w2.send(notification())
    w2.send(notification())  # bounded queue: the oldest is dropped
    w2.drain()
    assert w2.dropped == 1 and w2.dead_letter[-1]["reason"] == "HTTP 400"
    w.close()
    w2.close()


# ---------------------------------------------------------------------------------------------------
# service: roster, bus, persistence and restore (SQLite)


@pytest.fixture
def rt_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Runtime] = []

    def make() -> Runtime:
        rt = Runtime(
            Settings.load(db=str(tmp_path / "alarms.db"), mqtt_enabled=False, data_dir=tmp_path),
            clock=ManualClock(T0),
        )
        rt.start()
        made.append(rt)
        return rt

    yield make
    for rt in made:
        if rt.started:
            rt.stop()


def reading(
    key: str, s: float, value: float, seq: int, twin: str = "P001", source: str = "MON-001"
) -> Observation:
    t = T0 + timedelta(seconds=s)
    return Observation(twin, BY_KEY[key].ref, t, t, source, f"{seq}", value, unit=BY_KEY[key].unit)


def test_roster_resolves_the_chain_from_the_ward_staff(rt_factory: Any) -> None:
    rt = rt_factory()
    seed(rt.registry)
    r = Roster(rt.registry, AlarmConfig().chain, ("rapid-response-team",))
    assert r.targets("P001", "ICU", 0) == ["ICU-nurse-2"]
    assert r.targets("P001", "ICU", 1) == ["ICU-chargenurse-1"]
    assert r.targets("P001", "ICU", 2) == ["ICU-physician-1"]
    assert r.targets("P001", "ICU", 3) == ["rapid-response-team"]
    assert r.targets("ICU-R01", "ICU", 0) == ["ICU-nurse-1", "ICU-nurse-2", "ICU-nurse-3"]


def test_service_stores_publishes_and_restores_after_a_restart(rt_factory: Any) -> None:
    rt = rt_factory()
    seed(rt.registry)
    published: list[Generic] = []
    rt.bus.subscribe(Generic, lambda e: published.append(e) if e.type == "alarm" else None)
    sink = LoggingNotifier()
    svc = AlarmService.attach(rt, notifiers=[sink]).start()
    rows = [reading("hr", s, 80, 2 * s) for s in range(40)] + [
        reading("spo2", s, 88, 2 * s + 1) for s in range(40)
    ]
    rows.sort(key=lambda o: o.effective)
    rt.clock.set(T0 + timedelta(seconds=40))
    rt.writer.write(rows)
    assert svc.wait_idle()
    (a,) = svc.list(ward="ICU")
    assert a["condition"] == "spo2_low" and a["bed"] == "Bed 1" and a["ward"] == "ICU"
    assert a["escalated_to"] == ["ICU-nurse-2"]
    assert (
        published and published[0].data["twin"] == "P001" and published[0].data["event"]["type"] == "raised"
    )
    svc.router.flush(force=True)
    assert sink.sent and sink.sent[0].targets == ["ICU-nurse-2"]
    svc.pause(a["id"], "ICU-nurse-2", 60)
    rt.stop()

    rt2 = rt_factory()  # restart on the same database
    svc2 = AlarmService.attach(rt2, notifiers=[]).start()
    (b,) = svc2.list()
    assert b["id"] == a["id"] and b["state"] == "paused" and b["condition"] == "spo2_low"
    rt2.clock.set(T0 + timedelta(seconds=40 + 60))
    svc2.tick()
    assert svc2.get(a["id"])["state"] == "active"  # the pause expired across the restart
    more = [
        reading(k, s, v, 1000 + 3 * s + i)
        for s in range(100, 130)
        for i, (k, v) in enumerate((("hr", 80), ("spo2", 97)))
    ]
    rt2.clock.set(T0 + timedelta(seconds=130))
    rt2.writer.write(more)
    assert svc2.wait_idle()
    assert svc2.list() == []  # the restored tracker cleared the condition: resolved
    hist = [e["type"] for e in svc2.get(a["id"])["history"]]
    assert hist == ["raised", "paused", "pause_expired", "condition_ended", "resolved"]
    assert svc2.list(state="resolved")[0]["id"] == a["id"]


def test_stale_data_survives_a_restart(rt_factory: Any) -> None:
    rt = rt_factory()
    seed(rt.registry)
    AlarmService.attach(rt, notifiers=[]).start()
    rt.writer.write([reading("hr", s, 80, s) for s in range(10)])
    rt.stop()
    rt2 = rt_factory()
    svc = AlarmService.attach(rt2, notifiers=[]).start()
    rt2.clock.set(T0 + timedelta(seconds=9 + 60))
    svc.tick()
    assert [a["condition"] for a in svc.list()] == ["hr_stale"]


def test_alarm_events_are_append_only(rt_factory: Any) -> None:
    rt = rt_factory()
    repo = AlarmRepository(rt.store)
    a = Alarm("x1", "P1", "spo2_low", Kind.PHYSIOLOGICAL, Priority.MEDIUM, "m", T0, T0)
    from medtwin.services.monitoring.alarms.model import Transition

    repo.record(a, [Transition("raised", T0)])
    assert repo.count_events() == 1 and repo.get("x1") is not None
    with pytest.raises(Exception, match="append-only"), rt.store.engine.begin() as c:
        c.execute(text("DELETE FROM alarm_events"))
    assert repo.count_events() == 1


def test_limits_api_of_the_service(rt_factory: Any) -> None:
    rt = rt_factory()
    seed(rt.registry)
    svc = AlarmService.attach(rt, notifiers=[]).start()
    got = svc.get_limits("P001")
    assert got["ward"] == "ICU" and got["effective"]["room_humidity"]["low"] == 30
    assert got["sources"]["spo2.low"].startswith("default: NEWS2")
    out = svc.put_limits("P001", {"spo2": {"low": 88}}, "ICU-physician-1")
    assert out["effective"]["spo2"]["low"] == 88 and out["sources"]["spo2.low"] == "override"
    assert rt.registry.get("P001").attributes["alarm_limits"] == {"spo2": {"low": 88.0}}
    assert svc.repo.history("limits:P001")[0]["actor"] == "ICU-physician-1"
    with pytest.raises(ValidationError):
        svc.get_limits("ICU-R01")
    assert svc.engine._limits_of("P001")["spo2"]["low"] == 88


def test_alarm_json_has_the_contract_fields() -> None:
    a = Alarm("x", "P1", "spo2_low", Kind.PHYSIOLOGICAL, Priority.HIGH, "m", T0, T0, bed="Bed 1", ward="ICU")
    assert set(a.to_json()) == {
        "id", "twin", "bed", "ward", "condition", "message", "kind", "priority", "state", "latched",
        "condition_active", "escalation_level", "escalated_to", "started", "updated", "acknowledged_by",
        "paused_until", "evidence",
    }  # fmt: skip
    assert Alarm.from_record(json.loads(json.dumps(a.to_record()))).to_json() == a.to_json()


def test_cli_lists_and_acknowledges_offline(rt_factory: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medtwin.cli.alarms import alarms_app

    rt = rt_factory()
    seed(rt.registry)
    svc = AlarmService.attach(rt, notifiers=[]).start()
    rt.clock.set(T0 + timedelta(seconds=40))
    rt.writer.write(sorted((reading("spo2", s, 88, s) for s in range(40)), key=lambda o: o.effective))
    assert svc.wait_idle()
    rt.stop()  # the server is stopped: acknowledge offline in the database
    db = str(tmp_path / "alarms.db")
    runner = CliRunner()
    out = runner.invoke(alarms_app, ["list", "--db", db, "--ward", "ICU", "--json"])
    assert out.exit_code == 0, out.output
    (a,) = json.loads(out.stdout)
    assert a["condition"] == "spo2_low" and a["state"] == "active"
    out = runner.invoke(alarms_app, ["ack", a["id"], "--by", "ICU-nurse-2", "--db", db, "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["state"] == "acknowledged"
    assert runner.invoke(alarms_app, ["ack", "nope", "--by", "x", "--db", db]).exit_code == 1
    assert runner.invoke(alarms_app, ["list", "--db", db, "--state", "bogus"]).exit_code == 2
    table = runner.invoke(alarms_app, ["list", "--db", db, "--state", "acknowledged"])
    assert table.exit_code == 0 and "1 acknowledged alarm(s)" in table.stdout
    rt2 = rt_factory()
    svc2 = AlarmService.attach(rt2, notifiers=[]).start()
    assert svc2.list()[0]["state"] == "acknowledged"  # the server picks up the offline acknowledgement
