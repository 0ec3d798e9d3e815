"""Calibrated simulation: model built from the log, validated against it, what-if plans with CIs."""

from __future__ import annotations

import pytest

from medtwin.core.errors import ValidationError
from medtwin.models.flow.network import FlowModel
from medtwin.services.operations import simulate as sim
from medtwin.services.operations.analytics import analyze
from medtwin.services.operations.buildings import load_building
from medtwin.services.operations.calibrate import build_model
from medtwin.services.operations.logs import open_log
from medtwin.services.operations.pipeline import fit_delays
from medtwin.services.operations.scenarios import apply, load_scenario
from tests.unit.flow_helpers import clinic_log, planted_log

KW = {"replications": 4, "days": 5, "seed": 3, "workers": 2}


@pytest.fixture(scope="module")
def calibrated() -> tuple[dict, FlowModel, list]:
    b = load_building()
    with open_log(clinic_log()) as log:
        an = analyze(log, b)
        m = build_model(log, b)
    return an, m, sim.run(m, **KW)


def test_model_is_built_from_the_log(calibrated: tuple) -> None:
    an, m, _ = calibrated
    assert m.routing["▶"][0] == ["Car park arrival#1"]
    assert set(m.rosters) == {
        s["activity"] for s in an["stages"] if s["activity"] not in ("Car park arrival", "Car park exit")
    }
    # rosters rebuilt from resource presence match the generator's (Mon 09:00-10:00)
    truth = {
        "Registration": 7,
        "Pharmacy": 4,
        "Payment": 4,
        "Imaging": 7,
        "Blood draw": 4,
        "Cardiology consultation": 7,
    }
    for pool, n in truth.items():
        assert m.rosters[pool][0][9] == n, pool
    assert sum(m.arrivals[5]) == 0 and sum(m.arrivals[0]) > sum(
        m.arrivals[4]
    )  # closed Saturday, Monday > Friday
    consult = m.stages["Cardiology consultation"].service
    assert (
        consult["Cardiology consultation#2"].mean < consult["Cardiology consultation#1"].mean
    )  # follow-ups shorter
    assert consult["*"].family == "lognormal"
    assert FlowModel.from_dict(m.to_dict()).routing == m.routing


def test_baseline_validates_against_its_log(calibrated: tuple) -> None:
    an, _m, reps = calibrated
    v = sim.validate(reps, an)
    assert v["little_ok"] and v["little_max_error"] < 1e-9  # Little's law on every pool of every day
    assert v["passed"] >= v["total"] - 1, [r for r in v["stages"] if not r["pass"]]
    j = v["journey"]
    assert abs(j["sim_min"] - j["log_min"]) <= 0.15 * j["log_min"]


