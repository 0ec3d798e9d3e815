"""Policy decisions: a principal, a rule of the policy table and the resources a request touches ->
allow or deny (401/403), with the patients concerned and any break-the-glass grant relied on.

The locators that find the resources of a request (path parameters, query parameters, bodies)
live in :mod:`medtwin.security.locate`; list filtering helpers are at the end of this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from medtwin.core.model import Twin, TwinKind
from medtwin.security.policy import PSEUDONYMISED, PUBLIC, UNSCOPED, Rule, has_perm, scope_of
from medtwin.security.principal import BreakGlass, Principal, Role
from medtwin.security.scope import PLACES, Resource, ScopeCache


@dataclass
class Decision:
    allowed: bool
    status: int = 200  # 401 or 403 when refused
    reason: str = ""
    rule: Rule | None = None
    patients: list[str] = field(default_factory=list)  # patients the request concerns (for the audit)
    break_glass: BreakGlass | None = None  # the grant this access relied on, if any


def deny(status: int, reason: str, rule: Rule | None = None) -> Decision:
    return Decision(False, status, reason, rule)


def decide_fixed(p: Principal, rule: Rule) -> Decision | None:
    """The part of a decision that needs no resource: authentication and the role's permission.
    None means: go on and check the target."""
    if rule.perm == PUBLIC:
        return Decision(True, rule=rule)
    if p.role is Role.ANONYMOUS:
        return deny(401, "sign in first", rule)
    if rule.perm:
        if not has_perm(p.role, rule.perm):
            return deny(403, f"the {p.role.value} role may not do this ({rule.perm})", rule)
        if rule.target is None:
            return Decision(True, rule=rule)
    if rule.verb and not any(
        has_perm(p.role, f"{c}.{rule.verb}") for c in ("patient", "place", "staff", "device")
    ):
        return deny(403, f"the {p.role.value} role may not {rule.verb} here", rule)
    return None


def check(scope: ScopeCache, p: Principal, verb: str, res: Resource, now: datetime | None = None) -> Decision:
    """May ``p`` do ``verb`` on ``res``?"""
    perm = f"{res.cls}.{verb}"
    if not has_perm(p.role, perm):
        return deny(403, f"the {p.role.value} role may not {verb} {res.cls} data")
    kind = scope_of(p.role)
    if kind == "all":
        return Decision(True, patients=list(res.patients))
    if res.cls == "patient":
        visible = scope.visible_patients(p)
        if visible is not None and any(pid in visible for pid in res.patients):
            return Decision(True, patients=list(res.patients))
        if kind == "care" and verb != "ingest":
            now = now or datetime.now(UTC)
            for pid in res.patients:
                g = p.glass_for(pid, now)
                if g is not None:
                    return Decision(True, patients=list(res.patients), break_glass=g)
        return deny(403, "this patient is not in your care scope")
    if perm in UNSCOPED:
        return Decision(True)
    if res.cls == "place":
        if kind == "care" and res.ward is not None and res.ward in p.wards:
            return Decision(True)
        if kind == "device" and res.twin_id in scope.device_targets(p):
            return Decision(True)
        return deny(403, "this place is not in your ward scope")
    return deny(403, f"no {perm} access to {res.cls} twins")


def combine(rule: Rule, decisions: Iterable[Decision]) -> Decision:
    """Every resource must be allowed; the first refusal wins."""
    out = Decision(True, rule=rule)
    for d in decisions:
        if not d.allowed:
            d.rule = rule
            return d
        out.patients.extend(x for x in d.patients if x not in out.patients)
        out.break_glass = out.break_glass or d.break_glass
    return out


# ---------------------------------------------------------------------------------- list filtering
def twin_view(scope: ScopeCache, p: Principal, t: Twin) -> str | None:
    """How ``p`` may see twin ``t`` in a list: "full", "pseudonym" or None (hidden)."""
    if scope_of(p.role) == "all":
        return "full"
    if t.kind is TwinKind.PATIENT or t.kind is TwinKind.HOME:
        res = scope.resource(t.id) if t.kind is TwinKind.HOME else Resource("patient", t.id, (t.id,))
        if check(scope, p, "read", res).allowed:
            return "pseudonym" if p.role in PSEUDONYMISED else "full"
        return None
    cls = "place" if t.kind in PLACES else t.kind.value
    return "full" if has_perm(p.role, f"{cls}.read") else None


def occupancy_view(scope: ScopeCache, p: Principal, patient_id: str) -> str | None:
    """A patient in a place's occupancy list: "full" (with clinical detail), "pseudonym" (no detail)
    or None."""
    if check(scope, p, "read", Resource("patient", patient_id, (patient_id,))).allowed:
        return "pseudonym" if p.role in PSEUDONYMISED else "full"
    if p.role in PSEUDONYMISED and has_perm(p.role, "occupancy.read"):
        return "pseudonym"
    return None


def alarm_visible(scope: ScopeCache, p: Principal, alarm: dict[str, Any]) -> bool:
    twin = alarm.get("twin") or alarm.get("twin_id")
    if not isinstance(twin, str):
        return scope_of(p.role) == "all"
    return check(scope, p, "read", scope.resource(twin)).allowed


def event_visible(scope: ScopeCache, p: Principal, twin: str | None) -> bool:
    """Live-feed events: about a patient (needs read access to it) or about a place (a room's
    environment alarm: needs place.read); events about no twin (topology) go to everyone."""
    if twin is None:
        return True
    return check(scope, p, "read", scope.resource(twin)).allowed
