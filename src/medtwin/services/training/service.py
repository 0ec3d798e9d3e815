"""The training service: one facade over cases, sessions, scoring and the instructor's view, used by
the API (``medtwin.api.training``) and the CLI (``medtwin training``).

``viewer`` arguments say who is asking: ``teach=True`` for educators (and administrators), who see
whole cases, every session and replays; otherwise a trainee, who sees published cases without the
answers and only their own sessions (another trainee's session is answered as not found).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medtwin.core.clock import Clock, WallClock
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.models.virtual_patient.actions import parse_action
from medtwin.services.training import cases as C
from medtwin.services.training import sessions as S
from medtwin.services.training.instructor import cohort, replay
from medtwin.services.training.investigations import get_investigation
from medtwin.services.training.repository import TrainingRepository
from medtwin.services.training.scoring import parse_submission, score_session
from medtwin.store.sql import SqlStore


@dataclass(frozen=True)
class Viewer:
    user: str
    teach: bool = False


class TrainingService:
    def __init__(self, store: SqlStore, clock: Clock | None = None) -> None:
        self.store, self.repo = store, TrainingRepository(store)
        self.clock = clock or WallClock()
        self.engines = S.EngineCache()

    def now(self) -> datetime:
        return self.clock.now()

    # ------------------------------------------------------------------ cases
    def case_from_twin(self, twin_id: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
        opts = {k: body[k] for k in ("condition", "diagnosis", "title", "specialty", "difficulty", "tags",
                                     "presentation_min", "seed", "accepted") if body.get(k) is not None}  # fmt: skip
        case = C.from_twin(self.store, twin_id, as_of=self.now(), **opts)
        return C.educator_view(self.repo.add_case(case, actor=actor, when=self.now()))

    def case_from_template(self, condition: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
        opts = {
            k: body[k]
            for k in ("title", "specialty", "difficulty", "tags", "seed", "severity")
            if body.get(k) is not None
        }
        case = C.from_template(condition, **opts)
        if body.get("status"):
            case = C.apply_edit(case, {"status": body["status"]})
        return C.educator_view(self.repo.add_case(case, actor=actor, when=self.now()))

    def cases(
        self, viewer: Viewer, *, status: str | None = None, condition: str | None = None,
        specialty: str | None = None, difficulty: str | None = None, tag: str | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The library; trainees see published cases only and cannot filter by condition (it is an
        answer). ``specialty``, ``difficulty`` and ``tag`` match case-insensitively."""
        if viewer.teach:
            rows = self.repo.cases(status=status, condition=condition)
        else:
            rows = self.repo.cases(status="published")

        def low(v: Any) -> str:
            return str(v or "").strip().lower()

        def keep(c: dict[str, Any]) -> bool:
            return (
                (not specialty or low(c.get("specialty")) == low(specialty))
                and (not difficulty or low(c.get("difficulty")) == low(difficulty))
                and (not tag or low(tag) in {low(t) for t in c.get("tags") or []})
            )

        rows = [c for c in rows if keep(c)]
        return [C.educator_view(c) for c in rows] if viewer.teach else [C.trainee_summary(c) for c in rows]

    def case(self, case_id: str, viewer: Viewer) -> dict[str, Any]:
        c = self.repo.get_case(case_id)
        if viewer.teach:
            return C.educator_view(c)
        if c.get("status") != "published":
            raise NotFoundError(f"no case {case_id!r}", field="case_id")
        return C.trainee_summary(c)

    def edit_case(self, case_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        case = C.apply_edit(self.repo.get_case(case_id), patch)
        return C.educator_view(self.repo.update_case(case, when=self.now()))

    def export_case(self, case_id: str) -> dict[str, Any]:
        """The case as a portable, de-identified JSON document: no guard and no store metadata (who
        built it and when: a case built from a live record is made near the patient's presentation,
        so its timestamps would date the source patient's stay)."""
        c = C.educator_view(self.repo.get_case(case_id))
        return {
            "format": "medtwin-training-case/1",
            "case": {k: v for k, v in c.items() if k not in ("created_by", "created", "updated")},
        }

    def import_case(self, doc: dict[str, Any], actor: str) -> dict[str, Any]:
        case = doc.get("case") if isinstance(doc, dict) else None
        if doc.get("format") != "medtwin-training-case/1" or not isinstance(case, dict):
            raise ValidationError("not a medtwin-training-case/1 document", field="format")
        base = C.from_template(str(case.get("condition", "")))
        merged = {**base, **{k: v for k, v in case.items() if k in base and k not in ("guard", "source")}}
        merged["source"] = {"kind": "import"}
        merged["status"] = "draft"  # an imported case is reviewed before trainees see it
        merged.pop("id", None)
        C.validate_imported(merged)
        return C.educator_view(self.repo.add_case(merged, actor=actor, when=self.now()))

    # ------------------------------------------------------------------ sessions
    def _own(self, session_id: str, viewer: Viewer) -> dict[str, Any]:
        s = self.repo.get_session(session_id)
        if not viewer.teach and s["trainee"] != viewer.user:
            raise NotFoundError(f"no session {session_id!r}", field="session_id")
        return s

    def start(
        self, case_id: str, viewer: Viewer, *, seed: int | None = None, speed: float = 1.0
    ) -> dict[str, Any]:
        case = self.repo.get_case(case_id)
        if case.get("status") != "published" and not viewer.teach:
            raise NotFoundError(f"no case {case_id!r}", field="case_id")
        if viewer.teach:
            case["_allow_draft"] = True
        rec = S.new_session(case, viewer.user, seed=seed, speed=speed, now=self.now())
        s = self.repo.add_session(rec, when=self.now())
        self.repo.add_action(s["id"], 0.0, "reveal", {"stage": "presenting"}, when=self.now())
        return self.state(s["id"], viewer)

    def sessions(self, viewer: Viewer, *, case_id: str | None = None) -> list[dict[str, Any]]:
        rows = self.repo.sessions(trainee=None if viewer.teach else viewer.user, case_id=case_id)
        return [{k: r.get(k) for k in ("id", "case_id", "trainee", "status", "created", "updated", "diagnosis",
                                       "submitted_min", "score_total")} for r in rows]  # fmt: skip

    def _engine(self, case: dict[str, Any], s: dict[str, Any], events: list[dict[str, Any]], t: float) -> Any:
        return self.engines.get(s["id"], S.spec_of(case, s), S.treatment_actions(events), t)

    def state(self, session_id: str, viewer: Viewer) -> dict[str, Any]:
        s = self._own(session_id, viewer)
        case = self.repo.get_case(s["case_id"])
        events = self.repo.actions(session_id)
        t = S.sim_now(s, self.now()) if s["status"] == "active" else float(s.get("submitted_min") or 0.0)
        vp = self._engine(case, s, events, t)
        return S.trainee_view(case, s, events, vp, t)

    def _event(self, session_id: str, viewer: Viewer, kind: str, fn: Any) -> dict[str, Any]:
        s = self._own(session_id, viewer)
        S.require_active(s)
        now = self.now()
        t = S.sim_now(s, now)
        payload = fn(s, t)
        self.repo.add_action(session_id, t, kind, payload, when=now)
        self.repo.save_session(s, when=now)
        return self.state(session_id, viewer)

    def reveal(self, session_id: str, viewer: Viewer, stage: Any) -> dict[str, Any]:
        return self._event(session_id, viewer, "reveal", lambda s, t: S.reveal(s, stage))

    def act(self, session_id: str, viewer: Viewer, body: dict[str, Any]) -> dict[str, Any]:
        def fn(s: dict[str, Any], t: float) -> dict[str, Any]:
            S.require_stage(s, "orders")
            a = parse_action(body, t)
            return {"action": {"kind": a.kind, "params": a.params}}

        return self._event(session_id, viewer, "action", fn)

    def order(self, session_id: str, viewer: Viewer, test: Any) -> dict[str, Any]:
        def fn(s: dict[str, Any], t: float) -> dict[str, Any]:
            S.require_stage(s, "orders")
            return {"test": get_investigation(test).key}

        return self._event(session_id, viewer, "order", fn)

    def clock_change(self, session_id: str, viewer: Viewer, body: dict[str, Any]) -> dict[str, Any]:
        s = self._own(session_id, viewer)
        now = self.now()
        t0 = S.sim_now(s, now) if s["status"] == "active" else 0.0
        payload = S.set_clock(s, now, running=body.get("running"), speed=body.get("speed"),
                              advance_min=body.get("advance_min"))  # fmt: skip
        self.repo.add_action(session_id, t0, "clock", payload, when=now)
        self.repo.save_session(s, when=now)
        return self.state(session_id, viewer)

    def submit(self, session_id: str, viewer: Viewer, body: dict[str, Any]) -> dict[str, Any]:
        s = self._own(session_id, viewer)
        S.require_active(s)
        S.require_stage(s, "examination")
        now = self.now()
        t = S.sim_now(s, now)
        sub = parse_submission(body)
        self.repo.add_action(session_id, t, "diagnosis", sub, when=now)
        s.update({"diagnosis": sub, "submitted_min": t, "status": "submitted", "running": False})
        case = self.repo.get_case(s["case_id"])
        score = score_session(case, s, self.repo.actions(session_id))
        s["score_total"] = score["total"]
        self.repo.save_session(s, when=now)
        self.repo.put_score(s, score, when=now)
        return self.report(session_id, viewer)

    def report(self, session_id: str, viewer: Viewer) -> dict[str, Any]:
        s = self._own(session_id, viewer)
        if s["status"] != "submitted":
            raise ValidationError("the report is available once a diagnosis is submitted", field="session_id")
        rows = [r for r in self.repo.scores(s["case_id"]) if r["session_id"] == session_id]
        if not rows:
            raise NotFoundError("no score for this session", field="session_id")
        case = self.repo.get_case(s["case_id"])
        return {"session": {k: s.get(k) for k in ("id", "case_id", "trainee", "diagnosis", "submitted_min")},
                "case": {k: case.get(k) for k in ("id", "title", "condition", "specialty", "difficulty", "patient",
                                                  "stages")}, **rows[0]}  # fmt: skip

    # ------------------------------------------------------------------ instructor
    def cohort(self, case_id: str) -> dict[str, Any]:
        return cohort(self.repo.get_case(case_id), self.repo.scores(case_id))

    def cohorts(self) -> list[dict[str, Any]]:
        out = []
        for c in self.repo.cases():
            r = cohort(c, self.repo.scores(c["id"]))
            out.append(
                {k: r.get(k) for k in ("case_id", "title", "n", "difficulty")} | {"status": c["status"]}
            )
        return out

    def replay(self, session_id: str, viewer: Viewer) -> dict[str, Any]:
        s = self._own(session_id, viewer)
        if not viewer.teach and s["status"] != "submitted":  # the true course would give answers away
            raise ValidationError(
                "a trainee's replay is available once a diagnosis is submitted", field="session_id"
            )
        case = self.repo.get_case(s["case_id"])
        events = self.repo.actions(session_id)
        t = float(s.get("submitted_min") or S.sim_now(s, self.now()))
        vp = self._engine(case, s, events, t)
        rows = [r for r in self.repo.scores(s["case_id"]) if r["session_id"] == session_id]
        trace = [{k: h.get(k) for k in ("t", "hr", "sbp", "map", "rr", "spo2", "glucose", "news2", "acvpu")}
                 for h in vp.history]  # fmt: skip
        return replay(s, events, rows[0] if rows else None, trace)


_services: dict[int, TrainingService] = {}


def service_for(store: SqlStore, clock: Clock | None = None) -> TrainingService:
    """One service (and engine cache) per store."""
    svc = _services.get(id(store))
    if svc is None or svc.store is not store:
        svc = _services[id(store)] = TrainingService(store, clock)
    return svc
