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
    ap.add_argument("--floor", choices=("hall", "floor", "both"), default="both")
    ap.add_argument("--validation", action="store_true")
    args = ap.parse_args()
    res: dict = {"load_avg_before": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    for kind in ("hall", "floor") if args.floor == "both" else (args.floor,):
        res[kind] = compare(args.people, kind, args.repeat)
    if args.validation:
        res["validation"] = validation()
    res["load_avg_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
