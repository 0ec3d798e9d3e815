"""De-identified export for researchers: ``GET`` or ``POST /api/export/deid``.

Query (GET) or JSON body (POST): ``patients`` (comma-separated ids, or a list; default all),
``mode`` (``year`` default, Safe Harbor; ``shift``), ``purpose`` (pseudonym key; default
``research``), ``start``/``end`` (time window). Answers ``{"report": ..., "bundle": ...}`` with a
FHIR collection Bundle (see :mod:`medtwin.security.deid`). The audit middleware records each call
as an ``export`` event; the policy table decides who may call it (researchers, privacy officers).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from medtwin.api.deps import get_runtime
from medtwin.core.errors import ValidationError
from medtwin.core.validate import parse_time
from medtwin.runtime import Runtime
from medtwin.security import deid
from medtwin.security.audit import audit

router = APIRouter(prefix="/api/export", tags=["export"])
RT = Annotated[Runtime, Depends(get_runtime)]
Name = Field(default="research", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


class DeidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patients: list[str] | None = Field(default=None, max_length=10_000)
    mode: str = Field(default="year", pattern="^(year|shift)$")
    purpose: str = Name
    start: str | None = None
    end: str | None = None


def _run(rt: Runtime, body: DeidIn) -> dict[str, Any]:
    opts = deid.Options(
        purpose=body.purpose,
        mode=body.mode,
        patients=body.patients,
        start=parse_time(body.start, "start") if body.start else None,
        end=parse_time(body.end, "end") if body.end else None,
    )
    bundle, report = deid.export_bundle(rt.store, opts)
    audit("export", action="R", detail={"what": "deid", "purpose": body.purpose, "patients": report.patients})
    return {"report": report.as_dict(), "bundle": bundle}


@router.get("/deid")
def deid_get(
    rt: RT,
    patients: Annotated[
        str | None, Query(max_length=8000, description="Comma-separated patient ids (longer lists: POST)")
    ] = None,
    mode: Annotated[str, Query(pattern="^(year|shift)$")] = "year",
    purpose: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")] = "research",
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    ids = [p for p in (x.strip() for x in patients.split(",")) if p] if patients else None
    return _run(rt, DeidIn(patients=ids, mode=mode, purpose=purpose, start=start, end=end))


@router.post("/deid")
def deid_post(rt: RT, body: DeidIn, request: Request) -> dict[str, Any]:
    if body.patients is not None and not body.patients:
        raise ValidationError("patients must not be an empty list (leave it out for all)", field="patients")
    return _run(rt, body)
