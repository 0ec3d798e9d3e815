"""Insulin regimen comparison on the personalised glucose twin. Pure.

Each candidate regimen (:class:`~.scenario.InsulinRegimen`) is simulated over the same meal plan
for N draws of the patient's posterior (:mod:`.fit`), all regimens and draws in one vectorised
run, from the twin's basal steady state. Outcomes per regimen, on sensor glucose (the quantity
CGM targets are defined on): median and 5th-95th percentile of TIR, TBR < 70 and < 54, TAR > 180
and > 250, CV, LBGI, HBGI, mean; median and 90 % band curves; and two probabilities from the 2019
International Consensus targets (Battelino 2019, see :mod:`.metrics`):

* P(target) = P(TIR > 70 %);
* P(hypoglycaemia harm) = P(time < 70 >= 4 % or time < 54 >= 1 %).

Ranking and suggestion follow :mod:`medtwin.models.pharmacology.compare`: within the harm limit by
P(target), then by P(harm); the suggestion searches basal and carbohydrate-ratio multipliers of
a template regimen. Confidence per regimen: prediction shrinkage of mean glucose, posterior vs
prior draws (:mod:`medtwin.models.pharmacology.identifiability`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from medtwin.core.errors import ValidationError
from medtwin.models.glucose.cohort import FloatArray
from medtwin.models.glucose.fit import GlucoseFit
from medtwin.models.glucose.metrics import glycaemic_metrics
from medtwin.models.glucose.scenario import InsulinRegimen, Meal, insulin_inputs, meal_inputs
from medtwin.models.glucose.uva_padova import simulate
from medtwin.models.pharmacology.identifiability import assess
from medtwin.models.pharmacology.variability import sample_etas

QUANT = (5.0, 50.0, 95.0)
BASAL_GRID = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
CR_GRID = (0.7, 0.85, 1.0, 1.15, 1.3, 1.5)


def _outcomes(sensor: FloatArray, n_reg: int, n: int) -> list[dict[str, Any]]:
    m = glycaemic_metrics(sensor)
    out = []
    for r in range(n_reg):
        sl = slice(r * n, (r + 1) * n)
        qs = {k: [float(x) for x in np.percentile(v[sl], QUANT)] for k, v in m.items()}
        harm = (m["tbr70"][sl] >= 0.04) | (m["tbr54"][sl] >= 0.01)
        out.append(
            {
                "metrics": qs,
                "p_target": float(np.mean(m["tir"][sl] > 0.70)),
                "p_hypo": float(np.mean(harm)),
                "mean": m["mean"][sl],
            }
        )
    return out


def _run(
    fit: GlucoseFit,
    thetas: FloatArray,
    regimens: Sequence[InsulinRegimen],
    meals: Sequence[Meal],
    minutes: int,
) -> FloatArray:
    n = thetas.shape[0]
    cho = meal_inputs(meals, minutes)
    ins = np.vstack([np.repeat(insulin_inputs(r, meals, minutes)[None], n, axis=0) for r in regimens])
    pts = fit.patient(np.tile(thetas, (len(regimens), 1)))
    return simulate(pts, cho[None], ins, substeps=1).sensor


def compare_insulin(
    fit: GlucoseFit,
    regimens: Sequence[InsulinRegimen],
    meals: Sequence[Meal],
    *,
    hours: float = 24.0,
    n: int = 100,
    harm_limit: float = 0.05,
    rng: np.random.Generator | None = None,
    suggest_from: int | None = 0,
    n_cgm: int | None = None,
) -> dict[str, Any]:
    if not regimens:
        raise ValidationError("give at least one insulin regimen", field="candidates")
    if not 1 <= hours <= 72:
        raise ValidationError("horizon must be 1-72 h", field="hours")
    rng = rng or np.random.default_rng(0)
    minutes = int(hours * 60)
    post = sample_etas(fit.cov, n, rng, mean=fit.theta)
    prior = sample_etas(fit.prior_cov, n, rng)
    sens = _run(fit, post, regimens, meals, minutes)
    sens_prior = _run(fit, prior, regimens, meals, minutes)
    outs, outs_prior = _outcomes(sens, len(regimens), n), _outcomes(sens_prior, len(regimens), n)
    t5 = np.arange(0, minutes + 1, 5)
    results = []
    for i, reg in enumerate(regimens):
        block = sens[i * n : (i + 1) * n][:, t5]
        q = np.percentile(block, QUANT, axis=0)
        conf = assess(
            outs_prior[i]["mean"],
            outs[i]["mean"],
            n_levels=fit.n_cgm if n_cgm is None else n_cgm,
            quantity=f"mean glucose under {reg.label}",
        )
        o = outs[i]
        results.append(
            {
                "label": reg.label,
                "regimen": _regimen_dict(reg),
                "p_target": o["p_target"],
                "p_toxicity": o["p_hypo"],
                "metrics": o["metrics"],
                "curves": {
                    "t_h": (t5 / 60.0).tolist(),
                    "p5": q[0].tolist(),
                    "p50": q[1].tolist(),
                    "p95": q[2].tolist(),
                },
                "confidence": conf.as_dict(),
            }
        )
    _rank(results, harm_limit)
    out: dict[str, Any] = {
        "results": results,
        "ranking": [r["label"] for r in sorted(results, key=lambda r: r["rank"])],
        "settings": {
            "n": n,
            "hours": hours,
            "harm_limit": harm_limit,
            "template": fit.template,
            "target": "TIR 70-180 mg/dL > 70 %",
            "toxicity": "time < 70 >= 4 % or < 54 >= 1 %",
        },
        "suggestion": None,
    }
    if suggest_from is not None and 0 <= suggest_from < len(regimens):
        out["suggestion"] = _suggest(
            fit, regimens[suggest_from], meals, minutes, post[: max(20, n // 2)], harm_limit
        )
    return out


def _regimen_dict(r: InsulinRegimen) -> dict[str, Any]:
    return {
        "label": r.label,
        "basal_u_per_h": r.basal_u_per_h
        if isinstance(r.basal_u_per_h, float | int)
        else list(r.basal_u_per_h),
        "carb_ratio": r.carb_ratio,
        "bolus_offset_min": r.bolus_offset_min,
        "bolus_scale": r.bolus_scale,
    }


def _rank(results: list[dict[str, Any]], limit: float) -> None:
    for r in results:
        r["eligible"] = r["p_toxicity"] <= limit
    order = sorted(
        results,
        key=lambda r: (
            not r["eligible"],
            -r["p_target"] if r["eligible"] else r["p_toxicity"],
            -r["metrics"]["tir"][1],
        ),
    )
    for i, r in enumerate(order, start=1):
        r["rank"] = i
        head = (
            f"P(TIR > 70 %) {r['p_target']:.0%}, P(hypoglycaemia beyond consensus limits) {r['p_toxicity']:.0%} "
            f"(limit {limit:.0%}); median TIR {r['metrics']['tir'][1]:.0%}, TBR<70 {r['metrics']['tbr70'][1]:.1%}."
        )
        if r["eligible"] and i == 1:
            why = "Ranked first: the highest P(TIR > 70 %) among regimens within the hypoglycaemia limit."
        elif r["eligible"]:
            why = f"Ranked {i}: within the hypoglycaemia limit, lower P(TIR > 70 %) than {order[0]['label']}."
        elif i == 1:
            why = "Ranked first although above the hypoglycaemia limit: no candidate is within it, and this one has the lowest probability."
        else:
            why = f"Ranked {i}: its probability of hypoglycaemia exceeds the limit (ordered by lower probability)."
        conf = r["confidence"]
        extra = (
            f" Confidence {conf['level']}: {'; '.join(conf['reasons'])}." if conf["level"] != "high" else ""
        )
        r["explanation"] = f"{head} {why}{extra}"


def _suggest(
    fit: GlucoseFit,
    base: InsulinRegimen,
    meals: Sequence[Meal],
    minutes: int,
    thetas: FloatArray,
    limit: float,
) -> dict[str, Any]:
    if isinstance(base.basal_u_per_h, tuple) or base.carb_ratio is None:
        return {
            "dose": None,
            "explanation": "the template needs a constant basal rate and a carbohydrate ratio",
        }
    grid = [
        replace(
            base,
            label=f"basal x{b:g}, CR x{c:g}",
            basal_u_per_h=float(base.basal_u_per_h) * b,
            carb_ratio=base.carb_ratio * c,
        )
        for b in BASAL_GRID
        for c in CR_GRID
        if 1 <= base.carb_ratio * c <= 100
    ]
    outs = _outcomes(_run(fit, thetas, grid, meals, minutes), len(grid), thetas.shape[0])
    rows = [
        {
            "basal_u_per_h": g.basal_u_per_h,
            "carb_ratio": g.carb_ratio,
            "p_target": o["p_target"],
            "p_toxicity": o["p_hypo"],
        }
        for g, o in zip(grid, outs, strict=True)
    ]
    ok = [r for r in rows if r["p_toxicity"] < limit]
    if not ok:
        return {
            "dose": None,
            "grid": rows,
            "explanation": f"no basal/CR combination on the grid keeps P(hypoglycaemia) below {limit:.0%}",
        }
    best = max(ok, key=lambda r: (r["p_target"], -r["p_toxicity"]))
    return {
        "dose": {"basal_u_per_h": best["basal_u_per_h"], "carb_ratio": best["carb_ratio"]},
        "p_target": best["p_target"],
        "p_toxicity": best["p_toxicity"],
        "grid": rows,
        "explanation": (
            f"basal {best['basal_u_per_h']:.2f} U/h with CR {best['carb_ratio']:.1f} g/U gives the highest P(TIR > 70 %) "
            f"({best['p_target']:.0%}) with P(hypoglycaemia) {best['p_toxicity']:.0%} < {limit:.0%}"
        ),
    }
