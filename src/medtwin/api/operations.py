"""Hospital operations API (issue 9; see docs/operations.md). Access: operations managers and
admins (``flow.read`` / ``flow.run`` in :mod:`medtwin.security.policy`).

* ``GET /api/operations/logs`` logs in the server's data folder (``<data_dir>/operations``);
  ``PUT /api/operations/logs/{name}?offset=N&final=true`` uploads one in chunks (each below the
  request size limit);
* ``POST /api/operations/generate|analyses|simulations`` start background jobs (202 with the job);
  ``GET /api/operations/jobs/{id}`` progress, then the stored run's id;
* ``GET /api/operations/runs[?kind=&log=]``, ``/runs/{id}``, ``/runs/{id}/report`` (HTML),
  ``/runs/{id}/figures/{name}`` (SVG: process_map, waiting, wait_heatmap, arrivals_heatmap,
  utilisation, walking, validation, whatif_0...);
* ``GET /api/operations/scenarios`` example what-if plans; ``POST /api/operations/station``
  Erlang C next to the DES for one station (synchronous, bounded size).

Results never contain case ids; uploaded logs stay in the data folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from medtwin.api.deps import get_runtime
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.runtime import Runtime
from medtwin.services.operations.jobs import JobManager, task_analyze, task_generate, task_simulate
from medtwin.services.operations.logs import FORMATS, detect_format
from medtwin.services.operations.runs import RunStore

router = APIRouter(prefix="/api/operations", tags=["operations"])
RT = Annotated[Runtime, Depends(get_runtime)]
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
SCENARIOS = Path(__file__).resolve().parent.parent / "services" / "operations" / "data" / "scenarios"
MAX_STATION_PATIENTS = 1_000_000


class Service:
    def __init__(self, rt: Runtime) -> None:
        self.folder = Path(rt.settings.data_dir) / "operations"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.work = self.folder / ".work"
        self.jobs = JobManager(self.work)
        self.runs = RunStore(rt.store)
        rt.add_stopper(self.jobs.close)

    def log_path(self, name: str) -> Path:
        if not NAME.match(name) or name.endswith((".meta.json", ".part")):
            raise ValidationError("a plain file name (letters, digits, . _ -)", field="log")
        p = self.folder / name
        if not p.is_file():
            raise NotFoundError(f"no log {name!r} in the data folder", field="log")
        return p


def _svc(rt: Runtime) -> Service:
    svc = rt.services.get("operations")
    if svc is None:
        svc = rt.services["operations"] = Service(rt)
    return svc


def _actor(request: Request) -> str:
    return str(getattr(getattr(request.state, "principal", None), "actor", "") or "")


def _job(j: Any) -> JSONResponse:
    return JSONResponse(j.as_dict(), status_code=202)


@router.get("/logs")
def list_logs(rt: RT) -> list[dict[str, Any]]:
    svc = _svc(rt)
    out = []
    for p in sorted(svc.folder.iterdir()):
        if not p.is_file() or p.name.endswith((".meta.json", ".part")) or p.name.startswith("."):
            continue
        try:
            fmt = detect_format(p)
        except ValidationError:
            continue
        st = p.stat()
        out.append(
            {
                "name": p.name,
                "format": fmt,
                "bytes": st.st_size,
                "modified": st.st_mtime,
                "ground_truth": p.with_name(p.name + ".meta.json").exists(),
            }
        )
    return out


@router.put("/logs/{name}")
async def upload_log(
    name: str, request: Request, rt: RT, offset: int = Query(0, ge=0), final: bool = False
) -> dict[str, Any]:
    """Append one chunk of a log file at ``offset``; ``final=true`` completes the upload; offset 0
    starts it over (a retry after an interrupted upload)."""
    svc = _svc(rt)
    if not NAME.match(name):
        raise ValidationError("a plain file name (letters, digits, . _ -)", field="name")
    try:
        detect_format(Path(name))
    except ValidationError:
        raise ValidationError(
            f"unsupported extension; use one of {', '.join(sorted(FORMATS))}", field="name"
        ) from None
    part = svc.folder / (name + ".part")
    if offset == 0:
        part.unlink(missing_ok=True)  # a new upload: drop what an interrupted one left behind
    size = part.stat().st_size if part.exists() else 0
    if offset != size:
        raise ValidationError(
            f"offset {offset} does not continue the upload (have {size} bytes)", field="offset"
        )
    data = await request.body()
    with part.open("ab") as f:
        f.write(data)
    size += len(data)
    if final:
        part.replace(svc.folder / name)
    return {"name": name, "bytes": size, "complete": final}


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("outpatient.parquet", description="File name in the data folder (.parquet or .csv).")
    years: float = Field(1.0, gt=0, le=10)
    patients_per_day: float | None = Field(None, gt=0, le=20_000)
    seed: int = 1
    start: str | None = None
    bottlenecks: list[str] = Field(default_factory=list, description="e.g. 'Pharmacy:staff-2@11-14'")


@router.post("/generate", status_code=202)
def generate(body: GenerateIn, request: Request, rt: RT) -> JSONResponse:
    svc = _svc(rt)
    if not NAME.match(body.name) or Path(body.name).suffix not in (".parquet", ".csv"):
        raise ValidationError("a .parquet or .csv file name", field="name")
    params = body.model_dump()
    out = str(svc.folder / body.name)
    return _job(
        svc.jobs.submit(
            "generate",
            params,
            _actor(request),
            task_generate,
            (params, out),
            lambda job, res: setattr(job, "output", res),
        )
    )


class AnalyzeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log: str
    mapping: dict[str, Any] = Field(default_factory=dict, description="Column mapping (docs/operations.md).")


@router.post("/analyses", status_code=202)
def analyze(body: AnalyzeIn, request: Request, rt: RT) -> JSONResponse:
    svc = _svc(rt)
    path = svc.log_path(body.log)
    actor = _actor(request)

    def save(job: Any, res: dict[str, Any]) -> None:
        job.run_id = svc.runs.save("analysis", body.log, body.model_dump(), res, actor)

    return _job(
        svc.jobs.submit(
            "analysis",
            body.model_dump(),
            actor,
            task_analyze,
            (str(path), body.mapping, None, str(svc.work)),
            save,
        )
    )


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str | None = Field(None, description="Scenario YAML text.")
    scenario: dict[str, Any] | None = Field(None, description="The same as a JSON object.")


class SimulateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log: str
    plans: list[PlanIn] = Field(default_factory=list, max_length=4)
    replications: int = Field(10, ge=2, le=100)
    days: int = Field(10, ge=1, le=200)
    seed: int = 1
    mapping: dict[str, Any] = Field(default_factory=dict)


@router.post("/simulations", status_code=202)
def simulations(body: SimulateIn, request: Request, rt: RT) -> JSONResponse:
    import os

    import yaml

    from medtwin.services.operations.scenarios import load_scenario

    svc = _svc(rt)
    path = svc.log_path(body.log)
    plans = []
    for i, p in enumerate(body.plans):
        try:
            plans.append(
                load_scenario(text=p.yaml if p.yaml is not None else yaml.safe_dump(p.scenario or {}))
            )
        except ValidationError as exc:
            raise ValidationError(exc.reason, field=f"plans[{i}].{exc.field}") from None
    settings = {
        "replications": body.replications,
        "days": body.days,
        "seed": body.seed,
        "workers": os.cpu_count() or 1,
    }
    actor = _actor(request)
    params = body.model_dump()

    def save(job: Any, res: dict[str, Any]) -> None:
        job.run_id = svc.runs.save("simulation", body.log, params, res, actor)

    return _job(
        svc.jobs.submit(
            "simulation",
            params,
            actor,
            task_simulate,
            (str(path), plans, settings, body.mapping, None, str(svc.work)),
            save,
        )
    )


@router.get("/jobs")
def list_jobs(rt: RT) -> list[dict[str, Any]]:
    return [j.as_dict() for j in _svc(rt).jobs.list()]


@router.get("/jobs/{job_id}")
def get_job(job_id: str, rt: RT) -> dict[str, Any]:
    return _svc(rt).jobs.get(job_id).as_dict()


@router.get("/runs")
def list_runs(
    rt: RT, kind: str | None = None, log: str | None = None, limit: int = Query(50, ge=1, le=500)
) -> list[dict[str, Any]]:
    return _svc(rt).runs.list(kind, log, limit)


@router.get("/runs/{run_id}")
def get_run(run_id: str, rt: RT) -> dict[str, Any]:
    return _svc(rt).runs.get(run_id)


def _parts(run: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    res = run["result"]
    return (res["analysis"], res) if run["kind"] == "simulation" else (res, None)


@router.get("/runs/{run_id}/report", response_class=HTMLResponse)
def run_report(run_id: str, rt: RT) -> HTMLResponse:
    from medtwin.services.operations.report import render

    a, s = _parts(_svc(rt).runs.get(run_id))
    return HTMLResponse(
        render(a, s), headers={"Content-Disposition": f'attachment; filename="operations-{run_id}.html"'}
    )


@router.get("/runs/{run_id}/figures/{name}")
def run_figure(run_id: str, name: str, rt: RT) -> Response:
    from medtwin.services.operations.report import figures

    a, s = _parts(_svc(rt).runs.get(run_id))
    figs = figures(a, s)
    if name not in figs:
        raise NotFoundError(f"no figure {name!r}; this run has {', '.join(figs)}", field="name")
    return Response(figs[name], media_type="image/svg+xml")


@router.get("/scenarios")
def scenarios(rt: RT) -> list[dict[str, Any]]:
    from medtwin.services.operations.scenarios import load_scenario

    out = []
    for folder in (SCENARIOS, _svc(rt).folder / "scenarios"):
        if folder.is_dir():
            for p in sorted(folder.glob("*.yaml")):
                text = p.read_text(encoding="utf-8")
                sc = load_scenario(text=text)
                out.append(
                    {
                        "file": p.name,
                        "name": sc.get("name", p.stem),
                        "description": sc.get("description", ""),
                        "yaml": text,
                    }
                )
    return out


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arrivals_per_hour: float = Field(gt=0)
    service_minutes: float = Field(gt=0)
    servers: int = Field(ge=1, le=500)
    patients: int = Field(10_000, ge=10)
    replications: int = Field(10, ge=2, le=100)
    seed: int = 1


@router.post("/station")
def station(rt: RT, body: Annotated[StationIn, Body()]) -> dict[str, Any]:
    from medtwin.models.flow.des import simulate_station

    if body.patients * body.replications > MAX_STATION_PATIENTS:
        raise ValidationError(
            f"patients x replications must be <= {MAX_STATION_PATIENTS:,}", field="patients"
        )
    return simulate_station(
        body.arrivals_per_hour,
        body.service_minutes,
        body.servers,
        patients=body.patients,
        replications=body.replications,
        seed=body.seed,
    )
