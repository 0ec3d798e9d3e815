"""Alarm-fatigue benchmark (issue 3): naive thresholds against medtwin's alarm engine, same run.

A simulated day of a 24-bed ward (:class:`medtwin.devices.Ward`: synthetic patients, most stable,
some developing sepsis, haemorrhage or respiratory failure, 1 Hz bedside monitors with motion
artefacts, ECG noise, SpO2 dropouts, arterial-line flushes, sensor-off and lead-off periods, NIBP
cycles, one environment sensor per room) is replayed on a simulated clock as fast as the CPU
allows. Every reading passes medtwin's ingest validation (so the sentinel values of sensor-off
periods are refused as they would be in production) and then goes, in the same order, to

(a) **naive thresholds**: the same limits (alert and critical tier), an alarm whenever a sample is
    outside a limit and until a sample is back inside, no delay, no hysteresis, no artefact
    rejection; a sensor-off alarm for every second a continuous parameter is missing while the
    monitor sends others;
(b) **medtwin**: :class:`~medtwin.services.monitoring.alarms.engine.AlarmEngine` with its default
    configuration (15 s condition delay, hysteresis, artefact rules, trends, technical alarms),
    ``tick`` every simulated second.

Ground truth (:mod:`medtwin.devices.truth`, the noise-free physiology at 1 s): a *critical event*
is the first period in which a NEWS2 red-score rule (HR <= 40 or >= 131, RR <= 8 or >= 25, SpO2
<= 91), a temperature rule (<= 35.0 or >= 39.1 degC) or, on monitors with an arterial line, a
blood-pressure rule (systolic <= 90 or >= 220, MAP < 65) holds for at least 60 s (gaps under 60 s
merged); its onset is the start of that period. It is *caught* when the alarm for that parameter is
present at the level of that rule (e.g. ``hr_high`` at its critical tier for HR >= 131) within
5 min of onset; the time to alarm is the start of that presence minus the onset (0 if it was
already present). BP events of patients with only a cuff are reported apart: their delay is
bounded by the cuff interval (15 min), not by the alarm logic, so they are caught within
5 min of the first cuff cycle that could show them (20 min of onset). NEWS2, qSOFA and ACVPU alarms come
from the score pipeline and charting, which this replay leaves out.

An alarm is *backed by true physiology* when the noise-free value was beyond the alarm's limit at
some moment from 60 s before to 30 s after the alarm started (otherwise it came from measurement
noise near the limit or an artefact). The naive share is high because a deteriorating patient
near a limit makes hundreds of true but repeated alarms; the absolute number of unbacked alarms
per bed-day is the fairer comparison.

Run:  .venv/bin/python benchmarks/alarm_fatigue.py [--beds 24] [--hours 24] [--seed 9] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from medtwin.core.clock import ManualClock
from medtwin.core.codes import BY_REF
from medtwin.core.errors import ValidationError
from medtwin.core.model import Observation
from medtwin.core.validate import build_observation
from medtwin.devices import EnvironmentSensor, Ward
from medtwin.devices.physiology import true_state
from medtwin.devices.truth import truth_for_bank
from medtwin.services.monitoring.alarms import AlarmConfig, AlarmEngine
from medtwin.services.monitoring.alarms.conditions import tiers_for
from medtwin.services.monitoring.alarms.limits import effective_limits
from medtwin.services.monitoring.alarms.model import Alarm, Transition

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
MIX = {"stable": 0.7, "sepsis": 0.1, "haemorrhage": 0.1, "respiratory_failure": 0.1}
EVENT_RULES: dict[str, tuple[str, int]] = {
    "hr>=131": ("hr_high", 2),
    "hr<=40": ("hr_low", 2),
    "rr>=25": ("rr_high", 1),
    "rr<=8": ("rr_low", 1),
    "spo2<=91": ("spo2_low", 1),
    "temp<=35.0": ("temp_low", 1),
    "temp>=39.1": ("temp_high", 1),
    "sbp<=90": ("sbp_low", 1),
    "sbp>=220": ("sbp_high", 1),
    "map<65": ("map_low", 1),
}
BP_RULES = frozenset({"sbp<=90", "sbp>=220", "map<65"})
CONTINUOUS = ("hr", "rr", "spo2", "temp")
SUSTAIN_S, MERGE_GAP_S, CATCH_S = 60.0, 60.0, 300.0
CUFF_CATCH_S = CATCH_S + 900.0  # cuff-only BP: the next NIBP cycle may come 15 min after onset
Key = tuple[str, str]  # (twin, condition)


@dataclass
class Presence:
    """When each (twin, condition) was alarming, at which tier: intervals [start, end, tier]."""

    intervals: dict[Key, list[list[float]]] = field(default_factory=lambda: defaultdict(list))
    current: dict[Key, int] = field(default_factory=dict)
    starts: list[tuple[str, str, str, float, float | None, int]] = field(default_factory=list)

    def set(self, key: Key, tier: int, t: float) -> None:
        old = self.current.get(key, 0)
        if tier == old:
            return
        if old > 0:
            self.intervals[key][-1][1] = t
        if tier > 0:
            self.intervals[key].append([t, float("inf"), float(tier)])
        self.current[key] = tier

    def detection(self, key: Key, tier: int, onset: float, window: float = 300.0) -> float | None:
        """Time from onset to the condition being alarmed at >= tier (0 if already), or None."""
        for start, end, lvl in self.intervals.get(key, []):
            if lvl >= tier and end > onset and start <= onset + window:
                return max(0.0, start - onset)
        return None


class MedtwinRecorder(Presence):
    def __call__(self, alarm: Alarm, transitions: list[Transition]) -> None:
        t = transitions[-1].time.timestamp()
        for tr in transitions:
            if tr.type == "raised":
                limit = alarm.evidence.get("limit")
                self.starts.append(
                    (
                        alarm.twin,
                        alarm.condition,
                        alarm.kind.value,
                        t,
                        limit if isinstance(limit, float | int) else None,
                        0,
                    )
                )
        self.set((alarm.twin, alarm.condition), alarm.tier if alarm.condition_active else 0, t)


class Naive(Presence):
    """A monitor without fatigue controls: every out-of-limit excursion is an alarm."""

    def __init__(self, limits: dict[str, dict[str, float]], monitors: set[str]) -> None:
        super().__init__()
        self.limits = limits
        self.monitors = monitors
        self.off: set[tuple[str, str]] = set()
        self.technical = 0

    def process(self, obs: list[Observation], t: float, sent: dict[str, set[str]]) -> None:
        for o in obs:
            info = BY_REF.get(o.code)
            if info is None or o.value is None:
                continue
            spec = self.limits.get(info.key)
            if not spec:
                continue
            for d in ("low", "high"):
                alert, crit = spec.get(d), spec.get(f"critical_{d}")
                if alert is None and crit is None:
                    continue
                raw, _hold, lim = tiers_for(o.value, d, alert, crit, 0.0)
                key = (o.twin_id, f"{info.key}_{d}")
                if raw > 0 and self.current.get(key, 0) == 0:
                    kind = "technical" if info.key.startswith("room_") else "physiological"
                    self.starts.append((o.twin_id, key[1], kind, t, lim, 0))
                self.set(key, raw, t)
        for dev, keys in sent.items():  # sensor off: a continuous parameter missing this second
            if dev not in self.monitors:
                continue
            for k in CONTINUOUS:
                if k not in keys and (dev, k) not in self.off:
                    self.off.add((dev, k))
                    self.technical += 1
                elif k in keys:
                    self.off.discard((dev, k))


def true_series(ward: Ward, end: datetime, step: float = 2.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    bank = ward.bank
    assert bank is not None
    grid = np.arange(START.timestamp(), end.timestamp() + 1e-9, step)
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for a in range(0, len(grid), 3600):
        s = true_state(bank.cohort, grid[a : a + 3600])
        for k in ("hr", "rr", "spo2", "sbp", "map", "temp"):
            parts[k].append(np.asarray(s[k], dtype=np.float32))
    return grid, {k: np.concatenate(v) for k, v in parts.items()}


def backed(
    starts: list[Any], grid: np.ndarray, true: dict[str, np.ndarray], col: dict[str, int]
) -> tuple[int, int, list[dict[str, Any]]]:
    """(backed by true physiology, classifiable, per-alarm detail) among physiological limit alarms."""
    ok = n = 0
    detail = []
    for twin, cond, kind, t, limit, _ in starts:
        key, _, d = cond.rpartition("_")
        if (
            kind != "physiological"
            or limit is None
            or key not in true
            or twin not in col
            or d not in ("low", "high")
        ):
            continue
        a, b = np.searchsorted(grid, [t - 60.0, t + 30.0])
        seg = true[key][a : b + 1, col[twin]]
        n += 1
        hit = bool((seg < limit).any() if d == "low" else (seg > limit).any())
        ok += int(hit)
        detail.append(
            {"twin": twin, "condition": cond, "time": datetime.fromtimestamp(t, UTC).isoformat(), "limit": limit,
             "true_min": round(float(seg.min()), 1), "true_max": round(float(seg.max()), 1), "backed": hit}
        )  # fmt: skip
    return ok, n, detail


def events(ward: Ward, end: datetime) -> list[dict[str, Any]]:
    bank = ward.bank
    assert bank is not None
    out = []
    for m, g in zip(bank.monitors, truth_for_bank(bank, end, 1.0), strict=True):
        for cr in g.crossings:
            if cr.rule.name not in EVENT_RULES:
                continue
            merged: list[list[float]] = []
            for a, b in cr.intervals:
                if merged and a - merged[-1][1] < MERGE_GAP_S:
                    merged[-1][1] = b
                else:
                    merged.append([a, b])
            first = next((iv for iv in merged if iv[1] - iv[0] >= SUSTAIN_S), None)
            if first is None:
                continue
            cuff_only = cr.rule.name in BP_RULES and not m.config.arterial
            out.append(
                {"twin": m.patient_id, "rule": cr.rule.name, "onset": first[0], "scenario": m.scenario.kind.value,
                 "cuff_only": cuff_only}
            )  # fmt: skip
    return out


def run(beds: int, hours: float, seed: int, arterial: float) -> dict[str, Any]:
    end = START + timedelta(hours=hours)
    ward = Ward.generate(
        beds, start=START, seed=seed, mix=MIX, onset_window_h=(1.0, max(1.5, hours * 0.6)), arterial_fraction=arterial,
        medications=False, activity=False,
    )  # fmt: skip
    rooms = {d.device_id: d.room_id for d in ward.others if isinstance(d, EnvironmentSensor)}
    monitors = {m.device_id for m in ward.monitors}
    clock = ManualClock(START)
    rec = MedtwinRecorder()
    engine = AlarmEngine(AlarmConfig(), clock=clock, sink=rec)
    naive = Naive(effective_limits(None), monitors)
    rejected = readings = 0
    t_engine = t_naive = 0.0
    wall0 = time.perf_counter()
    steps = int(hours * 3600)
    for step in range(steps + 1):
        now = START + timedelta(seconds=step)
        clock.set(now)
        obs: list[Observation] = []
        sent: dict[str, set[str]] = {}
        for b in ward.step(now):
            if b.kind != "obs":
                continue
            twin = b.patient_id or rooms.get(b.device_id) or b.device_id
            keys = sent.setdefault(b.device_id, set())
            for i, r in enumerate(b.readings):
                readings += 1
                try:
                    o = build_observation(
                        r, twin_id=twin, source=b.device_id, source_id=f"{step}/{i}", received=now
                    )
                except ValidationError:
                    rejected += 1  # sentinel values of sensor-off periods, refused at ingest
                    continue
                obs.append(o)
                info = BY_REF.get(o.code)
                if info is not None:
                    keys.add(info.key)
        t0 = time.perf_counter()
        engine.process(obs)
        engine.tick(now)
        t1 = time.perf_counter()
        naive.process(obs, now.timestamp(), sent)
        t_naive += time.perf_counter() - t1
        t_engine += t1 - t0
        if step and step % 21600 == 0:
            print(f"  simulated {step / 3600:.0f} h ({time.perf_counter() - wall0:.0f} s)", file=sys.stderr)
    wall = time.perf_counter() - wall0
    evs = events(ward, end)
    grid, true = true_series(ward, end)
    col = {m.patient_id: i for i, m in enumerate(ward.bank.monitors)} if ward.bank else {}
    days = hours / 24.0
    out: dict[str, Any] = {
        "beds": beds,
        "hours": hours,
        "seed": seed,
        "rooms": len(rooms),
        "arterial_lines": int(sum(m.config.arterial for m in ward.monitors)),
        "scenarios": dict(sorted(_count(m.scenario.kind.value for m in ward.monitors).items())),
        "readings": readings,
        "rejected_at_ingest": rejected,
        "wall_s": round(wall, 1),
        "engine_us_per_reading": round(t_engine / max(1, readings) * 1e6, 2),
        "naive_us_per_reading": round(t_naive / max(1, readings) * 1e6, 2),
    }
    for name, sys_ in (("naive", naive), ("medtwin", rec)):
        phys = [s for s in sys_.starts if s[2] == "physiological"]
        env = [s for s in sys_.starts if s[1].startswith("room_")]
        tech = (
            naive.technical
            if name == "naive"
            else len([s for s in sys_.starts if s[2] == "technical"]) - len(env)
        )
        ok, n, detail = backed(phys, grid, true, col)
        res = {
            "physiological": len(phys),
            "physiological_per_bed_day": round(len(phys) / beds / days, 1),
            "backed_by_truth": round(ok / n, 3) if n else None,
            "unbacked_per_bed_day": round((n - ok) / beds / days, 1),
            "technical": tech,
            "technical_per_bed_day": round(tech / beds / days, 1),
            "environment": len(env),
            "all_per_bed_day": round((len(phys) + tech + len(env)) / beds / days, 1),
            "by_condition": dict(sorted(_count(s[1] for s in sys_.starts).items())),
        }
        if name == "medtwin":
            res["physiological_alarms"] = detail
        for group, sel in (("continuous", False), ("cuff_only", True)):
            delays = []
            missed = []
            for e in (e for e in evs if e["cuff_only"] is sel):
                cond, tier = EVENT_RULES[e["rule"]]
                d = sys_.detection((e["twin"], cond), tier, e["onset"], CUFF_CATCH_S if sel else CATCH_S)
                if d is None:
                    missed.append(f"{e['twin']} {e['rule']}")
                else:
                    delays.append(d)
            res[f"events_{group}"] = len(delays) + len(missed)
            res[f"caught_{group}"] = len(delays)
            res[f"missed_{group}"] = missed
            res[f"delay_median_s_{group}"] = round(statistics.median(delays), 1) if delays else None
            res[f"delay_max_s_{group}"] = round(max(delays), 1) if delays else None
        out[name] = res
    n_phys, m_phys = out["naive"]["physiological"], out["medtwin"]["physiological"]
    n_all = out["naive"]["all_per_bed_day"]
    out["reduction_physiological"] = round(1 - m_phys / n_phys, 3) if n_phys else None
    out["reduction_all"] = round(1 - out["medtwin"]["all_per_bed_day"] / n_all, 3) if n_all else None
    out["events"] = [{**e, "onset": datetime.fromtimestamp(e["onset"], UTC).isoformat()} for e in evs]
    return out


def _count(items: Any) -> dict[str, int]:
    c: dict[str, int] = defaultdict(int)
    for i in items:
        c[i] += 1
    return dict(c)


def report(r: dict[str, Any]) -> str:
    n, m = r["naive"], r["medtwin"]
    sc = ", ".join(f"{k} {v}" for k, v in r["scenarios"].items())
    lines = [
        f"Alarm-fatigue benchmark: {r['beds']} beds x {r['hours']:g} h, seed {r['seed']} ({sc}; "
        f"{r['arterial_lines']} arterial lines; {r['rooms']} room sensors)",
        f"{r['readings']:,} readings ({r['rejected_at_ingest']:,} refused at ingest: sensor-off sentinels); "
        f"replayed in {r['wall_s']} s; engine {r['engine_us_per_reading']} us/reading",
        "",
        f"{'':44}{'naive thresholds':>18}{'medtwin':>12}",
        f"{'physiological alarms':44}{n['physiological']:>18,}{m['physiological']:>12,}",
        f"{'  per bed per day':44}{n['physiological_per_bed_day']:>18}{m['physiological_per_bed_day']:>12}",
        f"{'  backed by true physiology (share)':44}{_pct(n['backed_by_truth']):>18}{_pct(m['backed_by_truth']):>12}",
        f"{'  not backed (noise, artefact) per bed-day':44}{n['unbacked_per_bed_day']:>18}{m['unbacked_per_bed_day']:>12}",
        f"{'technical alarms per bed per day':44}{n['technical_per_bed_day']:>18}{m['technical_per_bed_day']:>12}",
        f"{'environment alarms (all rooms)':44}{n['environment']:>18}{m['environment']:>12}",
        f"{'all alarms per bed per day':44}{n['all_per_bed_day']:>18}{m['all_per_bed_day']:>12}",
        f"{'reduction, physiological / all':44}{'':>18}{_pct(r['reduction_physiological']) + ' / ' + _pct(r['reduction_all']):>12}",
        f"{'critical events caught (continuous)':44}{_caught(n, 'continuous'):>18}{_caught(m, 'continuous'):>12}",
        f"{'  onset -> alarm, median / max (s)':44}{_delay(n, 'continuous'):>18}{_delay(m, 'continuous'):>12}",
        f"{'BP events, cuff only (15 min cycle)':44}{_caught(n, 'cuff_only'):>18}{_caught(m, 'cuff_only'):>12}",
        f"{'  onset -> alarm, median / max (s)':44}{_delay(n, 'cuff_only'):>18}{_delay(m, 'cuff_only'):>12}",
    ]
    ok = (
        (r["reduction_physiological"] or 0) >= 0.5
        and m["caught_continuous"] == m["events_continuous"]
        and (m["delay_max_s_continuous"] or 0) <= 30
    )
    lines.append("")
    lines.append(
        "goal (>= 50 % fewer alarms, 100 % of critical events, delay <= 30 s): "
        + ("MET" if ok else "NOT MET")
    )
    if m["missed_continuous"]:
        lines.append("medtwin missed: " + "; ".join(m["missed_continuous"]))
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _caught(x: dict[str, Any], g: str) -> str:
    return f"{x[f'caught_{g}']}/{x[f'events_{g}']}"


def _delay(x: dict[str, Any], g: str) -> str:
    a, b = x[f"delay_median_s_{g}"], x[f"delay_max_s_{g}"]
    return "-" if a is None else f"{a:g} / {b:g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--beds", type=int, default=24)
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--seed", type=int, default=9, help="9: three of each deterioration among 24 beds")
    p.add_argument("--arterial", type=float, default=0.5, help="fraction of beds with an arterial line")
    p.add_argument("--json", type=Path, default=None, help="also write the full results here")
    a = p.parse_args()
    r = run(a.beds, a.hours, a.seed, a.arterial)
    print(report(r))
    if a.json:
        a.json.write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
