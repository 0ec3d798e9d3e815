"""DES speed: medtwin's engine (SimPy kernel, rostered FIFO stations) against Ciw on the same M/M/c.

The clinic M/M/3 of the research notes: λ = 10 patients/h, mean service 15 min, 3 servers
(ρ = 0.833; Erlang C mean wait 21.067 min). Both simulate the same number of patients per seed
(10 % warm-up discarded) and report the mean wait; wall and CPU time, patients per second and the
ratio are printed for each seed, with Little's law checked on medtwin's runs. Ciw (MIT) is in the
``test`` extra.

Run: .venv/bin/python benchmarks/flow_ciw.py [--patients 100000] [--seeds 3] [--servers 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import ciw

from medtwin.models.flow.des import run_station
from medtwin.models.flow.erlang import mmc


def ciw_run(lam: float, mean_s: float, c: int, n: int, seed: int) -> tuple[float, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    net = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=lam)],
        service_distributions=[ciw.dists.Exponential(rate=1 / mean_s)],
        number_of_servers=[c],
    )
    ciw.seed(seed)
    q = ciw.Simulation(net)
    q.simulate_until_max_customers(n, method="Arrive")
    recs = sorted(q.get_all_records(), key=lambda r: r.arrival_date)
    waits = [r.waiting_time for r in recs[int(0.1 * len(recs)) :]]
    return sum(waits) / len(waits), time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--arrivals-per-hour", type=float, default=10.0)
    ap.add_argument("--service-minutes", type=float, default=15.0)
    args = ap.parse_args()
    lam = args.arrivals_per_hour / 60.0
    mean_s, c, n = args.service_minutes, args.servers, args.patients
    wq = mmc(lam, 1 / mean_s, c).wq
    rows = []
    for seed in range(args.seeds):
        t0, c0 = time.perf_counter(), time.process_time()
        ours = run_station(lam, mean_s, c, n, seed)
        t_ours, cpu_ours = time.perf_counter() - t0, time.process_time() - c0
        w_ciw, t_ciw, cpu_ciw = ciw_run(lam, mean_s, c, n, seed)
        rows.append(
            {
                "seed": seed,
                "patients": n,
                "load": round(os.getloadavg()[0], 1),
                "medtwin_s": round(t_ours, 2),
                "ciw_s": round(t_ciw, 2),
                "ratio": round(t_ciw / t_ours, 1),
                "cpu_ratio": round(cpu_ciw / cpu_ours, 1),
                "medtwin_patients_per_s": round(n / t_ours),
                "ciw_patients_per_s": round(n / t_ciw),
                "medtwin_wait_min": round(ours.wait, 3),
                "ciw_wait_min": round(w_ciw, 3),
                "erlang_c_wait_min": round(wq, 3),
                "little_law_rel_error": ours.little_error,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    ratios = sorted(r["ratio"] for r in rows)
    print(
        json.dumps({"ciw": ciw.__version__, "median_ratio": ratios[len(ratios) // 2], "cpus": os.cpu_count()})
    )


if __name__ == "__main__":
    main()