def test_what_ifs_move_the_right_numbers(calibrated: tuple) -> None:
    _an, m, base = calibrated
    b = load_building()
    staff = apply(m, load_scenario(text="staff: [{pool: Pharmacy, add: 2}]"), b)
    d = sim.compare(base, sim.run(staff, **KW))
    assert d["stages"]["Pharmacy"]["significant"] and d["stages"]["Pharmacy"]["mean"] < 0
    assert d["stages"]["Registration"]["mean"] == 0  # common random numbers: untouched stages identical
    moved = apply(
        m,
        load_scenario(
            text="room_moves:\n"
            + "".join(f"  - {{room: LAB-0{i}, to: {{floor: F1, x: 36, y: 6}}}}\n" for i in range(1, 6))
        ),
        b,
    )
    d = sim.compare(base, sim.run(moved, **KW))
    assert d["metres_per_journey"]["significant"] and d["metres_per_journey"]["mean"] < -10
    plan = apply(
        m,
        load_scenario(
            text="kiosks: [{activity: Payment, share: 0.5, servers: 3, service_min: 1, "
            "room: KIOSK-1}]\ndemand: {scale: 1.2}\nservice: [{activity: Registration, scale: 0.5}]"
        ),
        b,
    )
    reps = sim.run(plan, **KW)
    mm, mb = sim.metrics(reps), sim.metrics(base)
    assert mm["stages"]["Payment (kiosk)"]["service_min"]["mean"] == pytest.approx(1.0, rel=0.15)
    assert mm["patients_per_day"]["mean"] > 1.1 * mb["patients_per_day"]["mean"]
    assert (
        mm["stages"]["Registration"]["service_min"]["mean"]
        < 0.6 * mb["stages"]["Registration"]["service_min"]["mean"]
    )
    slots = apply(m, load_scenario(text="appointments: {start: 8, end: 16}"), b)
    assert sim.metrics(sim.run(slots, **KW))["patients_per_day"]["mean"] == pytest.approx(
        mb["patients_per_day"]["mean"], rel=0.1
    )
    assert (
        staff.rosters["Pharmacy"][0][3] == 0
        and staff.rosters["Pharmacy"][0][9] == m.rosters["Pharmacy"][0][9] + 2
    )
    sched = apply(m, load_scenario(text="schedules: [{pool: Blood draw, open: 9, close: 12}]"), b)
    assert sched.rosters["Blood draw"][0][8] == 0 and sched.rosters["Blood draw"][0][13] == 0
    assert m.rosters["Blood draw"][0][8] > 0  # the baseline is untouched


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("staf: []", "staf"),
        ("staff: [{pool: Pharmcy, add: 1}]", "staff[0].pool"),
        ("staff: [{pool: Pharmacy, add: 1, set: 2}]", "staff[0]"),
        ("staff: [{pool: Pharmacy, add: 1, hours: [14, 11]}]", "staff[0].hours"),
        ("staff: [{pool: Pharmacy, add: 1, weekdays: [funday]}]", "staff[0].weekdays"),
        ("room_moves: [{room: LAB-01, to: {floor: F9, x: 1, y: 1}}]", "room_moves[0].to"),
        ("kiosks: [{activity: Payment, share: 2}]", "kiosks[0].share"),
        ("kiosks: [{activity: Payment, room: NOWHERE}]", "kiosks[0].room"),
        ("demand: {scale: -1}", "demand.scale"),
        ("delays: [{activity: Lunch, minutes: 3}]", "delays[0].activity"),
        ("- just a list", "what_if"),
    ],
)
def test_scenario_errors_name_the_entry(calibrated: tuple, text: str, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        apply(calibrated[1], load_scenario(text=text), load_building())
    assert e.value.field == field


def test_delay_calibration_explains_planted_waits() -> None:
    """Waiting that queueing cannot explain (planted in the log) is found and added as a delay."""
    b = load_building()
    with open_log(planted_log()) as log:
        an = analyze(log, b)
        m = build_model(log, b)
    kw = {"replications": 3, "days": 4, "seed": 1, "workers": 2}
    added = {d["activity"]: d["delay_min"] for d in fit_delays(m, an, sim.run(m, **kw))}
    assert added.keys() >= {"Imaging", "Pharmacy"}
    # at 300 patients a day radiographers idle for long spells, so rosters rebuilt from their presence
    # come out a little short and the pilot over-queues imaging: the delay found is then below 20 min
    assert added["Imaging"] == pytest.approx(20, rel=0.35) and added["Pharmacy"] == pytest.approx(
        10, rel=0.25
    )
    v = sim.validate(sim.run(m, **kw), an)
    assert {r["activity"]: r["pass"] for r in v["stages"]}["Imaging"]


def test_a_bad_plan_is_refused_before_any_simulation_and_named() -> None:
    import time

    from medtwin.services.operations.pipeline import simulate_plans

    plans = [
        {"name": "ok", "staff": [{"pool": "Pharmacy", "add": 1}]},
        {"name": "typo", "staff": [{"pool": "Pharmacyy", "add": 1}]},
    ]
    t0 = time.perf_counter()
    with pytest.raises(ValidationError) as e:
        simulate_plans(clinic_log(), plans, replications=50, days=30)
    assert e.value.field == "plans[1].staff[0].pool" and "'typo'" in e.value.reason
    assert time.perf_counter() - t0 < 30  # 50 x 30 days of baseline would take minutes
