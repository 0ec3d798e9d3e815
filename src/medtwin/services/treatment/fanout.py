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

:func:`compare_distributed` is the full comparison (confidence, EC50 variability, dose
suggestion, curves) split into parts of the draws (:mod:`medtwin.models.pharmacology.parts`): for
the same draws and generator it equals :func:`~medtwin.models.pharmacology.compare.compare_regimens`
bit for bit, in this process or on any scheduler (``medtwin treat compare --scheduler``).
:func:`compare_on_dask` is the lean variant (probabilities and quantiles; curves from the first
chunk; no confidence, suggestion or EC50 variability) used by ``benchmarks/mc_dask.py``.

Dask is an optional dependency (the ``bench`` and ``test`` extras); importing this module
without it fails only when a scheduler is given.
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
from medtwin.models.pharmacology.parts import CURVE_DRAWS, PartSpec, combine, evaluate_part, make_spec
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


MAX_DRAWS = 200_000  # with a scheduler (one process: 20,000); bounds what the driver holds (docs/sweeps.md)


def _part_task(item: tuple[int, FloatArray, FloatArray | None, FloatArray | None], _seed: int,
               spec: PartSpec) -> dict[str, Any]:  # fmt: skip
    return evaluate_part(spec, *item)


def compare_distributed(
    scheduler: Any,
    drug_name: str,
    model_key: str | None,
    cov: Covariates,
    candidates: Sequence[Candidate],
    etas: FloatArray,
    *,
    prior_etas: FloatArray | None = None,
    n_levels: int = 0,
    wres: Sequence[float] = (),
    history: Sequence[Dose] = (),
    start: float,
    end: float,
    mic: float = 1.0,
    tox_limit: float = 0.10,
    step: float = 10.0,
    rng: np.random.Generator | None = None,
    suggest_from: int | None = 0,
    max_dose_mg: float | None = None,
    chunk_size: int = 2000,
    curve_draws: int = CURVE_DRAWS,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """:func:`~medtwin.models.pharmacology.compare.compare_regimens` with the same arguments, its
    draws split into chunks of ``chunk_size`` run through :func:`medtwin.compute.run_sweep` on
    ``scheduler`` (None or "" here, "local[:N]", an address or a Client). ``rng`` is used as
    ``compare_regimens`` uses it (EC50 draws), so the results are identical."""
    from medtwin.compute import run_sweep
    from medtwin.models.pharmacology.compare import ec50_draws

    spec = make_spec(drug_name, model_key, cov, candidates, history=history, start=start, end=end, mic=mic,
                     step=step, tox_limit=tox_limit, suggest_from=suggest_from, max_dose_mg=max_dose_mg,
                     curve_draws=curve_draws)  # fmt: skip
    n = int(etas.shape[0])
    if prior_etas is not None and prior_etas.shape[0] != n:
        raise ValueError("prior_etas needs as many draws as etas")
    ec50 = ec50_draws(get_drug(drug_name).model(model_key), n, rng or np.random.default_rng(0))
    size = max(1, chunk_size)
    items = [
        (lo, etas[lo : lo + size], None if prior_etas is None else prior_etas[lo : lo + size],
         None if ec50 is None else ec50[lo : lo + size])
        for lo in range(0, n, size)
    ]  # fmt: skip
    parts = run_sweep(_part_task, items, seeds=[0] * len(items), shared=spec, scheduler=scheduler,
                      progress=progress)  # fmt: skip
    return combine(spec, parts, n_levels=n_levels, wres=wres, tox_limit=tox_limit)
