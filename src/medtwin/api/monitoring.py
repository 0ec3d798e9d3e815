"""Alarm API (the dashboard's contract; see docs/alarms.md).

* ``GET /api/alarms?ward=&twin=&state=active|acknowledged|paused|resolved|open`` (default open =
  everything not resolved), sorted by priority (high first) then age (oldest first);
* ``GET /api/alarms/{id}`` with ``"history"`` (every stored state change);
* ``POST /api/alarms/{id}/acknowledge`` ``{"by"}``, ``/pause`` ``{"by", "seconds"?}``,
  ``/escalate`` ``{"by"}``, ``/resolve`` ``{"by"}`` (technical alarms, or conditions that ended);
* ``GET``/``PUT /api/twins/{id}/alarm-limits`` for a ward or a patient.

The service lives in ``runtime.services["alarms"]``; without it every route answers 503 as
problem+json. Errors are the platform's problem+json with the field that was wrong.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from medtwin.api.deps import get_runtime
from medtwin.api.guard import filtered
from medtwin.core.errors import MedtwinError, ValidationError
from medtwin.runtime import Runtime

router = APIRouter(prefix="/api", tags=["alarms"])
RT = Annotated[Runtime, Depends(get_runtime)]


class ServiceUnavailableError(MedtwinError):
    status = 503
    title = "Service unavailable"


class ByIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100, description="Who acts (staff id or user name).")


class PauseIn(ByIn):
    seconds: int | None = Field(
        None, ge=1, description="Audio pause length; default and maximum are hospital settings."
    )


def _svc(rt: Runtime) -> Any:
    svc = rt.services.get("alarms")
    if svc is None or not getattr(svc, "running", False):
        raise ServiceUnavailableError("the alarm service is not running", field="alarms")
    return svc


@router.get("/alarms")
def list_alarms(
    request: Request,
    rt: RT,
    ward: str | None = None,
    twin: str | None = None,
    state: Annotated[str, Query(description="active|acknowledged|paused|resolved|open")] = "open",
) -> list[dict[str, Any]]:
    """Alarms, limited to the patients (and places) the caller may see."""
    from medtwin.security.authz import alarm_visible

    sec, p = filtered(request)
    alarms = _svc(rt).list(ward=ward, twin=twin, state=state)
    return [a for a in alarms if alarm_visible(sec.scope, p, a)]


@router.get("/alarms/{alarm_id}")
def get_alarm(alarm_id: str, rt: RT) -> dict[str, Any]:
    return _svc(rt).get(alarm_id)  # type: ignore[no-any-return]


@router.post("/alarms/{alarm_id}/acknowledge")
def acknowledge(alarm_id: str, body: ByIn, rt: RT) -> dict[str, Any]:
    return _svc(rt).acknowledge(alarm_id, body.by)  # type: ignore[no-any-return]


@router.post("/alarms/{alarm_id}/pause")
def pause(alarm_id: str, body: PauseIn, rt: RT) -> dict[str, Any]:
    return _svc(rt).pause(alarm_id, body.by, body.seconds)  # type: ignore[no-any-return]


@router.post("/alarms/{alarm_id}/escalate")
def escalate(alarm_id: str, body: ByIn, rt: RT) -> dict[str, Any]:
    return _svc(rt).escalate(alarm_id, body.by)  # type: ignore[no-any-return]


@router.post("/alarms/{alarm_id}/resolve")
def resolve(alarm_id: str, body: ByIn, rt: RT) -> dict[str, Any]:
    return _svc(rt).resolve(alarm_id, body.by)  # type: ignore[no-any-return]


@router.get("/twins/{twin_id}/alarm-limits")
def get_limits(twin_id: str, rt: RT) -> dict[str, Any]:
    return _svc(rt).get_limits(twin_id)  # type: ignore[no-any-return]


@router.put("/twins/{twin_id}/alarm-limits")
def put_limits(
    twin_id: str,
    rt: RT,
    body: Annotated[
        dict[str, Any],
        Body(description='{"limits": {"hr": {"low": 45}}, "by": "..."} or the limits object itself'),
    ],
    by: str | None = None,
) -> dict[str, Any]:
    if "limits" in body and isinstance(body["limits"], dict):
        raw, who = body["limits"], body.get("by", by)
        extra = set(body) - {"limits", "by"}
        if extra:
            raise ValidationError(f"unexpected field(s): {', '.join(sorted(extra))}", field=sorted(extra)[0])
    else:
        raw, who = body, by
    if who is not None and (not isinstance(who, str) or not 0 < len(who) <= 100):
        raise ValidationError("by must be 1-100 characters", field="by")
    return _svc(rt).put_limits(twin_id, raw, who or "unknown")  # type: ignore[no-any-return]
