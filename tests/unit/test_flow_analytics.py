"""Generator ground truth recovered by the analytics: planted waits, injected bottleneck, DFG
counts, walking on the building graph; determinism."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medtwin.core.errors import ValidationError
from medtwin.services.operations.analytics import analyze
from medtwin.services.operations.buildings import building_twins, load_building
from medtwin.services.operations.genconfig import GeneratorConfig, load_config, parse_bottleneck
from medtwin.services.operations.generator import generate
from medtwin.services.operations.logs import open_log
from tests.unit.flow_helpers import clinic_log, planted_log, understaffed_log


def _truth(p: Path) -> dict:
    return json.loads(p.with_name(p.name + ".meta.json").read_text())["truth"]["per_activity"]


@pytest.fixture(scope="module")
def planted() -> dict:
    with open_log(planted_log()) as log:
        return analyze(log, load_building())


def test_planted_waits_are_recovered(planted: dict) -> None:
    truth = _truth(planted_log())
    stages = {s["activity"]: s for s in planted["stages"]}
    for act, t in truth.items():
        if act == "Car park arrival":
            continue
        # the log's waiting = the generator's walking + queueing + planted wait (timestamps in whole seconds)
        assert stages[act]["wait_mean_min"] * 60 == pytest.approx(t["mean_wait_s"], rel=0.01, abs=1.0), act
    for act, planted_min in (("Pharmacy", 10.0), ("Imaging", 20.0)):
        t = truth[act]
        recovered = stages[act]["wait_mean_min"] - (t["mean_walk_s"] + t["mean_queue_s"]) / 60
        # planted exponential waits: ~5,000 pharmacy / ~2,800 imaging visits -> SE 1.4-1.9 %
        assert recovered == pytest.approx(planted_min, rel=0.05), act
    # the planted waits put Imaging and Pharmacy right behind the consultations (the clinics' queues)
    ranking = [b["activity"] for b in planted["bottlenecks"]]
    assert {"Imaging", "Pharmacy"} <= set(ranking[:6])


def test_injected_understaffing_is_the_worst_bottleneck() -> None:
    with open_log(understaffed_log()) as log:
        res = analyze(log)
    top = res["bottlenecks"][0]
    assert (
        top["activity"] == "Pharmacy" and 10 <= top["peak_wait_hour"] <= 15
    )  # queue peaks by the window's end
    assert top["share"] > 0.3


def test_dfg_counts_equal_a_plain_recount() -> None:
    t = pq.read_table(clinic_log(), columns=["case_id", "activity", "start", "end"]).sort_by(
        [("case_id", "ascending"), ("start", "ascending"), ("end", "ascending"), ("activity", "ascending")]
    )
    cases, acts = t.column("case_id").to_pylist(), t.column("activity").to_pylist()
    want: Counter = Counter()
    for i in range(1, len(cases)):
        if cases[i] == cases[i - 1]:
            want[(acts[i - 1], acts[i])] += 1
    with open_log(clinic_log()) as log:
        res = analyze(log)
    got = {
        (e["from"], e["to"]): e["count"] for e in res["dfg"]["edges"] if e["from"] != "▶" and e["to"] != "■"
    }
    assert got == dict(want)
    assert sum(e["count"] for e in res["dfg"]["edges"] if e["from"] == "▶") == res["summary"]["cases"]
    assert res["summary"]["events"] == len(cases) and res["summary"]["overlaps"] == 0
    top = res["variants"]["top"][0]
    assert top["activities"][0] == "Car park arrival" and top["activities"][-1] == "Car park exit"
    rw = {r["activity"]: r for r in res["rework"]["by_activity"]}
    assert rw["Blood draw"]["immediate_repeats"] > 0 and rw["Registration"]["immediate_repeats"] == 0
    arrivals = res["load"]["arrivals_per_day_by_weekday_hour"]
    assert sum(arrivals[5]) == sum(arrivals[6]) == 0  # closed at weekends
    assert max(range(24), key=lambda h: arrivals[0][h]) in (8, 9)  # morning peak
    assert all(0 < r["utilisation"] <= 1.0 for r in res["resources"])


def test_walking_equals_the_building_distances() -> None:
    b = load_building()
    t = pq.read_table(clinic_log(), columns=["case_id", "start", "location"]).sort_by(
        [("case_id", "ascending"), ("start", "ascending")]
    )
    cases, locs = t.column("case_id").to_pylist(), t.column("location").to_pylist()
    total, n = 0.0, len(set(cases))
    for i in range(1, len(cases)):
        if cases[i] == cases[i - 1]:
            total += b.distance(locs[i - 1], locs[i])[0]
    with open_log(clinic_log()) as log:
        w = analyze(log, b)["walking"]
    assert w["metres_per_journey_mean"] == pytest.approx(total / n, abs=0.1)
    assert w["unknown_locations"] == [] and w["floor_changes_per_journey"] > 1
    assert w["top_transitions"][0]["km_total"] >= w["top_transitions"][1]["km_total"]


def test_building_graph() -> None:
    b = load_building()
    m, s = b.distance("PARK", "REG-01")
    assert m == 78 + 5 and s == pytest.approx(m / 1.2, rel=1e-6)
    up_m, up_s = b.distance("REG-01", "CAR-01")  # F0 -> F1: stairs (walk) or lift (wait) whichever is faster
    assert up_m > 0 and up_s > 0
    assert b.distance("CAR-01", "REG-01")[0] == pytest.approx(up_m)
    with pytest.raises(ValidationError) as e:
        load_building(data={"floors": [{"id": "F0"}], "rooms": [{"id": "A", "floor": "F9", "x": 0, "y": 0}]})
    assert e.value.field == "building.rooms[0].floor"
    twins, rels = building_twins(b)  # the same building as platform twins: building, floors, rooms
    kinds = {t.kind.value for t in twins}
    assert kinds == {"building", "floor", "room"} and twins[0].id == "B1"
    lab = next(t for t in twins if t.id == "LAB-01")
    assert lab.attributes == {"x": 112.0, "y": 6.0, "floor": "F1"}
    assert ("LAB-01", "F1") in {(r.src, r.dst) for r in rels}


def test_generator_is_deterministic_and_validates(tmp_path: Path) -> None:
    cfg = GeneratorConfig(years=10 / 365.25, seed=2, patients_per_day=80)
    a = generate(cfg, tmp_path / "a.parquet", workers=1)
    b = generate(cfg, tmp_path / "b.csv", fmt="csv", workers=2)
    assert a.events == b.events and a.cases == b.cases
    with open_log(tmp_path / "a.parquet") as la, open_log(tmp_path / "b.csv") as lb:
        q = "SELECT sum(epoch(start)), count(DISTINCT resource), string_agg(DISTINCT location, ',' ORDER BY location) FROM ev_raw"
        assert la.con.execute(q).fetchall() == lb.con.execute(q).fetchall()
    with pytest.raises(ValidationError) as e:
        parse_bottleneck("Pharmacy:fewer")
    assert e.value.field == "bottleneck"
    with pytest.raises(ValidationError) as e:
        load_config({"years": 1, "wards": 3})
    assert e.value.field == "config"
    cfg.bottlenecks = [parse_bottleneck("Canteen:staff-1")]
    with pytest.raises(ValidationError) as e:
        generate(cfg, tmp_path / "c.parquet", workers=1)
    assert "Canteen" in e.value.reason
