"""Planar resection planning on a segmented organ: resected and remnant volumes, remnant
percentage against published minimum future liver remnant (FLR), margin from each lesion to the
plane, distances from lesions and from the plane to named vessels, and risk notes.

The plane is a point and a normal in LPS mm; the normal points to the side that is removed. A
voxel is removed when its centre lies on that side. The FLR percentage uses the *functional*
liver volume (organ minus tumours) as denominator, as in the FLR literature.

Minimum FLR / total functional liver volume below which post-hepatectomy liver failure becomes
frequent and portal vein embolisation is usually considered (reviewed in PMC6422720, Table 1):

* healthy liver: 20 % (Kishi Y, et al. Ann Surg 2009;250:540-548); 25 % is used by many centres,
  so 20-25 % is reported as borderline;
* after extensive chemotherapy (> 12 weeks): 30 % (Shindoh J, et al. Ann Surg Oncol
  2013;20:2493-2500);
* chronic liver disease / cirrhosis: 40 % (Kubota K, et al. Hepatology 1997;26:1176-1181).

Distances are measured between iso-surfaces (marching cubes at the voxel boundary), so a sphere
of radius r whose centre is D from the plane has a margin of D - r within about a voxel. No
clinical margin is imposed: a lesion the plane passes through (negative margin) is always
flagged, and a required margin can be given by the surgeon (``min_margin_mm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from skimage import measure as skm

from medtwin.core.errors import ValidationError
from medtwin.models.imaging.volume import F64, spacing_of, to_lps, voxel_mm3

FLR_MIN_PCT: dict[str, float] = {"healthy": 20.0, "chemotherapy": 30.0, "cirrhosis": 40.0}
FLR_HEALTHY_BORDERLINE_PCT = 25.0
FLR_SOURCES = {
    "healthy": "Kishi Y et al., Ann Surg 2009;250:540-548 (20 %; 25 % used by many centres)",
    "chemotherapy": "Shindoh J et al., Ann Surg Oncol 2013;20:2493-2500 (30 %)",
    "cirrhosis": "Kubota K et al., Hepatology 1997;26:1176-1181 (40 %)",
}


@dataclass(frozen=True)
class Plane:
    point: tuple[float, float, float]
    normal: tuple[float, float, float]  # towards the resected side

    def unit(self) -> F64:
        n = np.asarray(self.normal, dtype=np.float64)
        norm = float(np.linalg.norm(n))
        if not np.isfinite(norm) or norm < 1e-9:
            raise ValidationError("the plane normal must be a non-zero vector", field="normal")
        return n / norm

    def signed(self, pts: F64) -> F64:
        return (np.asarray(pts, dtype=np.float64) - np.asarray(self.point, dtype=np.float64)) @ self.unit()


def _surface(mask: NDArray[np.bool_], affine: F64) -> F64:
    if not mask.any():
        return np.zeros((0, 3))
    nz = [np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    lo = np.array([int(n[0]) for n in nz])
    hi = np.array([int(n[-1]) + 1 for n in nz])
    sub = np.pad(mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], 1).astype(np.float32)
    verts = skm.marching_cubes(sub, 0.5)[0]  # type: ignore[no-untyped-call]
    return to_lps(affine, verts - 1 + lo)


def _removed(shape: tuple[int, ...], affine: F64, plane: Plane) -> NDArray[np.bool_]:
    """Voxels whose centre is on the resected side (evaluated slice by slice: low memory)."""
    n = plane.unit()
    # signed distance is affine in the index: d = g . idx + c
    g = affine[:3, :3].T @ n
    c = float((affine[:3, 3] - np.asarray(plane.point)) @ n)
    i0 = np.arange(shape[0])[:, None, None] * g[0]
    i1 = np.arange(shape[1])[None, :, None] * g[1]
    i2 = np.arange(shape[2])[None, None, :] * g[2]
    return np.asarray((i0 + i1 + i2 + c) > 0)


@dataclass
class PlanResult:
    organ_ml: float
    tumour_ml: float
    functional_ml: float
    resected_ml: float
    remnant_ml: float
    remnant_pct: float
    liver_state: str
    flr_min_pct: float
    flr_status: str  # adequate | borderline | insufficient
    flr_source: str
    lesions: list[dict[str, Any]] = field(default_factory=list)
    vessels: list[dict[str, Any]] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        for k in ("organ_ml", "tumour_ml", "functional_ml", "resected_ml", "remnant_ml", "remnant_pct"):
            out[k] = round(float(out[k]), 2)
        return out


def plan(
    organ: NDArray[np.bool_],
    affine: F64,
    plane: Plane,
    lesions: Mapping[str, NDArray[np.bool_]] | None = None,
    vessels: Mapping[str, NDArray[np.bool_]] | None = None,
    liver_state: str = "healthy",
    min_margin_mm: float | None = None,
) -> PlanResult:
    if liver_state not in FLR_MIN_PCT:
        raise ValidationError(f"liver_state must be one of {', '.join(FLR_MIN_PCT)}", field="liver_state")
    lesions = lesions or {}
    vessels = vessels or {}
    vmm = voxel_mm3(affine)
    removed = _removed(organ.shape, affine, plane)
    tumour_any = np.zeros(organ.shape, dtype=bool)
    for m in lesions.values():
        tumour_any |= m
    organ_all = organ | tumour_any
    functional = organ_all & ~tumour_any
    if not functional.any():
        raise ValidationError("the organ segment is empty", field="organ")
    f_ml = np.count_nonzero(functional) * vmm / 1000.0
    res_ml = np.count_nonzero(functional & removed) * vmm / 1000.0
    rem_ml = f_ml - res_ml
    pct = 100.0 * rem_ml / f_ml
    thr = FLR_MIN_PCT[liver_state]
    if pct < thr:
        status = "insufficient"
    elif liver_state == "healthy" and pct < FLR_HEALTHY_BORDERLINE_PCT:
        status = "borderline"
    else:
        status = "adequate"
    risks: list[str] = []
    if status != "adequate":
        risks.append(
            f"future liver remnant {pct:.1f} % is {status} for a {liver_state} liver "
            f"(minimum {thr:g} %; {FLR_SOURCES[liver_state]})"
        )
    res = PlanResult(
        organ_ml=np.count_nonzero(organ_all) * vmm / 1000.0,
        tumour_ml=np.count_nonzero(tumour_any) * vmm / 1000.0,
        functional_ml=f_ml,
        resected_ml=res_ml,
        remnant_ml=rem_ml,
        remnant_pct=pct,
        liver_state=liver_state,
        flr_min_pct=thr,
        flr_status=status,
        flr_source=FLR_SOURCES[liver_state],
        risks=risks,
    )
    res_vox = max(spacing_of(affine))
    vsurf = {name: _surface(m, affine) for name, m in vessels.items()}
    for name, m in lesions.items():
        surf = _surface(m, affine)
        if len(surf) == 0:
            continue
        d = plane.signed(surf)
        margin = float(d.min())
        entry: dict[str, Any] = {"name": name, "margin_mm": round(margin, 2), "removed": bool(margin > 0)}
        if margin <= 0:
            where = "passes through" if d.max() > 0 else "leaves"
            risks.append(
                f"the plane {where} lesion {name!r}"
                + (" (positive margin impossible)" if d.max() > 0 else " on the remnant side")
            )
        elif min_margin_mm is not None and margin < min_margin_mm:
            risks.append(
                f"margin to lesion {name!r} is {margin:.1f} mm, below the requested {min_margin_mm:g} mm"
            )
        dists = {}
        tree = cKDTree(surf)
        for vname, vs in vsurf.items():
            if len(vs):
                dd = float(tree.query(vs, k=1)[0].min())
                dists[vname] = round(dd, 2)
                if dd <= res_vox:
                    risks.append(
                        f"lesion {name!r} touches vessel {vname!r} at image resolution: possible encasement"
                    )
        entry["vessel_distances_mm"] = dists
        res.lesions.append(entry)
    for vname, vs in vsurf.items():
        if len(vs) == 0:
            continue
        d = plane.signed(vs)
        inside = organ_all.any()
        crosses = (
            bool(d.min() < 0 < d.max())
            and inside
            and bool((vessels[vname] & removed & _near(organ_all)).any())
        )
        res.vessels.append(
            {"name": vname, "distance_to_plane_mm": round(float(np.abs(d).min()), 2), "divided": crosses}
        )
        if crosses:
            risks.append(
                f"the plane divides vessel {vname!r} inside the organ: plan its control or reconstruction"
            )
    return res


def _near(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    from scipy import ndimage

    return np.asarray(ndimage.binary_dilation(mask, iterations=1))


def compare(plans: Mapping[str, PlanResult]) -> list[dict[str, Any]]:
    """Rows for a side-by-side comparison, best remnant first among plans with no lesion cut."""
    rows: list[dict[str, Any]] = []
    for name, p in plans.items():
        cut = any(not x["removed"] for x in p.lesions)
        rows.append(
            {
                "plan": name,
                "remnant_pct": round(p.remnant_pct, 2),
                "remnant_ml": round(p.remnant_ml, 1),
                "resected_ml": round(p.resected_ml, 1),
                "flr_status": p.flr_status,
                "min_margin_mm": min((x["margin_mm"] for x in p.lesions), default=None),
                "all_lesions_removed": not cut,
                "risks": len(p.risks),
            }
        )
    rows.sort(
        key=lambda r: (not r["all_lesions_removed"], r["flr_status"] == "insufficient", -r["remnant_pct"])
    )
    return rows
