"""Evacuation API (issue 10; docs/evacuation.md). Access: safety officers, operations managers and
admins (``evac.read`` / ``evac.run`` in :mod:`medtwin.security.policy`). Occupants appear by
pseudonym, bed, room and mobility class only, whoever asks.

* ``GET /api/evacuation/buildings``; ``GET|PUT /api/evacuation/buildings/{id}`` the building's
  geometry (GeoJSON, schema medtwin-building/1); ``POST .../{id}/import?format=las|laz|ifc|geojson``
  a plan or point cloud as the request body (up to the server's body limit; larger scans: ``medtwin
  evac import --store``); ``GET .../{id}/model.glb?census=night`` the 3D model with live occupancy;
  ``GET .../{id}/occupants?census=night|day|HH:MM`` the census on the plan;
* ``POST /api/evacuation/runs`` one scenario (the CLI's schema; ``building`` and ``census`` take the
  live twin), answered with the report and its ``id``; ``GET /api/evacuation/runs[/{id}[/replay]]``;
* ``POST /api/evacuation/compare`` ``{"base": scenario, "variants": [{"name", "changes"}]}``;
* ``GET /api/evacuation/presets`` scenarios and variants to start from.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from medtwin.api.deps import get_runtime
from medtwin.core.errors import ValidationError
from medtwin.models.evacuation.geojson import to_geojson
from medtwin.runtime import Runtime
from medtwin.security.service import security_for
from medtwin.services.safety import importers, variants
from medtwin.services.safety.service import SafetyService, safety_for

router = APIRouter(prefix="/api/evacuation", tags=["evacuation"])
RT = Annotated[Runtime, Depends(get_runtime)]
CENSUS = Query("night", pattern=r"^(day|night|[0-2][0-9]:[0-5][0-9])$", description="day, night or HH:MM")


def _actor(request: Request) -> str:
    return str(getattr(getattr(request.state, "principal", None), "actor", "") or "")


def _psn(rt: Runtime) -> Any:
    return security_for(rt).pseudonyms.pseudonym


@router.get("/buildings")
def list_buildings(rt: RT) -> dict[str, Any]:
    svc = safety_for(rt)
    stored = svc.store.buildings()
    demo_ready = svc._is_demo_hospital() and not any(b["id"] == "B1" for b in stored)
    return {"buildings": stored, "demo_available": demo_ready}


@router.get("/buildings/{building_id}")
def get_building(building_id: str, rt: RT) -> dict[str, Any]:
    svc = safety_for(rt)
    b = svc.building(building_id)
    return {"building": SafetyService.describe(b), "geojson": to_geojson(b)}


@router.put("/buildings/{building_id}")
def put_building(
    building_id: str, request: Request, rt: RT, doc: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    b = importers.read_geojson(doc)
    if b.id != building_id:
        raise ValidationError(f"the document is for building {b.id!r}", field="medtwin.building")
    return safety_for(rt).put_building(b, _actor(request))


@router.post("/buildings/{building_id}/import")
async def import_building(
    building_id: str,
    request: Request,
    rt: RT,
    fmt: str = Query(..., alias="format", pattern=r"^(las|laz|ifc|geojson)$"),
    floor: str = Query("F1", pattern=r"^[A-Za-z0-9._-]{1,32}$"),
) -> dict[str, Any]:
    data = await request.body()
    if not data:
        raise ValidationError("send the file as the request body", field="body")
    stats: dict[str, Any] = {}
    if fmt in ("las", "laz"):
        res = importers.read_lidar(data, building=building_id, floor=floor)
        b, stats = res.building, res.stats
    elif fmt == "ifc":
        b = importers.read_ifc(data, building=building_id)
    else:
        b = importers.read_geojson(data)
        if b.id != building_id:
            raise ValidationError(f"the document is for building {b.id!r}", field="medtwin.building")
    out = safety_for(rt).put_building(b, _actor(request))
    return {**out, "import": stats}


@router.get("/buildings/{building_id}/model.glb", response_class=Response)
def building_glb(building_id: str, rt: RT, census: str = CENSUS) -> Response:
    data = safety_for(rt).glb(building_id, _psn(rt), census)
    return Response(data, media_type="model/gltf-binary")


@router.get("/buildings/{building_id}/occupants")
def occupants(building_id: str, rt: RT, census: str = CENSUS,
              visitors_per_patient: float = Query(0.5, ge=0, le=5)) -> dict[str, Any]:  # fmt: skip
    return safety_for(rt).occupants(building_id, census, _psn(rt), visitors_per_patient)


@router.get("/presets")
def presets(rt: RT) -> dict[str, Any]:
    svc = safety_for(rt)
    base = {"name": "night fire in ICU room 3", "building": "B1", "census": "night", "strategy": "horizontal",
            "fire": {"space": "ICU-R03", "growth": "fast", "peak_kw": 1000}, "alarm_s": 60,
            "staff_response_s": 30, "pre_movement_s": 60}  # fmt: skip
    scenarios = [base, {**base, "name": "day, full evacuation", "census": "day", "strategy": "full"},
                 {**{k: v for k, v in base.items() if k != "fire"}, "name": "gas leak in MED utility (CO)",
                  "census": "day", "gas_leak": {"space": "MED-UTIL", "rate_m3_s": 0.002, "gas": "CO"}},
                 {**{k: v for k, v in base.items() if k != "fire"}, "name": "outbreak: MED room 2 closed",
                  "census": "day", "strategy": "full", "outbreak": ["MED-R02"]}]  # fmt: skip
    try:
        opts = variants.presets(svc.building("B1"))
    except Exception:
        opts = []
    return {"scenarios": scenarios, "variants": opts}


@router.post("/runs")
def run(request: Request, rt: RT, scenario: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    if len(json.dumps(scenario)) > 2_000_000:
        raise ValidationError("scenario too large", field="scenario")
    return safety_for(rt).run(scenario, actor=_actor(request), pseudonym=_psn(rt))


@router.get("/runs")
def list_runs(
    rt: RT, building: str | None = Query(None, max_length=64), limit: int = Query(50, ge=1, le=500)
) -> list[dict[str, Any]]:
    return safety_for(rt).store.runs(building, limit)


@router.get("/runs/{run_id}")
def get_run(run_id: str, rt: RT) -> dict[str, Any]:
    return safety_for(rt).store.run(run_id)


@router.get("/runs/{run_id}/replay")
def get_replay(run_id: str, rt: RT) -> dict[str, Any]:
    return safety_for(rt).store.replay(run_id)


@router.post("/compare")
def compare(request: Request, rt: RT, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    base, opts = body.get("base"), body.get("variants")
    if not isinstance(base, dict):
        raise ValidationError("needs the base scenario", field="base")
    if not isinstance(opts, list):
        raise ValidationError("needs a list of {name, changes}", field="variants")
    return safety_for(rt).compare(base, opts, actor=_actor(request), pseudonym=_psn(rt))
