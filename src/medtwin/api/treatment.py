"""Treatment simulation API (issue 7; docs/treatment.md).

Library and one-off simulation:
* ``GET /api/treatment/drugs``: drugs, population models, targets, toxicity criteria, sources;
* ``POST /api/treatment/simulate``: one typical-patient simulation (the CLI's ``pk simulate``).

A patient's twin (``{drug}`` is a library drug name):
* ``GET /api/twins/{id}/treatment``: current fits and recent runs;
* ``GET /api/twins/{id}/treatment/{drug}``: covariates, doses and levels on record;
* ``POST .../treatment/{drug}/levels`` ``{"value", "time"?, "code"?, "unit"?}`` and
  ``POST .../treatment/{drug}/doses`` ``{"dose_mg", "time"?, "duration_min"?, "route"?}``: record a
  measured level / a dose given (through the ingest pipeline; a new level triggers a refit);
* ``GET|POST .../treatment/{drug}/fit``: the current personalised fit with its curve and 90 %
  band (POST refits now, optionally with ``{"model", "covariates"}``);
* ``POST .../treatment/{drug}/compare``: Monte Carlo comparison of candidate regimens, stored as a
  run; ``GET .../treatment/runs``; ``POST .../treatment/runs/{run_id}/select`` ``{"label"}``.

Glucose twin: ``POST /api/twins/{id}/glucose/fit``, ``POST /api/twins/{id}/glucose/compare``;
``GET /api/glucose/patients`` and ``POST /api/glucose/simulate`` (open virtual cohort).

Heavy computations run in a worker thread. Errors are problem+json naming the field.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from medtwin.api.deps import get_runtime
from medtwin.api.guard import principal_of
from medtwin.api.treatment_models import (
    CompareIn,
    DoseIn,
    FitIn,
    GlucoseCompareIn,
    GlucoseFitIn,
    GlucoseSimIn,
    LevelIn,
    MeasurementsIn,
    SelectIn,
    SimulateIn,
)
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.core.ids import new_id
from medtwin.core.model import Method
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.models.glucose.cohort import cohort
from medtwin.models.pharmacology.covariates import Covariates, parse_sex
from medtwin.models.pharmacology.library import DRUGS, LIBRARY_VERSION, get_drug
from medtwin.models.pharmacology.regimen import parse_cli_regimen
from medtwin.runtime import Runtime
from medtwin.services.treatment import glucose as gl
from medtwin.services.treatment import pk
from medtwin.services.treatment.records import gather, known_covariates, require_patient
from medtwin.services.treatment.repository import TreatmentRepository
from medtwin.services.treatment.service import service_of

router = APIRouter(prefix="/api", tags=["treatment"])
RT = Annotated[Runtime, Depends(get_runtime)]


def _repo(rt: Runtime) -> TreatmentRepository:
    svc = service_of(rt)
    return svc.repo if svc is not None else TreatmentRepository(rt.store)


def _actor(request: Request) -> str:
    return principal_of(request).actor


async def _run(fn: Any, *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kw)


# ---------------------------------------------------------------------------------- library
@router.get("/treatment/drugs")
def drugs() -> dict[str, Any]:
    out = []
    for d in DRUGS.values():
        out.append(
            {
                "name": d.name,
                "display": d.display,
                "default_model": d.default_model,
                "models": [
                    {
                        "key": m.key,
                        "label": m.label,
                        "source": m.source,
                        "iiv": list(m.eta_names),
                        "iiv_source": m.iiv_source,
                        "unit": m.conc_unit,
                        "routes": list(m.routes),
                        "needs_scr": m.needs_scr,
                        "effect_site": m.effect_site,
                        "pd": None
                        if m.pd is None
                        else {"name": m.pd.name, "unit": m.pd.unit, "source": m.pd.source},
                        "notes": m.notes,
                    }
                    for m in d.models.values()
                ],
                "target": None
                if d.target is None
                else {"text": d.target.describe(), "source": d.target.source},
                "toxicity": None
                if d.toxicity is None
                else {"text": d.toxicity.describe(), "source": d.toxicity.source},
                "level_codes": list(d.level_codes),
                "default_route": d.default_route,
                "default_interval_h": d.default_interval_h,
                "dose_step_mg": d.dose_step_mg,
                "sources": list(d.sources),
            }
        )
    return {"library_version": LIBRARY_VERSION, "drugs": out}


@router.post("/treatment/simulate")
async def simulate(body: SimulateIn) -> dict[str, Any]:
    cov = Covariates(body.age, body.weight, body.height, parse_sex(body.sex), scr=body.scr)
    doses = parse_cli_regimen(body.regimen)
    return await _run(pk.simulate_once, body.drug, body.model, cov, doses, body.times_min)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------- a patient's twin
@router.get("/twins/{twin_id}/treatment")
def overview(twin_id: str, rt: RT) -> dict[str, Any]:
    require_patient(rt.store, twin_id)
    repo = _repo(rt)
    fits = [repo.current_fit(twin_id, d) for d in repo.drugs_with_fits(twin_id)]
    runs = [
        {k: r[k] for k in ("id", "kind", "drug", "created", "actor", "selected")}
        for r in repo.runs(twin_id, 20)
    ]
    return {"twin": twin_id, "fits": [_fit_summary(f) for f in fits if f], "runs": runs}


def _fit_summary(f: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "id",
        "drug",
        "model",
        "status",
        "confidence",
        "created",
        "method",
        "parameter_shrinkage",
        "warnings",
    )
    return {k: f.get(k) for k in keep} | {"n_levels": f["fit"].get("n_levels", f["fit"].get("n_cgm"))}


@router.get("/twins/{twin_id}/treatment/runs")
def runs(twin_id: str, rt: RT, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
    require_patient(rt.store, twin_id)
    return _repo(rt).runs(twin_id, limit)


@router.post("/twins/{twin_id}/treatment/runs/{run_id}/select")
def select(twin_id: str, run_id: str, body: SelectIn, request: Request, rt: RT) -> dict[str, Any]:
    repo = _repo(rt)
    if repo.get_run(run_id).get("twin_id") != twin_id:
        raise NotFoundError(f"no run {run_id!r} for this patient", field="run_id")
    return repo.select(run_id, body.label, _actor(request), rt.clock.now())


@router.get("/twins/{twin_id}/treatment/{drug}")
def record(twin_id: str, drug: str, rt: RT) -> dict[str, Any]:
    """The drug record; when a covariate is missing, what is known and ``missing`` (no error)."""
    d = get_drug(drug)
    twin = require_patient(rt.store, twin_id)
    try:
        data = gather(rt.store, twin, d, rt.clock.now())
    except ValidationError as exc:
        known, src = known_covariates(rt.store, twin)
        meds = gather(rt.store, twin, d, rt.clock.now(), overrides={**_PLACEHOLDER, **known})
        return {
            "drug": d.name,
            "origin": meds.origin.isoformat(),
            "covariates": known,
            "covariate_sources": src,
            "missing": [exc.field],
            "doses": meds.dose_records,
            "levels": meds.level_records,
            "warnings": meds.warnings,
        }
    return {
        "drug": d.name,
        "origin": data.origin.isoformat(),
        "covariates": pk.cov_dict(data.covariates),
        "covariate_sources": data.covariate_sources,
        "missing": [],
        "doses": data.dose_records,
        "levels": data.level_records,
        "warnings": data.warnings,
    }


_PLACEHOLDER = {"age": 50, "weight": 70, "height": 170, "sex": "male"}  # only to list records; never modelled


@router.post("/twins/{twin_id}/treatment/measurements", status_code=201)
async def add_measurements(twin_id: str, body: MeasurementsIn, request: Request, rt: RT) -> dict[str, Any]:
    """Body weight (kg), height (cm) and serum creatinine (mg/dL) as observations of the twin."""
    when = (body.time or rt.clock.now()).isoformat()
    readings = [
        {"code": code, "value": v, "time": when}
        for code, v in (("weight", body.weight), ("height", body.height), ("creatinine", body.scr))
        if v is not None
    ]
    if not readings:
        raise ValidationError("give weight, height or scr", field="weight")
    return await _run(_ingest, rt, request, twin_id, readings, [])  # type: ignore[no-any-return]


def _ingest(
    rt: Runtime, request: Request, twin_id: str, readings: list[dict[str, Any]], meds: list[dict[str, Any]]
) -> dict[str, Any]:
    require_patient(rt.store, twin_id)
    batch = ReadingBatch(
        source=_actor(request),
        msg_id=new_id(),
        readings=readings,
        subject=twin_id,
        method=Method.MANUAL,
        medications=meds,
    )
    res = rt.ingestor.ingest(batch).result(timeout=30)
    if res.rejected:
        r = res.rejected[0]
        raise ValidationError(str(r.get("reason")), field=r.get("field") or "value")
    return {"accepted": res.accepted, "duplicates": res.duplicates, "ids": [o.id for o in res.observations]}


@router.post("/twins/{twin_id}/treatment/{drug}/levels", status_code=201)
async def add_level(twin_id: str, drug: str, body: LevelIn, request: Request, rt: RT) -> dict[str, Any]:
    d = get_drug(drug)
    if not d.level_codes:
        raise ValidationError(f"{d.display} has no measured-level code in the library", field="drug")
    code = body.code or d.level_codes[0]
    if code not in d.level_codes:
        raise ValidationError(
            f"{code} is not a {d.name} level code ({', '.join(d.level_codes)})", field="code"
        )
    raw: dict[str, Any] = {
        "code": code,
        "value": body.value,
        "time": (body.time or rt.clock.now()).isoformat(),
    }
    if body.unit:
        raw["unit"] = body.unit
    return await _run(_ingest, rt, request, twin_id, [raw], [])  # type: ignore[no-any-return]


@router.post("/twins/{twin_id}/treatment/{drug}/doses", status_code=201)
async def add_dose(twin_id: str, drug: str, body: DoseIn, request: Request, rt: RT) -> dict[str, Any]:
    d = get_drug(drug)
    route = body.route or d.default_route
    med: dict[str, Any] = {
        "drug": d.name,
        "dose": body.dose_mg,
        "unit": "mg",
        "route": route,
        "time": (body.time or rt.clock.now()).isoformat(),
        "performer": _actor(request),
    }
    if body.duration_min is not None and route != "oral":
        med["note"] = f"duration_min={body.duration_min:g}"
    return await _run(_ingest, rt, request, twin_id, [], [med])  # type: ignore[no-any-return]


def _fit_with_curve(rt: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "curve": pk.fit_curve(rt.store, row, rt.clock.now())}


@router.get("/twins/{twin_id}/treatment/{drug}/fit")
async def get_fit(twin_id: str, drug: str, rt: RT) -> dict[str, Any]:
    d = get_drug(drug)
    row = _repo(rt).current_fit(twin_id, d.name)
    if row is None:
        raise NotFoundError(f"no {d.name} fit for this patient yet: POST to fit", field="drug")
    return await _run(_fit_with_curve, rt, row)  # type: ignore[no-any-return]


@router.post("/twins/{twin_id}/treatment/{drug}/fit")
async def post_fit(twin_id: str, drug: str, body: FitIn, request: Request, rt: RT) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        row = pk.fit_twin(
            rt.store, _repo(rt), twin_id, drug, now=rt.clock.now(), model_key=body.model,
            overrides=body.covariates, trigger="manual", actor=_actor(request),
        )  # fmt: skip
        return _fit_with_curve(rt, row)

    return await _run(work)  # type: ignore[no-any-return]


@router.post("/twins/{twin_id}/treatment/{drug}/compare", status_code=201)
async def compare(twin_id: str, drug: str, body: CompareIn, request: Request, rt: RT) -> dict[str, Any]:
    return await _run(  # type: ignore[no-any-return]
        pk.compare_for_twin, rt.store, _repo(rt), twin_id, drug, body.candidates, now=rt.clock.now(),
        horizon_h=body.horizon_h, mic=body.mic, tox_limit=body.tox_limit, n=body.n, seed=body.seed,
        suggest=body.suggest, actor=_actor(request),
    )  # fmt: skip


# ---------------------------------------------------------------------------------- glucose twin
@router.get("/twins/{twin_id}/glucose/fit")
def glucose_fit_get(twin_id: str, rt: RT) -> dict[str, Any]:
    row = _repo(rt).current_fit(twin_id, "insulin")
    if row is None:
        raise NotFoundError("no glucose fit for this patient yet: POST to fit", field="twin_id")
    return row


@router.post("/twins/{twin_id}/glucose/fit")
async def glucose_fit(twin_id: str, body: GlucoseFitIn, request: Request, rt: RT) -> dict[str, Any]:
    return await _run(  # type: ignore[no-any-return]
        gl.fit_glucose_twin, rt.store, _repo(rt), twin_id, now=rt.clock.now(), hours=body.hours,
        basal_u_per_h=body.basal_u_per_h, actor=_actor(request),
    )  # fmt: skip


@router.post("/twins/{twin_id}/glucose/compare", status_code=201)
async def glucose_compare(twin_id: str, body: GlucoseCompareIn, request: Request, rt: RT) -> dict[str, Any]:
    return await _run(  # type: ignore[no-any-return]
        gl.compare_glucose_twin, rt.store, _repo(rt), twin_id, body.candidates, now=rt.clock.now(),
        meals=body.meals, hours=body.hours, n=body.n, harm_limit=body.harm_limit, seed=body.seed,
        actor=_actor(request),
    )  # fmt: skip


@router.get("/glucose/patients")
def glucose_patients() -> list[dict[str, Any]]:
    return [
        {"name": p.name, "age": p.age, "weight": p.params["BW"], "carb_ratio": p.cr, "correction_factor": p.cf,
         "basal_u_per_h": p.basal_u_per_min * 60.0, "total_daily_insulin": p.tdi}
        for p in cohort().values()
    ]  # fmt: skip


@router.post("/glucose/simulate")
async def glucose_simulate(body: GlucoseSimIn) -> dict[str, Any]:
    out: dict[str, Any] = await _run(
        gl.simulate_virtual, body.patient, body.meals, body.regimen, hours=body.hours, seed=body.seed
    )
    return out
