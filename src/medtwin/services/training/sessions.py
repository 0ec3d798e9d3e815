"""Training sessions: progressive disclosure, accelerated clock, time-stamped actions, orders, results.

The activity model follows the MedBiquitous Virtual Patient standard (``medbiq_vp``): nodes that
open in order, presenting complaint -> history -> examination -> vitals -> orders (treatments and
investigations; results open with it). Each disclosure, treatment, order, clock change and the
submitted diagnosis is an append-only event stamped with the simulated minute and the wall time.

Simulated time runs ``speed`` times faster than the wall clock while the session runs (the clock
can be paused, sped up or moved on), and stops at the case's ``max_minutes``. The virtual patient
is the replay of the session's treatment events on the case's specification, so a session, its
replay and its score always see the same course (an in-process cache saves replaying from zero).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from medtwin.core.clock import to_us
from medtwin.core.errors import ConflictError, ValidationError
from medtwin.models.virtual_patient.actions import Action, describe
from medtwin.models.virtual_patient.engine import PatientSpec, VirtualPatient
from medtwin.services.training.cases import trainee_summary
from medtwin.services.training.investigations import INVESTIGATIONS, result

STAGE_ORDER = ("presenting", "history", "examination", "vitals", "orders", "results")
SPEEDS = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def new_session(
    case: dict[str, Any], trainee: str, *, seed: int | None, speed: float, now: datetime
) -> dict[str, Any]:
    if case.get("status") != "published" and not case.get("_allow_draft"):
        raise ValidationError("this case is not published", field="case_id")
    if speed not in SPEEDS:
        raise ValidationError(f"speed must be one of {', '.join(f'{s:g}' for s in SPEEDS)}", field="speed")
    return {
        "case_id": case["id"], "trainee": trainee, "status": "active",
        "seed": int(case["physiology"].get("seed", 0) if seed is None else seed),
        "speed": float(speed), "running": speed > 0, "anchor_wall_us": to_us(now), "anchor_sim_min": 0.0,
        "revealed": ["presenting"], "max_minutes": float(case.get("max_minutes", 180.0)),
        "diagnosis": None, "submitted_min": None,
    }  # fmt: skip


def sim_now(session: dict[str, Any], now: datetime) -> float:
    t = float(session["anchor_sim_min"])
    if session.get("running") and session["status"] == "active":
        t += (to_us(now) - int(session["anchor_wall_us"])) / 1e6 * float(session["speed"]) / 60.0
    return round(min(max(t, 0.0), float(session["max_minutes"])), 3)


def set_clock(session: dict[str, Any], now: datetime, *, running: bool | None, speed: float | None,
              advance_min: float | None) -> dict[str, Any]:  # fmt: skip
    """Re-anchor the clock at ``now`` and apply the change; returns the event payload."""
    require_active(session)
    t = sim_now(session, now)
    if speed is not None:
        if speed not in SPEEDS:
            raise ValidationError(
                f"speed must be one of {', '.join(f'{s:g}' for s in SPEEDS)}", field="speed"
            )
        session["speed"] = float(speed)
    if running is not None:
        session["running"] = bool(running)
    if advance_min is not None:
        if isinstance(advance_min, bool) or not 0 < float(advance_min) <= 120:
            raise ValidationError("advance 0-120 minutes at a time", field="advance_min")
        t = min(t + float(advance_min), float(session["max_minutes"]))
    session["anchor_sim_min"], session["anchor_wall_us"] = t, to_us(now)
    return {"running": session["running"], "speed": session["speed"], "advance_min": advance_min}


def require_active(session: dict[str, Any]) -> None:
    if session["status"] != "active":
        raise ConflictError("the session has been submitted", field="session_id")


def reveal(session: dict[str, Any], stage: Any) -> dict[str, Any]:
    require_active(session)
    if stage not in STAGE_ORDER:
        raise ValidationError(f"stage must be one of {', '.join(STAGE_ORDER)}", field="stage")
    i = STAGE_ORDER.index(stage)
    if stage not in session["revealed"]:
        if STAGE_ORDER[i - 1] not in session["revealed"]:
            raise ValidationError(f"open {STAGE_ORDER[i - 1]} first", field="stage")
        session["revealed"].append(stage)
        if stage == "orders":
            session["revealed"].append("results")
    return {"stage": stage}


def require_stage(session: dict[str, Any], stage: str) -> None:
    if stage not in session["revealed"]:
        raise ValidationError(f"open {stage} first", field="stage")


def treatment_actions(events: list[dict[str, Any]]) -> list[Action]:
    return [
        Action(e["t"], e["action"]["kind"], e["action"]["params"]) for e in events if e["kind"] == "action"
    ]


class EngineCache:
    """Virtual patients of recent sessions, advanced incrementally (LRU, thread-safe)."""

    def __init__(self, size: int = 64) -> None:
        self._d: OrderedDict[str, tuple[VirtualPatient, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def get(self, key: str, spec: PatientSpec, actions: list[Action], until: float) -> VirtualPatient:
        with self._lock:
            hit = self._d.pop(key, None)
        vp, n = hit if hit is not None else (None, 0)
        ok = (
            vp is not None
            and n <= len(actions)
            and all(a.t >= vp.t - 0.25 for a in actions[n:])
            and vp.t <= until + 0.25
        )
        if not ok or vp is None:
            vp, n = VirtualPatient(spec), 0
        for a in actions[n:]:
            vp.advance(max(a.t - vp.t, 0.0))
            vp.apply(a)
        vp.advance(max(until - vp.t, 0.0))
        with self._lock:
            self._d[key] = (vp, len(actions))
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return vp

    def drop(self, key: str) -> None:
        with self._lock:
            self._d.pop(key, None)


def spec_of(case: dict[str, Any], session: dict[str, Any]) -> PatientSpec:
    phys = dict(case["physiology"])
    phys["seed"] = session["seed"]
    return PatientSpec.from_dict(phys)


def results(
    case: dict[str, Any], events: list[dict[str, Any]], vp: VirtualPatient, t: float
) -> list[dict[str, Any]]:
    """Orders placed so far, with their results once their turnaround has passed."""
    out = []
    for e in events:
        if e["kind"] != "order":
            continue
        inv = INVESTIGATIONS[e["test"]]
        ready = e["t"] + inv.minutes
        row: dict[str, Any] = {
            "test": inv.key,
            "label": inv.label,
            "ordered": e["t"],
            "ready_at": round(ready, 2),
        }
        if ready <= t + 1e-9:
            idx = min(math.floor(e["t"]), len(vp.history) - 1)
            row["result"] = result(inv, vp.history[idx], case)
        out.append(row)
    return out


def monitor(case: dict[str, Any], session: dict[str, Any], vp: VirtualPatient) -> dict[str, Any] | None:
    """The bedside monitor (measured values with noise) since presentation and the chart before it."""
    if "vitals" not in session["revealed"]:
        return None
    keys = ("hr", "rr", "spo2", "sbp", "dbp", "map", "temp")
    trace = [{"t": h["t"], **{k: h["shown"][k] for k in keys}, "acvpu": h["acvpu"]} for h in vp.history]
    before = [
        {k: r.get(k) for k in ("t", *keys, "acvpu")}
        for r in case.get("timeline", {}).get("vitals", [])
        if r["t"] < 0
    ]
    now = vp.history[-1]
    return {
        "now": {**now["shown"], "acvpu": now["acvpu"], "fio2": now["fio2"]},
        "trace": trace,
        "before": before,
    }


def trainee_view(case: dict[str, Any], session: dict[str, Any], events: list[dict[str, Any]], vp: VirtualPatient,
                 t: float) -> dict[str, Any]:  # fmt: skip
    """Everything the trainee may see now (nothing of the answers before submission)."""
    shown_stages = {
        s: case["stages"][s] for s in ("presenting", "history", "examination") if s in session["revealed"]
    }
    acts = []
    for i, e in enumerate(x for x in events if x["kind"] == "action"):
        note = vp.events[i].get("note", "") if i < len(vp.events) else ""
        acts.append(
            {
                "t": e["t"],
                **e["action"],
                "label": describe(e["action"]["kind"], e["action"]["params"]),
                "note": note,
            }
        )
    out = {
        "session": {k: session.get(k) for k in ("id", "case_id", "status", "speed", "running", "revealed",
                                                 "max_minutes", "diagnosis", "submitted_min", "seed")},
        "t": t, "case": trainee_summary(case), "stages": shown_stages,
        "patient": case.get("patient", {}) if "examination" in session["revealed"] else {},
        "monitor": monitor(case, session, vp),
        "actions": acts if "orders" in session["revealed"] else [],
        "orders": results(case, events, vp, t) if "orders" in session["revealed"] else [],
        "imaging": [i for i in case.get("imaging", []) if i.get("t") is None or i["t"] <= t]
        if "orders" in session["revealed"] else [],
    }  # fmt: skip
    return out
