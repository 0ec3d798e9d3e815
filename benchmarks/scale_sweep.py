"""Simulation sweeps on Dask: DES replications and an evacuation scenario grid, in this process
against a ``dask.distributed`` LocalCluster of 1 and 2 worker processes, with a check that every
backend gives the same results.

* **DES** (hospital operations, :func:`medtwin.services.operations.simulate.run`): the model is
  calibrated from a generated four-week outpatient log (seed 5, the test suite's clinic), then
  ``--replications`` replications of ``--days`` open days each (seeds ``seed * 1000 + r``). Peer
  beside Dask: the same run on a ``multiprocessing`` pool of 2 (``workers=2``, what ``medtwin flow
  simulate --workers 2`` does without a scheduler).
* **Evacuation grid** (:func:`medtwin.services.safety.sweep.run_grid`): a 40 x 20 m floor with two
  2 m exits and ``--people`` people (ambulant, walking aid, wheelchair), axes ``alarm_s`` x
  ``pre_movement_s`` x ``--evac-replications`` (seeds spawned from one SeedSequence).

Each backend runs the same sweep; the in-process run is repeated at the end to bracket the drift
of a shared host. A LocalCluster's start-up (spawning the worker processes, importing medtwin) is
timed apart from the sweep; the cluster is reused for both sweeps, as a scheduler address would be
in production. Identity: the result lists are compared with ``==`` (every float bit for bit).

Run: .venv/bin/python benchmarks/scale_sweep.py [--replications 64] [--days 10] [--people 200]
     [--evac-replications 12] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psutil


def host_busy() -> float:
    t = psutil.cpu_times()
    return sum(getattr(t, k) for k in ("user", "system", "nice", "irq", "softirq", "steal"))


def timed(fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``fn``; wall time, load average before/after, host CPU cores busy over the run, and the
    CPU time of this process and its children (the Dask workers are children of this process)."""
    me = psutil.Process()

    def own() -> float:
        cpu = me.cpu_times().user + me.cpu_times().system
        for c in me.children(recursive=True):
            try:
                ct = c.cpu_times()
                cpu += ct.user + ct.system
            except psutil.Error:
                pass
        return cpu

    l0, b0, c0, t0 = os.getloadavg()[0], host_busy(), own(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    info = {
        "wall_s": round(wall, 2),
        "load_avg_1m": [round(l0, 2), round(os.getloadavg()[0], 2)],
        "host_cores_busy": round((host_busy() - b0) / wall, 2),
        "ours_cores": round((own() - c0) / wall, 2),  # children that exit during fn are not counted
    }
    return out, info


# ---------------------------------------------------------------------------------------- DES
def des_model(tmp: Path) -> Any:
    from medtwin.services.operations.analytics import analyze
    from medtwin.services.operations.buildings import load_building
    from medtwin.services.operations.calibrate import build_model
    from medtwin.services.operations.genconfig import GeneratorConfig
    from medtwin.services.operations.generator import generate
    from medtwin.services.operations.logs import open_log

    out = tmp / "clinic.parquet"
    generate(GeneratorConfig(years=28 / 365.25, seed=5), out, workers=1)
    b = load_building()
    with open_log(out) as log:
        analyze(log, b)
        return build_model(log, b)


def des_run(m: Any, a: argparse.Namespace, scheduler: Any = None, workers: int = 1) -> list[dict[str, Any]]:
    from medtwin.services.operations import simulate as sim

    ticks: list[int] = []
    res = sim.run(m, replications=a.replications, days=a.days, seed=a.seed, scheduler=scheduler,
                  workers=workers, progress=lambda d, n: ticks.append(d))  # fmt: skip
    assert ticks and ticks[-1] == a.replications, ticks[-3:]
    return res


# ---------------------------------------------------------------------------------------- evacuation
def evac_doc(people: int) -> dict[str, Any]:
    from shapely.geometry import box, mapping

    classes = ("ambulant", "ambulant", "walking_aid", "wheelchair")
    cols = max(1, (people + 9) // 10)
    pos = [(2 + 36 * i / max(1, cols - 1), 2 + 1.6 * j) for i in range(cols) for j in range(10)][:people]
    return {
        "walkable": mapping(box(0, 0, 40, 20)),
        "exits": [mapping(box(0, 8, 0.5, 10)), mapping(box(39.5, 8, 40, 10))],
        "agents": [{"position": [x, y], "class": classes[k % 4]} for k, (x, y) in enumerate(pos)],
    }


EVAC_AXES = {"alarm_s": [0, 60], "pre_movement_s": [0, 30, 60]}


def evac_run(doc: dict[str, Any], a: argparse.Namespace, scheduler: Any = None) -> dict[str, Any]:
    from medtwin.services.safety.sweep import run_grid

    ticks: list[int] = []
    res = run_grid(doc, EVAC_AXES, replications=a.evac_replications, seed=a.seed, scheduler=scheduler,
                   progress=lambda d, n: ticks.append(d))  # fmt: skip
    assert ticks and ticks[-1] == res["tasks"], ticks[-3:]
    return res


# ---------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=64, help="DES replications")
    ap.add_argument("--days", type=int, default=10, help="open days per DES replication")
    ap.add_argument("--people", type=int, default=200, help="people on the evacuation floor")
    ap.add_argument(
        "--evac-replications", type=int, default=12, help="replications per grid point (6 points)"
    )
    ap.add_argument("--workers", default="1,2", help="LocalCluster sizes")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--skip-des", action="store_true")
    ap.add_argument("--skip-evac", action="store_true")
    ap.add_argument("--json", help="write all figures to this file")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    a = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    started = datetime.now(UTC)
    print(f"scale_sweep: {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="medtwin-sweep-"))
    out: dict[str, Any] = {"date": started.isoformat(timespec="seconds"), "argv": sys.argv[1:],
                           "cpus": os.cpu_count(), "des": {}, "evac": {}}  # fmt: skip
    model = doc = None
    if not a.skip_des:
        model, info = timed(lambda: des_model(tmp))
        print(f"DES model calibrated from a generated 4-week clinic log in {info['wall_s']} s")
        out["des"]["tasks"] = a.replications
        out["des"]["days"] = a.days
    if not a.skip_evac:
        doc = evac_doc(a.people)
        out["evac"]["tasks"] = (
            len(EVAC_AXES["alarm_s"]) * len(EVAC_AXES["pre_movement_s"]) * a.evac_replications
        )
        out["evac"]["people"] = a.people
    ref: dict[str, Any] = {}

    def record(kind: str, label: str, res: Any, info: dict[str, Any], startup: float | None = None) -> None:
        if kind not in ref:
            ref[kind] = res
        info["identical_to_in_process"] = res == ref[kind]
        if startup is not None:
            info["cluster_start_s"] = round(startup, 2)
        out[kind][label] = info
        print(f"  {kind:5s} {label:24s} {info['wall_s']:7.2f} s  load {info['load_avg_1m']}  host busy "
              f"{info['host_cores_busy']} cores (ours {info['ours_cores']})  identical {info['identical_to_in_process']}"
              + (f"  (cluster start {startup:.1f} s)" if startup is not None else ""))  # fmt: skip

    def in_process(label: str) -> None:
        if model is not None:
            r, i = timed(lambda: des_run(model, a))
            record("des", label, r, i)
        if doc is not None:
            r, i = timed(lambda: evac_run(doc, a))
            record("evac", label, r, i)

    print(f"\nDES: {a.replications} replications x {a.days} days; evacuation: {a.people} people, "
          f"6 grid points x {a.evac_replications} replications")  # fmt: skip
    in_process("in-process")
    for n in [int(x) for x in a.workers.split(",") if x]:
        t0 = time.perf_counter()
        with (
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cl,
            Client(cl) as client,
        ):
            client.wait_for_workers(n)
            startup = time.perf_counter() - t0
            if model is not None:
                r, i = timed(lambda c=client: des_run(model, a, scheduler=c))  # type: ignore[misc]
                record("des", f"dask LocalCluster {n}", r, i, startup)
            if doc is not None:
                r, i = timed(lambda c=client: evac_run(doc, a, scheduler=c))  # type: ignore[misc]
                record("evac", f"dask LocalCluster {n}", r, i, startup)
    if model is not None:
        r, i = timed(lambda: des_run(model, a, workers=2))
        record("des", "multiprocessing pool 2", r, i)
    in_process("in-process (again)")

    print("\nsummary (speed-up = in-process mean / this; the cluster's start-up excluded, then included)")
    ok = True
    for kind in ("des", "evac"):
        rows = out[kind]
        if "in-process" not in rows:
            continue
        base = (rows["in-process"]["wall_s"] + rows["in-process (again)"]["wall_s"]) / 2
        out[kind]["in_process_mean_s"] = round(base, 2)
        for label, info in list(rows.items()):
            if not isinstance(info, dict):
                continue
            info["speed_up"] = round(base / info["wall_s"], 2)
            st = info.get("cluster_start_s")
            if st is not None:
                info["speed_up_with_start"] = round(base / (info["wall_s"] + st), 2)
            ok = ok and info["identical_to_in_process"]
            print(f"  {kind:5s} {label:24s} {info['wall_s']:7.2f} s  speed-up {info['speed_up']:.2f}x"
                  + (f" ({info['speed_up_with_start']:.2f}x with the {st:.1f} s start-up)" if st is not None else "")
                  + f"  identical {info['identical_to_in_process']}")  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)
    out["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
        print(f"figures written to {a.json}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
