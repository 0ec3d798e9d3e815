"""A regimen comparison split into parts of the draws and combined exactly. Pure.

:func:`evaluate_part` simulates one slice of the posterior (and prior) draws under every candidate
and the dose-suggestion grid, and returns the per-draw arrays; :func:`combine` concatenates them in
draw order and computes what :func:`~medtwin.models.pharmacology.compare.compare_regimens`
computes on all draws at once, with the same functions: probabilities, quantiles, confidence,
ranking, explanations and the suggestion. A draw's values do not depend on the other draws (the
models are vectorised row by row), so the split comparison equals the single-process one bit for
bit, wherever the parts ran (:func:`medtwin.services.treatment.fanout.compare_distributed`).

Curves (median and 90 % band) are taken from the first ``curve_draws`` draws (all of them up to
that number, as in one process): they are the only per-draw values kept per time point, so this
bounds what travels back and what the driver holds (``curve_draws`` x curve points x 8 bytes per
candidate, 46 MB for 20,000 draws over 48 h).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from medtwin.models.pharmacology.compare import (
    Candidate,
    Comparison,
    _confidence,
    _confidence_quantity,
    _curve_index,
    _curves,
    _rank,
    _result,
    _scaled,
    _settings,
    _Setup,
    _simulate,
    _suggestion,
    check_request,
    suggestion_amounts,
)
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import get_drug
from medtwin.models.pharmacology.linear import FloatArray
from medtwin.models.pharmacology.metrics import Exposure
from medtwin.models.pharmacology.regimen import Dose

CURVE_DRAWS = 20_000


@dataclass(frozen=True)
class PartSpec:
    """What every part evaluates (sent once to each worker; the drug travels by name)."""

    drug: str
    model: str | None
    cov: Covariates
    candidates: tuple[Candidate, ...]
    history: tuple[Dose, ...]
    start: float
    end: float
    mic: float
    step: float
    template: Candidate | None = None  # the dose suggestion's template, if any
    amounts: tuple[float, ...] = ()  # the suggestion's dose grid
    curve_draws: int = CURVE_DRAWS


def make_spec(
    drug_name: str,
    model_key: str | None,
    cov: Covariates,
    candidates: Sequence[Candidate],
    *,
    history: Sequence[Dose] = (),
    start: float,
    end: float,
    mic: float = 1.0,
    step: float = 10.0,
    tox_limit: float = 0.10,
    suggest_from: int | None = 0,
    max_dose_mg: float | None = None,
    curve_draws: int = CURVE_DRAWS,
) -> PartSpec:
    """Check the request as :func:`compare_regimens` does and fix what the parts evaluate."""
    drug = get_drug(drug_name)
    check_request(drug, candidates, tox_limit)
    template = None
    if suggest_from is not None and 0 <= suggest_from < len(candidates):
        template = candidates[suggest_from]
    amounts = tuple(suggestion_amounts(drug, template, max_dose_mg)) if template is not None else ()
    return PartSpec(drug.name, drug.model(model_key).key, cov, tuple(candidates), tuple(history),
                    start, end, mic, step, template, amounts, curve_draws)  # fmt: skip


def evaluate_part(
    spec: PartSpec,
    first: int,
    etas: FloatArray,
    prior_etas: FloatArray | None = None,
    ec50_etas: FloatArray | None = None,
) -> dict[str, Any]:
    """Per-draw outcomes of draws ``first .. first + len(etas) - 1`` (see the module docstring)."""
    drug = get_drug(spec.drug)
    s = _Setup(drug, drug.model(spec.model), spec.cov, spec.history, etas, ec50_etas,
               spec.start, spec.end, spec.mic, spec.step)  # fmt: skip
    rows = max(0, min(etas.shape[0], spec.curve_draws - first))
    cands: list[dict[str, Any]] = []
    for cand in spec.candidates:
        t, pred, ex = _simulate(s, cand)
        item: dict[str, Any] = {"ex": ex, "curve": None, "prior_q": None}
        if rows:
            sel = _curve_index(s, t)
            eff = None if pred.effect is None else np.ascontiguousarray(pred.effect[:rows, sel])
            item["curve"] = (t[sel], np.ascontiguousarray(pred.sim.cp[:rows, sel]), eff)
        if prior_etas is not None:
            item["prior_q"] = _confidence_quantity(_simulate(replace(s, etas=prior_etas), cand)[2])
        cands.append(item)
    grid = []
    if spec.template is not None:
        for a in spec.amounts:
            ex = _simulate(s, _scaled(drug, spec.template, a))[2]
            grid.append((ex.in_target, ex.toxic))
    return {"first": first, "n": int(etas.shape[0]), "candidates": cands, "grid": grid}


def _cat(arrays: Sequence[FloatArray | None]) -> FloatArray | None:
    return None if any(a is None for a in arrays) else np.concatenate([a for a in arrays if a is not None])


def _cat_exposure(exs: Sequence[Exposure]) -> Exposure:
    it, tx, tw = (
        np.concatenate([getattr(e, k) for e in exs]) for k in ("in_target", "toxic", "time_in_window")
    )
    return Exposure(_cat([e.target_value for e in exs]), _cat([e.tox_value for e in exs]), it, tx, tw)


def combine(
    spec: PartSpec,
    parts: Sequence[dict[str, Any]],
    *,
    n_levels: int = 0,
    wres: Sequence[float] = (),
    tox_limit: float = 0.10,
) -> Comparison:
    """The comparison over all parts' draws (parts in any order; they are put in draw order)."""
    parts = sorted(parts, key=lambda p: p["first"])
    drug = get_drug(spec.drug)
    results = []
    for i, cand in enumerate(spec.candidates):
        mine = [p["candidates"][i] for p in parts]
        ex = _cat_exposure([m["ex"] for m in mine])
        curve_parts = [m["curve"] for m in mine if m["curve"] is not None]
        curves: dict[str, list[float]] = {}
        if curve_parts:
            cp = np.concatenate([c[1] for c in curve_parts])
            eff = _cat([c[2] for c in curve_parts])
            curves = _curves(curve_parts[0][0], cp, eff)
        res = _result(drug, cand, ex, curves)
        prior_q = _cat([m["prior_q"] for m in mine])
        res.confidence = _confidence(drug, cand, _confidence_quantity(ex), prior_q, n_levels, wres)
        results.append(res)
    _rank(results, tox_limit, drug)
    suggestion = None
    if spec.template is not None:
        rows = []
        for j, a in enumerate(spec.amounts):
            it = np.concatenate([p["grid"][j][0] for p in parts])
            tx = np.concatenate([p["grid"][j][1] for p in parts])
            rows.append({"dose_mg": a, "p_target": float(np.mean(it)) if drug.target else float("nan"),
                         "p_toxicity": float(np.mean(tx)) if drug.toxicity else 0.0})  # fmt: skip
        suggestion = _suggestion(spec.template, list(spec.amounts), rows, tox_limit)
    n = sum(p["n"] for p in parts)
    return Comparison(
        drug=drug.name,
        model=spec.model or "",
        results=results,
        suggestion=suggestion,
        settings=_settings(drug, n, spec.start, spec.end, spec.mic, tox_limit, spec.step),
    )
