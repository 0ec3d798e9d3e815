"""Regimen comparison: ranking and its explanation, dose suggestion, effect targets, dose-dependent models."""

from __future__ import annotations

import numpy as np
import pytest

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.compare import Candidate, compare_regimens
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import get_drug
from medtwin.models.pharmacology.regimen import Dose, repeated
from medtwin.models.pharmacology.variability import sample_etas

COV = Covariates(55, 75, 175, "male", scr=1.0)


def _etas(model, n=400, seed=1):  # type: ignore[no-untyped-def]
    return sample_etas(model.omega_matrix, n, np.random.default_rng(seed))


def test_vancomycin_ranking_and_suggestion() -> None:
    d = get_drug("vancomycin")
    m = d.model(None)
    cands = [
        Candidate(f"{a} mg q12h", repeated(a, 720, 4, duration=max(60, a / 10))) for a in (500, 1000, 2000)
    ]
    cmp = compare_regimens(d, m, COV, cands, _etas(m), start=1440, end=2880, tox_limit=0.2)
    by = {r.label: r for r in cmp.results}
    assert by["2000 mg q12h"].p_toxicity > by["1000 mg q12h"].p_toxicity > by["500 mg q12h"].p_toxicity
    assert not by["2000 mg q12h"].eligible and by["2000 mg q12h"].rank == 3
    best = min(cmp.results, key=lambda r: r.rank)
    assert best.eligible and "Ranked first" in best.explanation
    assert all(r.confidence is not None and r.confidence.level == "population" for r in cmp.results)
    s = cmp.suggestion
    assert s is not None and s["dose_mg"] is not None and s["p_toxicity"] < 0.2
    assert s["p_target"] >= max(r["p_target"] for r in s["grid"] if r["p_toxicity"] < 0.2)
    out = cmp.as_dict()
    assert out["best"] == best.label and len(out["results"][0]["curves"]["cp_p50"]) == len(
        out["results"][0]["curves"]["t_h"]
    )
    c = out["results"][0]["curves"]
    assert all(a <= b <= e for a, b, e in zip(c["cp_p5"], c["cp_p50"], c["cp_p95"], strict=True))


def test_propofol_effect_window() -> None:
    d = get_drug("propofol")
    m = d.model("eleveld")
    cov = Covariates(45, 70, 170, "female")
    low = Candidate("4 mg/kg/h", (Dose(0, 140), Dose(0, 4 * 70, 60)))
    high = Candidate("12 mg/kg/h", (Dose(0, 140), Dose(0, 12 * 70, 60)))
    cmp = compare_regimens(
        d, m, cov, [low, high], _etas(m, 300), start=10, end=60, step=1.0, suggest_from=None
    )
    r_low, r_high = cmp.results
    assert r_high.p_toxicity > r_low.p_toxicity  # deeper than BIS 40 more often
    assert 0 <= r_low.p_target <= 1 and "effect_p50" in r_low.curves


def test_lithium_oral_dose_dependent_and_refusals() -> None:
    d = get_drug("lithium")
    m = d.model(None)
    cands = [Candidate(f"{a} mg bid", repeated(a, 720, 14, route="oral")) for a in (200, 400, 800)]
    cmp = compare_regimens(d, m, COV, cands, _etas(m), start=6 * 1440, end=7 * 1440, suggest_from=None)
    vals = [r.target_quantiles[1] for r in cmp.results if r.target_quantiles]
    assert vals[0] < vals[1] < vals[2]
    assert vals[2] / vals[1] < 2.0  # clearance rises with the daily dose (Jin 2022): less than proportional
    with pytest.raises(ValidationError):
        compare_regimens(
            get_drug("remifentanil"),
            get_drug("remifentanil").model(None),
            COV,
            cands,
            _etas(m),
            start=0,
            end=60,
        )
    with pytest.raises(ValidationError):
        compare_regimens(d, m, COV, [], _etas(m), start=0, end=60)
