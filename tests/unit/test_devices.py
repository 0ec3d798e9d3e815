"""Device simulators: determinism, physiology, scenarios, technical events, message shape."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from medtwin.core.codes import BY_KEY
from medtwin.core.errors import MedtwinError
from medtwin.core.validate import build_observation
from medtwin.devices import (
    ActivitySensor,
    BedsideMonitor,
    DeviceBatch,
    EnvironmentSensor,
    Fault,
    HvacFault,
    MedicationOrder,
    MedicationRecorder,
    MonitorConfig,
    Scenario,
    SimulationRunner,
    Ward,
    WearableBand,
    sample_profile,
)
from medtwin.devices.messages import Sequencer, batch_messages, encode, obs_topic
from medtwin.devices.mqtt_out import MqttPublisher
from medtwin.devices.physiology import severinghaus
from medtwin.devices.rng import normals, seed_key, uniforms
from medtwin.devices.scenarios import ATLS_CLASS_START
from medtwin.devices.truth import truth_for_bank

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
QUIET = MonitorConfig(
    artifact_rate_per_h=0, lead_off_per_h=0, spo2_off_per_h=0, temp_off_per_h=0, cuff_off_per_h=0
)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def series(mon: BedsideMonitor, seconds: range) -> list[list[dict[str, Any]]]:
    return [mon.step(at(s)) for s in seconds]


def values(rows: list[list[dict[str, Any]]], code: str, channel: str | None = None) -> list[Any]:
    return [r["value"] for row in rows for r in row if r["code"] == code and r.get("channel") == channel]


# ------------------------------------------------------------------ determinism


def test_counter_rng_is_pure_and_streams_differ() -> None:
    keys = np.array([seed_key(1), seed_key(2)], dtype=np.uint64)
    a, b = uniforms(keys, 10, 3, 4), uniforms(keys, 10, 3, 4)
    assert np.array_equal(a, b) and ((a > 0) & (a < 1)).all()
    assert not np.array_equal(a, uniforms(keys, 10, 4, 4))
    assert not np.array_equal(a, uniforms(keys, 11, 3, 4))
    z = normals(np.full(50_000, seed_key(9), dtype=np.uint64), np.arange(50_000), 1, 1)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


def test_same_seed_same_readings_other_seed_differs() -> None:
    sc = Scenario.sepsis(onset_s=60, severity=1.0, duration_s=600)
    a = series(BedsideMonitor("m1", 11, sc, START), range(0, 900, 3))
    b = series(BedsideMonitor("m2", 11, sc, START), range(0, 900, 3))
    c = series(BedsideMonitor("m1", 12, sc, START), range(0, 900, 3))
    assert a == b
    assert a != c


def test_monitor_alone_equals_monitor_in_a_ward() -> None:
    cfg = MonitorConfig(arterial=True, artifact_rate_per_h=12)
    specs = [(i, Scenario.haemorrhage(30, 0.9, 600) if i % 2 else None) for i in range(5)]
    ward = Ward([BedsideMonitor(f"m{i}", 100 + i, sc, START, config=cfg) for i, sc in specs])
    alone = BedsideMonitor("m3", 103, specs[3][1], START, config=cfg)
    for s in range(0, 700, 7):
        batches = {b.device_id: b.readings for b in ward.step(at(s))}
        assert batches["m3"] == alone.step(at(s))


def test_nibp_does_not_depend_on_step_size() -> None:
    cfg = MonitorConfig(nibp_interval_s=300)
    fine = BedsideMonitor("m", 5, None, START, config=cfg)
    coarse = BedsideMonitor("m", 5, None, START, config=cfg)
    bp_fine = [r for s in range(3600) for r in fine.step(at(s)) if r.get("channel") == "nibp"]
    bp_coarse = [r for s in range(0, 3601, 97) for r in coarse.step(at(s)) if r.get("channel") == "nibp"]
    assert len(bp_fine) == 3 * 12 and bp_fine == bp_coarse


# ------------------------------------------------------------------ physiology


def test_profiles_follow_published_age_and_sex_directions() -> None:
    ps = [sample_profile(s) for s in range(600)]
    age = np.array([p.age for p in ps])
    assert age.min() >= 18 and age.max() <= 98 and 55 < age.mean() < 72
    assert np.corrcoef(age, [p.sbp for p in ps])[0, 1] > 0.3  # Framingham: SBP rises with age
    assert np.corrcoef(age, [p.pao2 for p in ps])[0, 1] < -0.5  # Sorbini: PaO2 falls with age
    hr_f = np.mean([p.hr for p in ps if p.sex == "female"])
    hr_m = np.mean([p.hr for p in ps if p.sex == "male"])
    assert hr_f > hr_m  # Ostchega 2011
    assert all(p.sbp - p.dbp >= 30 for p in ps)


def test_severinghaus_curve_matches_known_points() -> None:
    s = severinghaus(np.array([27.0, 40.0, 60.0, 100.0]))
    # P50 ~ 26.8 mmHg, venous 40 mmHg ~ 75 %, 60 mmHg ~ 90 %, 100 mmHg ~ 97.5 %
    assert abs(s[0] - 50) < 1.5 and abs(s[1] - 75) < 1.5 and abs(s[2] - 90.5) < 1.0 and abs(s[3] - 97.6) < 0.5


def test_stable_patients_stay_in_physiological_ranges_and_have_no_true_events() -> None:
    ward = Ward([BedsideMonitor(f"m{seed}", seed, None, START) for seed in range(16)])
    assert ward.bank is not None
    truths = {t.device_id: t for t in truth_for_bank(ward.bank, at(24 * 3600), resolution_s=30)}
    assert all(t.events == () for t in truths.values()), [(t.device_id, t.events) for t in truths.values()]
    limits = {
        "hr": (45, 120),
        "rr": (7, 27),
        "spo2": (88, 100),
        "temp": (35.4, 38.0),
        "sbp": (80, 200),
        "dbp": (40, 120),
        "map": (55, 140),
    }
    bad, n = [], 0
    for s in range(0, 6 * 3600, 7):
        ts = at(s).timestamp()
        for b in ward.step(at(s)):
            if any(e.start - 1 <= ts <= e.end + 1 for e in truths[b.device_id].technical):
                continue  # artefacts and sensor-off periods are checked elsewhere
            for r in b.readings:
                n += 1
                if r["code"] == "acvpu":
                    assert r["value"] == "A"
                elif not limits[r["code"]][0] <= r["value"] <= limits[r["code"]][1]:
                    bad.append((b.device_id, s, r))
    assert n > 40_000 and not bad, bad[:5]


def test_temperature_has_a_circadian_rhythm() -> None:
    mon = BedsideMonitor("m", 21, None, datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    base = mon.start
    early = np.mean([mon.true_values(base + timedelta(days=d, hours=5))["temp"] for d in range(5)])
    late = np.mean([mon.true_values(base + timedelta(days=d, hours=17))["temp"] for d in range(5)])
    assert 0.2 < late - early < 0.9  # Mackowiak 1992: ~0.5 degC, nadir early morning, peak late afternoon


# ------------------------------------------------------------------ scenarios


def _mean_true(mon: BedsideMonitor, key: str, h0: float, h1: float) -> float:
    return float(np.mean([mon.true_values(at(h * 3600))[key] for h in np.linspace(h0, h1, 13)]))


def test_sepsis_raises_hr_rr_temp_and_lowers_sbp_then_confusion() -> None:
    mon = BedsideMonitor("m", 31, Scenario.sepsis(onset_s=3600, severity=1.0), START, config=QUIET)
    assert _mean_true(mon, "hr", 9, 10) > _mean_true(mon, "hr", 0, 1) + 35
    assert _mean_true(mon, "rr", 9, 10) > _mean_true(mon, "rr", 0, 1) + 8
    assert _mean_true(mon, "temp", 9, 10) > _mean_true(mon, "temp", 0, 1) + 1.5
    assert _mean_true(mon, "sbp", 9, 10) < _mean_true(mon, "sbp", 0, 1) - 30
    observed_pre = values(series(mon, range(0, 3000, 5)), "hr")
    observed_late = values(series(mon, range(9 * 3600, 9 * 3600 + 3000, 5)), "hr")
    assert np.mean(observed_late) > np.mean(observed_pre) + 35
    truth = mon.ground_truth(at(11 * 3600), resolution_s=10)
    assert truth.onset == at(3600).timestamp()
    fever, conf = truth.first("temp>=39.1"), truth.first("acvpu>=C")
    assert fever and conf and truth.first("sbp<=90") and truth.first("qsofa>=2")
    assert fever < conf  # fever early, confusion late
    assert all(t.timestamp() > truth.onset for t in (fever, conf))


def test_sepsis_severity_scales_the_course() -> None:
    mild = BedsideMonitor("m", 31, Scenario.sepsis(3600, 0.3), START, config=QUIET)
    severe = BedsideMonitor("m", 31, Scenario.sepsis(3600, 1.0), START, config=QUIET)
    assert mild.ground_truth(at(12 * 3600), 30).first("sbp<=90") is None
    assert _mean_true(mild, "hr", 9, 10) < _mean_true(severe, "hr", 9, 10) - 20


def test_haemorrhage_progresses_through_atls_classes() -> None:
    sc = Scenario.haemorrhage(onset_s=1800, severity=1.0, duration_s=7200)
    mon = BedsideMonitor("m", 41, sc, START, config=QUIET)
    truth = mon.ground_truth(at(4 * 3600), resolution_s=10)
    times = [truth.stages[i][1] for i in range(3)]
    assert [s[0].split(" (")[0] for s in truth.stages] == ["ATLS class II", "ATLS class III", "ATLS class IV"]
    assert times == sorted(times)
    f_max = 0.08 + 0.42 * sc.severity
    for cls, f in ATLS_CLASS_START.items():  # the blood-loss fraction at each stage time
        t_stage = dict((s[0].split(" (")[0], s[1]) for s in truth.stages)[f"ATLS class {cls}"]
        assert abs((t_stage - at(1800).timestamp()) / 7200 * f_max - f) < 1e-6
    base = mon.true_values(at(1700))
    mid = {
        c: mon.true_values(datetime.fromtimestamp(t, UTC) + timedelta(minutes=5))
        for c, t in zip(("II", "III", "IV"), times, strict=True)
    }
    hr = [base["hr"]] + [mid[c]["hr"] for c in ("II", "III", "IV")]
    pp = [base["sbp"] - base["dbp"]] + [mid[c]["sbp"] - mid[c]["dbp"] for c in ("II", "III", "IV")]
    assert hr == sorted(hr) and hr[-1] > 135  # class IV: HR > 140 from a typical resting rate
    assert pp[1] < pp[0] and pp[3] < pp[1]  # pulse pressure narrows from class II
    assert abs(mid["II"]["sbp"] - base["sbp"]) < 15  # SBP maintained in class II
    assert mid["IV"]["sbp"] < base["sbp"] - 25  # and falls in class IV
    assert truth.first("acvpu>=C") is not None and truth.first("sbp<=90") is not None


def test_respiratory_failure_tachypnoea_before_desaturation() -> None:
    mon = BedsideMonitor("m", 51, Scenario.respiratory_failure(1800, 1.0), START, config=QUIET)
    truth = mon.ground_truth(at(8 * 3600), resolution_s=10)
    rr, sat, pao2 = truth.first("rr>=25"), truth.first("spo2<=91"), truth.first("pao2<60")
    assert rr and sat and pao2 and rr < sat
    assert abs((sat - pao2).total_seconds()) < 1800  # SpO2 ~91 % where PaO2 ~60 mmHg
    assert _mean_true(mon, "spo2", 6, 7) < 88


def test_crossing_times_match_the_true_values() -> None:
    mon = BedsideMonitor("m", 61, Scenario.sepsis(600, 1.0, 4 * 3600), START, config=QUIET)
    truth = mon.ground_truth(at(6 * 3600), resolution_s=1)
    checked = 0
    for c in truth.crossings:
        if c.rule.param not in ("hr", "rr", "sbp", "spo2", "temp"):
            continue
        first = datetime.fromtimestamp(c.first, UTC)
        digits = 1 if c.rule.param == "temp" else 0
        now = round(mon.true_values(first)[c.rule.param], digits)
        before = round(mon.true_values(first - timedelta(seconds=1))[c.rule.param], digits)
        assert c.rule.test(np.array(now)) and not c.rule.test(np.array(before))
        checked += 1
    assert checked >= 3
    assert json.loads(json.dumps(truth.as_dict()))["crossings"]


def test_acvpu_is_charted_by_the_nurse_and_follows_the_truth() -> None:
    cfg = MonitorConfig(acvpu_interval_s=3600, acvpu_response_s=600)
    mon = BedsideMonitor("m", 71, Scenario.sepsis(1800, 1.0, 4 * 3600), START, config=cfg)
    charted = [(s, r) for s in range(0, 6 * 3600, 10) for r in mon.step(at(s)) if r["code"] == "acvpu"]
    assert all(r["method"] == "manual" and r["value"] in "ACVPU" for _, r in charted)
    assert 5 <= len(charted) <= 12  # hourly routine plus the changes
    truth = mon.ground_truth(at(6 * 3600), resolution_s=5)
    first_c = truth.acvpu_changes[0][0]
    first_charted = min(s for s, r in charted if r["value"] != "A")
    assert 0 <= at(first_charted).timestamp() - first_c <= 600 + 15


# ------------------------------------------------------------------ technical events


def test_artifacts_are_brief_contradicted_and_listed_in_the_truth() -> None:
    cfg = MonitorConfig(
        artifact_rate_per_h=12,
        annotate_artifacts=True,
        lead_off_per_h=0,
        spo2_off_per_h=0,
        temp_off_per_h=0,
        cuff_off_per_h=0,
    )
    mon = BedsideMonitor("m", 81, None, START, config=cfg)
    truth = mon.ground_truth(at(2 * 3600))
    arts = [e for e in truth.technical if e.kind == "artifact"]
    assert len(arts) >= 10 and all(3 <= e.end - e.start <= 40 for e in arts)
    inside = 0
    for s in range(2 * 3600):
        ts = at(s).timestamp()
        active = [e for e in arts if e.start <= ts < e.end]
        for r in mon.step(at(s)):
            if r.get("flag") == "artifact":
                assert active and r["code"] in active[0].params
                inside += 1
    assert inside > 100
    motion = next(e for e in arts if e.detail == "motion")
    probe = BedsideMonitor("m", 81, None, START, config=cfg)
    during = [r for r in probe.step(at(motion.start + 1 - START.timestamp())) if r["code"] in ("hr", "spo2")]
    true = probe.true_values(datetime.fromtimestamp(motion.start + 1, UTC))
    by = {r["code"]: r["value"] for r in during}
    assert by["hr"] > true["hr"] + 15 and by["spo2"] < true["spo2"] - 2  # HR spike with a false desaturation


@pytest.mark.parametrize("mode", ["sentinel", "null", "omit"])
def test_sensor_off_and_lead_off_are_explicit(mode: str) -> None:
    faults = (Fault("spo2", 100, 60), Fault("ecg", 300, 30), Fault("nibp", 0, 1000))
    cfg = MonitorConfig(
        sensor_off_mode=mode,
        faults=faults,
        nibp_interval_s=120,
        artifact_rate_per_h=0,
        lead_off_per_h=0,
        spo2_off_per_h=0,
        temp_off_per_h=0,
        cuff_off_per_h=0,
    )
    mon = BedsideMonitor("m", 91, None, START, config=cfg)
    rows = {s: mon.step(at(s)) for s in range(400)}
    expect = {"sentinel": -999, "null": None}.get(mode)
    for s, row in rows.items():
        by = {r["code"]: r for r in row if r.get("channel") != "nibp"}
        spo2_off, ecg_off = 100 <= s < 160, 300 <= s < 330
        for code, off, flag in (
            ("spo2", spo2_off, "sensor-off"),
            ("hr", ecg_off, "lead-off"),
            ("rr", ecg_off, "lead-off"),
        ):
            if not off:
                assert "flag" not in by[code]
            elif mode == "omit":
                assert code not in by
            else:
                assert by[code]["flag"] == flag and by[code]["value"] == expect
    nibp = [r for row in rows.values() for r in row if r.get("channel") == "nibp"]
    assert (
        (nibp == []) if mode == "omit" else (len(nibp) == 9 and all(r["flag"] == "sensor-off" for r in nibp))
    )
    truth = mon.ground_truth(at(400))
    assert {(e.kind, e.detail) for e in truth.technical} == {
        ("sensor-off", "spo2"),
        ("lead-off", "ecg"),
        ("sensor-off", "nibp"),
    }


def test_random_sensor_off_episodes_match_the_truth() -> None:
    cfg = MonitorConfig(
        artifact_rate_per_h=0, lead_off_per_h=1, spo2_off_per_h=1, temp_off_per_h=0, cuff_off_per_h=0
    )
    mon = BedsideMonitor("m", 92, None, START, config=cfg)
    truth = mon.ground_truth(at(3 * 3600))
    offs = [e for e in truth.technical if e.kind in ("lead-off", "sensor-off")]
    assert len(offs) == 6  # one per hour per sensor at rate 1/h
    for s in range(0, 3 * 3600, 3):
        ts = at(s).timestamp()
        flagged = {r["code"] for r in mon.step(at(s)) if r.get("flag") in ("lead-off", "sensor-off")}
        expected = {p for e in offs if e.start <= ts < e.end for p in e.params}
        assert flagged == expected


def test_every_reading_validates_except_deliberate_sentinels() -> None:
    ward = Ward.generate(
        24,
        start=START,
        seed=5,
        arterial_fraction=0.3,
        wearables=True,
        mix={"stable": 1, "sepsis": 1, "haemorrhage": 1, "respiratory_failure": 1},
        onset_window_h=(0.05, 0.1),
        hvac_fault=HvacFault(60),
        monitor_config=MonitorConfig(annotate_artifacts=True, lead_off_per_h=1, spo2_off_per_h=1),
    )
    seen: set[str] = set()
    rejected = accepted = 0
    for s in range(0, 2 * 3600, 17):
        for b in ward.step(at(s)):
            for i, r in enumerate(b.readings):
                seen.add(r["code"])
                kw: dict[str, Any] = dict(twin_id="p", source=b.device_id, source_id=str(i), received=at(s))
                if r.get("flag") in ("sensor-off", "lead-off"):
                    with pytest.raises(MedtwinError):
                        build_observation(r, **kw)
                    rejected += 1
                else:
                    obs = build_observation(r, **kw)
                    assert obs.unit == BY_KEY[r["code"]].unit
                    accepted += 1
    assert {
        "hr",
        "rr",
        "spo2",
        "temp",
        "sbp",
        "dbp",
        "map",
        "acvpu",
        "activity",
        "sleep",
        "battery",
        "room_temp",
        "room_humidity",
    } <= seen
    assert rejected > 0 and accepted > 10 * rejected


# ------------------------------------------------------------------ other devices


def test_environment_day_cycle_and_hvac_failure() -> None:
    start = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    ok = EnvironmentSensor("env", 3, start)
    t = np.array([start.timestamp() + h * 3600 for h in (5, 15)])
    temp, rh = ok.true_values(t)
    assert temp[1] > temp[0] + 0.6 and rh[1] < rh[0]  # warm afternoon, drier air
    broken = EnvironmentSensor("env", 3, start, fault=HvacFault(start_s=8 * 3600, duration_s=6 * 3600))
    t2 = np.array([start.timestamp() + 8 * 3600 - 60, start.timestamp() + 13 * 3600])
    assert broken.true_values(t2)[0][1] - ok.true_values(t2)[0][1] > 4.5
    truth = broken.ground_truth(start + timedelta(hours=24))
    assert truth["fault"]["kind"] == "hvac-failure"
    assert any(c["rule"] == "room_temp>26" for c in truth["crossings"])
    out = [r for s in range(0, 3600, 10) for r in broken.step(start + timedelta(seconds=s))]
    assert len(out) == 2 * 60 and all(r["value"] == round(r["value"], 1) for r in out)


def test_medications_are_scheduled_jittered_and_deterministic() -> None:
    orders = [
        MedicationOrder("paracetamol", 1000, "mg", "oral", 6 * 3600),
        MedicationOrder("piperacillin/tazobactam", 4.5, "g", "intravenous", 8 * 3600, first_s=3600),
    ]
    fine = MedicationRecorder("mar", "p1", 7, START, orders, miss_rate=0.2)
    coarse = MedicationRecorder("mar", "p1", 7, START, orders, miss_rate=0.2)
    got_fine = [m for s in range(0, 48 * 3600, 60) for m in fine.step(at(s))]
    got_coarse = [m for s in range(0, 48 * 3600 + 1, 7 * 3600) for m in coarse.step(at(s))]
    got_coarse += coarse.step(at(48 * 3600 - 60))
    assert sorted(got_fine, key=lambda m: m["id"]) == sorted(got_coarse, key=lambda m: m["id"])
    truth = fine.ground_truth(at(48 * 3600 - 60))["administrations"]
    assert len(got_fine) == sum(not m["missed"] for m in truth) and any(m["missed"] for m in truth)
    for m in got_fine:
        k = int(m["id"].rsplit("-", 1)[1])
        o = orders[int(m["id"].split("-")[1])]
        sched = START + timedelta(seconds=o.first_s + k * o.interval_s)
        assert abs((datetime.fromisoformat(m["time"]) - sched).total_seconds()) <= 1800
        assert set(m) == {"id", "drug", "dose", "unit", "route", "time", "performer"}


def test_activity_and_sleep_state() -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    act = ActivitySensor("act", 4, start, patient_id="p", mobility=0.5)
    night = np.array([start.timestamp() + h * 3600 for h in np.arange(14, 17.5, 0.25)])  # 02:00-05:30
    day = np.array([start.timestamp() + h * 3600 for h in np.arange(20, 24, 0.25)])  # 08:00-12:00
    assert act.asleep(night).mean() > 0.7 and act.asleep(day).mean() < 0.2
    assert act.activity(night).mean() < 8 < act.activity(day).mean()
    truth = act.ground_truth(start + timedelta(days=2))
    assert truth["agreement"] > 0.85 and 10 < truth["asleep_h"] < 24
    rows = [r for s in range(0, 3600, 30) for r in act.step(start + timedelta(seconds=s))]
    assert [r["code"] for r in rows[:2]] == ["activity", "sleep"] and len(rows) in (118, 120)  # device phase
    assert all(0 <= r["value"] <= 100 for r in rows if r["code"] == "activity")
    assert all(r["value"] in ("asleep", "awake") for r in rows if r["code"] == "sleep")


def test_wearable_battery_runs_low_then_stops() -> None:
    band = WearableBand("band", 8, None, START, battery_start_pct=30, battery_life_h=10)
    out = [(s, r) for s in range(0, 4 * 3600, 60) for r in band.step(at(s))]
    bat = [(s, r) for s, r in out if r["code"] == "battery"]
    assert [r["value"] for _, r in bat] == sorted((r["value"] for _, r in bat), reverse=True)
    assert all(("flag" in r) == (r["value"] <= 20) for _, r in bat)
    flat_s = 0.30 * 10 * 3600
    assert max(s for s, _ in out) <= flat_s and min(s for s, _ in out) < 120
    truth = band.ground_truth(at(4 * 3600))
    assert (
        truth["battery_depleted"] == "2026-03-01T11:00:00Z" and truth["low_battery"] == "2026-03-01T09:00:00Z"
    )
    assert band.next_due() == math.inf


# ------------------------------------------------------------------ messages, ward, runner


def test_messages_have_the_documented_shape_and_decode() -> None:
    ward = Ward.generate(
        6, start=START, seed=2, mix={"haemorrhage": 1}, onset_window_h=(0.0, 0.01), severity_range=(0.9, 1.0)
    )
    seq = Sequencer()
    msgs = [m for s in range(0, 3 * 3600, 30) for m in batch_messages(ward.step(at(s)), seq)]
    obs = [(t, p) for t, p in msgs if t.endswith("/obs")]
    meds = [(t, p) for t, p in msgs if t.endswith("/med")]
    assert obs and meds
    topic, payload = obs[0]
    assert topic == obs_topic(payload["device"]) == f"medtwin/v1/devices/{payload['device']}/obs"
    assert set(payload) <= {"device", "patient", "seq", "sent", "readings"} and payload["readings"]
    assert set(meds[0][1]) == {"device", "patient", "seq", "medications"}
    drugs = {m["drug"] for _, p in meds for m in p["medications"]}
    assert "tranexamic acid" in drugs and "paracetamol" in drugs
    per_device: dict[str, list[int]] = {}
    for _, p in msgs:
        per_device.setdefault(p["device"], []).append(p["seq"])
    assert all(v == list(range(1, len(v) + 1)) for v in per_device.values())
    decode = pytest.importorskip("medtwin.ingest.mqtt").decode
    for t, p in obs[:50] + meds:
        batch = decode(t, encode(p))
        assert batch.source == p["device"] and batch.msg_id == str(p["seq"])


def test_ward_generation_is_deterministic_and_options_do_not_change_patients() -> None:
    a = Ward.generate(30, start=START, seed=9)
    b = Ward.generate(30, start=START, seed=9, activity=False, medications=False, environment=False)
    assert [m.scenario for m in a.monitors] == [m.scenario for m in b.monitors]
    assert {m.scenario.kind.value for m in Ward.generate(200, start=START, seed=9).monitors} >= {
        "stable",
        "sepsis",
    }
    for s in range(0, 120, 10):
        ma = {x.device_id: x.readings for x in a.step(at(s)) if "-mon-" in x.device_id}
        mb = {x.device_id: x.readings for x in b.step(at(s))}
        assert ma == mb


def test_runner_paces_stops_and_survives_publish_errors() -> None:
    ward = Ward([BedsideMonitor("m1", 1, None, START)])
    seen: list[int] = []

    def flaky(batches: list[DeviceBatch]) -> None:
        seen.append(len(batches))
        if len(seen) % 10 == 0:
            raise ConnectionError("broker gone")

    done = SimulationRunner(ward, flaky, speed=math.inf, end=at(99)).start()
    done.join(10)
    assert not done.running and done.stats.steps == 100 and done.stats.errors == 10
    paced = SimulationRunner(Ward([BedsideMonitor("m1", 1, None, START)]), lambda b: None, speed=50.0).start()
    time.sleep(0.5)
    paced.stop()
    assert not paced.running and 10 <= paced.stats.steps <= 40  # ~25 simulated seconds in 0.5 s


class _FakeClient:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int]] = []
        self.on_connect = self.on_disconnect = self.on_publish = None

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> Any:
        self.published.append((topic, payload, qos))
        self.on_publish(self, None, len(self.published), None, None)  # type: ignore[misc]
        return type("Info", (), {"rc": 0, "mid": len(self.published)})()


def test_mqtt_publisher_sends_one_qos1_message_per_batch() -> None:
    fake = _FakeClient()
    pub = MqttPublisher(client=fake, prefix="site/x")
    ward = Ward.generate(3, start=START, seed=1, activity=False, medications=False, environment=False)
    for s in range(3):
        pub(ward.step(at(s)))
    assert len(fake.published) == 9 and {q for _, _, q in fake.published} == {1}
    topic, raw, _ = fake.published[-1]
    payload = json.loads(raw)
    assert topic == f"site/x/devices/{payload['device']}/obs" and payload["seq"] == 3
    assert pub.stats.published == pub.stats.acknowledged == 9 and pub.flush(0.1)


def test_hl7_oru_round_trip_through_the_platform_parser() -> None:
    hl7v2 = pytest.importorskip("medtwin.ingest.hl7v2")
    from medtwin.devices.hl7_out import oru_for_batch

    cfg = MonitorConfig(arterial=True, nibp_interval_s=60, faults=(Fault("spo2", 0, 10),))
    ward = Ward([BedsideMonitor("mon-1", 3, None, START, patient_id="p1", config=cfg)])
    batch = ward.step(START)[0]
    msg = oru_for_batch(batch, "c1")
    assert msg is not None
    parsed = hl7v2.parse_oru(msg)
    assert parsed.errors == [] and [reason for _, reason in parsed.skipped] == ["sentinel -999 (no value)"]
    got = {(r["code"], r["value"]) for r in parsed.batches[0].readings}
    sent = {(BY_KEY[r["code"]].code, float(r["value"])) for r in batch.readings if "flag" not in r}
    assert got == sent and len(got) == 6


def test_ground_truth_marks_informative_rules() -> None:
    mon = BedsideMonitor("m", 31, Scenario.sepsis(600, 1.0, 3600), START, config=QUIET)
    d = mon.ground_truth(at(3 * 3600), resolution_s=30).as_dict()
    flags = {c["rule"]: c["critical"] for c in d["crossings"]}
    assert flags["sirs>=2"] is False and flags["sbp<=90"] is True
