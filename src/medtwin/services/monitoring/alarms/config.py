"""Hospital-level alarm settings: what the responsible organisation decides, not the operator.

IEC 60601-1-8 leaves these to the responsible organisation: latching (§6.10), the maximum audio
pause (§6.8; the standard has no 2-minute cap, only disclosure), escalation. medtwin's defaults:

* latching: high priority latches, medium and low do not (Dräger Infinity practice, §2.1 of the
  research note);
* audio pause: 120 s, the common vendor practice ("paused for a maximum of 2 minutes", Dräger
  Infinity IFU); the operator may ask for less, never more than ``max_pause_s``;
* escalation chain nurse -> charge nurse -> physician -> rapid response team, after
  ``escalation_timeouts_s`` per priority without acknowledgement (delay-then-escalate paging:
  Cvach et al., J Nurs Care Qual 2014). The timeouts are local policy; the defaults (60 s high,
  180 s medium, none for low) are a starting point to be set by the hospital, not a standard;
* NEWS2 first call by band, after the RCP 2017 Chart 4 responses: low-medium -> the ward nurse
  (who informs the medical team), medium -> physician (urgent response), high -> rapid response
  team (emergency assessment by a critical-care team).

Fatigue controls (numbers with published effect where one exists):

* condition delay 15 s on continuous numerics: Rheineck, a 15 s delay at SpO2 < 90 % removed 60 %
  of low-SpO2 alarms; Görges, Markewitz & Westenskow (Anesth Analg 2009;108:1546): 14 s removed
  50 %, 19 s 67 % of ineffective alarms;
* clearing: the value must be back inside the limit by ``hysteresis`` for ``clear_s`` (engineering
  defaults, shown in docs/alarms.md; they delay the end of an alarm, never its start);
* artefact handling: ``jump`` (an abrupt change within two samples), ``suspect_hold_s`` and, for
  jumps another signal contradicts, ``contradicted_hold_s``; see :mod:`.signals`;
* technical timings (``stale_after_s``, ``sensor_off_after_s``) are engineering defaults per code.

Everything can be overridden with a mapping (e.g. ``runtime.settings.extra["alarms"]``) read by
:meth:`AlarmConfig.from_mapping`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.services.monitoring.alarms.model import Priority

CHAIN = ("nurse", "charge_nurse", "physician", "rapid_response")


def _per_code(**kw: float) -> dict[str, float]:
    return dict(kw)


@dataclass(frozen=True)
class TrendRule:
    """A rise (or fall) of the recent median against the patient's own baseline.

    Condition when ``current >= factor * baseline + offset`` (up) or ``<=`` (down); ``current``
    is the median of the last ``window_s``, ``baseline`` the median of the ``baseline_s`` before
    that. Factors adapted from Mindray's adult auto alarm limits (BeneVision N-series operator's
    manual: HR upper = HR x 1.25, RR upper = RR x 1.5, systolic lower = SYS x 0.68 + 10)."""

    name: str
    code: str
    direction: str  # "up" | "down"
    factor: float
    offset: float = 0.0
    window_s: float = 300.0
    baseline_s: float = 3600.0
    hysteresis: float = 0.0
    source: str = ""


DEFAULT_TRENDS: tuple[TrendRule, ...] = (
    TrendRule("hr_rising", "hr", "up", 1.25, 0.0, 300.0, 3600.0, 5.0, "Mindray auto limit HR x 1.25"),
    TrendRule("rr_rising", "rr", "up", 1.5, 0.0, 300.0, 3600.0, 2.0, "Mindray auto limit RR x 1.5"),
    TrendRule(
        "sbp_falling", "sbp", "down", 0.68, 10.0, 1800.0, 7200.0, 5.0, "Mindray auto limit SYS x 0.68 + 10"
    ),
)


@dataclass(frozen=True)
class AlarmConfig:
    # responsible-organisation settings
    latching: dict[str, bool] = field(
        default_factory=lambda: {
            Priority.HIGH.value: True,
            Priority.MEDIUM.value: False,
            Priority.LOW.value: False,
        }
    )
    pause_s: float = 120.0
    max_pause_s: float = 120.0
    chain: tuple[str, ...] = CHAIN
    escalation_timeouts_s: dict[str, float | None] = field(
        default_factory=lambda: {
            Priority.HIGH.value: 60.0,
            Priority.MEDIUM.value: 180.0,
            Priority.LOW.value: None,
        }
    )
    rapid_response_team: tuple[str, ...] = ("rapid-response-team",)
    news2_initial_level: dict[str, int] = field(
        default_factory=lambda: {"low-medium": 0, "medium": 2, "high": 3}
    )
    # persistence, hysteresis, artefacts
    delay_s: dict[str, float] = field(
        default_factory=lambda: _per_code(
            hr=15,
            rr=15,
            spo2=15,
            sbp=15,
            dbp=15,
            map=15,
            temp=15,
            news2=15,
            battery=0,
            room_temp=300,
            room_humidity=300,
        )
    )
    default_delay_s: float = 15.0
    clear_s: dict[str, float] = field(
        default_factory=lambda: _per_code(news2=300, room_temp=300, room_humidity=300, battery=0)
    )
    default_clear_s: float = 10.0
    hysteresis: dict[str, float] = field(
        default_factory=lambda: _per_code(
            hr=5, rr=2, spo2=2, sbp=5, dbp=5, map=5, temp=0.2, room_temp=0.5, room_humidity=3, battery=5
        )
    )
    jump: dict[str, float] = field(
        default_factory=lambda: _per_code(hr=20, rr=8, spo2=4, sbp=30, dbp=20, map=25)
    )
    gap_tolerance_s: float = 5.0
    suspect_hold_s: float = 30.0
    contradicted_hold_s: float = 60.0
    sparse_after_s: float = 60.0
    implausible_delay_s: float = 30.0  # a line flush or blood sample lasts seconds; a fault persists
    # technical
    stale_after_s: dict[str, float] = field(
        default_factory=lambda: _per_code(hr=60, rr=60, spo2=60, temp=300)
    )
    sensor_off_after_s: dict[str, float] = field(
        default_factory=lambda: _per_code(hr=10, rr=10, spo2=10, temp=60)
    )
    source_alive_s: float = 5.0
    max_reading_age_s: float = 300.0
    trends: tuple[TrendRule, ...] = DEFAULT_TRENDS
    # notifications
    group_wait_s: float = 2.0

    def delay(self, key: str) -> float:
        return self.delay_s.get(key, self.default_delay_s)

    def clear(self, key: str) -> float:
        return self.clear_s.get(key, self.default_clear_s)

    def latches(self, priority: Priority) -> bool:
        return bool(self.latching.get(priority.value, False))

    def timeout(self, priority: Priority) -> float | None:
        return self.escalation_timeouts_s.get(priority.value)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> AlarmConfig:
        """Defaults overlaid with ``raw``; dict settings merge key by key. Unknown keys are refused."""
        base = cls()
        if not raw:
            return base
        names = {f.name for f in fields(cls)}
        changes: dict[str, Any] = {}
        for k, v in raw.items():
            if k not in names:
                raise ValidationError(f"unknown alarm setting {k!r}", field=f"alarms.{k}")
            cur = getattr(base, k)
            if isinstance(cur, dict):
                if not isinstance(v, Mapping):
                    raise ValidationError("expected a mapping", field=f"alarms.{k}")
                changes[k] = {**cur, **v}
            elif k == "trends":
                changes[k] = tuple(t if isinstance(t, TrendRule) else TrendRule(**t) for t in v)
            elif isinstance(cur, tuple):
                changes[k] = tuple(v)
            else:
                changes[k] = type(cur)(v) if isinstance(cur, float | int) else v
        cfg = replace(base, **changes)
        if cfg.max_pause_s <= 0 or not 0 < cfg.pause_s <= cfg.max_pause_s:
            raise ValidationError("pause_s must be > 0 and <= max_pause_s", field="alarms.pause_s")
        return cfg
