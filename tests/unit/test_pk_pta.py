"""Probability of target attainment: closed-form log-normal values; toxicity; time in window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medtwin.models.pharmacology.compare import Candidate, compare_regimens
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library.base import Criterion, Drug, PopModel
from medtwin.models.pharmacology.regimen import repeated
from medtwin.models.pharmacology.variability import sample_etas


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


ONE_CMT = PopModel(
    key="onecmt",
    drug="test",
    label="one compartment, CL 4 L/h, omega(CL) 0.3",
    source="closed-form check",
    typical=lambda _c, _d: {"CL": 4.0 / 60, "V1": 50.0},
    eta_names=("CL",),
    omega=((0.09,),),
)
DRUG = Drug(
    name="test",
    display="test",
    models={"onecmt": ONE_CMT},
    default_model="onecmt",
    target=Criterion("auc24", 400.0, 600.0, per_mic=True),
    toxicity=Criterion("auc24", high=600.0),
)


def test_vancomycin_like_pta_matches_closed_form() -> None:
    # 2000 mg/day at steady state: AUC24 = 2000 / CL; CL ~ LN(ln 4, 0.3^2): AUC_typ 500
    p_target = _phi((math.log(5) - math.log(4)) / 0.3) - _phi((math.log(10 / 3) - math.log(4)) / 0.3)
    p_tox = 1 - _phi((math.log(4) - math.log(10 / 3)) / 0.3)
    assert p_target == pytest.approx(0.4998, abs=1e-4) and p_tox == pytest.approx(0.2717, abs=1e-4)
    etas = sample_etas(ONE_CMT.omega_matrix, 40_000, np.random.default_rng(1))
    cand = Candidate("2 g/day as 1 g q12h for 10 days", repeated(1000, 720, 20, duration=60))
    cmp = compare_regimens(
        DRUG,
        ONE_CMT,
        Covariates(50, 70, 170, "male"),
        [cand],
        etas,
        start=8 * 1440,
        end=9 * 1440,
        suggest_from=None,
    )
    r = cmp.results[0]
    assert r.p_target == pytest.approx(p_target, abs=0.01)
    assert r.p_toxicity == pytest.approx(p_tox, abs=0.01)
    assert r.target_quantiles is not None and r.target_quantiles[1] == pytest.approx(500, rel=0.01)
    assert r.time_in_window == pytest.approx(r.p_target)  # one 24-h unit in the window
