"""Ground truth: what really happened to each simulated patient, as data.

For every monitor the truth lists the scenario (onset, time of full development), each clinical
rule its noise-free physiology crossed (first time and every interval beyond the threshold), the
stages of the scenario (ATLS haemorrhage classes), the true consciousness changes and every
technical event (artefacts, sensor-off and lead-off periods). An alarm benchmark scores alarms
against these: an alarm during a true interval is a true positive, one during an artefact or
sensor-off period with no true interval is a false (technical or artefact) alarm.

Rules are evaluated on the true values rounded to chart resolution (integers; 0.1 degC), as the
NEWS2 chart is (RCP 2017, Chart 1): single-parameter 3-point ("red") thresholds, fever 39.1 degC,
MAP < 65 mmHg (Sepsis-3, Singer et al., JAMA 2016), PaO2 < 60 mmHg (8 kPa, respiratory failure),
NEWS2 >= 5 and >= 7 (scored on air, SpO2 scale 1), qSOFA >= 2 (Seymour et al., JAMA 2016) and
SIRS >= 2 on its three vital-sign criteria (Bone et al., Chest 1992; no white-cell count here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from medtwin.devices.artifacts import (
    SENSOR_FLAG,
    SENSOR_PARAMS,
    TechnicalEvent,
    artifact_events,
    sensor_off_events,
)
from medtwin.devices.base import iso
from medtwin.devices.physiology import true_state
from medtwin.devices.scenarios import ACVPU_LETTERS, ATLS_CLASS_START, ScenarioKind, haemorrhage_max_fraction

if TYPE_CHECKING:
    from medtwin.devices.monitor import MonitorBank

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    param: str
    op: str  # ">=", "<=", "<"
    threshold: float
    source: str
    critical: bool = True  # False: informative only (SIRS is met by many patients who are not ill)

    def test(self, x: F64) -> NDArray[np.bool_]:
        if self.op == ">=":
            return x >= self.threshold
        if self.op == "<=":
            return x <= self.threshold
        return x < self.threshold


CRITICAL_RULES: tuple[Rule, ...] = (
    Rule("hr>=131", "hr", ">=", 131, "NEWS2 pulse 3 points"),
    Rule("hr<=40", "hr", "<=", 40, "NEWS2 pulse 3 points"),
    Rule("rr>=25", "rr", ">=", 25, "NEWS2 respiration 3 points"),
    Rule("rr<=8", "rr", "<=", 8, "NEWS2 respiration 3 points"),
    Rule("spo2<=91", "spo2", "<=", 91, "NEWS2 SpO2 scale 1, 3 points"),
    Rule("sbp<=90", "sbp", "<=", 90, "NEWS2 systolic BP 3 points"),
    Rule("sbp>=220", "sbp", ">=", 220, "NEWS2 systolic BP 3 points"),
    Rule("temp<=35.0", "temp", "<=", 35.0, "NEWS2 temperature 3 points"),
    Rule("temp>=39.1", "temp", ">=", 39.1, "NEWS2 temperature 2 points (high fever)"),
    Rule("map<65", "map", "<", 65, "Sepsis-3 septic shock MAP target"),
    Rule("pao2<60", "pao2", "<", 60, "respiratory failure, PaO2 < 8 kPa"),
    Rule("acvpu>=C", "acvpu", ">=", 1, "new confusion or worse, NEWS2 3 points"),
    Rule("news2>=5", "news2", ">=", 5, "NEWS2 urgent response threshold (RCP 2017)"),
    Rule("news2>=7", "news2", ">=", 7, "NEWS2 emergency response threshold (RCP 2017)"),
    Rule("qsofa>=2", "qsofa", ">=", 2, "qSOFA positive (Sepsis-3)"),
    Rule("sirs>=2", "sirs", ">=", 2, "SIRS vital-sign criteria (T, HR, RR)", critical=False),
)


def news2(rr: F64, spo2: F64, sbp: F64, hr: F64, temp: F64, acvpu: F64) -> F64:
    """NEWS2 total on air, SpO2 scale 1 (RCP 2017 Chart 1), on chart-resolution values."""
    s = np.select([rr <= 8, rr <= 11, rr <= 20, rr <= 24], [3, 1, 0, 2], 3)
    s = s + np.select([spo2 <= 91, spo2 <= 93, spo2 <= 95], [3, 2, 1], 0)
    s = s + np.select([sbp <= 90, sbp <= 100, sbp <= 110, sbp <= 219], [3, 2, 1, 0], 3)
    s = s + np.select([hr <= 40, hr <= 50, hr <= 90, hr <= 110, hr <= 130], [3, 1, 0, 1, 2], 3)
    s = s + np.where(acvpu >= 1, 3, 0)
    s = s + np.select([temp <= 35.0, temp <= 36.0, temp <= 38.0, temp <= 39.0], [3, 1, 0, 1], 2)
    return s.astype(np.float64)  # type: ignore[no-any-return]


def chart_series(c_state: dict[str, Any]) -> dict[str, F64]:
    """Round true values to chart resolution and add the composite scores."""
    r = {k: np.rint(c_state[k]) for k in ("hr", "rr", "spo2", "sbp", "dbp", "map", "pao2")}
    r["temp"] = np.rint(c_state["temp"] * 10) / 10
    r["acvpu"] = c_state["acvpu"].astype(np.float64)
    r["news2"] = news2(r["rr"], r["spo2"], r["sbp"], r["hr"], r["temp"], r["acvpu"])
    r["qsofa"] = ((r["rr"] >= 22).astype(float) + (r["sbp"] <= 100) + (r["acvpu"] >= 1)).astype(np.float64)
    sirs = ((r["temp"] > 38.0) | (r["temp"] < 36.0)).astype(float) + (r["hr"] > 90) + (r["rr"] > 20)
    r["sirs"] = sirs.astype(np.float64)
    return r


@dataclass(frozen=True, slots=True)
class Crossing:
    rule: Rule
    first: float  # epoch s
    intervals: tuple[tuple[float, float], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "param": self.rule.param,
            "op": self.rule.op,
            "threshold": self.rule.threshold,
            "source": self.rule.source,
            "critical": self.rule.critical,
            "first": iso(self.first),
            "intervals": [[iso(a), iso(b)] for a, b in self.intervals],
        }


@dataclass(frozen=True, slots=True)
class GroundTruth:
    device_id: str
    patient_id: str | None
    patient: dict[str, Any]
    scenario: dict[str, Any]
    start: float
    end: float
    onset: float | None
    full_effect: float | None
    crossings: tuple[Crossing, ...] = ()
    stages: tuple[tuple[str, float], ...] = ()
    acvpu_changes: tuple[tuple[float, str], ...] = ()
    technical: tuple[TechnicalEvent, ...] = field(default=())

    @property
    def events(self) -> tuple[Crossing, ...]:
        """Crossings of critical rules: the true events an alarm system should catch."""
        return tuple(c for c in self.crossings if c.rule.critical)

    def first(self, rule: str) -> datetime | None:
        """First time ``rule`` (e.g. "sbp<=90") was true, or None if never."""
        for c in self.crossings:
            if c.rule.name == rule:
                return datetime.fromtimestamp(c.first, UTC)
        return None

    def stage(self, label: str) -> datetime | None:
        for name, t in self.stages:
            if name == label:
                return datetime.fromtimestamp(t, UTC)
        return None

    def as_dict(self) -> dict[str, Any]:
        def opt(t: float | None) -> str | None:
            return None if t is None else iso(t)

        return {
            "device": self.device_id,
            "patient": self.patient_id,
            "patient_profile": self.patient,
            "scenario": self.scenario,
            "start": iso(self.start),
            "end": iso(self.end),
            "onset": opt(self.onset),
            "full_effect": opt(self.full_effect),
            "crossings": [c.as_dict() for c in self.crossings],
            "stages": [{"label": s, "time": iso(t)} for s, t in self.stages],
            "acvpu": [{"time": iso(t), "level": lv} for t, lv in self.acvpu_changes],
            "technical": [e.as_dict() for e in self.technical],
        }


def _stages(
    kind: ScenarioKind, onset: float, duration: float, severity: float, blood_volume_ml: float, end: float
) -> list[tuple[str, float]]:
    if kind is not ScenarioKind.HAEMORRHAGE:
        return []
    fmax = float(haemorrhage_max_fraction(severity))
    out = []
    for cls, f in ATLS_CLASS_START.items():
        t = onset + duration * f / fmax
        if f <= fmax and t <= end:
            out.append((f"ATLS class {cls} ({round(f * blood_volume_ml)} mL lost)", t))
    return out


def truth_for_bank(bank: MonitorBank, end: datetime, resolution_s: float = 1.0) -> list[GroundTruth]:
    """Ground truth of every monitor in ``bank`` from its start to ``end`` (vectorised over monitors)."""
    c, n = bank.cohort, len(bank)
    t_end = end.timestamp()
    t0 = float(c.start.min())
    grid = np.arange(t0, t_end + 1e-9, resolution_s)
    chunk = max(1, int(4_000_000 // max(1, n * 18)))
    opened = {r.name: np.full(n, np.nan) for r in CRITICAL_RULES}
    runs: dict[str, list[list[tuple[float, float]]]] = {
        r.name: [[] for _ in range(n)] for r in CRITICAL_RULES
    }
    prev_level = np.zeros(n, dtype=np.float64)
    changes: list[list[tuple[float, str]]] = [[] for _ in range(n)]
    for a in range(0, len(grid), chunk):
        g = grid[a : a + chunk]
        live = g[:, None] >= c.start[None, :]
        series = chart_series(true_state(c, g))
        for rule in CRITICAL_RULES:
            b = rule.test(series[rule.param]) & live
            prev = ~np.isnan(opened[rule.name])
            d = np.diff(np.vstack([prev[None, :], b]).astype(np.int8), axis=0)
            for row, col in zip(*np.nonzero(d), strict=True):
                if d[row, col] > 0:
                    opened[rule.name][col] = g[row]
                else:
                    runs[rule.name][col].append((float(opened[rule.name][col]), float(g[row])))
                    opened[rule.name][col] = np.nan
        lv = np.where(live, series["acvpu"], 0.0)
        d = np.diff(np.vstack([prev_level[None, :], lv]), axis=0)
        for row, col in zip(*np.nonzero(d), strict=True):
            changes[col].append((float(g[row]), ACVPU_LETTERS[int(lv[row, col])]))
        prev_level = lv[-1]
    out = []
    for i, m in enumerate(bank.monitors):
        crossings = []
        for rule in CRITICAL_RULES:
            iv = list(runs[rule.name][i])
            if not np.isnan(opened[rule.name][i]):
                iv.append((float(opened[rule.name][i]), t_end))
            if iv:
                crossings.append(Crossing(rule, iv[0][0], tuple(iv)))
        start = float(c.start[i])
        sc = m.scenario
        onset = None if sc.is_stable else start + sc.onset_s
        tech = artifact_events(int(c.keys[i]), float(bank.art_rate[i]), bool(bank.arterial[i]), start, t_end)
        tech += sensor_off_events(int(c.keys[i]), m.config.off_rates(), start, t_end)
        tech += [
            TechnicalEvent(
                SENSOR_FLAG[f.sensor],
                f.sensor,
                SENSOR_PARAMS[f.sensor],
                start + f.start_s,
                start + f.start_s + f.duration_s,
            )
            for f in m.config.faults
            if start + f.start_s < t_end
        ]
        out.append(
            GroundTruth(
                device_id=m.device_id,
                patient_id=m.patient_id,
                patient=m.profile.summary(),
                scenario=sc.as_dict(),
                start=start,
                end=t_end,
                onset=onset if onset is not None and onset <= t_end else None,
                full_effect=None if onset is None or onset + sc.duration_s > t_end else onset + sc.duration_s,
                crossings=tuple(crossings),
                stages=tuple(
                    _stages(sc.kind, onset, sc.duration_s, sc.severity, m.profile.blood_volume_ml, t_end)
                )
                if onset is not None
                else (),
                acvpu_changes=tuple(changes[i]),
                technical=tuple(sorted(tech, key=lambda e: e.start)),
            )
        )
    return out


def monitor_truth(monitor: Any, end: datetime, resolution_s: float = 1.0) -> GroundTruth:
    from medtwin.devices.monitor import MonitorBank

    return truth_for_bank(MonitorBank([monitor]), end, resolution_s)[0]


def truths_as_dicts(truths: Sequence[GroundTruth]) -> list[dict[str, Any]]:
    return [t.as_dict() for t in truths]
