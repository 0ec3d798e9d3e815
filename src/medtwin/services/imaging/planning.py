"""Surgery planning: a resection plane on a patient's segmentation, saved as a plan on the twin
with provenance, and compared with alternative plans. Geometry and thresholds are in
:mod:`medtwin.models.imaging.resection`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medtwin import __version__
from medtwin.core.errors import ValidationError
from medtwin.models.imaging import resection
from medtwin.services.imaging.service import ImagingService


def _vec(v: Any, field: str) -> tuple[float, float, float]:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError("expected three numbers (LPS mm)", field=field) from None
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ValidationError("expected three finite numbers (LPS mm)", field=field)
    return (float(a[0]), float(a[1]), float(a[2]))


def create_plan(svc: ImagingService, seg_id: str, body: dict[str, Any], *, by: str = "") -> dict[str, Any]:
    """body: name, organ (segment name), lesions [names], vessels [names], plane {point, normal}
    (LPS mm, normal towards the resected side), liver_state, min_margin_mm (optional)."""
    seg, series, labels = svc.labels(seg_id)
    roles = {d["name"]: d.get("role", "organ") for d in seg["segments"]}
    organ = body.get("organ") or next((n for n, r in roles.items() if r in ("organ", "graft")), None)
    if organ is None:
        raise ValidationError("name the organ segment", field="organ")
    lesion_names = body.get("lesions")
    if lesion_names is None:
        lesion_names = [n for n, r in roles.items() if r in ("lesion", "node")]
    vessel_names = body.get("vessels")
    if vessel_names is None:
        vessel_names = [n for n, r in roles.items() if r == "vessel"]
    plane_in = body.get("plane") or {}
    plane = resection.Plane(
        _vec(plane_in.get("point"), "plane.point"), _vec(plane_in.get("normal"), "plane.normal")
    )
    plane.unit()
    state = str(body.get("liver_state", "healthy"))
    mm = body.get("min_margin_mm")
    res = resection.plan(
        labels.mask(organ),
        labels.affine,
        plane,
        {n: labels.mask(n) for n in lesion_names},
        {n: labels.mask(n) for n in vessel_names},
        liver_state=state,
        min_margin_mm=float(mm) if mm is not None else None,
    )
    params = {
        "organ": organ,
        "lesions": list(lesion_names),
        "vessels": list(vessel_names),
        "plane": {"point": list(plane.point), "normal": [round(float(x), 6) for x in plane.unit()]},
        "liver_state": state,
        "min_margin_mm": mm,
    }
    prov = {
        "model": "medtwin.models.imaging.resection.plan",
        "version": __version__,
        "segmentation_id": seg_id,
        "series_id": series["id"],
        "study_id": series["study_id"],
        "by": by,
        "thresholds": resection.FLR_SOURCES[state],
    }
    name = str(body.get("name") or f"plan {len(svc.repo.find('plan', twin_id=seg['twin_id'])) + 1}")[:120]
    row = svc.repo.insert(
        "plan",
        {
            "twin_id": seg["twin_id"],
            "segmentation_id": seg_id,
            "name": name,
            "params": params,
            "result": res.as_dict(),
            "provenance": prov,
            "created_by": by,
        },
    )
    return row


def compare_plans(svc: ImagingService, plan_ids: Sequence[str]) -> dict[str, Any]:
    if len(plan_ids) < 1:
        raise ValidationError("give at least one plan", field="plans")
    plans = [svc.repo.get("plan", p) for p in plan_ids]
    if len({p["twin_id"] for p in plans}) > 1:
        raise ValidationError("plans of different patients cannot be compared", field="plans")
    results = {}
    for p in plans:
        r = dict(p["result"])
        results[p["id"]] = resection.PlanResult(**r)
    rows = resection.compare(results)
    by_id = {p["id"]: p for p in plans}
    for r in rows:
        r["name"] = by_id[r["plan"]]["name"]
        r["id"] = r.pop("plan")
    return {
        "plans": rows,
        "recommended": rows[0]["id"] if rows else None,
        "note": "ordered by: all lesions removed, remnant above its minimum, then larger remnant",
    }
