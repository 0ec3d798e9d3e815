"""Regimen comparison by Monte Carlo over the patient's posterior, ranking and dose suggestion. Pure.

For each candidate regimen (the doses still to be given; doses already given are the shared
``history``) every posterior draw of the patient's parameters is simulated exactly. Reported per
regimen: P(target) and P(toxicity) per the drug's criteria (:mod:`.metrics`), time in the
therapeutic window, median and 90 % interval (5th-95th percentile) curves of concentration (and
effect), the target metric's median and 90 % interval, and the confidence of the prediction for
this patient (:mod:`.identifiability`).

Ranking: regimens whose P(toxicity) is at most the limit come first, by decreasing P(target);
the others follow by increasing P(toxicity); ties go to the smaller total dose. Each result says
in words why it is where it is. The dose suggestion searches a grid of dose amounts (multiples of
the drug's dose step, keeping the template's times, interval and route) for the highest
P(target) with P(toxicity) below the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.identifiability import Confidence, assess
from medtwin.models.pharmacology.library.base import Drug, PopModel
from medtwin.models.pharmacology.linear import FloatArray
from medtwin.models.pharmacology.metrics import Exposure, evaluation_grid, exposure
from medtwin.models.pharmacology.predict import predict
from medtwin.models.pharmacology.regimen import Dose

QUANTILES = (5.0, 50.0, 95.0)


@dataclass(frozen=True)
class Candidate:
    label: str
    doses: tuple[Dose, ...]

    @property
    def total_mg(self) -> float:
        return float(sum(d.amount for d in self.doses))


@dataclass
class CandidateResult:
    label: str
    doses: tuple[Dose, ...]
    p_target: float
    p_toxicity: float
    time_in_window: float
    target_quantiles: list[float] | None
    toxicity_quantiles: list[float] | None
    curves: dict[str, list[float]]
    confidence: Confidence | None
    total_mg: float
    rank: int = 0
    eligible: bool = True
    explanation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "doses": [
                {"time_min": d.time, "dose_mg": d.amount, "duration_min": d.duration, "route": d.route}
                for d in self.doses
            ],
            "p_target": self.p_target,
            "p_toxicity": self.p_toxicity,
            "time_in_window": self.time_in_window,
            "target_quantiles": self.target_quantiles,
            "toxicity_quantiles": self.toxicity_quantiles,
            "curves": self.curves,
            "confidence": None if self.confidence is None else self.confidence.as_dict(),
            "total_mg": self.total_mg,
            "rank": self.rank,
            "eligible": self.eligible,
            "explanation": self.explanation,
        }


@dataclass
class Comparison:
    drug: str
    model: str
    results: list[CandidateResult]
    suggestion: dict[str, Any] | None
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        ranked = sorted(self.results, key=lambda r: r.rank)
        return {
            "drug": self.drug,
            "model": self.model,
            "results": [r.as_dict() for r in self.results],
            "ranking": [r.label for r in ranked],
            "best": ranked[0].label if ranked else None,
            "suggestion": self.suggestion,
            "settings": self.settings,
        }


@dataclass
class _Setup:
    drug: Drug
    model: PopModel
    cov: Covariates
    history: tuple[Dose, ...]
    etas: FloatArray
    ec50_etas: FloatArray | None
    start: float
    end: float
    mic: float
    step: float


def _quantiles(x: FloatArray) -> list[float]:
    return [float(v) for v in np.nanpercentile(x, QUANTILES, axis=0)]


def _simulate(s: _Setup, cand: Candidate) -> tuple[FloatArray, Any, Exposure]:
    """Times, prediction and exposure of every draw of ``s`` under ``cand`` (rows are independent:
    a draw's values do not depend on the other draws, so parts of the draws combine exactly)."""
    doses = [*s.history, *cand.doses]
    offsets = [
        c.offset_h for c in (s.drug.target, s.drug.toxicity) if c is not None and c.metric == "post_dose"
    ]
    t = evaluation_grid(doses, s.start, s.end, s.step, offsets)
    pred = predict(s.model, s.cov, doses, t, s.etas, ec50_etas=s.ec50_etas)
    return t, pred, exposure(s.drug.target, s.drug.toxicity, pred, doses, s.start, s.end, s.mic)


def _curve_index(s: _Setup, t: FloatArray) -> Any:
    grid = np.arange(s.start, s.end + 1e-9, s.step)
    return np.unique(np.concatenate([np.flatnonzero(np.isin(t, grid)), [len(t) - 1]]))


def _curves(t_sel: FloatArray, cp: FloatArray, effect: FloatArray | None) -> dict[str, list[float]]:
    """Median and 90 % curves from the draws' values (rows) at the curve times."""
    out: dict[str, list[float]] = {"t_h": [float(x) / 60.0 for x in t_sel]}
    q = np.nanpercentile(cp, QUANTILES, axis=0)
    out["cp_p5"], out["cp_p50"], out["cp_p95"] = (list(map(float, row)) for row in q)
    if effect is not None:
        qe = np.nanpercentile(effect, QUANTILES, axis=0)
        out["effect_p5"], out["effect_p50"], out["effect_p95"] = (list(map(float, row)) for row in qe)
    return out


def _result(drug: Drug, cand: Candidate, ex: Exposure, curves: dict[str, list[float]]) -> CandidateResult:
    return CandidateResult(
        label=cand.label,
        doses=cand.doses,
        p_target=float(np.mean(ex.in_target)) if drug.target else float("nan"),
        p_toxicity=float(np.mean(ex.toxic)) if drug.toxicity else 0.0,
        time_in_window=float(np.mean(ex.time_in_window)),
        target_quantiles=None if ex.target_value is None else _quantiles(ex.target_value),
        toxicity_quantiles=None if ex.tox_value is None else _quantiles(ex.tox_value),
        curves=curves,
        confidence=None,
        total_mg=cand.total_mg,
    )


def _evaluate(s: _Setup, cand: Candidate, *, curves: bool = True) -> tuple[CandidateResult, Any]:
    t, pred, ex = _simulate(s, cand)
    out: dict[str, list[float]] = {}
    if curves:
        sel = _curve_index(s, t)
        out = _curves(t[sel], pred.sim.cp[:, sel], None if pred.effect is None else pred.effect[:, sel])
    return _result(s.drug, cand, ex, out), ex


def _rank(results: list[CandidateResult], tox_limit: float, drug: Drug) -> None:
    for r in results:
        r.eligible = r.p_toxicity <= tox_limit
    order = sorted(
        results,
        key=lambda r: (not r.eligible, -r.p_target if r.eligible else r.p_toxicity, -r.p_target, r.total_mg),
    )
    tgt = drug.target.describe() if drug.target else "target"
    tox = drug.toxicity.describe() if drug.toxicity else "toxicity"
    for i, r in enumerate(order, start=1):
        r.rank = i
        head = (
            f"P(target: {tgt}) {r.p_target:.0%}, P(toxicity: {tox}) {r.p_toxicity:.0%} "
            f"(limit {tox_limit:.0%}), time in window {r.time_in_window:.0%}."
        )
        if r.eligible and i == 1:
            why = "Ranked first: the highest probability of target attainment among regimens within the toxicity limit."
        elif r.eligible:
            why = f"Ranked {i}: within the toxicity limit but a lower probability of target attainment than {order[0].label}."
        elif i == 1:
            why = (
                "Ranked first although above the toxicity limit: no candidate is within it, and this one "
                "has the lowest probability of toxicity."
            )
        else:
            why = f"Ranked {i}: its probability of toxicity exceeds the limit (ordered by lower probability)."
        conf = ""
        if r.confidence is not None and r.confidence.level != "high":
            conf = f" Confidence {r.confidence.level}: {'; '.join(r.confidence.reasons)}."
        r.explanation = f"{head} {why}{conf}"


def _scaled(drug: Drug, template: Candidate, amount: float) -> Candidate:
    doses = []
    for d in template.doses:
        dur = d.duration
        if d.route == "iv" and d.duration > 0:
            dur = (
                max(d.duration, drug.default_infusion_min(amount))
                if drug.default_infusion_min(amount)
                else d.duration
            )
        doses.append(Dose(d.time, amount, dur, d.route))
    return Candidate(f"{amount:g} mg", tuple(doses))


def check_request(drug: Drug, candidates: Sequence[Candidate], tox_limit: float) -> None:
    if drug.target is None:
        raise ValidationError(
            f"{drug.display} has no therapeutic target in the library: nothing to compare", field="drug"
        )
    if not candidates:
        raise ValidationError("give at least one candidate regimen", field="candidates")
    if not 0 <= tox_limit <= 1:
        raise ValidationError("toxicity limit must be a probability", field="tox_limit")


def ec50_draws(model: PopModel, n: int, rng: np.random.Generator) -> FloatArray | None:
    """Per-draw EC50 deviations of models with EC50 variability (drawn after the parameter draws)."""
    if model.pd is not None and model.pd.ec50_omega2 > 0:
        return np.asarray(rng.normal(0.0, np.sqrt(model.pd.ec50_omega2), n), dtype=np.float64)
    return None


def compare_regimens(
    drug: Drug,
    model: PopModel,
    cov: Covariates,
    candidates: Sequence[Candidate],
    etas: FloatArray,
    *,
    history: Sequence[Dose] = (),
    prior_etas: FloatArray | None = None,
    n_levels: int = 0,
    wres: Sequence[float] = (),
    start: float,
    end: float,
    mic: float = 1.0,
    tox_limit: float = 0.10,
    step: float = 10.0,
    rng: np.random.Generator | None = None,
    suggest_from: int | None = 0,
    max_dose_mg: float | None = None,
) -> Comparison:
    """Compare ``candidates`` over the draws ``etas`` (posterior, or prior without levels)."""
    check_request(drug, candidates, tox_limit)
    ec50 = ec50_draws(model, etas.shape[0], rng or np.random.default_rng(0))
    s = _Setup(drug, model, cov, tuple(history), etas, ec50, start, end, mic, step)
    results: list[CandidateResult] = []
    for cand in candidates:
        res, ex = _evaluate(s, cand)
        prior_q = None
        if prior_etas is not None:
            s_prior = _Setup(drug, model, cov, tuple(history), prior_etas, ec50, start, end, mic, step)
            prior_q = _confidence_quantity(_simulate(s_prior, cand)[2])
        res.confidence = _confidence(drug, cand, _confidence_quantity(ex), prior_q, n_levels, wres)
        results.append(res)
    _rank(results, tox_limit, drug)
    suggestion = None
    if suggest_from is not None and 0 <= suggest_from < len(candidates):
        suggestion = suggest_dose(s, candidates[suggest_from], tox_limit, max_dose_mg)
    return Comparison(
        drug=drug.name,
        model=model.key,
        results=results,
        suggestion=suggestion,
        settings=_settings(drug, int(etas.shape[0]), start, end, mic, tox_limit, step),
    )


def _settings(
    drug: Drug, n: int, start: float, end: float, mic: float, tox_limit: float, step: float
) -> dict[str, Any]:
    return {
        "n": n,
        "start_min": start,
        "end_min": end,
        "mic": mic,
        "tox_limit": tox_limit,
        "step_min": step,
        "target": drug.target.describe() if drug.target else None,
        "toxicity": drug.toxicity.describe() if drug.toxicity else None,
    }


def _confidence_quantity(ex: Exposure) -> FloatArray:
    return ex.target_value if ex.target_value is not None else ex.in_target


def _confidence(
    drug: Drug,
    cand: Candidate,
    post_q: FloatArray,
    prior_q: FloatArray | None,
    n_levels: int,
    wres: Sequence[float],
) -> Confidence | None:
    """Confidence of ``cand``'s prediction: prior vs posterior spread of the target quantity."""
    if prior_q is not None:
        what = drug.target.describe() if drug.target else "target"
        return assess(prior_q, post_q, n_levels=n_levels, wres=wres, quantity=f"the {what} of {cand.label}")
    if n_levels == 0:
        return Confidence("population", None, ["no measured levels: this is the population prediction"])
    return None


def evaluate_chunk(
    drug: Drug,
    model: PopModel,
    cov: Covariates,
    candidates: Sequence[Candidate],
    etas: FloatArray,
    *,
    history: Sequence[Dose] = (),
    start: float,
    end: float,
    mic: float = 1.0,
    step: float = 10.0,
    ec50_etas: FloatArray | None = None,
) -> list[dict[str, FloatArray | None]]:
    """Per-draw outcomes of each candidate for one chunk of draws (for fan-out; see :func:`summarise`)."""
    s = _Setup(drug, model, cov, tuple(history), etas, ec50_etas, start, end, mic, step)
    out: list[dict[str, FloatArray | None]] = []
    for cand in candidates:
        _, ex = _evaluate(s, cand, curves=False)
        out.append(
            {
                "in_target": ex.in_target,
                "toxic": ex.toxic,
                "time_in_window": ex.time_in_window,
                "target_value": ex.target_value,
                "tox_value": ex.tox_value,
            }
        )
    return out


def summarise(
    drug: Drug,
    candidates: Sequence[Candidate],
    chunks: Sequence[list[dict[str, FloatArray | None]]],
    tox_limit: float,
    curves: Sequence[dict[str, list[float]]] | None = None,
) -> list[CandidateResult]:
    """Combine per-chunk outcomes exactly (probabilities and quantiles over all draws) and rank."""

    def cat(i: int, key: str) -> FloatArray | None:
        parts = [c[i][key] for c in chunks]
        return None if any(p is None for p in parts) else np.concatenate([p for p in parts if p is not None])

    results = []
    for i, cand in enumerate(candidates):
        tv, xv = cat(i, "target_value"), cat(i, "tox_value")
        it, tx, tw = cat(i, "in_target"), cat(i, "toxic"), cat(i, "time_in_window")
        assert it is not None and tx is not None and tw is not None
        results.append(
            CandidateResult(
                label=cand.label,
                doses=cand.doses,
                p_target=float(np.mean(it)),
                p_toxicity=float(np.mean(tx)) if drug.toxicity else 0.0,
                time_in_window=float(np.mean(tw)),
                target_quantiles=None if tv is None else _quantiles(tv),
                toxicity_quantiles=None if xv is None else _quantiles(xv),
                curves=dict(curves[i]) if curves else {},
                confidence=None,
                total_mg=cand.total_mg,
            )
        )
    _rank(results, tox_limit, drug)
    return results


def suggestion_amounts(drug: Drug, template: Candidate, max_dose_mg: float | None = None) -> list[float]:
    """The dose amounts the suggestion searches: multiples of the drug's dose step up to
    ``max_dose_mg`` (default 3x the template's largest dose), at most 40 of them."""
    amounts = {d.amount for d in template.doses}
    base = max(amounts) if amounts else drug.dose_step_mg
    top = max_dose_mg or 3.0 * base
    step = drug.dose_step_mg
    n = int(top // step)
    if n > 40:
        step = float(np.ceil(top / 40 / step) * step)
        n = int(top // step)
    return [step * i for i in range(1, n + 1)]


def suggest_dose(
    s: _Setup, template: Candidate, tox_limit: float, max_dose_mg: float | None = None
) -> dict[str, Any]:
    grid = suggestion_amounts(s.drug, template, max_dose_mg)
    rows = []
    for a in grid:
        res, _ = _evaluate(s, _scaled(s.drug, template, a), curves=False)
        rows.append({"dose_mg": a, "p_target": res.p_target, "p_toxicity": res.p_toxicity})
    return _suggestion(template, grid, rows, tox_limit)


def _suggestion(
    template: Candidate, grid: list[float], rows: list[dict[str, Any]], tox_limit: float
) -> dict[str, Any]:
    ok = [r for r in rows if r["p_toxicity"] < tox_limit]
    out: dict[str, Any] = {"template": template.label, "grid": rows, "tox_limit": tox_limit}
    if not ok:
        out.update(
            dose_mg=None,
            explanation=f"no dose from {grid[0]:g} to {grid[-1]:g} mg keeps P(toxicity) below {tox_limit:.0%}",
        )
        return out
    best = max(ok, key=lambda r: (r["p_target"], -r["dose_mg"]))
    out.update(
        dose_mg=best["dose_mg"],
        p_target=best["p_target"],
        p_toxicity=best["p_toxicity"],
        explanation=(
            f"{best['dose_mg']:g} mg per dose on the schedule of {template.label} gives the highest "
            f"P(target) ({best['p_target']:.0%}) with P(toxicity) {best['p_toxicity']:.0%} < {tox_limit:.0%}"
        ),
    )
    return out
