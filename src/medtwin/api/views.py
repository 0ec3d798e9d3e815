"""What a principal sees of twins in lists: hidden, in full, or under a pseudonym.

Roles that may not see patients' names (policy.PSEUDONYMISED: trainee, researcher, operations,
safety officer) get ``name`` = a keyed pseudonym, no ``identity`` and only non-clinical
attributes; patients outside a principal's scope are left out of lists, and so are relationships
that would name them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medtwin.api.serialize import rel_json, twin_json
from medtwin.core.model import Relationship, Twin, TwinKind
from medtwin.security import authz
from medtwin.security.principal import Principal
from medtwin.security.service import Security

# attributes a pseudonymised view keeps (what evacuation and flow planning need, nothing clinical)
PSEUDONYM_ATTRIBUTES = ("mobility", "mobility_class")


def pseudonymised(sec: Security, t: Twin, *, identity: bool = True) -> dict[str, Any]:
    d = twin_json(t, identity=False)
    d["name"] = sec.pseudonyms.pseudonym(t.id)
    d["attributes"] = {k: v for k, v in t.attributes.items() if k in PSEUDONYM_ATTRIBUTES}
    d["pseudonymised"] = True
    if identity:
        d["identity"] = {}
    return d


def twin_out(sec: Security, p: Principal, t: Twin, *, identity: bool = True) -> dict[str, Any] | None:
    view = authz.twin_view(sec.scope, p, t)
    if view is None:
        return None
    if view == "pseudonym":
        return pseudonymised(sec, t, identity=identity)
    return twin_json(t, identity=identity)


def twins_out(
    sec: Security, p: Principal, twins: Iterable[Twin], *, identity: bool = True
) -> list[dict[str, Any]]:
    out = []
    for t in twins:
        d = twin_out(sec, p, t, identity=identity)
        if d is not None:
            out.append(d)
    return out


def rels_out(sec: Security, p: Principal, rels: Iterable[Relationship]) -> list[dict[str, Any]]:
    """Relationships, without those naming a patient (or home) ``p`` may not see."""
    out = []
    for r in rels:
        ok = True
        for end in (r.src, r.dst):
            t = sec.scope.twin(end)
            if (
                t is not None
                and t.kind in (TwinKind.PATIENT, TwinKind.HOME)
                and authz.twin_view(sec.scope, p, t) is None
            ):
                ok = False
        if ok:
            out.append(rel_json(r))
    return out
