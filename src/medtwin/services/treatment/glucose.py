"""The glucose-insulin twin of a patient with type 1 diabetes: records, personalisation, regimens.

Records (a window, default the last 24 h): CGM readings (LOINC 99504-3 and its aliases),
carbohydrate intake (``medtwin|carb-intake``, grams, one observation per meal), insulin boluses
(medication administrations whose drug name contains "insulin", units U/IU) and the basal rate
(``attributes.basal_u_per_h`` of the patient twin, or given with the request). The model is the
UVA/Padova 2008 model personalised as in :mod:`medtwin.models.glucose.fit`; the fit is stored as
a treatment fit with drug ``insulin`` and model ``uva-padova-2008``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from medtwin import __version__
from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ValidationError
from medtwin.models.glucose.cgm import cgm_readings
from medtwin.models.glucose.cohort import batch, get_patient
from medtwin.models.glucose.compare import compare_insulin
from medtwin.models.glucose.fit import GlucoseFit, GlucoseRecord, fit_glucose
from medtwin.models.glucose.metrics import glycaemic_metrics
from medtwin.models.glucose.scenario import InsulinRegimen, Meal, insulin_inputs, meal_inputs
from medtwin.models.glucose.uva_padova import simulate
from medtwin.services.treatment.records import minutes, require_patient
from medtwin.services.treatment.repository import TreatmentRepository
from medtwin.store.sql import SqlStore

MODEL = "uva-padova-2008"
_UNITS = {"u", "iu", "[iu]", "[iu]/1", "unit", "units"}


def gather_glucose(
    store: SqlStore, twin_id: str, start: datetime, end: datetime, basal_u_per_h: float | None = None
) -> tuple[GlucoseRecord, dict[str, Any]]:
    twin = require_patient(store, twin_id)
    basal = basal_u_per_h if basal_u_per_h is not None else (twin.attributes or {}).get("basal_u_per_h")
    if basal is None:
        raise ValidationError(
            "the basal insulin rate is unknown: set attributes.basal_u_per_h or give it",
            field="basal_u_per_h",
        )
    n = int((end - start).total_seconds() // 60)
    if n < 60:
        raise ValidationError("the record window must be at least 1 h", field="hours")
    cgm = store.history(twin_id, BY_KEY["cgm"].ref, start=start, end=end)
    if len(cgm) < 3:
        raise ValidationError("fewer than 3 CGM readings in the window", field="cgm")
    meals = [
        Meal(minutes(o.effective, start), float(o.value))
        for o in store.history(twin_id, BY_KEY["carbs"].ref, start=start, end=end)
        if o.value is not None
    ]
    boluses = [
        (minutes(m.effective, start), float(m.dose))
        for m in store.medications(twin_id, start=start, end=end)
        if "insulin" in m.drug.lower()
        and m.dose_unit.strip().lower() in _UNITS
        and m.status in ("completed", "")
    ]
    reg = InsulinRegimen("recorded", float(basal), None, boluses=tuple(boluses))
    rec = GlucoseRecord(
        meal_inputs(meals, n),
        insulin_inputs(reg, meals, n),
        np.asarray([minutes(o.effective, start) for o in cgm], dtype=np.float64),
        np.asarray([float(o.value or 0.0) for o in cgm], dtype=np.float64),
    )
    info = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "basal_u_per_h": float(basal),
        "meals": [{"time_min": m.time, "grams": m.grams} for m in meals],
        "boluses": [{"time_min": t, "units": u} for t, u in boluses],
        "cgm_ids": [o.id for o in cgm],
        "n_cgm": len(cgm),
    }
    return rec, info


def fit_glucose_twin(
    store: SqlStore,
    repo: TreatmentRepository,
    twin_id: str,
    *,
    now: datetime,
    hours: float = 24.0,
    basal_u_per_h: float | None = None,
    group: str = "adult",
    actor: str = "system",
) -> dict[str, Any]:
    rec, info = gather_glucose(store, twin_id, now - timedelta(hours=hours), now, basal_u_per_h)
    fit = fit_glucose(rec, group_prefix=group)
    sd = np.sqrt(np.diag(fit.cov))
    low = bool(np.all(sd > 0.7 * fit.prior_sd))  # none of the parameters narrowed by the record
    record = {
        "fit": fit.as_dict(),
        "record": info,
        "model_source": "Dalla Man 2007 / Kovatchev 2009 (UVA/Padova 2008), open cohort of simglucose 0.2.11",
        "software": f"medtwin {__version__}",
        "method": "template selection + MAP (Levenberg-Marquardt) + Laplace",
        "actor": actor,
        "as_of": now.isoformat(),
    }
    return repo.add_fit(twin_id, "insulin", MODEL, record, confidence="low" if low else "informed", when=now)


def regimens_from(specs: Sequence[dict[str, Any]]) -> list[InsulinRegimen]:
    out = []
    for i, s in enumerate(specs):
        try:
            out.append(
                InsulinRegimen(
                    label=str(s.get("label") or f"regimen {i + 1}"),
                    basal_u_per_h=float(s["basal_u_per_h"]),
                    carb_ratio=None if s.get("carb_ratio") in (None, "") else float(s["carb_ratio"]),
                    bolus_offset_min=float(s.get("bolus_offset_min", 0.0)),
                    bolus_scale=float(s.get("bolus_scale", 1.0)),
                )
            )
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"regimen {i}: {exc}", field="candidates", index=i) from None
    return out


def meals_from(specs: Sequence[dict[str, Any]]) -> list[Meal]:
    try:
        return [
            Meal(float(m.get("time_min", float(m.get("time_h", 0)) * 60)), float(m["grams"])) for m in specs
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"meals: {exc}", field="meals") from None


def compare_glucose_twin(
    store: SqlStore,
    repo: TreatmentRepository,
    twin_id: str,
    specs: Sequence[dict[str, Any]],
    *,
    now: datetime,
    meals: Sequence[dict[str, Any]] | None = None,
    hours: float = 24.0,
    n: int = 100,
    harm_limit: float = 0.05,
    seed: int = 0,
    actor: str = "system",
) -> dict[str, Any]:
    if not 5 <= n <= 2000:
        raise ValidationError("n must be 5-2000", field="n")
    row = repo.current_fit(twin_id, "insulin") or fit_glucose_twin(store, repo, twin_id, now=now, actor=actor)
    fit = GlucoseFit.from_dict(row["fit"])
    plan = meals_from(meals) if meals else meals_from(row["record"]["meals"])
    out = compare_insulin(
        fit,
        regimens_from(specs),
        plan,
        hours=hours,
        n=n,
        harm_limit=harm_limit,
        rng=np.random.default_rng(seed),
    )
    record = {
        "input": {
            "candidates": list(specs),
            "meals": [{"time_min": m.time, "grams": m.grams} for m in plan],
            "hours": hours,
            "n": n,
            "harm_limit": harm_limit,
            "seed": seed,
        },
        "output": out,
        "provenance": {
            "fit_id": row["id"],
            "model": MODEL,
            "software": f"medtwin {__version__}",
            "as_of": now.isoformat(),
        },
    }
    return repo.add_run(
        twin_id=twin_id,
        kind="glucose_compare",
        drug="insulin",
        fit_id=row["id"],
        actor=actor,
        record=record,
        when=now,
    )


def simulate_virtual(
    patient: str,
    meals: Sequence[dict[str, Any]],
    regimen: dict[str, Any],
    *,
    hours: float = 24.0,
    seed: int | None = None,
) -> dict[str, Any]:
    """One open-cohort virtual patient through a day: sensor glucose, optional CGM, metrics."""
    vp = get_patient(patient)
    if not 1 <= hours <= 72:
        raise ValidationError("hours must be 1-72", field="hours")
    plan = meals_from(meals)
    spec = {"basal_u_per_h": vp.basal_u_per_min * 60.0, "carb_ratio": vp.cr, **regimen}
    reg = regimens_from([spec])[0]
    m = int(hours * 60)
    sim = simulate(
        batch([patient]), meal_inputs(plan, m)[None], insulin_inputs(reg, plan, m)[None], substeps=1
    )
    g = sim.sensor[0]
    out: dict[str, Any] = {
        "patient": patient,
        "t_min": sim.t[::5].tolist(),
        "glucose": g[::5].tolist(),
        "metrics": {k: float(v[0]) for k, v in glycaemic_metrics(g[None]).items()},
        "regimen": {"basal_u_per_h": reg.basal_u_per_h, "carb_ratio": reg.carb_ratio},
    }
    if seed is not None:
        t, y = cgm_readings(g, np.random.default_rng(seed))
        out["cgm"] = {"t_min": t.tolist(), "value": y.tolist()}
    return out
