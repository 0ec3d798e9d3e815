"""Large Monte Carlo regimen comparison: one process vs a Dask ``LocalCluster``, same draws, same run.

Vancomycin (Goti 2018), 4 candidate regimens over 48 h, ``--draws`` posterior-like draws (default
100,000). Single process: :func:`medtwin.models.pharmacology.compare.compare_regimens` in chunks
(memory stays bounded); Dask: :func:`medtwin.services.treatment.fanout.compare_on_dask` on a
``LocalCluster`` of ``--workers`` processes. Checks that both give the same probabilities.
Usage: ``python benchmarks/mc_dask.py [--draws 100000] [--workers 2] [--chunk 10000]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from medtwin.models.pharmacology.compare import evaluate_chunk, summarise
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import get_drug
from medtwin.services.treatment.fanout import compare_on_dask, draws
from medtwin.services.treatment.pk import build_candidates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=10_000)
    a = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    drug = get_drug("vancomycin")
    model = drug.model(None)
    cov = Covariates(60, 80, 175, "male", scr=1.1)
    cands = build_candidates(
        drug, [{"dose_mg": x, "interval_h": 12, "n_doses": 4} for x in (750, 1000, 1250, 1500)]
    )
    etas = draws(model.omega_matrix, a.draws, seed=3)
    kw = {"start": 1440.0, "end": 2880.0}
    t0 = time.perf_counter()
    parts = [
        evaluate_chunk(drug, model, cov, cands, etas[i : i + a.chunk], **kw)
        for i in range(0, a.draws, a.chunk)
    ]
    single = summarise(drug, cands, parts, 0.10)
    t_single = time.perf_counter() - t0
    with (
        LocalCluster(
            n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("medtwin.models.pharmacology.compare"))  # warm the workers' imports
        t0 = time.perf_counter()
        fan = compare_on_dask(client, "vancomycin", None, cov, cands, etas, chunk_size=a.chunk, **kw)
        t_dask = time.perf_counter() - t0
    same = all(
        abs(x.p_target - y.p_target) < 1e-12 and abs(x.p_toxicity - y.p_toxicity) < 1e-12
        for x, y in zip(single, fan.results, strict=True)
    )
    print(
        f"{a.draws} draws x {len(cands)} regimens x 48 h (vancomycin), chunks of {a.chunk}, {os.cpu_count()} CPUs"
    )
    print(
        f"  one process: {t_single:.2f} s; Dask LocalCluster ({a.workers} processes): {t_dask:.2f} s; ratio {t_single / t_dask:.2f}x"
    )
    print(
        f"  same probabilities: {same}; ranking {[r.label for r in sorted(fan.results, key=lambda r: r.rank)]}"
    )
    print(f"  P(target) {[round(r.p_target, 4) for r in fan.results]}")
    _ = np


if __name__ == "__main__":
    main()
