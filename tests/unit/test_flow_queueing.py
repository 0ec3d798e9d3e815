"""Erlang C against published values and against the DES; Little's law; fitted distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medtwin.models.flow.des import run_station, simulate_station
from medtwin.models.flow.erlang import erlang_b, erlang_c, mmc, p_wait_longer
from medtwin.models.flow.stats import fit_sample, mean_ci, paired_ci

# (λ, μ, c) -> (P_wait, Wq, Lq): Gross et al. formulas, values as tabulated in the research notes
# (shared/research/hospital_ops.md §2.3) and docs/operations.md.
TABLE = [
    ((0.8, 1.0, 1), (0.8, 4.0, 3.2)),
    ((0.9, 1.0, 1), (0.9, 9.0, 8.1)),
    ((2.0, 1.2, 2), (0.757576, 1.893939, 3.787879)),
    ((9.0, 4.0, 3), (0.567757, 0.189252, 1.703271)),
    ((0.2, 0.1, 3), (0.444444, 4.444444, 0.888889)),
    ((1 / 6, 1 / 15, 3), (0.702247, 21.067416, 3.511236)),
    ((6.0, 1.0, 8), (0.356981, 0.178491, 1.070943)),
]


@pytest.mark.parametrize(("args", "expected"), TABLE)
def test_erlang_c_matches_published_values(
    args: tuple[float, float, int], expected: tuple[float, float, float]
) -> None:
    r = mmc(*args)
    assert r.p_wait == pytest.approx(expected[0], abs=1e-6)
    assert r.wq == pytest.approx(expected[1], abs=1e-6)
    assert r.lq == pytest.approx(expected[2], abs=1e-6)
    assert r.l == pytest.approx(args[0] * r.w)  # Little's law L = λW


def _erlang_c_direct(c: int, a: float) -> float:
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_recursion_equals_the_textbook_sum() -> None:
    for c in (1, 2, 5, 12, 30):
        for rho in (0.1, 0.5, 0.8, 0.95):
            assert erlang_c(c, rho * c) == pytest.approx(_erlang_c_direct(c, rho * c), rel=1e-10)
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_c(3, 3.0) == 1.0 and math.isinf(mmc(3, 1, 3).wq)
    assert erlang_c(400, 380.0) < 1.0  # stable for large pools (no factorial overflow)
    assert p_wait_longer(0.8, 1.0, 1, 0.0) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("lam", "mean_s", "c"),
    [(0.7, 1.0, 1), (9.0, 0.25, 3), (6.0, 1.0, 8)],
    ids=["M/M/1 rho=0.7", "M/M/3 rho=0.75", "M/M/8 rho=0.75"],
)
def test_des_agrees_with_erlang_c_within_replication_tolerance(lam: float, mean_s: float, c: int) -> None:
    """10 replications x 20,000 customers; tolerance = the replications' own 95 % half-width,
    doubled (the analytic value must lie within [lo - hw, hi + hw]; ~99.9 % coverage)."""
    runs = [run_station(lam, mean_s, c, 20_000, seed=100 + r) for r in range(10)]
    ci = mean_ci([r.wait for r in runs])
    wq = mmc(lam, 1 / mean_s, c).wq
    assert ci.lo - ci.half_width <= wq <= ci.hi + ci.half_width, (wq, ci)
    pw = np.mean([r.p_wait for r in runs])
    assert pw == pytest.approx(mmc(lam, 1 / mean_s, c).p_wait, abs=0.02)
    assert np.mean([r.utilisation for r in runs]) == pytest.approx(lam * mean_s / c, abs=0.01)
    assert max(r.little_error for r in runs) < 1e-9  # Little's law on every run


def test_station_json_shape_and_seed_reproducibility() -> None:
    a = simulate_station(10, 15, 3, patients=3_000, replications=4, seed=7)
    b = simulate_station(10, 15, 3, patients=3_000, replications=4, seed=7)
    assert a == b
    assert set(a) == {"analytic", "simulated"}
    assert set(a["analytic"]) == {"wait_minutes", "p_wait", "utilisation"}
    assert {"wait_minutes", "ci95"} <= set(a["simulated"]) and len(a["simulated"]["ci95"]) == 2
    assert a["analytic"]["wait_minutes"] == pytest.approx(21.0674, abs=1e-4)
    unstable = simulate_station(20, 15, 3, patients=500, replications=2)
    assert unstable["analytic"]["wait_minutes"] is None and unstable["analytic"]["utilisation"] > 1


def test_fits_recover_the_generating_distribution() -> None:
    rng = np.random.default_rng(1)
    ln = fit_sample(rng.lognormal(np.log(600), 0.5, 20_000))
    assert ln.family == "lognormal"
    assert ln.params["mu"] == pytest.approx(np.log(600), abs=0.02) and ln.params["sigma"] == pytest.approx(
        0.5, abs=0.01
    )
    g = fit_sample(rng.gamma(3.0, 100.0, 20_000))
    assert g.family == "gamma" and g.params["shape"] == pytest.approx(3.0, rel=0.05)
    e = fit_sample(rng.exponential(240.0, 20_000))
    assert e.family in ("exponential", "gamma") and e.mean == pytest.approx(240, rel=0.03)
    z = fit_sample(np.r_[np.zeros(100), rng.lognormal(5, 0.3, 900)])
    assert z.p_zero == pytest.approx(0.1)
    assert z.scaled(2.0).mean == pytest.approx(2 * z.mean)


def test_confidence_intervals() -> None:
    ci = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert ci.mean == 2.5 and ci.lo == pytest.approx(2.5 - 3.182446 * 1.290994 / 2, rel=1e-5)
    d = paired_ci([10.0, 11.0, 12.0], [9.0, 10.1, 10.9])
    assert d.hi < 0
    assert mean_ci([]).n == 0 and math.isnan(mean_ci([5.0]).lo)
