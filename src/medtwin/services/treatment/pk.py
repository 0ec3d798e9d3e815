"""Treatment simulation on a patient's twin: personalise (MAP fit), show the fit, compare regimens.

These functions join the store (:mod:`.records`, :mod:`.repository`) and the pure models
(:mod:`medtwin.models.pharmacology`). A fit is stored with its provenance (model and library
versions, covariates and their sources, the dose and level records used, method, trigger, actor);
a comparison is stored as a run with its inputs and outputs, and can later record the regimen the
clinician picked.

Fit-level confidence: ``population`` without levels; ``low`` when a level lies more than 3
residual SDs from the fit or when no parameter is informed (every parameter shrinkage above
0.30, :mod:`medtwin.models.pharmacology.identifiability`); otherwise ``informed``. Each compared
regimen then gets its own confidence for the quantity its target is defined on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from medtwin import __version__
from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.bayes import Fit, fit_map, posterior_samples
from medtwin.models.pharmacology.compare import Candidate, Comparison, compare_regimens
from medtwin.models.pharmacology.covariates import Covariates, describe
from medtwin.models.pharmacology.identifiability import SHRINKAGE_LIMIT, WRES_LIMIT, parameter_shrinkage
from medtwin.models.pharmacology.library import LIBRARY_VERSION, Drug, PopModel, get_drug
from medtwin.models.pharmacology.predict import predict
from medtwin.models.pharmacology.regimen import Dose, repeated
from medtwin.models.pharmacology.variability import sample_etas
from medtwin.services.treatment.records import gather, require_patient
from medtwin.services.treatment.repository import TreatmentRepository
from medtwin.store.sql import SqlStore

QUANTILES = (5.0, 50.0, 95.0)


def choose_model(
    drug: Drug, explicit: str | None, current: dict[str, Any] | None, attrs: dict[str, Any]
) -> PopModel:
    if explicit:
        return drug.model(explicit)
    if current is not None:
        return drug.model(str(current["model"]))
    pref = (attrs.get("treatment_models") or {}).get(drug.name)
    return drug.model(pref if isinstance(pref, str) else None)


def fit_confidence(fit: Fit) -> tuple[str, dict[str, float]]:
    shrink = {
        n: float(s) for n, s in zip(fit.eta_names, parameter_shrinkage(fit.cov, fit.omega), strict=True)
    }
    if fit.n_levels == 0:
        return "population", shrink
    if any(abs(r["wres"]) > WRES_LIMIT for r in fit.residuals):
        return "low", shrink
    informative = [
        s for n, s in shrink.items() if fit.omega[fit.eta_names.index(n), fit.eta_names.index(n)] > 0
    ]
    return ("low" if informative and min(informative) > SHRINKAGE_LIMIT else "informed"), shrink


def fit_twin(
    store: SqlStore,
    repo: TreatmentRepository,
    twin_id: str,
    drug_name: str,
    *,
    now: datetime,
    model_key: str | None = None,
    overrides: dict[str, Any] | None = None,
    trigger: str = "manual",
    actor: str = "system",
) -> dict[str, Any]:
    """Personalise the twin for ``drug_name`` from all its recorded doses and levels; store the fit."""
    drug = get_drug(drug_name)
    twin = require_patient(store, twin_id)
    model = choose_model(drug, model_key, repo.current_fit(twin_id, drug.name), twin.attributes or {})
    data = gather(store, twin, drug, now, overrides=overrides)
    fit = fit_map(model, data.covariates, data.doses, data.levels)
    level, shrink = fit_confidence(fit)
    record = {
        "fit": fit.as_dict(),
        "model_label": model.label,
        "model_source": model.source,
        "iiv_source": model.iiv_source,
        "model_version": model.version,
        "library_version": LIBRARY_VERSION,
        "software": f"medtwin {__version__}",
        "method": fit.method,
        "covariates": {**cov_dict(data.covariates), **describe(data.covariates)},
        "covariate_sources": data.covariate_sources,
        "doses": data.dose_records,
        "levels": data.level_records,
        "parameter_shrinkage": shrink,
        "warnings": data.warnings,
        "trigger": trigger,
        "actor": actor,
        "as_of": now.isoformat(),
    }
    return repo.add_fit(twin_id, drug.name, model.key, record, confidence=level, when=now)


def cov_dict(c: Covariates) -> dict[str, Any]:
    return {
        "age": c.age,
        "weight": c.weight,
        "height": c.height,
        "sex": c.sex,
        "scr": c.scr,
        "dialysis": c.dialysis,
    }


def current_or_new_fit(
    store: SqlStore, repo: TreatmentRepository, twin_id: str, drug: Drug, now: datetime, actor: str
) -> dict[str, Any]:
    row = repo.current_fit(twin_id, drug.name)
    return row if row is not None else fit_twin(store, repo, twin_id, drug.name, now=now, actor=actor)


def fit_curve(
    store: SqlStore,
    fit_row: dict[str, Any],
    now: datetime,
    *,
    hours_ahead: float = 24.0,
    n: int = 300,
    seed: int = 0,
) -> dict[str, Any]:
    """Median and 90 % band of the fitted (posterior) and population concentration curves, with the
    levels and doses, on hours relative to ``now`` (past negative)."""
    drug = get_drug(fit_row["drug"])
    model = drug.model(fit_row["model"])
    twin = require_patient(store, fit_row["twin_id"])
    data = gather(store, twin, drug, now, overrides=fit_row.get("covariates"))
    fit = Fit.from_dict(fit_row["fit"])
    start = min([d.time for d in data.doses] + [lv.time for lv in data.levels] + [-24 * 60.0]) - 60.0
    end = hours_ahead * 60.0
    t = np.linspace(start, end, 241)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"t_h": (t / 60.0).tolist(), "origin": now.isoformat(), "unit": model.conc_unit}
    for name, etas in (
        ("fit", posterior_samples(fit, n, rng)),
        ("population", sample_etas(fit.omega, n, rng)),
    ):
        cp = predict(model, data.covariates, data.doses, t, etas).sim.cp
        q = np.percentile(cp, QUANTILES, axis=0)
        out[name] = {"p5": q[0].tolist(), "p50": q[1].tolist(), "p95": q[2].tolist()}
    out["levels"] = [{"t_h": lv.time / 60.0, "value": lv.value} for lv in data.levels]
    out["doses"] = [
        {"t_h": d.time / 60.0, "dose_mg": d.amount, "duration_min": d.duration, "route": d.route}
        for d in data.doses
    ]
    return out


def build_candidates(drug: Drug, specs: Sequence[dict[str, Any]], start_min: float = 0.0) -> list[Candidate]:
    """Candidate regimens from their description: ``dose_mg``, ``interval_h``, ``n_doses`` and
    optionally ``label``, ``duration_min`` (IV; default: the drug's), ``route``, ``start_h``,
    ``loading_dose_mg`` (the first dose)."""
    out: list[Candidate] = []
    seen: set[str] = set()
    for i, s in enumerate(specs):
        try:
            dose = float(s["dose_mg"])
            interval = float(s.get("interval_h", drug.default_interval_h))
            n = int(s.get("n_doses", max(1, int(48 // interval))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"candidate {i}: {exc}", field="candidates", index=i) from None
        route = str(s.get("route", drug.default_route))
        start = start_min + float(s.get("start_h", 0.0)) * 60.0
        dur = float(s.get("duration_min", drug.default_infusion_min(dose))) if route == "iv" else 0.0
        doses = list(repeated(dose, interval * 60.0, n, start=start, duration=dur, route=route))  # type: ignore[arg-type]
        if s.get("loading_dose_mg"):
            ld = float(s["loading_dose_mg"])
            ldur = float(s.get("duration_min", drug.default_infusion_min(ld))) if route == "iv" else 0.0
            doses[0] = Dose(doses[0].time, ld, ldur, doses[0].route)
        label = str(s.get("label") or f"{dose:g} mg q{interval:g}h x{n}")
        if label in seen:
            label = f"{label} ({i + 1})"
        seen.add(label)
        out.append(Candidate(label, tuple(doses)))
    return out


def grid_step(horizon_min: float) -> float:
    return 1.0 if horizon_min <= 360 else 10.0 if horizon_min <= 3 * 1440 else 30.0


def compare_for_twin(
    store: SqlStore,
    repo: TreatmentRepository,
    twin_id: str,
    drug_name: str,
    specs: Sequence[dict[str, Any]],
    *,
    now: datetime,
    horizon_h: float = 48.0,
    mic: float = 1.0,
    tox_limit: float = 0.10,
    n: int = 1000,
    seed: int = 0,
    suggest: bool = True,
    actor: str = "system",
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Monte Carlo comparison of candidate regimens (starting now) on the twin's current fit; stored as a run.
    With a ``scheduler`` (docs/sweeps.md) the draws are simulated in chunks there (same result)."""
    drug = get_drug(drug_name)
    from medtwin.services.treatment.fanout import MAX_DRAWS

    top = MAX_DRAWS if scheduler else 20000
    if not 1 <= n <= top:
        raise ValidationError(
            f"n must be 1-{top}" + ("" if scheduler else " (more with a Dask scheduler)"), field="n"
        )
    if not 1 <= horizon_h <= 24 * 14:
        raise ValidationError("horizon must be 1 h to 14 days", field="horizon_h")
    fit_row = current_or_new_fit(store, repo, twin_id, drug, now, actor)
    model = drug.model(fit_row["model"])
    data = gather(store, require_patient(store, twin_id), drug, now, overrides=fit_row.get("covariates"))
    fit = Fit.from_dict(fit_row["fit"])
    rng = np.random.default_rng(seed)
    cands = build_candidates(drug, specs)
    post = posterior_samples(fit, n, rng)
    kw: dict[str, Any] = {
        "history": data.doses, "prior_etas": sample_etas(fit.omega, n, rng), "n_levels": fit.n_levels,
        "wres": [r["wres"] for r in fit.residuals], "start": 0.0, "end": horizon_h * 60.0, "mic": mic,
        "tox_limit": tox_limit, "step": grid_step(horizon_h * 60.0), "rng": rng, "suggest_from": 0 if suggest else None,
    }  # fmt: skip
    cmp: Comparison
    if scheduler:
        from medtwin.services.treatment.fanout import compare_distributed

        cmp = compare_distributed(
            scheduler, drug.name, model.key, data.covariates, cands, post, progress=progress, **kw
        )
    else:
        cmp = compare_regimens(drug, model, data.covariates, cands, post, **kw)
    record = {
        "input": {
            "candidates": list(specs),
            "horizon_h": horizon_h,
            "mic": mic,
            "tox_limit": tox_limit,
            "n": n,
            "seed": seed,
        },
        "output": cmp.as_dict(),
        "provenance": {
            "fit_id": fit_row["id"],
            "model": model.key,
            "library_version": LIBRARY_VERSION,
            "software": f"medtwin {__version__}",
            "as_of": now.isoformat(),
            "fit_confidence": fit_row["confidence"],
        },
    }
    return repo.add_run(
        twin_id=twin_id,
        kind="pk_compare",
        drug=drug.name,
        fit_id=fit_row["id"],
        actor=actor,
        record=record,
        when=now,
    )


def simulate_once(
    drug_name: str, model_key: str | None, cov: Covariates, doses: Sequence[Dose], times: Sequence[float]
) -> dict[str, Any]:
    """One deterministic simulation of the typical patient: ``{"t_min", "cp"[, "ce"][, "effect"]}``."""
    drug = get_drug(drug_name)
    model = drug.model(model_key)
    pred = predict(model, cov, doses, sorted(times))
    out: dict[str, Any] = {"t_min": [float(x) for x in pred.t], "cp": [float(x) for x in pred.sim.cp[0]]}
    if model.effect_site and pred.sim.ce is not None:
        out["ce"] = [float(x) for x in pred.sim.ce[0]]
    if pred.effect is not None and model.pd is not None:
        out["effect"] = [float(x) for x in pred.effect[0]]
        out["effect_unit"] = model.pd.unit
    out["unit"] = model.conc_unit
    return out
