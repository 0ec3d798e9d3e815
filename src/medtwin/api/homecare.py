"""Remote care API (issue 8; docs/remote-care.md).

* ``POST /api/homecare/triage``: one-shot triage (the ``medtwin triage`` JSON; also
  ``symptoms`` and ``hypo_needs_assistance``); ``GET /api/homecare/rules``: the rule set.
* ``GET /api/homecare/patients``: enrolled patients the caller may see, with tier and latest values.
* ``GET /api/homecare/worklist[?include_closed=true]``: the remote-care nurse's worklist, most
  urgent tier first, then the longest waiting.
* ``GET|PUT|DELETE /api/twins/{id}/homecare``: enrolment (PUT body: see
  :mod:`medtwin.services.homecare.enrol`).
* ``GET .../homecare/decisions``, ``POST .../homecare/assess`` (assess now, store if changed),
  ``GET .../homecare/summary?date=YYYY-MM-DD``.
* ``POST .../homecare/worklist/{item_id}/acknowledge`` ``{}``, ``.../outcome``
  ``{"disposition", "note"?}``.
* ``POST .../homecare/import?format=omh|fhir|csv`` (raw file as the body): device exports.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field

from medtwin.api.deps import get_runtime
from medtwin.api.guard import filtered, principal_of
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.core.events import Context
from medtwin.models.triage import Decision, Reason, Tier, TriageInputError, triage_once
from medtwin.models.triage.point import evaluate_point
from medtwin.runtime import Runtime
from medtwin.services.homecare.repository import OUTCOMES
from medtwin.services.homecare.service import HomecareService, service_of
from medtwin.services.homecare.summary import daily_summary

router = APIRouter(prefix="/api", tags=["homecare"])
RT = Annotated[Runtime, Depends(get_runtime)]


class OutcomeIn(BaseModel):
    disposition: str = Field(description=f"one of {', '.join(OUTCOMES)}")
    note: str = Field("", max_length=2000)


def _svc(rt: Runtime) -> HomecareService:
    return service_of(rt)


def _visible(request: Request) -> set[str] | None:
    sec, p = filtered(request)
    v = sec.scope.visible_patients(p)
    return None if v is None else set(v)


@router.post("/homecare/triage")
def triage(body: Annotated[dict[str, Any], Body()], rt: RT) -> dict[str, Any]:
    body = dict(body)
    symptoms, level3 = bool(body.pop("symptoms", False)), bool(body.pop("hypo_needs_assistance", False))
    svc = _svc(rt)
    try:
        d = triage_once(body, svc.rules)
    except TriageInputError as exc:
        raise ValidationError(exc.reason, field=exc.field) from None
    if symptoms or level3:
        vals = {k: float(v) for k, v in body.items() if k != "conditions" and v is not None}
        vals = {{"temp_c": "temp", "glucose_mg_dl": "glucose"}.get(k, k): v for k, v in vals.items()}
        rs: list[Reason] = evaluate_point(vals, set(body.get("conditions", [])), svc.rules, symptoms=symptoms,
                                          hypo_needs_assistance=level3)  # fmt: skip
        d = Decision.of(rs or d.reasons)
    return d.as_dict()


@router.get("/homecare/rules")
def rules(rt: RT) -> dict[str, Any]:
    r = _svc(rt).rules
    return {"version": r.version, "rules": r.rules, "sources": r.sources}


@router.get("/homecare/patients")
def patients(request: Request, rt: RT) -> list[dict[str, Any]]:
    vis = _visible(request)
    svc = _svc(rt)
    out = []
    for e in svc.repo.enrolments():
        if vis is not None and e["twin"] not in vis:
            continue
        t = rt.store.get_twin(e["twin"])
        latest = rt.store.latest(e["twin"])
        last = svc.repo.decisions(e["twin"], 1)
        out.append({"twin": e["twin"], "name": t.name if t else "", "tier": e["tier"], "conditions": e["conditions"],
                    "home": e.get("home"), "since": last[0]["time"] if last else None,
                    "reasons": [r for r in (last[0]["reasons"] if last else []) if r["tier"] != "self"],
                    "latest": {code: {"value": o.value, "text": o.value_text, "time": o.effective.isoformat()}
                               for code, o in latest.items()}})  # fmt: skip
    out.sort(key=lambda x: (Tier(x["tier"]).rank, x["since"] or ""))
    return out


@router.get("/homecare/worklist")
def worklist(request: Request, rt: RT, include_closed: bool = False) -> list[dict[str, Any]]:
    return _svc(rt).repo.worklist(include_closed=include_closed, twin_ids=_visible(request))


@router.get("/twins/{twin_id}/homecare")
def get_enrolment(twin_id: str, rt: RT) -> dict[str, Any]:
    return _svc(rt).repo.require(twin_id)


@router.put("/twins/{twin_id}/homecare")
def put_enrolment(
    twin_id: str, body: Annotated[dict[str, Any], Body()], request: Request, rt: RT
) -> dict[str, Any]:
    return _svc(rt).enrol(twin_id, body, principal_of(request).actor)


@router.delete("/twins/{twin_id}/homecare")
def end_enrolment(twin_id: str, rt: RT) -> dict[str, Any]:
    _svc(rt).end(twin_id)
    return {"twin": twin_id, "active": False}


@router.get("/twins/{twin_id}/homecare/decisions")
def decisions(twin_id: str, rt: RT, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    svc = _svc(rt)
    svc.repo.require(twin_id)
    return svc.repo.decisions(twin_id, limit)


@router.post("/twins/{twin_id}/homecare/assess")
async def assess_now(twin_id: str, rt: RT) -> dict[str, Any]:
    d, did = await asyncio.to_thread(_svc(rt).evaluate, twin_id)
    return {**d.as_dict(), "decision_id": did, "stored": did is not None}


@router.get("/twins/{twin_id}/homecare/summary")
def summary(twin_id: str, rt: RT, day: Annotated[date | None, Query(alias="date")] = None) -> dict[str, Any]:
    return daily_summary(_svc(rt).repo, twin_id, day, rt.clock.now())


def _item_of(rt: Runtime, twin_id: str, item_id: int) -> HomecareService:
    svc = _svc(rt)
    if svc.repo.get_item(item_id)["twin"] != twin_id:
        raise NotFoundError(f"no worklist item {item_id} for {twin_id!r}", field="item_id")
    return svc


@router.post("/twins/{twin_id}/homecare/worklist/{item_id}/acknowledge")
def acknowledge(twin_id: str, item_id: int, request: Request, rt: RT) -> dict[str, Any]:
    return _item_of(rt, twin_id, item_id).repo.acknowledge(
        item_id, principal_of(request).actor, rt.clock.now()
    )


@router.post("/twins/{twin_id}/homecare/worklist/{item_id}/outcome")
def outcome(twin_id: str, item_id: int, body: OutcomeIn, request: Request, rt: RT) -> dict[str, Any]:
    svc = _item_of(rt, twin_id, item_id)
    return svc.repo.close(item_id, principal_of(request).actor, rt.clock.now(), body.model_dump())


@router.post("/twins/{twin_id}/homecare/import")
async def import_export(twin_id: str, request: Request, rt: RT,
                        fmt: Annotated[str, Query(alias="format", pattern="^(omh|fhir|csv)$")] = "omh") -> dict[str, Any]:  # fmt: skip
    from medtwin.services.homecare.importers import batches

    _svc(rt).repo.require(twin_id)
    raw = await request.body()
    actor = principal_of(request).actor
    total = {"accepted": 0, "duplicates": 0, "rejected": []}  # type: dict[str, Any]
    for bs, rejects in batches(fmt, raw, twin_id, f"import:{twin_id}"):

        def ingest(b: list[Any] = bs) -> Any:
            return rt.ingestor.ingest_many(b, context=Context(actor=actor)).result(30)

        res = await asyncio.to_thread(ingest)
        total["accepted"] += res.accepted
        total["duplicates"] += res.duplicates
        total["rejected"] += rejects + res.rejected
    return total
