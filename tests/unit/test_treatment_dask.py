"""Dask fan-out of a Monte Carlo comparison on a LocalCluster gives the same answer as one process."""

from __future__ import annotations

import numpy as np
import pytest

from medtwin.models.pharmacology.compare import compare_regimens
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import get_drug
from medtwin.services.treatment.fanout import compare_on_dask, draws
from medtwin.services.treatment.pk import build_candidates

distributed = pytest.importorskip("dask.distributed")


def test_fanout_matches_single_process() -> None:
    drug = get_drug("vancomycin")
    model = drug.model(None)
    cov = Covariates(60, 80, 175, "male", scr=1.1)
    cands = build_candidates(drug, [{"dose_mg": a, "interval_h": 12, "n_doses": 4} for a in (1000, 1500)])
    etas = draws(model.omega_matrix, 3000, seed=5)
    local = compare_regimens(drug, model, cov, cands, etas, start=1440, end=2880, suggest_from=None)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        fan = compare_on_dask(
            client, "vancomycin", None, cov, cands, etas, start=1440, end=2880, chunk_size=1000
        )
    assert fan.settings["chunks"] == 3 and fan.settings["backend"] == "dask"
    for a, b in zip(local.results, fan.results, strict=True):
        assert a.label == b.label and a.rank == b.rank
        assert a.p_target == pytest.approx(b.p_target) and a.p_toxicity == pytest.approx(b.p_toxicity)
        assert np.allclose(a.target_quantiles, b.target_quantiles)
