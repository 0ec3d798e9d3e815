"""Native API for twins, relationships, state, history and downsampled series."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from medtwin.api.deps import get_runtime
from medtwin.api.guard import filtered
from medtwin.api.serialize import bucket_json, med_json, obs_json, rel_json, twin_json
from medtwin.api.views import pseudonymised, rels_out, twins_out
from medtwin.core.codes import lookup
from medtwin.core.errors import ValidationError
from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.core.validate import parse_time
from medtwin.runtime import Runtime

router = APIRouter(prefix="/api", tags=["twins"])
RT = Annotated[Runtime, Depends(get_runtime)]


class TwinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: TwinKind
    name: str = Field("", max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)
    identity: dict[str, Any] = Field(default_factory=dict)
    active: bool = True


class RelationshipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    src: str = Field(min_length=1, max_length=64)
    type: RelType
    dst: str = Field(min_length=1, max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict)


def _code(code: str) -> str:
    info = lookup(code) or lookup(code, "loinc")
    if info is None:
        raise ValidationError(f"unknown code {code!r}", field="code")
    return info.ref


def _window(start: str | None, end: str | None, rt: Runtime, default: timedelta) -> tuple[datetime, datetime]:
    e = parse_time(end, "end") if end else rt.clock.now()
    s = parse_time(start, "start") if start else e - default
    if s >= e:
        raise ValidationError("start must be before end", field="start")
    return s, e


@router.get("/twins")
def list_twins(
    request: Request,
    rt: RT,
    kind: TwinKind | None = None,
    mrn: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """Twins (of one kind), limited to those the caller may see. ``mrn`` finds twins by MRN (or any
    identifier) through the keyed blind index: only the matches are decrypted."""
    sec, p = filtered(request)
    twins = rt.store.find_twins(mrn) if mrn else rt.store.list_twins(kind)
    if mrn and kind is not None:
        twins = [t for t in twins if t.kind is kind]
    return twins_out(sec, p, twins)


@router.get("/twins/{twin_id}")
def get_twin(twin_id: str, request: Request, rt: RT) -> dict[str, Any]:
    sec, p = filtered(request)
    t = rt.registry.get(twin_id)
    out = twin_json(t)
    out["location"] = [twin_json(x, identity=False) for x in rt.registry.location_chain(twin_id)]
    out["relationships"] = rels_out(sec, p, rt.store.relationships(twin_id))
    return out


@router.put("/twins/{twin_id}")
def put_twin(twin_id: str, body: TwinIn, rt: RT) -> dict[str, Any]:
    t = Twin(
        id=twin_id,
        kind=body.kind,
        name=body.name,
        attributes=body.attributes,
        identity=body.identity,
        active=body.active,
    )
    return twin_json(rt.registry.put(t))


@router.delete("/twins/{twin_id}", status_code=204)
def delete_twin(twin_id: str, rt: RT) -> None:
    rt.registry.remove(twin_id)


@router.get("/twins/{twin_id}/relationships")
def relationships(twin_id: str, request: Request, rt: RT) -> list[dict[str, Any]]:
    sec, p = filtered(request)
    rt.registry.get(twin_id)
    return rels_out(sec, p, rt.store.relationships(twin_id))


@router.post("/relationships", status_code=201)
def relate(body: RelationshipIn, rt: RT) -> dict[str, Any]:
    return rel_json(rt.registry.relate(body.src, body.type, body.dst, body.attributes))


@router.delete("/relationships", status_code=204)
def unrelate(rt: RT, src: str, type: RelType, dst: str) -> None:
    rt.registry.unrelate(src, type, dst)


@router.get("/twins/{twin_id}/children")
def children(twin_id: str, request: Request, rt: RT) -> list[dict[str, Any]]:
    sec, p = filtered(request)
    rt.registry.get(twin_id)
    return twins_out(sec, p, rt.registry.descendants(twin_id), identity=False)


@router.get("/twins/{twin_id}/state")
def state(twin_id: str, rt: RT) -> dict[str, Any]:
    rt.registry.get(twin_id)
    latest = rt.store.latest(twin_id)
    return {
        "twin": twin_id,
        "time": rt.clock.now().isoformat(),
        "latest": {(o.code): obs_json(o) for o in latest.values()},
    }


@router.get("/twins/{twin_id}/observations")
def history(
    twin_id: str,
    rt: RT,
    code: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 1000,
    include_errors: bool = False,
) -> list[dict[str, Any]]:
    rt.registry.get(twin_id)
    s, e = _window(start, end, rt, timedelta(hours=24))
    rows = rt.store.history(
        twin_id, _code(code) if code else None, s, e, limit, include_errors=include_errors
    )
    return [obs_json(o) for o in rows]


@router.get("/twins/{twin_id}/series")
def series(
    twin_id: str,
    rt: RT,
    code: str,
    start: str | None = None,
    end: str | None = None,
    bucket: Annotated[float | None, Query(gt=0, le=86_400 * 31)] = None,
    points: Annotated[int, Query(ge=10, le=5000)] = 600,
) -> dict[str, Any]:
    """Downsampled series for charts: the bucket size defaults to (end - start) / points."""
    rt.registry.get(twin_id)
    s, e = _window(start, end, rt, timedelta(hours=1))
    size = bucket or max(1.0, (e - s).total_seconds() / points)
    c = _code(code)
    return {
        "twin": twin_id,
        "code": c,
        "start": s.isoformat(),
        "end": e.isoformat(),
        "bucket_s": size,
        "buckets": [bucket_json(b) for b in rt.store.buckets(twin_id, c, s, e, size)],
    }


@router.get("/twins/{twin_id}/medications")
def medications(
    twin_id: str, rt: RT, start: str | None = None, end: str | None = None
) -> list[dict[str, Any]]:
    rt.registry.get(twin_id)
    s, e = _window(start, end, rt, timedelta(days=7))
    return [med_json(m) for m in rt.store.medications(twin_id, s, e)]


@router.get("/places/{place_id}/patients")
def place_patients(place_id: str, request: Request, rt: RT) -> list[dict[str, Any]]:
    """Patients located in a ward, room or building, each with its bed and latest state; only the
    patients the caller may see, and under a pseudonym without clinical detail for roles that see
    occupancy but not patients (operations, safety officer)."""
    from medtwin.security.authz import occupancy_view

    sec, who = filtered(request)
    rt.registry.get(place_id)
    everyone = rt.registry.patients_in(place_id)
    views = {p.id: occupancy_view(sec.scope, who, p.id) for p in everyone}
    patients = [p for p in everyone if views[p.id]]
    latest = rt.store.latest_many(p.id for p in patients if views[p.id] == "full")
    out = []
    for p in patients:
        chain = rt.registry.location_chain(p.id)
        full = views[p.id] == "full"
        out.append(
            {
                **(twin_json(p) if full else pseudonymised(sec, p)),
                "location": [twin_json(x, identity=False) for x in chain],
                "latest": {o.code: obs_json(o) for o in latest.get(p.id, {}).values()} if full else {},
            }
        )
    return out


@router.get("/codes")
def codes() -> list[dict[str, Any]]:
    from medtwin.core.codes import all_codes

    return [
        {
            "key": c.key,
            "system": c.system,
            "code": c.code,
            "ref": c.ref,
            "display": c.display,
            "kind": c.kind.value,
            "unit": c.unit,
            "answers": list(c.answers),
            "category": c.category,
        }
        for c in all_codes()
    ]


@router.get("/rejects")
def rejects(rt: RT, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    return rt.store.rejects(limit)
