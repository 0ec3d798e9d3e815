"""Runs end to end: guards (engine errors, stuck, timeout), determinism, staff-assisted moves by
hand, progressive horizontal vs full evacuation, hazards steering people, the census of the live
twin (night/day, default mobility, pseudonyms), comparisons of variants."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import box, mapping

from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.models.evacuation import plan, results
from medtwin.models.evacuation.classes import ASSIST, Mobility
from medtwin.models.evacuation.engine import FloorRun, Walker, simulate
from medtwin.models.evacuation.routes import Router
from medtwin.models.evacuation.scenario import ScenarioError, parse
from medtwin.runtime import Runtime
from medtwin.services.safety.service import safety_for


def _doc(agents: list[dict], w: float = 20, h: float = 10, **kw: object) -> dict:
    return {
        "walkable": mapping(box(0, 0, w, h)),
        "exits": [mapping(box(0, 4, 0.5, 6))],
        "agents": agents,
        **kw,
    }


def _run(doc: dict) -> dict:
    b, sc = parse(doc)
    return results.report(plan.run(b, sc, record_frames=False))


def test_guards_report_engine_errors_stuck_people_and_timeouts() -> None:
    cut = shapely.union_all([box(0, 0, 5, 5), box(10, 0, 15, 5)])
    o = simulate(FloorRun(cut, [box(14, 0, 15, 5)], [Walker((1, 1), 1.0, 0)]))
    assert o.status == "engine_error" and "not connected" in o.error and o.evacuation_time_s is None
    neck = shapely.union_all(
        [box(0, 0, 5, 5), box(5, 2.25, 6, 2.75), box(6, 0, 10, 5)]
    )  # 0.5 m gap, 0.7 m chairs
    o = simulate(
        FloorRun(
            neck,
            [box(9, 0, 10, 5)],
            [Walker((1, 1), 1.0, 0, 0.35), Walker((1, 3), 1.0, 0, 0.35)],
            stuck_window_s=20,
        )
    )
    assert o.status == "stuck" and o.stuck == [0, 1] and o.evacuation_time_s is None
    o = simulate(FloorRun(box(0, 0, 50, 2), [box(49.5, 0, 50, 2)], [Walker((0.5, 1), 1.0, 0)], max_time_s=10))
    assert o.status == "timeout" and o.evacuation_time_s is None
    rep = _run(_doc([{"position": [5, 5], "class": "ambulant"}], max_time_s=2))
    assert rep["status"] == "timeout" and rep["evacuation_time_s"] is None and rep["stuck"] == 1


def test_same_seed_same_result_and_speeds_drawn_from_it() -> None:
    rng = np.random.default_rng(5)
    agents = [{"position": [float(rng.uniform(2, 19)), float(rng.uniform(1, 9))], "class": c}
              for c in ("ambulant", "walking_aid", "wheelchair") * 5]  # fmt: skip
    a, b = _run(_doc(agents, seed=3)), _run(_doc(agents, seed=3))
    assert [x["exit_time_s"] for x in a["agents"]] == [x["exit_time_s"] for x in b["agents"]]
    c = _run(_doc(agents, seed=4))
    assert [x["exit_time_s"] for x in c["agents"]] != [x["exit_time_s"] for x in a["agents"]]


def test_staff_assisted_move_by_hand() -> None:
    """Two staff walk to a bed-bound patient, prepare, push the bed to the exit at device speed."""
    doc = _doc([{"position": [15, 5], "class": "bed_bound"}, {"position": [3, 5], "class": "staff", "speed": 1.0},
                {"position": [3, 7], "class": "staff", "speed": 1.2}], staff_response_s=20)  # fmt: skip
    b, sc = parse(doc)
    rep = results.report(plan.run(b, sc, record_frames=False))
    r = Router(b, open_plan=True)
    walk = [sum(x.metres for x in r.walk("F0", xy, "F0", (15.0, 5.0))) for xy in ((3.0, 5.0), (3.0, 7.0))]
    arrive = 20 + max(walk[0] / 1.0, walk[1] / 1.2)
    bed = ASSIST[Mobility.BED_BOUND]
    to_exit = r.route("F0", (15.0, 5.0), ["E0"]).metres
    m = rep["moves"][0]
    assert m["arrive_s"] == pytest.approx(arrive, abs=0.2)
    assert m["start_s"] == pytest.approx(arrive + bed.prep_s, abs=0.2)
    assert m["end_s"] == pytest.approx(arrive + bed.prep_s + to_exit / bed.device.speed_m_s, abs=0.3)
    assert 14.0 <= to_exit <= 15.5 * 1.08
    assert rep["evacuation_time_s"] == pytest.approx(m["end_s"], abs=0.1)
    assert [s["moves"] for s in rep["staff"]] == [1, 1]
    assert rep["assumptions"] and "placeholders" in rep["assumptions"][0]


def test_a_patient_without_enough_staff_is_stranded_not_timed() -> None:
    rep = _run(_doc([{"position": [15, 5], "class": "critical"}, {"position": [3, 5], "class": "staff"}]))
    assert rep["status"] == "incomplete" and rep["evacuation_time_s"] is None and rep["stuck"] == 1
    assert "needs 3 staff" in rep["agents"][0]["at_risk"][0]


def test_scenario_errors_name_the_field() -> None:
    for doc, field in (
        ({"exits": [], "agents": []}, "walkable"),
        (_doc([{"position": [1, 1], "class": "flying"}]), "agents[0].class"),
        (_doc([{"position": [1], "class": "ambulant"}]), "agents[0].position"),
        (_doc([], strategy="sideways"), "strategy"),
        (_doc([], dt=0.5), "dt"),
    ):
        with pytest.raises(ScenarioError) as e:
            parse(doc)
        assert e.value.field == field


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    r = Runtime(Settings.load(db=str(tmp_path / "e.db"), mqtt_enabled=False, data_dir=tmp_path))
    seed(r.registry)
    yield r
    r.stop()


FIRE = {"name": "night fire ICU-R03", "building": "B1", "census": "night", "strategy": "horizontal",
        "fire": {"space": "ICU-R03", "growth": "fast", "peak_kw": 1000}, "alarm_s": 60, "staff_response_s": 30,
        "pre_movement_s": 60, "hazard_horizon_s": 1800}  # fmt: skip


def test_census_night_and_day_with_default_mobility_and_pseudonyms(rt: Runtime) -> None:
    svc = safety_for(rt)
    night = svc.occupants("B1", "night", lambda x: f"PSN-{x}")
    day = svc.occupants("B1", "day", lambda x: f"PSN-{x}")
    assert night["patients"] == day["patients"] == 24
    assert night["staff"] == 8 and day["staff"] == 10  # physicians work days only
    assert night["visitors"] == 0 and day["visitors"] == 8  # 0.5 per MED patient by day
    assert night["defaulted_mobility"] == 0  # the demo geometry gave demo patients their classes
    assert night["by_class"]["critical"] == 6
    ids = {o["id"] for o in night["occupants"] if o["role"] == "patient"}
    assert all(i.startswith("PSN-") for i in ids)
    t = rt.store.get_twin("P011")
    rt.registry.put(
        t.__class__(
            t.id, t.kind, t.name, {k: v for k, v in t.attributes.items() if k != "mobility"}, t.identity
        )
    )
    again = svc.occupants("B1", "03:00", lambda x: x)
    assert again["defaulted_mobility"] == 1
    assert (
        next(o for o in again["occupants"] if o["id"] == "P011")["class"] == "bed_bound"
    )  # MED: not critical care


def test_night_fire_horizontal_vs_full_and_who_is_at_risk(rt: Runtime) -> None:
    svc = safety_for(rt)
    psn = lambda x: f"PSN-{x}"  # noqa: E731
    _b, rep, rp, _o = svc.simulate(dict(FIRE), psn)
    assert rep["status"] == "ok" and rep["rset_s"] > 0
    comps = {c["id"]: c for c in rep["compartments"]}
    assert comps["F2-C3"]["moving"] == comps["F2-C3"]["occupants"] > 0
    assert comps["F2-C4"]["moving"] == 0  # defend in place beyond the barrier
    assert comps["F2-C3"]["aset_s"] is not None and comps["F2-C3"]["aset_s"] < rep["rset_s"]
    assert rep["at_risk"] and all(a["id"].startswith(("PSN-", "ICU-", "MED-")) for a in rep["at_risk"])
    assert all(m["target"] == "F2-COR-E" for m in rep["moves"])
    blob = json.dumps(rep) + json.dumps(rp)
    for p in rt.store.list_twins():
        if p.kind.value == "patient":
            assert p.name not in blob and p.identity.get("mrn", "") not in blob
    full = dict(FIRE, strategy="full")
    _b, rep_full, _rp, _o = svc.simulate(full, psn, record=False)
    assert rep_full["status"] == "ok"  # ventilated ICU patients go down by the demo's bed lift
    lifted = {m["patient"] for m in rep_full["moves"] if m["device"] == "bed+lift"}
    assert lifted == {a["id"] for a in rep_full["agents"] if a["class"] == "critical"}
    assert all(a["target"].startswith("EXIT") for a in rep_full["agents"] if a["role"] == "patient")
    assert any("evacuation lifts from the plan" in x for x in rep_full["assumptions"])


def test_compare_extra_night_nurse_and_store(rt: Runtime) -> None:
    svc = safety_for(rt)
    res = svc.compare(dict(FIRE), [{"name": "extra night nurse", "changes": {"add_staff": [{"space": "ICU-STATION", "count": 1}]}},
                                   {"name": "barrier door 1.2 m", "changes": {"doors": {"F2-D-BARRIER": {"width_m": 1.2}}}}],
                      actor="test")  # fmt: skip
    base, nurse = res["rows"][0], res["rows"][1]
    assert base["status"] == nurse["status"] == "ok"
    assert nurse["rset_s"] < base["rset_s"] and nurse["delta_rset_s"] < 0
    # the extra nurse is exposed herself (one more person at risk) but no patient is worse off
    assert (
        nurse["patients_at_risk"] <= base["patients_at_risk"]
        and res["summary"]["best"] == "extra night nurse"
    )
    assert svc.store.run(res["id"])["kind"] == "compare"
    with pytest.raises(Exception, match="changes may only hold"):
        svc.compare(dict(FIRE), [{"name": "x", "changes": {"teleport": True}}])


def test_gas_leak_and_outbreak_steer_people(rt: Runtime) -> None:
    svc = safety_for(rt)
    doc = {
        "building": "B1",
        "census": "day",
        "strategy": "full",
        "outbreak": ["F1-COR-W"],
        "visitors_per_patient": 0,
    }
    _b, rep, _rp, _o = svc.simulate(doc, record=False)
    used = {a["target"] for a in rep["agents"] if a["floor"] == "F1" and a["mode"] == "walk" and a["target"]}
    assert "EXIT-W" not in used and "EXIT-MAIN" not in used  # the west corridor is closed
    west = [a for a in rep["agents"] if a["space"] in ("MED-R01", "MED-R02")]
    assert west and all(a["mode"] == "stranded" for a in west)  # cut off: reported, not timed
    leak = {"building": "B1", "census": "day", "strategy": "horizontal", "visitors_per_patient": 0,
            "gas_leak": {"space": "MED-UTIL", "rate_m3_s": 0.01, "gas": "CO"}, "hazard_horizon_s": 900}  # fmt: skip
    _b, rep2, _rp, _o = svc.simulate(leak, record=False)
    assert rep2["hazard"]["untenable_s"]["MED-UTIL"] is not None
    assert {c["id"] for c in rep2["compartments"] if c["moving"]} == {"F1-C1"}
    assert math.isfinite(rep2["rset_s"])


def test_people_turn_away_from_a_space_that_becomes_untenable() -> None:
    """Three spaces in a row with an exit at each end; the west space fills with smoke at 10 s.
    People walking west re-plan at the next check and leave by the east exit instead."""
    from shapely.geometry import LineString

    from medtwin.models.evacuation.building import Building, Door, Exit, Floor, Space
    from medtwin.models.evacuation.scenario import Occupant, Scenario
    from medtwin.models.hazards.tenability import Tenability
    from medtwin.models.hazards.zones import HazardField

    b = Building("ROW", {"F0": Floor("F0", 0)})
    for sid, x0, x1 in (("W", 0, 10), ("M", 10, 40), ("E", 40, 50)):
        b.spaces[sid] = Space(sid, "corridor", "F0", box(x0, 0, x1, 3))
    b.exits["XW"], b.exits["XE"] = Exit("XW", "F0", box(-2, 0, 0, 3)), Exit("XE", "F0", box(50, 0, 52, 3))
    for did, x, a, c in (
        ("D1", 0, "XW", "W"),
        ("D2", 10, "W", "M"),
        ("D3", 40, "M", "E"),
        ("D4", 50, "E", "XE"),
    ):
        b.doors[did] = Door(did, "F0", LineString([(x, 0.5), (x, 2.5)]), (a, c), 2.0)
    b.validate()
    people = [Occupant(f"A{i}", Mobility.AMBULANT, "F0", (20.0 + 0.6 * i, 1.5), speed=0.5) for i in range(4)]
    times = np.arange(0, 601, 5.0)
    k = np.zeros((len(times), 3))
    k[times >= 8, 0] = 5.0  # thick smoke in W from 8 s
    z = np.zeros_like(k)
    fld = HazardField(["W", "M", "E"], times, z + 20.0, k, z, z, z + 20.9)
    calm = plan.Run(b, Scenario(list(people), seed=1), record_frames=False).go()
    assert {p.target for p in calm.people} == {"XW"}  # nearer
    run = plan.Run(b, Scenario(list(people), seed=1), record_frames=False)
    run.ten = Tenability.of(fld)
    smoky = run.go()
    assert {p.target for p in smoky.people} == {"XE"}
    assert all(p.safe_s > 30 / 0.5 for p in smoky.people)
