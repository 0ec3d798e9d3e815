"""Evacuation speed: 1,000 people on one floor, medtwin against JuPedSim alone, side by side.

Two floors, 1,000 ambulant people each, placed by JuPedSim's ``distribute_by_number`` (seed 1),
speeds drawn by medtwin (Weidmann, seed 1), each sent to the exit medtwin's router picks:

* ``hall``: a dense 60 x 40 m hall (0.42 p/m2) with four 2.4 m exits, one per side (the stress case:
  long queues at the exits);
* ``floor``: a 100 x 50 m floor (5,000 m2, 0.2 p/m2, a large hospital floor) with six 2.4 m exits.
 *JuPedSim alone* builds the same simulation (same
geometry, dt 0.05 s, same people, speeds and exits) and loops ``iterate()`` until everyone is out:
the peer. *medtwin* runs the full path of ``medtwin evac run`` (scenario parsing, raster routes,
the guarded engine with door counting, heat map, replay frames, the report). Both run in this
process, interleaved, ``--repeat`` times; the best wall time of each is compared.

Targets (issue 10): medtwin >= 20x faster than real time; medtwin's layer adds <= 20 % to
JuPedSim's own time on the same scenario.

``--validation`` also runs the long validation cases kept out of the test suite: RiMEA 9 at full
size (1,000 people, four then two 1 m exits), and the time-step check (200 people, 1.2 m door,
dt 0.01 vs 0.05 s).

Run: .venv/bin/python benchmarks/evacuation.py [--people 1000] [--repeat 2] [--validation]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import jupedsim as jps
import numpy as np
import shapely
from shapely.geometry import box, mapping

from medtwin.models.evacuation import plan, results
from medtwin.models.evacuation.scenario import parse


def geometry(kind: str) -> tuple[shapely.Polygon, list[shapely.Polygon]]:
    w, h = (60.0, 40.0) if kind == "hall" else (100.0, 50.0)
    ex = [box(w, h / 2 - 1.2, w + 1, h / 2 + 1.2), box(-1, h / 2 - 1.2, 0, h / 2 + 1.2),
          box(w / 2 - 1.2, h, w / 2 + 1.2, h + 1), box(w / 2 - 1.2, -1, w / 2 + 1.2, 0)]  # fmt: skip
    if kind == "floor":
        ex += [box(w / 4 - 1.2, h, w / 4 + 1.2, h + 1), box(3 * w / 4 - 1.2, -1, 3 * w / 4 + 1.2, 0)]
    return box(0, 0, w, h), ex


def scenario(n: int, kind: str = "hall") -> dict:
    room, ex = geometry(kind)
    x0, y0, x1, y1 = room.bounds
    pos = jps.distribute_by_number(polygon=box(x0 + 1, y0 + 1, x1 - 1, y1 - 1), number_of_agents=n,
                                   distance_to_agents=0.5, distance_to_polygon=0.3, seed=1)  # fmt: skip
    return {"walkable": mapping(room), "exits": [mapping(e) for e in ex], "seed": 1, "dt": 0.05,
            "agents": [{"position": [float(x), float(y)], "class": "ambulant"} for x, y in pos]}  # fmt: skip


def medtwin_run(doc: dict) -> tuple[float, float, dict, list[tuple[int, float]]]:
    t0, c0 = time.perf_counter(), time.process_time()
    b, sc = parse(doc)
    data = plan.run(b, sc)
    rep = results.report(data)
    results.replay(data)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    order = data.walker_of["F0"]
    walkers = [
        (int(data.outcomes["F0"].target_reached[w]), data.people[i].speed) for w, i in enumerate(order)
    ]
    return wall, cpu, rep, walkers


def jupedsim_run(doc: dict, walkers: list[tuple[int, float]]) -> tuple[float, float, float, int]:
    """The same people, speeds and exits in plain JuPedSim (exit stages on the same polygons)."""
    t0, c0 = time.perf_counter(), time.process_time()
    exits = [shapely.geometry.shape(e) for e in doc["exits"]]
    geo = shapely.union_all([shapely.geometry.shape(doc["walkable"]), *exits])
    sim = jps.Simulation(model=jps.CollisionFreeSpeedModel(), geometry=geo, dt=0.05)
    stages = [sim.add_exit_stage(e) for e in exits]
    journeys = [sim.add_journey(jps.JourneyDescription([s])) for s in stages]
    for a, (tgt, v) in zip(doc["agents"], walkers, strict=True):
        sim.add_agent(jps.CollisionFreeSpeedModelAgentParameters(
            position=tuple(a["position"]), journey_id=journeys[tgt], stage_id=stages[tgt], desired_speed=v, radius=0.2))  # fmt: skip
    while sim.agent_count() > 0 and sim.elapsed_time() < 3600:
        sim.iterate()
    return time.perf_counter() - t0, time.process_time() - c0, sim.elapsed_time(), sim.agent_count()


# ---------------------------------------------------------------------------------------------- two floors
STAIRS = {
    "SW": (-4.0, 6.0),
    "NW": (-4.0, 36.0),
    "SE": (100.0, 6.0),
    "NE": (100.0, 36.0),
}  # x0, y0 of 4 x 8 m cores
STAIR_DOOR_M, FLIGHT_M = 1.6, 10.0


def two_floor_building() -> dict:
    """Two 100 x 50 m floors (F2 above F1) joined by four stair cores of 4 x 8 m at the corners;
    the stairs open to the floors through 1.6 m doors and, on F1, to the outside through 1.6 m
    doors; F1 also has the six 2.4 m exits of the one-floor case."""
    feats: list[dict] = []

    def add(kind: str, fid: str, geom: dict | None, **props: object) -> None:
        feats.append({"type": "Feature", "geometry": geom, "properties": {"kind": kind, "id": fid, **props}})

    _, ex = geometry("floor")
    for f, lvl in (("F1", 1), ("F2", 2)):
        add("floor", f, None, level=lvl, elevation_m=4.0 * (lvl - 1), height_m=4.0)
        add("room", f"{f}-HALL", mapping(box(0, 0, 100, 50)), floor=f)
        for tag, (x0, y0) in STAIRS.items():
            sid = f"{f}-ST-{tag}"
            add("stair", sid, mapping(box(x0, y0, x0 + 4, y0 + 8)), floor=f, connects=["F1", "F2"],
                flight_m=FLIGHT_M, width_m=STAIR_DOOR_M)  # fmt: skip
            xd = 0.0 if x0 < 0 else 100.0
            add("door", f"{sid}-D", mapping(shapely.LineString([(xd, y0 + 3.2), (xd, y0 + 4.8)])), floor=f,
                between=[sid, f"{f}-HALL"])  # fmt: skip
            if f == "F1":
                xo = x0 - 2 if x0 < 0 else x0 + 4
                add("exit", f"X-{tag}", mapping(box(xo, y0 + 2, xo + 2, y0 + 6)), floor=f)
                xe = x0 if x0 < 0 else x0 + 4
                add("door", f"X-{tag}-D", mapping(shapely.LineString([(xe, y0 + 3.2), (xe, y0 + 4.8)])), floor=f,
                    between=[sid, f"X-{tag}"])  # fmt: skip
    for k, e in enumerate(ex):
        x0, y0, x1, y1 = e.bounds
        # the one-floor exits sit on the hall's outline; four of them collide with no stair core
        add("exit", f"X{k}", mapping(e), floor="F1")
        if x0 >= 100 or x1 <= 0:
            line = [(100.0 if x0 >= 100 else 0.0, y0), (100.0 if x0 >= 100 else 0.0, y1)]
        else:
            line = [(x0, 50.0 if y0 >= 50 else 0.0), (x1, 50.0 if y0 >= 50 else 0.0)]
        add("door", f"X{k}-D", mapping(shapely.LineString(line)), floor="F1", between=["F1-HALL", f"X{k}"])
    return {"type": "FeatureCollection", "medtwin": {"schema": "medtwin-building/1", "building": "BENCH2", "wall_m": 0.2},
            "features": feats}  # fmt: skip


def two_floor_scenario(n_per_floor: int) -> dict:
    agents = []
    for f, seed in (("F2", 2), ("F1", 1)):
        pos = jps.distribute_by_number(polygon=box(1, 1, 99, 49), number_of_agents=n_per_floor, distance_to_agents=0.5,
                                       distance_to_polygon=0.3, seed=seed)  # fmt: skip
        agents += [{"position": [float(x), float(y)], "floor": f, "class": "ambulant"} for x, y in pos]
    return {"building_geojson": two_floor_building(), "agents": agents, "seed": 1, "dt": 0.05}


def medtwin_two_floors(doc: dict) -> tuple[float, float, dict, object]:
    t0, c0 = time.perf_counter(), time.process_time()
    b, sc = parse(doc)
    data = plan.run(b, sc)
    rep = results.report(data)
    results.replay(data)
    return time.perf_counter() - t0, time.process_time() - c0, rep, data


def jupedsim_two_floors(data: object) -> tuple[float, float, float, int]:
    """Plain JuPedSim, floor by floor, with the same geometry (medtwin's walkable areas, built before
    the clock starts), people, speeds and targets; stairs by the same SFPE hand calculation
    (1.01 p/(s m) of effective width onto the stair, 0.92 m/s along 10 m of flight); people from
    upstairs join F1 in their stair core at their arrival time."""
    b = data.building  # type: ignore[attr-defined]
    geo = {f: b.walkable(f) for f in ("F2", "F1")}
    tg = {f: [b.shrunk(t) for t in data.targets_of[f]] for f in ("F2", "F1")}  # type: ignore[attr-defined]
    stair_core = {f"F1-ST-{t}": b.shrunk(f"F1-ST-{t}") for t in STAIRS}
    people = data.people  # type: ignore[attr-defined]
    order = {f: data.walker_of[f] for f in ("F2", "F1")}  # type: ignore[attr-defined]
    reached = {f: data.outcomes[f].target_reached for f in ("F2", "F1")}  # type: ignore[attr-defined]
    rng = np.random.default_rng(1)
    t0, c0 = time.perf_counter(), time.process_time()
    # F2: everyone to their stair
    sim = jps.Simulation(model=jps.CollisionFreeSpeedModel(), geometry=geo["F2"], dt=0.05)
    st = [sim.add_exit_stage(t) for t in tg["F2"]]
    jr = [sim.add_journey(jps.JourneyDescription([s])) for s in st]
    ids = {}
    for w, i in enumerate(order["F2"]):
        k = int(reached["F2"][w])
        aid = sim.add_agent(jps.CollisionFreeSpeedModelAgentParameters(
            position=people[i].xy, journey_id=jr[k], stage_id=st[k], desired_speed=people[i].speed, radius=0.2))  # fmt: skip
        ids[aid] = (i, data.targets_of["F2"][k])  # type: ignore[attr-defined]
    out: dict[str, list[tuple[float, int]]] = {}
    while sim.agent_count() > 0 and sim.elapsed_time() < 3600:
        sim.iterate()
        for aid in sim.removed_agents():
            i, stair = ids[aid]
            out.setdefault(stair, []).append((sim.elapsed_time(), i))
    left = sim.agent_count()
    cap = 1.01 * (STAIR_DOOR_M - 0.3)
    arrive: list[tuple[float, int, str]] = []
    for stair, q in out.items():
        last = -1e9
        for t, i in sorted(q):
            last = max(t, last + 1 / cap)
            arrive.append((last + FLIGHT_M / (0.85 * 1.08), i, stair.replace("F2-", "F1-")))
    arrive.sort()
    # F1: the floor's own people at once, people from upstairs as they arrive
    where = {i: k for k, i in enumerate(order["F1"])}
    sim = jps.Simulation(model=jps.CollisionFreeSpeedModel(), geometry=geo["F1"], dt=0.05)
    st = [sim.add_exit_stage(t) for t in tg["F1"]]
    jr = [sim.add_journey(jps.JourneyDescription([s])) for s in st]

    def add(i: int, xy: tuple[float, float]) -> None:
        k = int(reached["F1"][where[i]])
        sim.add_agent(jps.CollisionFreeSpeedModelAgentParameters(
            position=xy, journey_id=jr[k], stage_id=st[k], desired_speed=people[i].speed, radius=0.2))  # fmt: skip

    for i in order["F1"]:
        if people[i].floor == "F1" and i not in {a[1] for a in arrive}:
            add(i, people[i].xy)
    pending = arrive
    while (sim.agent_count() > 0 or pending) and sim.elapsed_time() < 3600:
        while pending and pending[0][0] <= sim.elapsed_time():
            _, i, core = pending[0]
            x0, y0, x1, y1 = stair_core[core].bounds
            xy = (float(rng.uniform(x0 + 0.4, x1 - 0.4)), float(rng.uniform(y0 + 0.4, y1 - 0.4)))
            if any(True for _ in sim.agents_in_range(xy, 0.45)):
                break  # the spot is taken: next step
            add(i, xy)
            pending.pop(0)
        sim.iterate()
    return time.perf_counter() - t0, time.process_time() - c0, sim.elapsed_time(), left + sim.agent_count()


def compare_two_floors(n_per_floor: int, repeat: int) -> dict:
    doc = two_floor_scenario(n_per_floor)
    best_m = best_j = None
    for _ in range(repeat):
        wall, cpu, rep, data = medtwin_two_floors(doc)
        assert rep["status"] == "ok", rep["status"]
        jw, jc, jt, left = jupedsim_two_floors(data)
        assert left == 0, left
        eng = rep["engine"]["floors"]
        print(f"two floors: medtwin  wall {wall:6.2f} s cpu {cpu:6.2f} s (inside JuPedSim "
              f"{sum(e['jupedsim_wall_s'] for e in eng.values()):.2f} s)  evacuation {rep['evacuation_time_s']} s",
              file=sys.stderr)  # fmt: skip
        print(
            f"two floors: jupedsim wall {jw:6.2f} s cpu {jc:6.2f} s  evacuation {jt:.2f} s", file=sys.stderr
        )
        if best_m is None or wall < best_m[0]:
            down = [
                a
                for a in rep["agents"]
                if a["id"] in {p.key for p in data.people if data.scenario.occupants[p.idx].floor == "F2"}
            ]
            best_m = (wall, cpu, rep["evacuation_time_s"], max(a["exit_time_s"] for a in down),
                      {k: v["simulated_s"] for k, v in eng.items()})  # fmt: skip
        if best_j is None or jw < best_j[0]:
            best_j = (jw, jc, jt)
    assert best_m and best_j
    return {
        "people": 2 * n_per_floor, "medtwin_wall_s": round(best_m[0], 2), "medtwin_cpu_s": round(best_m[1], 2),
        "jupedsim_wall_s": round(best_j[0], 2), "jupedsim_cpu_s": round(best_j[1], 2),
        "evacuation_time_s": best_m[2], "upper_floor_last_out_s": best_m[3], "simulated_s_per_floor": best_m[4],
        "jupedsim_evacuation_time_s": round(best_j[2], 2),
        "realtime_factor_wall": round(best_m[2] / best_m[0], 1), "realtime_factor_cpu": round(best_m[2] / best_m[1], 1),
        "jupedsim_realtime_factor_wall": round(best_j[2] / best_j[0], 1),
        "overhead_vs_jupedsim_wall": round(best_m[0] / best_j[0] - 1, 3),
        "overhead_vs_jupedsim_cpu": round(best_m[1] / best_j[1] - 1, 3),
    }  # fmt: skip


def validation() -> dict:
    out = {}
    for exits_open in (4, 2):
        room = box(0, 0, 30, 20)
        ex = [box(-1, 3, 0, 4), box(-1, 15, 0, 16), box(30, 3, 31, 4), box(30, 15, 31, 16)][:exits_open]
        pos = jps.distribute_by_number(polygon=box(0.5, 0.5, 29.5, 19.5), number_of_agents=1000, distance_to_agents=0.45,
                                       distance_to_polygon=0.3, seed=1)  # fmt: skip
        doc = {"walkable": mapping(room), "exits": [mapping(e) for e in ex], "seed": 1, "max_time_s": 1500,
               "agents": [{"position": [float(x), float(y)], "class": "ambulant"} for x, y in pos]}  # fmt: skip
        t0 = time.perf_counter()
        b, sc = parse(doc)
        rep = results.report(plan.run(b, sc, record_frames=False))
        out[f"rimea9_{exits_open}_exits"] = {"status": rep["status"], "evacuation_time_s": rep["evacuation_time_s"],
                                             "stuck": rep["stuck"], "wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
    for dt in (0.01, 0.05):
        room, stub = box(0, 0, 20, 20), box(20, 9.4, 22, 10.6)
        pos = jps.distribute_by_number(polygon=box(0.5, 0.5, 19.5, 19.5), number_of_agents=200, distance_to_agents=0.5,
                                       distance_to_polygon=0.3, seed=1)  # fmt: skip
        doc = {"walkable": mapping(shapely.union_all([room, stub])), "exits": [mapping(box(21.5, 9.4, 22, 10.6))], "dt": dt,
               "seed": 1, "agents": [{"position": [float(x), float(y)], "class": "ambulant"} for x, y in pos]}  # fmt: skip
        b, sc = parse(doc)
        rep = results.report(plan.run(b, sc, record_frames=False))
        out[f"door_1.2m_200_dt{dt}"] = rep["evacuation_time_s"]
    return out


def compare(n: int, kind: str, repeat: int) -> dict:
    doc = scenario(n, kind)
    best_m = best_j = None
    for _ in range(repeat):
        wall, cpu, rep, walkers = medtwin_run(doc)
        jw, jc, jt, left = jupedsim_run(doc, walkers)
        assert rep["status"] == "ok" and left == 0, (rep["status"], left)
        eng = rep["engine"]["floors"]["F0"]
        print(f"{kind}: medtwin  wall {wall:6.2f} s cpu {cpu:6.2f} s (inside JuPedSim {eng['jupedsim_wall_s']:.2f} s)"
              f"  evacuation {rep['evacuation_time_s']} s", file=sys.stderr)  # fmt: skip
        print(f"{kind}: jupedsim wall {jw:6.2f} s cpu {jc:6.2f} s  evacuation {jt:.2f} s", file=sys.stderr)
        if best_m is None or wall < best_m[0]:
            best_m = (wall, cpu, rep["evacuation_time_s"])
        if best_j is None or jw < best_j[0]:
            best_j = (jw, jc, jt)
    assert best_m and best_j
    return {
        "people": n, "medtwin_wall_s": round(best_m[0], 2), "medtwin_cpu_s": round(best_m[1], 2),
        "jupedsim_wall_s": round(best_j[0], 2), "jupedsim_cpu_s": round(best_j[1], 2),
        "evacuation_time_s": best_m[2], "jupedsim_evacuation_time_s": round(best_j[2], 2),
        "realtime_factor_wall": round(best_m[2] / best_m[0], 1), "realtime_factor_cpu": round(best_m[2] / best_m[1], 1),
        "jupedsim_realtime_factor_wall": round(best_j[2] / best_j[0], 1),
        "overhead_vs_jupedsim_wall": round(best_m[0] / best_j[0] - 1, 3),
        "overhead_vs_jupedsim_cpu": round(best_m[1] / best_j[1] - 1, 3),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--floor", choices=("hall", "floor", "both", "two-floors", "all"), default="all")
    ap.add_argument("--validation", action="store_true")
    args = ap.parse_args()
    res: dict = {"load_avg_before": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    kinds = {"both": ("hall", "floor"), "all": ("hall", "floor", "two-floors")}.get(args.floor, (args.floor,))
    for kind in kinds:
        if kind == "two-floors":
            res[kind] = compare_two_floors(args.people // 2, args.repeat)
        else:
            res[kind] = compare(args.people, kind, args.repeat)
    if args.validation:
        res["validation"] = validation()
    res["load_avg_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
