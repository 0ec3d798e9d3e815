"""Alarm conditions: names, messages, and the persistence/hysteresis tracker behind each.

Condition names (one open alarm per twin and name):

* limits: ``<key>_low`` / ``<key>_high`` (``spo2_low``, ``hr_high``, ``room_temp_high``...),
  tier 1 (alert limit) or 2 (critical limit); ``battery_low``;
* trends: the rule's name (``hr_rising``, ``rr_rising``, ``sbp_falling``);
* NEWS2: ``news2`` (tier 1: low-medium or medium band, tier 2: high band);
* technical: ``<key>_implausible`` (``bp_implausible`` for a contradictory pressure set), sensor-off ``ecg_lead_off`` / ``spo2_sensor_off`` /
  ``resp_sensor_off`` / ``temp_sensor_off`` (reading absent while the device keeps reporting
  other parameters), ``<key>_stale`` (no reading at all for ``stale_after_s``).

:class:`Tracker` implements the condition delay (persistence), the noise tolerance of a run, the
suspect hold of the artefact rules, and clearing with hysteresis; see :meth:`Tracker.sample`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medtwin.core.codes import BY_KEY
from medtwin.services.monitoring.alarms.signals import Series

LABEL = {
    "hr": "Heart rate",
    "rr": "Respiratory rate",
    "spo2": "SpO2",
    "sbp": "Systolic BP",
    "dbp": "Diastolic BP",
    "map": "Mean BP",
    "temp": "Temperature",
    "battery": "Device battery",
    "room_temp": "Room temperature",
    "room_humidity": "Room humidity",
    "glucose": "Blood glucose",
    "cgm": "Glucose (CGM)",
}
UNIT = {"/min": "/min", "%": "%", "mm[Hg]": "mmHg", "Cel": "°C", "mg/dL": "mg/dL"}
ENVIRONMENT_KEYS = frozenset({"room_temp", "room_humidity"})
BP_KEYS = frozenset({"sbp", "dbp", "map"})  # one technical alarm for a contradictory pressure set
SENSOR_CONDITION = {
    "hr": "ecg_lead_off",
    "rr": "resp_sensor_off",
    "spo2": "spo2_sensor_off",
    "temp": "temp_sensor_off",
}
SENSOR_TEXT = {
    "hr": "ECG lead off: no heart rate",
    "rr": "Respiration sensor off: no respiratory rate",
    "spo2": "SpO2 sensor off: no saturation",
    "temp": "Temperature probe off",
}
SLOW_KEYS = frozenset({"temp"})  # losing these is lower priority (changes take hours)
NEWS2_TIER = {"low": 0, "low-medium": 1, "medium": 1, "high": 2}
NEWS2_RESPONSE = {
    # After RCP 2017 NEWS2 Chart 4 (clinical response to the NEWS trigger thresholds).
    "low-medium": "score of 3 in a single parameter: urgent ward-based review; the registered nurse "
    "informs the medical team caring for the patient; monitoring at least hourly",
    "medium": "urgent response: the registered nurse immediately informs the medical team and requests "
    "urgent assessment by a clinician with acute-illness competencies; monitoring at least hourly",
    "high": "emergency response: the registered nurse immediately informs the medical team (at least "
    "specialist registrar level); emergency assessment by a critical-care team; consider transfer "
    "to level 2/3 care; continuous monitoring",
}


def unit_of(key: str) -> str:
    info = BY_KEY.get(key)
    return UNIT.get(info.unit, info.unit) if info else ""


def fmt(v: float) -> str:
    return f"{v:g}" if abs(v - round(v)) > 1e-9 else str(round(v))


def limit_message(key: str, direction: str, value: float, limit: float, critical: bool) -> str:
    u = unit_of(key)
    label = LABEL.get(key, key)
    word = ("critically " if critical else "") + ("low" if direction == "low" else "high")
    sep = "" if u in ("%", "/min", "°C") else " "
    return f"{label} {word}: {fmt(value)}{sep}{u} (limit {fmt(limit)}{sep}{u})"


def family_of(key: str, direction: str) -> str:
    if key in ENVIRONMENT_KEYS:
        return "environment"
    return f"{key}_{direction}"


@dataclass(slots=True)
class Tracker:
    """Persistence and hysteresis of one condition of one twin.

    ``sample(t, raw, hold, ...)``: ``raw`` is the tier the value is beyond (0 none, 1 alert,
    2 critical) on the exact limits; ``hold`` the tier it is still beyond once the hysteresis
    margin is taken off the limits (``hold >= raw``). Returns the newly confirmed tier when it
    changes, else None.

    * Raise to tier T when the value has been beyond T for ``delay_s`` (a *run*: samples beyond T
      with gaps below ``gap_s``, so measurement noise around the limit does not restart the
      clock). A run that started with a suspect sample needs ``max(delay_s, hold_s)``. A sparse
      series (previous sample more than ``sparse_after_s`` earlier, e.g. NIBP every 15 min, or a
      charted value) raises on one reading.
    * Fall to a lower tier when ``hold`` has stayed below the current tier for ``clear_s``
      (or on one reading of a sparse series).
    """

    tier: int = 0
    run_start: list[float | None] = field(default_factory=lambda: [None, None, None])
    last_out: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    run_suspect: list[bool] = field(default_factory=lambda: [False, False, False])
    clear_since: float | None = None
    obs_ids: list[int] = field(default_factory=list)
    since: float | None = None  # start of the run that raised the current tier

    def sample(
        self,
        t: float,
        raw: int,
        hold: int,
        *,
        delay_s: float,
        clear_s: float,
        gap_s: float,
        hold_s: float,
        suspect: bool = False,
        sparse: bool = False,
        obs_id: int | None = None,
        corroborated: bool = False,
    ) -> int | None:
        for tier in (1, 2):
            start = self.run_start[tier]
            if raw >= tier:
                if start is None or t - self.last_out[tier] > gap_s:
                    self.run_start[tier] = t
                    self.run_suspect[tier] = suspect
                elif suspect and t - start <= delay_s:
                    self.run_suspect[tier] = True
                elif corroborated:
                    self.run_suspect[tier] = False  # another source confirmed the change
                self.last_out[tier] = t
            elif start is not None and t - self.last_out[tier] > gap_s:
                self.run_start[tier] = None
                self.run_suspect[tier] = False
        if raw > 0 and obs_id is not None:
            self.obs_ids.append(obs_id)
            del self.obs_ids[:-5]
        confirmed = 0
        for tier in (2, 1):
            start = self.run_start[tier]
            if raw >= tier and start is not None:
                need = max(delay_s, hold_s) if self.run_suspect[tier] else delay_s
                if sparse or t - start >= need:
                    confirmed = tier
                    break
        if confirmed > self.tier:
            self.tier = confirmed
            self.since = self.run_start[confirmed]
            self.clear_since = None
            return confirmed
        if self.tier == 0:
            return None
        if hold >= self.tier:
            self.clear_since = None
            return None
        if self.clear_since is None:
            self.clear_since = t
        if sparse or t - self.clear_since >= clear_s:
            self.tier = max(hold, 0)
            self.clear_since = None
            if self.tier == 0:
                self.obs_ids.clear()
                self.since = None
            return self.tier
        return None

    def reset(self) -> None:
        self.tier = 0
        self.run_start = [None, None, None]
        self.run_suspect = [False, False, False]
        self.clear_since = None
        self.obs_ids.clear()
        self.since = None


def tiers_for(
    value: float, direction: str, alert: float | None, critical: float | None, margin: float
) -> tuple[int, int, float | None]:
    """(raw tier, hold tier, the limit of the raw tier) of a value against one side's limits."""
    raw = hold = 0
    crossed: float | None = None
    for tier, lim in ((1, alert), (2, critical)):
        if lim is None:
            continue
        if direction == "low":
            beyond, still = value < lim, value < lim + margin
        else:
            beyond, still = value > lim, value > lim - margin
        if beyond:
            raw, crossed = max(raw, tier), lim if tier >= raw else crossed
        if still:
            hold = max(hold, tier)
    return raw, max(hold, raw), crossed


@dataclass(slots=True)
class TwinState:
    series: dict[str, Series] = field(default_factory=dict)
    trackers: dict[str, Tracker] = field(default_factory=dict)
    last_rx: dict[str, float] = field(default_factory=dict)  # key -> last receipt (device readings)
    key_source: dict[str, str] = field(default_factory=dict)
    source_rx: dict[str, float] = field(default_factory=dict)
    src_key_t: dict[tuple[str, str], float] = field(default_factory=dict)
