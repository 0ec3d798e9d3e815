"""Training API (issue 12; docs/training.md): cases, sessions, scoring, the instructor's view.

Trainees (``training.play``) see published cases without the answers and only their own sessions;
educators (``training.build``, ``training.teach``) build cases from real twins in their care scope
(``patient.teach`` on the twin, through the de-identified export), edit and publish them, and see
cohorts and replays. The policy table (:mod:`medtwin.security.policy`) decides who may call what;
the service (:mod:`medtwin.services.training.service`) filters what each sees.

Library: ``GET /api/training/catalogue`` (actions, investigations, diagnosis pick list, stages),
``GET|POST /api/training/cases``, ``GET|PUT /api/training/cases/{id}``,
``GET /api/training/cases/{id}/export``, ``POST /api/training/cases/import``,
``GET /api/training/candidates``, ``POST /api/training/twins/{twin_id}/case``,
``POST /api/training/demo-cases``. Sessions: ``POST|GET /api/training/sessions``,
``GET /api/training/sessions/{id}``, ``POST .../reveal|actions|orders|clock|diagnosis``,
``GET .../report``, ``GET .../replay``. Instructor: ``GET /api/training/cohort``,
``GET /api/training/cases/{id}/cohort``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from medtwin.api.deps import get_runtime
from medtwin.api.guard import filtered, principal_of
from medtwin.core.errors import ValidationError
from medtwin.core.model import TwinKind
from medtwin.models.virtual_patient.actions import catalogue as action_catalogue
from medtwin.models.virtual_patient.choices import catalogue as choice_catalogue
from medtwin.models.virtual_patient.conditions import CONDITIONS
from medtwin.models.virtual_patient.outcome import DANGER
from medtwin.models.virtual_patient.sources import SOURCES
from medtwin.runtime import Runtime
from medtwin.security.audit import audit
from medtwin.security.policy import has_perm
from medtwin.services.training.codes import pick_list
from medtwin.services.training.investigations import catalogue as test_catalogue
from medtwin.services.training.service import TrainingService, Viewer, service_for
from medtwin.services.training.sessions import SPEEDS, STAGE_ORDER

router = APIRouter(prefix="/api/training", tags=["training"])
RT = Annotated[Runtime, Depends(get_runtime)]
JsonBody = Annotated[dict[str, Any] | None, Body()]


def _svc(rt: Runtime) -> TrainingService:
    return service_for(rt.store, rt.clock)


def _viewer(request: Request) -> Viewer:
    p = principal_of(request)
    return Viewer(p.subject, teach=has_perm(p.role, "training.teach"))


def _actor(request: Request) -> str:
    return principal_of(request).actor


async def _run(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return await asyncio.to_thread(fn, *args, **kw)
    except (TypeError, KeyError) as exc:  # a body of the wrong shape that slipped past a validator
        raise ValidationError(f"malformed request: {exc}", field="body") from None


def _str(body: dict[str, Any], key: str) -> Any:
    v = body.get(key)
    if v is not None and not isinstance(v, str):
        raise ValidationError("must be text", field=key)
    return v


# ---------------------------------------------------------------------------------- library
@router.get("/catalogue")
def catalogue(request: Request) -> dict[str, Any]:
    teach = _viewer(request).teach
    return {
        "actions": action_catalogue(), "investigations": test_catalogue(), "diagnoses": pick_list(),
        "stages": list(STAGE_ORDER), "speeds": list(SPEEDS),
        "conditions": [{"key": c.key, "label": c.label, "icd10": c.icd10, "specialty": c.specialty}
                       for c in CONDITIONS.values()] if teach else [],
        "choices": choice_catalogue() if teach else [], "danger": [
            {"key": d[1], "op": d[2], "default": d[3], "source": d[4]} for d in DANGER] if teach else [],
        "sources": SOURCES,
    }  # fmt: skip


@router.get("/cases")
async def list_cases(
    rt: RT, request: Request, status: str | None = None, condition: str | None = None,
    specialty: str | None = None, difficulty: str | None = None, tag: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The library (trainees: published cases, no answers); filters by status and condition
    (educators), specialty, difficulty and tag."""
    return await _run(_svc(rt).cases, _viewer(request), status=status, condition=condition,  # type: ignore[no-any-return]
                      specialty=specialty, difficulty=difficulty, tag=tag)  # fmt: skip


@router.post("/cases", status_code=201)
async def create_case(rt: RT, request: Request, body: JsonBody = None) -> dict[str, Any]:
    b = body or {}
    cond = _str(b, "condition")
    if cond not in CONDITIONS:
        raise ValidationError(f"one of {', '.join(CONDITIONS)}", field="condition")
    return await _run(_svc(rt).case_from_template, cond, b, _actor(request))  # type: ignore[no-any-return]


@router.post("/cases/import", status_code=201)
async def import_case(rt: RT, request: Request, body: JsonBody = None) -> dict[str, Any]:
    return await _run(_svc(rt).import_case, body or {}, _actor(request))  # type: ignore[no-any-return]


@router.get("/cases/{case_id}")
async def get_case(rt: RT, case_id: str, request: Request) -> dict[str, Any]:
    return await _run(_svc(rt).case, case_id, _viewer(request))  # type: ignore[no-any-return]


@router.put("/cases/{case_id}")
async def edit_case(rt: RT, case_id: str, request: Request, body: JsonBody = None) -> dict[str, Any]:
    return await _run(_svc(rt).edit_case, case_id, body or {})  # type: ignore[no-any-return]


