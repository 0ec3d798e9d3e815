"""Several floors and the layer around JuPedSim: stairs at their SFPE capacity, evacuation lifts
for ventilated patients, idle staff walking down, closed outbreak rooms their occupants may leave,
beds counted at the doors they go through, ASET on plans without compartments."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import LineString, box, mapping

from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.models.evacuation import hydraulic as H
from medtwin.models.evacuation import plan, results
from medtwin.models.evacuation.classes import ASSIST, STAIR_SPEED, Mobility
from medtwin.models.evacuation.scenario import parse
from medtwin.runtime import Runtime
from medtwin.services.safety.service import safety_for

STAIR_W, FLIGHT = 1.2, 10.0
LIFT = {"speed_m_s": 1.0, "door_s": 20.0}


def _feat(kind: str, fid: str, geom: Any, **props: Any) -> dict[str, Any]:
    g = mapping(geom) if geom is not None else None
    return {"type": "Feature", "geometry": g, "properties": {"kind": kind, "id": fid, **props}}


def two_floors(*, lift: dict[str, float] | None = None) -> dict[str, Any]:
    """Two 20 x 10 m halls, 4 m apart, one 1.2 m stair core at the west end (open to the outside
    on F1) and, optionally, a lift at the east end; F1 has no other exit."""
    fs = []
    for f, lvl in (("F1", 1), ("F2", 2)):
        fs += [_feat("floor", f, None, level=lvl, elevation_m=4.0 * (lvl - 1), height_m=4.0),
               _feat("room", f"{f}-H", box(0, 0, 20, 10), floor=f),
               _feat("stair", f"{f}-S", box(-4, 1, 0, 9), floor=f, connects=["F1", "F2"], flight_m=FLIGHT),
               _feat("door", f"{f}-S-D", LineString([(0, 4.4), (0, 5.6)]), floor=f, between=[f"{f}-S", f"{f}-H"])]  # fmt: skip
        if lift is not None:
            fs += [_feat("lift", f"{f}-L", box(20, 3, 23, 7), floor=f, connects=["F1", "F2"], **lift),
                   _feat("door", f"{f}-L-D", LineString([(20, 4.3), (20, 5.7)]), floor=f, between=[f"{f}-L", f"{f}-H"])]  # fmt: skip
    fs += [_feat("exit", "X", box(-6, 3, -4, 7), floor="F1"),
           _feat("door", "X-D", LineString([(-4, 4.2), (-4, 5.8)]), floor="F1", between=["F1-S", "X"])]  # fmt: skip
    return {
        "type": "FeatureCollection",
        "medtwin": {"schema": "medtwin-building/1", "building": "T2"},
        "features": fs,
    }


def _run(doc: dict[str, Any]) -> dict[str, Any]:
    b, sc = parse(doc)
    return results.report(plan.run(b, sc, record_frames=False))


def test_people_enter_a_stair_no_faster_than_its_sfpe_capacity() -> None:
    """60 people upstairs, one 1.2 m stair: SFPE 1.01 p/(s m) x 0.9 m = 0.909 p/s onto the stair,
    so the last of them steps on at least 59 / 0.909 = 65 s after the first, then walks down."""
    agents = [{"position": [2.0 + 1.0 * (i % 15), 1.5 + 2.0 * (i // 15)], "floor": "F2", "class": "ambulant"}
              for i in range(60)]  # fmt: skip
    rep = _run({"building_geojson": two_floors(), "agents": agents, "seed": 2})
    assert rep["status"] == "ok"
    flow = H.stair_flow(STAIR_W)
    assert flow == pytest.approx(1.01 * 0.9)
    out = sorted(a["exit_time_s"] for a in rep["agents"])
    first_down = FLIGHT / STAIR_SPEED  # nobody is out before walking the flight
    assert out[0] > first_down
    assert out[-1] - out[0] >= 59 / flow - 2.0  # the stair meters them; the F1 walk adds a little
    assert H.stair_entries([0.0, 0.0, 5.0], 0.5) == [0.0, 2.0, 5.0]


def _critical_upstairs(lift: dict[str, float] | None) -> dict[str, Any]:
    agents = [{"position": [10, 5], "floor": "F2", "class": "critical", "id": "ICU1"}] + [
        {"position": [2 + i, 8], "floor": "F2", "class": "staff", "speed": 1.0} for i in range(3)
    ]
    return _run({"building_geojson": two_floors(lift=lift), "agents": agents, "seed": 1})


def test_ventilated_patient_leaves_by_the_lift_and_waits_for_none_without_one() -> None:
    rep = _critical_upstairs(LIFT)
    assert rep["status"] == "ok"
    (m,) = rep["moves"]
    assert m["device"] == "bed+lift" and m["stair_metres"] == 0
    prep, v = ASSIST[Mobility.CRITICAL].prep_s, ASSIST[Mobility.CRITICAL].device.speed_m_s
    ride = 2 * LIFT["door_s"] + 4.0 / LIFT["speed_m_s"]  # the car (called up from F1 long before) is there
    assert m["end_s"] - m["start_s"] == pytest.approx(ride + m["metres"] / v, abs=0.5)
    assert m["start_s"] - m["arrive_s"] == pytest.approx(prep)
    staff = [a for a in rep["agents"] if a["role"] == "staff"]
    assert {a["target"] for a in staff} == {"X"} and all(a["exit_time_s"] == m["end_s"] for a in staff)
    none = _critical_upstairs(None)
    assert none["status"] == "incomplete" and none["evacuation_time_s"] is None
    assert "needs a lift" in none["agents"][0]["at_risk"][0]
    no_speed = _critical_upstairs({"door_s": 20.0})  # a lift the plan gives no speed for is not used
    assert no_speed["status"] == "incomplete"


def test_staff_not_needed_for_a_move_walk_down_the_stairs() -> None:
    agents = [{"position": [10, 5], "floor": "F2", "class": "bed_bound"}] + [
        {"position": [2 + i, 8], "floor": "F2", "class": "staff", "speed": 1.0} for i in range(3)
    ]
    rep = _run({"building_geojson": two_floors(), "agents": agents, "seed": 1})
    assert rep["status"] == "ok"
    idle = [a for a in rep["agents"] if a["role"] == "staff" and a["exit_time_s"] != rep["moves"][0]["end_s"]]
    assert len(idle) == 1 and idle[0]["target"] == "X"  # outside, not parked at the stair upstairs
    assert idle[0]["exit_time_s"] > FLIGHT / STAIR_SPEED
    assert not any(e["id"].startswith("with") for e in rep["exits"])


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    r = Runtime(Settings.load(db=str(tmp_path / "e.db"), mqtt_enabled=False, data_dir=tmp_path))
    seed(r.registry)
    yield r
    r.stop()


def test_demo_beds_at_the_barrier_door_lift_in_full_evacuation_and_outbreak_room(rt: Runtime) -> None:
    svc = safety_for(rt)
    night = {"building": "B1", "census": "night", "strategy": "horizontal", "alarm_s": 60, "staff_response_s": 30,
             "pre_movement_s": 60, "fire": {"space": "ICU-R03", "growth": "fast", "peak_kw": 1000}}  # fmt: skip
    _b, rep, _rp, _o = svc.simulate(night, record=False)
    barrier = next(d for d in rep["doors"] if d["id"] == "F2-D-BARRIER")
    assert barrier["device_crossings"] == len(rep["moves"]) > 0  # every bed crosses into the safe compartment
    assert {e["id"] for e in rep["exits"]} == {"F2-COR-E"}  # staff are safe where their last move ended
    day = {**night, "census": "day", "strategy": "full", "visitors_per_patient": 0}
    _b, rep, _rp, _o = svc.simulate(day, record=False)
    assert rep["status"] == "ok" and math.isfinite(rep["rset_s"])
    lifted = [m for m in rep["moves"] if m["device"] == "bed+lift"]
    assert len(lifted) == 6  # the demo's ventilated ICU patients go down by the bed lift
    outbreak = {"building": "B1", "census": "day", "strategy": "full", "outbreak": ["MED-R02"]}
    _b, rep, _rp, _o = svc.simulate(outbreak, record=False)
    inside = [a for a in rep["agents"] if a["space"] == "MED-R02"]
    assert inside and all(a["exit_time_s"] is not None for a in inside)  # they leave their closed room
    others = [a for a in rep["agents"] if a["space"] != "MED-R02" and a["floor"] == "F1"]
    assert all(a["target"] for a in others)


def test_aset_on_a_plan_without_compartments() -> None:
    b = two_floors()
    b["features"] += [_feat("room", "F1-R", box(0, 10, 8, 16), floor="F1"),
                      _feat("door", "F1-R-D", LineString([(3, 10), (4.4, 10)]), floor="F1", between=["F1-R", "F1-H"])]  # fmt: skip
    agents = [{"position": [15, 5], "floor": "F1", "class": "ambulant"}]
    rep = _run({"building_geojson": b, "agents": agents, "fire": {"space": "F1-R", "growth": "ultrafast"},
                "hazard_horizon_s": 900})  # fmt: skip
    assert rep["aset_s"] is not None and rep["aset_s"] > rep["origin_untenable_s"]["F1-R"]
    assert rep["compartments"] == []


def test_lift_car_is_one_bed_at_a_time_first_come_first_served() -> None:
    from medtwin.models.evacuation.geojson import from_geojson
    from medtwin.models.evacuation.lifts import Lifts

    lifts = Lifts(from_geojson(two_floors(lift=LIFT)))
    assert lifts.down_to("F2-L", "F1") == "F1-L"
    assert lifts.ride("F2-L", "F1-L", 0.0) == (4.0, 48.0)  # the car comes up 4 m, doors, down, doors
    assert lifts.ride("F2-L", "F1-L", 10.0) == (52.0, 96.0)  # the second bed waits for the car
    assert Lifts(from_geojson(two_floors(lift={"door_s": 20.0}))).cars == {}  # no rated speed: not used


def test_results_do_not_depend_on_the_pseudonyms(rt: Runtime) -> None:
    """Jobs of equal urgency are served in census order, never by pseudonym: the CLI, the API and a
    comparison give the same times whoever asks."""
    svc = safety_for(rt)
    doc = {"building": "B1", "census": "night", "strategy": "horizontal", "alarm_s": 60, "staff_response_s": 30,
           "fire": {"space": "ICU-R03", "growth": "fast", "peak_kw": 1000}}  # fmt: skip
    a = svc.simulate(dict(doc), lambda x: f"PSN-{x}", record=False)[1]
    b = svc.simulate(dict(doc), lambda x: f"A-{x[::-1]}", record=False)[1]
    assert a["rset_s"] == b["rset_s"] and [m["end_s"] for m in a["moves"]] == [m["end_s"] for m in b["moves"]]
