"""Simulation sweeps on dask.distributed (a LocalCluster of two worker processes) give the results of
the single-process run for the same seeds: generic tasks, DES replications, evacuation grids, the
treatment Monte Carlo; progress is reported and a failing task is named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from shapely.geometry import box, mapping

from medtwin.compute import SweepError, run_sweep, task_seeds
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import get_drug
from medtwin.services.safety.sweep import run_grid
from medtwin.services.treatment.fanout import compare_on_dask, draws
from medtwin.services.treatment.pk import build_candidates

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cl,
        distributed.Client(cl) as c,
    ):
        yield c


def draw(item: int, seed: int) -> tuple[int, int, float]:
    return item, seed, float(np.random.default_rng(seed).normal())


def boom(item: int, _seed: int) -> int:
    if item == 3:
        raise RuntimeError("bad parameter")
    return item


def test_task_seeds_come_from_the_seed_sequence() -> None:
    s = task_seeds(42, 5)
    assert s == task_seeds(42, 5) and len(set(s)) == 5 and all(0 <= x < 2**63 for x in s)
    assert s[:3] == task_seeds(42, 3)  # a task's seed depends on its index only
    child = np.random.SeedSequence(42).spawn(5)[4]
    assert s[4] == int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


def test_same_results_in_process_and_on_dask_with_progress(client: Any) -> None:
    ticks: list[tuple[int, int]] = []
    here = run_sweep(draw, list(range(20)), seed=7)
    there = run_sweep(
        draw, list(range(20)), seed=7, scheduler=client, chunk=3, progress=lambda d, n: ticks.append((d, n))
    )
    assert here == there and [r[0] for r in there] == list(range(20))
    assert ticks[-1] == (20, 20) and len(ticks) == 7
    with pytest.raises(SweepError, match="task 3"):
        run_sweep(boom, list(range(6)), scheduler=client)
    with pytest.raises(SweepError, match="task 3"):
        run_sweep(boom, list(range(6)))


def test_evacuation_grid_on_dask_equals_single_process(client: Any) -> None:
    rng = np.random.default_rng(5)
    agents = [{"position": [float(rng.uniform(2, 19)), float(rng.uniform(1, 9))], "class": c}
              for c in ("ambulant", "walking_aid", "wheelchair") * 4]  # fmt: skip
    doc = {"walkable": mapping(box(0, 0, 20, 10)), "exits": [mapping(box(0, 4, 0.5, 6))], "agents": agents}
    axes = {"alarm_s": [0, 30], "pre_movement_s": [0, 20]}
    here = run_grid(doc, axes, replications=2, seed=3)
    there = run_grid(doc, axes, replications=2, seed=3, scheduler=client)
    assert here == there and here["tasks"] == 8
    rows = {r["label"]: r for r in here["rows"]}
    assert (
        rows["alarm_s=30, pre_movement_s=20"]["rset_mean_s"]
        > rows["alarm_s=0, pre_movement_s=0"]["rset_mean_s"]
    )
    assert len({r["rset_s"] for r in here["rows"][0]["runs"]}) == 2  # replications differ by their seeds


def test_des_replications_on_dask_equal_single_process(client: Any) -> None:
    from medtwin.services.operations import simulate as sim
    from medtwin.services.operations.analytics import analyze
    from medtwin.services.operations.buildings import load_building
    from medtwin.services.operations.calibrate import build_model
    from medtwin.services.operations.logs import open_log
    from tests.unit.flow_helpers import clinic_log

    b = load_building()
    with open_log(clinic_log()) as log:
        analyze(log, b)  # materialises the event table the model is built from
        m = build_model(log, b)
    here = sim.run(m, replications=3, days=2, seed=4, workers=1)
    there = sim.run(m, replications=3, days=2, seed=4, scheduler=client)
    assert here == there


def test_treatment_monte_carlo_in_process_equals_dask(client: Any) -> None:
    drug = get_drug("vancomycin")
    model = drug.model(None)
    cov = Covariates(60, 80, 175, "male", scr=1.1)
    cands = build_candidates(drug, [{"dose_mg": a, "interval_h": 12, "n_doses": 4} for a in (1000, 1500)])
    etas = draws(model.omega_matrix, 2000, seed=5)
    kw: dict[str, Any] = {"start": 1440, "end": 2880, "chunk_size": 500}
    ticks: list[int] = []
    here = compare_on_dask(None, "vancomycin", None, cov, cands, etas, **kw)
    there = compare_on_dask(
        client, "vancomycin", None, cov, cands, etas, progress=lambda d, n: ticks.append(d), **kw
    )
    assert ticks[-1] == 4
    for a, b in zip(here.results, there.results, strict=True):
        assert (a.label, a.rank, a.p_target, a.p_toxicity) == (b.label, b.rank, b.p_target, b.p_toxicity)
