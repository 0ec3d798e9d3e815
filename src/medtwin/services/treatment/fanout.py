"""Optional fan-out of large Monte Carlo regimen comparisons on Dask (``dask.distributed``).

The posterior draws are split into chunks; each chunk is simulated on a worker
(:func:`medtwin.models.pharmacology.compare.evaluate_chunk`, which returns per-draw outcomes only:
a few floats per draw and candidate), and the driver combines them exactly
(:func:`~medtwin.models.pharmacology.compare.summarise`: probabilities and quantiles over all
draws, then the ranking). The median/90 % curves come from the first chunk, computed on the
driver (thousands of draws estimate those percentiles well; shipping every curve back would cost
memory for nothing). Workers receive the drug and model by name and look them up in their own
library, so nothing but arrays travels.

Usage (any scheduler, e.g. ``LocalCluster`` on one machine or a cluster address)::

    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        cmp = compare_on_dask(client, "vancomycin", None, cov, candidates, etas, start=0, end=2880)

Dask is an optional dependency (the ``bench`` and ``test`` extras); importing this module
without it fails only when :func:`compare_on_dask` is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from medtwin.models.pharmacology.compare import (
    Candidate,
    Comparison,
    compare_regimens,
    evaluate_chunk,
    summarise,
)
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import get_drug
from medtwin.models.pharmacology.linear import FloatArray
from medtwin.models.pharmacology.regimen import Dose


def _chunk(
    drug_name: str,
    model_key: str | None,
    cov: Covariates,
    candidates: Sequence[Candidate],
    etas: FloatArray,
    kw: dict[str, Any],
) -> list[dict[str, FloatArray | None]]:
    drug = get_drug(drug_name)
    return evaluate_chunk(drug, drug.model(model_key), cov, candidates, etas, **kw)


def _chunk_task(etas: FloatArray, _seed: int, shared: tuple[Any, ...]) -> list[dict[str, FloatArray | None]]:
    return _chunk(shared[0], shared[1], shared[2], shared[3], etas, shared[4])


def compare_on_dask(
    client: Any,
    drug_name: str,
    model_key: str | None,
    cov: Covariates,
    candidates: Sequence[Candidate],
    etas: FloatArray,
    *,
    history: Sequence[Dose] = (),
    start: float,
    end: float,
    mic: float = 1.0,
    step: float = 10.0,
    tox_limit: float = 0.10,
    chunk_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """``client``: a Dask client, a scheduler address or None (this process); the chunks run through
    :func:`medtwin.compute.run_sweep` (the draws are made beforehand, so no per-task seed is used)."""
    from concurrent.futures import ThreadPoolExecutor

    from medtwin.compute import run_sweep

    drug = get_drug(drug_name)
    model = drug.model(model_key)
    chunks = [etas[i : i + chunk_size] for i in range(0, etas.shape[0], chunk_size)]
    kw = {"history": tuple(history), "start": start, "end": end, "mic": mic, "step": step}
    shared = (drug.name, model.key, cov, tuple(candidates), kw)
    pool = ThreadPoolExecutor(1)  # the driver computes the curves meanwhile
    sweep = pool.submit(run_sweep, _chunk_task, chunks, seeds=[0] * len(chunks), shared=shared,
                        scheduler=client, progress=progress)  # fmt: skip
    pool.shutdown(wait=False)
    local = compare_regimens(
        drug, model, cov, candidates, chunks[0], history=history, start=start, end=end, mic=mic,
        tox_limit=tox_limit, step=step, suggest_from=None,
    )  # fmt: skip
    parts = sweep.result()
    results = summarise(drug, candidates, parts, tox_limit, [r.curves for r in local.results])
    return Comparison(
        drug=drug.name,
        model=model.key,
        results=results,
        suggestion=None,
        settings={**local.settings, "n": int(etas.shape[0]), "chunks": len(chunks), "backend": "dask"},
    )


def draws(omega: FloatArray, n: int, seed: int = 0) -> FloatArray:
    from medtwin.models.pharmacology.variability import sample_etas

    return sample_etas(omega, n, np.random.default_rng(seed))
