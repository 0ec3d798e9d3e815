"""Follow-up from imaging: measurements per segment, RECIST 1.1 across studies with lesion
tracking, volumetric response, transplant graft volume and Doppler resistive index. Every result
is stored as an assessment on the twin and as observations (see :mod:`.observe`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from medtwin.core.clock import from_us, to_us
from medtwin.core.errors import ValidationError
from medtwin.models.imaging import recist, tracking, transplant
from medtwin.models.imaging.measure import measure
from medtwin.services.imaging import observe
from medtwin.services.imaging.service import ImagingService

LESION_ROLES = ("lesion", "node")


def _when(svc: ImagingService, series: dict[str, Any]) -> datetime:
    study = svc.repo.get("study", series["study_id"])
    return from_us(study["started_us"]) if study.get("started_us") else svc.rt.clock.now()


def measure_segmentation(svc: ImagingService, seg_id: str, *, record: bool = True) -> dict[str, Any]:
    seg, series, labels = svc.labels(seg_id)
    vol = svc.repo.load_volume(series)
    image = np.asarray(vol.array) if vol.unit == "HU" or vol.modality else None
    rows = []
    for s, d in zip(labels.segments, seg["segments"], strict=True):
        st = measure(labels.mask(s), labels.affine, image)
        row = {"name": s.name, "label": s.label, "role": d.get("role", "organ"), **st.as_dict()}
        rows.append(row)
    when = _when(svc, series)
    out = {"segmentation_id": seg_id, "series_id": series["id"], "time": when.isoformat(), "segments": rows}
    if record:
        items: list[tuple[str, float | str, str, dict[str, Any]]] = []
        lesion_ml = 0.0
        base = {"segmentation": seg_id, "series": series["id"], "study": series["study_id"]}
        for r in rows:
            meta = {**base, "segment": r["name"]}
            if r["voxels"] == 0:
                continue
            if r["role"] in LESION_ROLES:
                size = r["short_axis_mm"] if r["role"] == "node" else r["long_axis_mm"]
                items.append(("lesion_ld", round(size, 1), f"{seg_id}/{r['label']}/ld", meta))
                lesion_ml += r["volume_ml"]
            elif r["role"] in ("organ", "graft"):
                key = "graft_volume" if r["role"] == "graft" else "organ_volume"
                items.append((key, round(r["volume_ml"], 1), f"{seg_id}/{r['label']}/vol", meta))
        if lesion_ml > 0:
            items.append(("tumour_volume", round(lesion_ml, 2), f"{seg_id}/tumour", base))
        if items:
            observe.record(svc.rt, seg["twin_id"], when, items, f"measure/{seg_id}")
        svc.repo.update_json("segmentation", seg_id, "provenance", {**seg["provenance"], "measured": True})
    return out


def _lesions(m: dict[str, Any], organ_of: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for r in m["segments"]:
        if r["role"] in LESION_ROLES and r["voxels"] > 0:
            nodal = r["role"] == "node"
            out.append(
                {
                    "name": r["name"],
                    "nodal": nodal,
                    "diameter_mm": round(r["short_axis_mm"] if nodal else r["long_axis_mm"], 1),
                    "volume_ml": r["volume_ml"],
                    "centroid": r["centroid_lps"],
                    "organ": organ_of.get(r["name"], ""),
                }
            )
    return out


def _reference(m: dict[str, Any], name: str | None) -> list[float] | None:
    for r in m["segments"]:
        if r["name"] == name and r["centroid_lps"]:
            return list(r["centroid_lps"])
    return None


def assess_recist(
    svc: ImagingService,
    baseline_seg: str,
    followup_segs: Sequence[str],
    *,
    reference: str | None = None,
    organs: dict[str, str] | None = None,
    ignore_new: Sequence[str] = (),
    by: str = "",
) -> dict[str, Any]:
    """RECIST 1.1 and volumetric response at each follow-up, lesions matched by position."""
    if not followup_segs:
        raise ValidationError("give at least one follow-up segmentation", field="followups")
    organs = organs or {}
    base_m = measure_segmentation(svc, baseline_seg, record=True)
    base_l = _lesions(base_m, organs)
    if not base_l:
        raise ValidationError("the baseline segmentation has no lesion or node segments", field="baseline")
    lesions = [recist.Lesion(x["name"], x["diameter_mm"], x["organ"], x["nodal"]) for x in base_l]
    targets, non_targets = recist.select_targets(lesions)
    target_ids = {t.id for t in targets}
    base_sod = recist.sum_of_diameters(targets)
    base_vol = sum(x["volume_ml"] for x in base_l)
    prev_sods: list[float] = []
    vols = [base_vol]
    points = []
    seg0 = svc.repo.get("segmentation", baseline_seg)
    twin_id = seg0["twin_id"]
    for fid in followup_segs:
        m = measure_segmentation(svc, fid, record=True)
        if svc.repo.get("segmentation", fid)["twin_id"] != twin_id:
            raise ValidationError("follow-up belongs to another patient", field="followups")
        cur = _lesions(m, organs)
        offset = tracking.reference_offset(_reference(base_m, reference), _reference(m, reference))

        def found(xs: list[dict[str, Any]]) -> list[tracking.Found]:
            return [tracking.Found(x["name"], tuple(x["centroid"]), x["diameter_mm"]) for x in xs]

        mt = tracking.match(found(base_l), found(cur), offset)
        by_cur = {x["name"]: x for x in cur}
        now_d = {p: by_cur[c]["diameter_mm"] for p, c, _d in mt.pairs}
        t_now = [recist.Lesion(t.id, now_d.get(t.id, 0.0), t.organ, t.nodal) for t in targets]
        nt_now = [recist.Lesion(n.id, now_d.get(n.id, 0.0), n.organ, n.nodal) for n in non_targets]
        new = [c for c in mt.new if c not in ignore_new]
        tp = recist.assess(base_sod, prev_sods, t_now, nt_now, bool(new))
        cur_vol = sum(x["volume_ml"] for x in cur)
        vresp = recist.volumetric_response(base_vol, min(vols), cur_vol) if base_vol > 0 else None
        prev_sods.append(tp.sod)
        vols.append(cur_vol)
        point = {
            "segmentation_id": fid,
            "time": m["time"],
            "sod_mm": round(tp.sod, 1),
            "baseline_sod_mm": round(base_sod, 1),
            "nadir_sod_mm": round(tp.nadir_sod, 1),
            "change_from_baseline_pct": tp.change_from_baseline_pct,
            "change_from_nadir_pct": tp.change_from_nadir_pct,
            "target_response": tp.target,
            "non_target_response": tp.non_target,
            "new_lesions": new,
            "overall": tp.overall,
            "tumour_volume_ml": round(cur_vol, 2),
            "volumetric_response": vresp,
            "matches": [{"baseline": p, "current": c, "distance_mm": d} for p, c, d in mt.pairs],
            "disappeared": mt.disappeared,
        }
        points.append(point)
        when = datetime.fromisoformat(m["time"])
        meta = {"assessment": "recist1.1", "baseline": baseline_seg, "segmentation": fid, "new_lesions": new}
        observe.record(
            svc.rt,
            twin_id,
            when,
            [
                ("recist_sod", round(tp.sod, 1), f"recist/{baseline_seg}/{fid}/sod", meta),
                ("recist_response", str(tp.overall), f"recist/{baseline_seg}/{fid}/overall", meta),
            ],
            f"recist/{baseline_seg}/{fid}",
        )
    result = {
        "criteria": "RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247)",
        "baseline": {
            "segmentation_id": baseline_seg,
            "time": base_m["time"],
            "sod_mm": round(base_sod, 1),
            "targets": [{"name": t.id, "diameter_mm": t.diameter_mm, "nodal": t.nodal} for t in targets],
            "non_targets": [
                {"name": n.id, "diameter_mm": n.diameter_mm, "nodal": n.nodal} for n in non_targets
            ],
            "tumour_volume_ml": round(base_vol, 2),
        },
        "followups": points,
        "target_ids": sorted(target_ids),
    }
    row = svc.repo.insert(
        "assessment",
        {
            "twin_id": twin_id,
            "kind": "recist",
            "study_id": svc.repo.get("series", svc.repo.get("segmentation", followup_segs[-1])["series_id"])[
                "study_id"
            ],
            "t_us": to_us(datetime.fromisoformat(points[-1]["time"])),
            "result": result,
            "created_by": by,
        },
    )
    return {"id": row["id"], **result}


def record_doppler(
    svc: ImagingService,
    twin_id: str,
    *,
    organ: str,
    psv: float,
    edv: float,
    when: datetime,
    vessel: str = "",
    hours_since_transplant: float | None = None,
    by: str = "",
) -> dict[str, Any]:
    svc._patient(twin_id)
    ri = transplant.resistive_index(psv, edv)
    status, note = transplant.interpret_ri(organ, ri, hours_since_transplant)
    rng = transplant.RI_RANGES[organ]
    result = {
        "organ": organ,
        "vessel": vessel or rng.vessel,
        "psv_cm_s": psv,
        "edv_cm_s": edv,
        "ri": round(ri, 3),
        "status": status,
        "note": note,
        "normal_range": {"low": rng.low, "high": rng.high, "source": rng.source},
    }
    row = svc.repo.insert(
        "assessment",
        {"twin_id": twin_id, "kind": "doppler", "t_us": to_us(when), "result": result, "created_by": by},
    )
    meta = {k: result[k] for k in ("organ", "vessel", "status", "note")}
    observe.record(
        svc.rt,
        twin_id,
        when,
        [("doppler_ri", round(ri, 3), f"doppler/{row['id']}", meta)],
        f"doppler/{row['id']}",
    )
    return {"id": row["id"], **result}


def graft_followup(
    svc: ImagingService,
    seg_id: str,
    segment: str,
    *,
    recipient_kg: float | None = None,
    height_cm: float | None = None,
    by: str = "",
) -> dict[str, Any]:
    """Graft volume now, its change since the previous graft volume, and size ratios."""
    seg, series, labels = svc.labels(seg_id)
    vol_ml = (
        float(np.count_nonzero(labels.mask(segment)))
        * abs(float(np.linalg.det(labels.affine[:3, :3])))
        / 1000.0
    )
    if vol_ml <= 0:
        raise ValidationError(f"segment {segment!r} is empty", field="segment")
    when = _when(svc, series)
    prior = [
        o
        for o in svc.rt.store.history(seg["twin_id"], "medtwin|graft-volume", end=when)
        if (o.meta or {}).get("segmentation") != seg_id and o.effective < when
    ]
    result: dict[str, Any] = {
        "segment": segment,
        "graft_volume_ml": round(vol_ml, 1),
        "time": when.isoformat(),
    }
    if prior:
        prev = prior[-1]
        result["previous_ml"] = prev.value
        result["change_pct"] = round(transplant.volume_change_pct(float(prev.value or 0), vol_ml), 1)
    if recipient_kg:
        g = transplant.grwr_pct(vol_ml, recipient_kg)
        result["grwr_pct"] = round(g, 2)
        result["small_for_size"] = g < transplant.GRWR_SMALL_FOR_SIZE_PCT
        result["grwr_source"] = "Kiuchi T et al., Transplantation 1999;67:321-327 (< 0.8 %)"
        if height_cm:
            bsa = transplant.bsa_mosteller(height_cm, recipient_kg)
            result["slv_ml"] = {
                "urata": round(transplant.slv_urata(bsa), 1),
                "vauthey": round(transplant.slv_vauthey(bsa), 1),
            }
            result["gv_slv_pct"] = round(100 * vol_ml / transplant.slv_urata(bsa), 1)
    meta = {"segmentation": seg_id, "series": series["id"], "segment": segment}
    observe.record(
        svc.rt,
        seg["twin_id"],
        when,
        [("graft_volume", round(vol_ml, 1), f"{seg_id}/graft/{segment}", meta)],
        f"graft/{seg_id}",
    )
    row = svc.repo.insert(
        "assessment",
        {
            "twin_id": seg["twin_id"],
            "kind": "graft",
            "study_id": series["study_id"],
            "t_us": to_us(when),
            "result": result,
            "created_by": by,
        },
    )
    return {"id": row["id"], **result}