@router.get("/cases/{case_id}/export")
async def export_case(rt: RT, case_id: str) -> dict[str, Any]:
    doc = await _run(_svc(rt).export_case, case_id)
    audit("export", action="R", detail={"what": "training-case", "case": case_id})
    return doc  # type: ignore[no-any-return]


@router.get("/cases/{case_id}/cohort")
async def case_cohort(rt: RT, case_id: str) -> dict[str, Any]:
    return await _run(_svc(rt).cohort, case_id)  # type: ignore[no-any-return]


@router.get("/cohort")
async def cohorts(rt: RT) -> list[dict[str, Any]]:
    return await _run(_svc(rt).cohorts)  # type: ignore[no-any-return]


@router.get("/candidates")
def candidates(rt: RT, request: Request) -> list[dict[str, Any]]:
    """Patients the educator may build cases from (care scope), under their display pseudonym."""
    sec, p = filtered(request)
    visible = sec.scope.visible_patients(p)
    out = []
    for t in rt.store.list_twins(TwinKind.PATIENT, ids=None if visible is None else sorted(visible)):
        if not t.active:
            continue
        ward = rt.registry.ward_of(t.id)
        out.append({"id": t.id, "display": sec.pseudonyms.pseudonym(t.id), "ward": ward.id if ward else None,
                    "condition": t.attributes.get("condition"), "sex": t.attributes.get("sex")})  # fmt: skip
    return out


@router.post("/twins/{twin_id}/case", status_code=201)
async def case_from_twin(rt: RT, twin_id: str, request: Request, body: JsonBody = None) -> dict[str, Any]:
    b = body or {}
    for k in ("condition", "title", "specialty", "difficulty"):
        _str(b, k)
    out = await _run(_svc(rt).case_from_twin, twin_id, b, _actor(request))
    audit("export", action="R", detail={"what": "training-case-build", "case": out["id"]})
    return out  # type: ignore[no-any-return]


@router.post("/demo-cases")
async def demo_cases(rt: RT, request: Request) -> dict[str, Any]:
    from medtwin.services.training.demo import seed_demo_cases

    return {"cases": await _run(seed_demo_cases, _svc(rt), _actor(request))}


# ---------------------------------------------------------------------------------- sessions
@router.post("/sessions", status_code=201)
async def start_session(rt: RT, request: Request, body: JsonBody = None) -> dict[str, Any]:
    b = body or {}
    case_id = _str(b, "case_id")
    if not case_id:
        raise ValidationError("which case", field="case_id")
    seed, speed = b.get("seed"), b.get("speed", 1.0)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValidationError("must be an integer", field="seed")
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValidationError("must be a number", field="speed")
    return await _run(_svc(rt).start, case_id, _viewer(request), seed=seed, speed=float(speed))  # type: ignore[no-any-return]


@router.get("/sessions")
async def list_sessions(rt: RT, request: Request, case_id: str | None = None) -> list[dict[str, Any]]:
    return await _run(_svc(rt).sessions, _viewer(request), case_id=case_id)  # type: ignore[no-any-return]


@router.get("/sessions/{session_id}")
async def session_state(rt: RT, session_id: str, request: Request) -> dict[str, Any]:
    return await _run(_svc(rt).state, session_id, _viewer(request))  # type: ignore[no-any-return]


@router.post("/sessions/{session_id}/reveal")
async def reveal(rt: RT, session_id: str, request: Request, body: JsonBody = None) -> dict[str, Any]:
    return await _run(_svc(rt).reveal, session_id, _viewer(request), (body or {}).get("stage"))  # type: ignore[no-any-return]


@router.post("/sessions/{session_id}/actions")
async def act(rt: RT, session_id: str, request: Request, body: JsonBody = None) -> dict[str, Any]:
    return await _run(_svc(rt).act, session_id, _viewer(request), body or {})  # type: ignore[no-any-return]


@router.post("/sessions/{session_id}/orders")
async def order(rt: RT, session_id: str, request: Request, body: JsonBody = None) -> dict[str, Any]:
    return await _run(_svc(rt).order, session_id, _viewer(request), (body or {}).get("test"))  # type: ignore[no-any-return]


@router.post("/sessions/{session_id}/clock")
async def clock(rt: RT, session_id: str, request: Request, body: JsonBody = None) -> dict[str, Any]:
    b = body or {}
    for k in ("speed", "advance_min"):
        if b.get(k) is not None and (isinstance(b[k], bool) or not isinstance(b[k], int | float)):
            raise ValidationError("must be a number", field=k)
    if b.get("running") is not None and not isinstance(b["running"], bool):
        raise ValidationError("must be true or false", field="running")
    return await _run(_svc(rt).clock_change, session_id, _viewer(request), b)  # type: ignore[no-any-return]


@router.post("/sessions/{session_id}/diagnosis")
async def submit(rt: RT, session_id: str, request: Request, body: JsonBody = None) -> dict[str, Any]:
    return await _run(_svc(rt).submit, session_id, _viewer(request), body or {})  # type: ignore[no-any-return]


@router.get("/sessions/{session_id}/report")
async def report(rt: RT, session_id: str, request: Request) -> dict[str, Any]:
    return await _run(_svc(rt).report, session_id, _viewer(request))  # type: ignore[no-any-return]


@router.get("/sessions/{session_id}/replay")
async def replay(rt: RT, session_id: str, request: Request) -> dict[str, Any]:
    return await _run(_svc(rt).replay, session_id, _viewer(request))  # type: ignore[no-any-return]
