"""HTTP API for nurse charting, corrections, fluid balance, scores and monitoring settings.

Contract (docs/monitoring.md has curl examples):

* ``POST /api/twins/{id}/chart`` ``{"by", "time"?, "id"?, "readings": [{"code", "value", "unit"?,
  "time"?}], "medications": [{"drug", "dose", "unit", "route", "time"?}], "note"?, "fluid"?:
  {"intake_ml", "output_ml"}}`` -> after the commit ``{"accepted", "duplicates", "rejected":
  [{"index", "field", "reason"}], "observations": [...], "medications": [...]}``; 200, or 422 with
  the same body when every item was rejected. ``id`` is an optional client idempotency key:
  the same chart posted twice with the same ``id`` is stored once.
* ``POST /api/observations/{obs_id}/amend`` ``{"by", "value", "unit"?, "reason"}`` and
  ``POST /api/observations/{obs_id}/entered-in-error`` ``{"by", "reason"}`` -> ``{"correction",
  "original", "replacement"}`` (409 when the observation was already corrected).
* ``GET /api/observations/{obs_id}`` -> the observation (any status) with its ``correction``.
* ``GET /api/twins/{id}/fluid-balance?hours=24``, ``GET /api/twins/{id}/scores?hours=24[&score=]``.
* ``GET|PUT /api/twins/{id}/monitoring-settings`` ``{"news2_scale": 1|2, "by", "reason"}``
  (a reason is required for scale 2).

Errors are RFC 9457 problem+json naming the field (medtwin.api.problems).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from medtwin.api.deps import get_runtime
from medtwin.api.serialize import med_json, obs_json
from medtwin.core.errors import ParseError
from medtwin.runtime import Runtime
from medtwin.services.monitoring.charting import ChartingService
from medtwin.store.corrections import Correction

router = APIRouter(prefix="/api", tags=["charting"])
RT = Annotated[Runtime, Depends(get_runtime)]
Hours = Annotated[float, Query(gt=0, le=24 * 31, description="window length, hours back from now")]


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"body is not JSON: {exc}", field="body") from None


def _svc(rt: Runtime) -> ChartingService:
    svc = rt.services.get("charting")
    return svc if isinstance(svc, ChartingService) else ChartingService(rt)


@router.post("/twins/{twin_id}/chart")
async def chart(twin_id: str, request: Request, rt: RT) -> JSONResponse:
    """Chart readings, medications given, a note and fluids; answers after the commit."""
    body = await _json(request)
    fut = await asyncio.to_thread(_svc(rt).chart, twin_id, body)
    res = await asyncio.wrap_future(fut)
    out = {
        "accepted": res.accepted,
        "duplicates": res.duplicates,
        "rejected": res.rejected,
        "observations": [obs_json(o) for o in res.observations],
        "medications": [med_json(m) for m in res.medications],
    }
    status = 422 if res.rejected and res.accepted == 0 and res.duplicates == 0 else 200
    return JSONResponse(out, status_code=status)


def _correction_json(corr: Correction) -> dict[str, Any]:
    return corr.as_dict()


@router.post("/observations/{obs_id}/amend")
async def amend(obs_id: int, request: Request, rt: RT) -> dict[str, Any]:
    """Store a corrected value as a new observation (status amended); the original is kept."""
    body = await _json(request)
    orig, new, corr = await asyncio.to_thread(_svc(rt).amend, obs_id, body)
    return {"correction": _correction_json(corr), "original": obs_json(orig), "replacement": obs_json(new)}


@router.post("/observations/{obs_id}/entered-in-error")
async def entered_in_error(obs_id: int, request: Request, rt: RT) -> dict[str, Any]:
    """Withdraw an observation (status entered-in-error); its data stays readable."""
    body = await _json(request)
    orig, corr = await asyncio.to_thread(_svc(rt).enter_in_error, obs_id, body)
    return {"correction": _correction_json(corr), "original": obs_json(orig), "replacement": None}


@router.get("/observations/{obs_id}")
def observation(obs_id: int, rt: RT) -> dict[str, Any]:
    """One observation, whatever its status, and how it was corrected (if it was)."""
    o, corr = _svc(rt).observation(obs_id)
    return {**obs_json(o), "correction": None if corr is None else _correction_json(corr)}


@router.get("/twins/{twin_id}/fluid-balance")
def fluid_balance(twin_id: str, rt: RT, hours: Hours = 24.0) -> dict[str, Any]:
    return _svc(rt).fluid_balance(twin_id, hours)


@router.get("/twins/{twin_id}/scores")
def scores(twin_id: str, rt: RT, hours: Hours = 24.0, score: str | None = None) -> list[dict[str, Any]]:
    """NEWS2, qSOFA and MEWS derived observations (with provenance in ``meta``), oldest first."""
    return [obs_json(o) for o in _svc(rt).scores(twin_id, hours, score)]


@router.get("/twins/{twin_id}/monitoring-settings")
def get_monitoring_settings(twin_id: str, rt: RT) -> dict[str, Any]:
    return _svc(rt).monitoring_settings(twin_id)


@router.put("/twins/{twin_id}/monitoring-settings")
async def put_monitoring_settings(twin_id: str, request: Request, rt: RT) -> dict[str, Any]:
    """Set the patient's NEWS2 SpO2 scale (2 only for hypercapnic respiratory failure, with a reason)."""
    body = await _json(request)
    return await asyncio.to_thread(_svc(rt).set_monitoring_settings, twin_id, body)
