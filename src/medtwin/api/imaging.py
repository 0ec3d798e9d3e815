"""HTTP API for imaging (issue 11): studies, series, segmentations, measurements, 3D meshes,
slices, RECIST 1.1, transplant follow-up and surgical plans. Every route is under
``/api/twins/{twin_id}/imaging`` so the access policy checks the patient; resources named in the
path must belong to that twin (404 otherwise). docs/imaging.md has curl examples.

Uploads (``.../upload``) are the raw file body (a ZIP of DICOM files, one DICOM file, NIfTI or
NRRD) and are bound by ``max_body_bytes``; larger studies are imported from the server's imaging
inbox (``<data_dir>/imaging-inbox``, e.g. a PACS export folder) with ``.../import {"path"}``.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from medtwin.api.deps import get_runtime
from medtwin.core.errors import NotFoundError, ParseError, ValidationError
from medtwin.core.validate import parse_time
from medtwin.runtime import Runtime
from medtwin.services.imaging import followup, planning
from medtwin.services.imaging.fhir import imaging_study
from medtwin.services.imaging.repo import public
from medtwin.services.imaging.service import ImagingService

router = APIRouter(prefix="/api/twins/{twin_id}/imaging", tags=["imaging"])
RT = Annotated[Runtime, Depends(get_runtime)]


def _svc(rt: Runtime) -> ImagingService:
    svc = rt.services.get("imaging")
    if not isinstance(svc, ImagingService):
        svc = ImagingService(rt)
        rt.services["imaging"] = svc
    return svc


def _by(request: Request) -> str:
    p = getattr(request.state, "principal", None)
    return str(getattr(p, "actor", "") or "")


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"body is not JSON: {exc}", field="body") from None
    if not isinstance(body, dict):
        raise ValidationError("expected a JSON object", field="body")
    return body


def _own(svc: ImagingService, kind: str, id_: str, twin_id: str) -> dict[str, Any]:
    row = svc.repo.get(kind, id_)
    if row["twin_id"] != twin_id:
        raise NotFoundError(f"no imaging {kind} {id_!r} for this patient", field=f"{kind}_id")
    return row


@router.get("/studies")
def studies(twin_id: str, rt: RT, format: str = "native") -> list[dict[str, Any]]:
    """The patient's studies with their series (``format=fhir``: FHIR R4 ImagingStudy)."""
    svc = _svc(rt)
    svc._patient(twin_id)
    out = []
    for st in svc.repo.find("study", twin_id=twin_id, order="started_us"):
        series = [public("series", s) for s in svc.repo.find("series", study_id=st["id"])]
        for s in series:
            s["segmentations"] = [
                public("segmentation", g) for g in svc.repo.find("segmentation", series_id=s["id"])
            ]
        pst = public("study", st)
        out.append(imaging_study(pst, series) if format == "fhir" else {**pst, "series": series})
    return out


@router.post("/import")
async def import_inbox(twin_id: str, request: Request, rt: RT) -> dict[str, Any]:
    """Import a study from the server's imaging inbox: ``{"path": "<folder or file under the inbox>"}``."""
    body = await _json(request)
    inbox = (Path(rt.settings.data_dir) / "imaging-inbox").resolve()
    rel = body.get("path")
    if not isinstance(rel, str) or not rel:
        raise ValidationError("give the path of a folder or file under the imaging inbox", field="path")
    target = (inbox / rel).resolve()
    if not target.is_relative_to(inbox):
        raise ValidationError("the path must stay inside the imaging inbox", field="path")
    when = parse_time(body["time"]) if body.get("time") else None
    return await asyncio.to_thread(_svc(rt).import_path, twin_id, [target], by=_by(request), when=when)


def _unpack(data: bytes, filename: str, folder: Path) -> Path:
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    dest = (folder / info.filename).resolve()
                    if not dest.is_relative_to(folder.resolve()):
                        raise ValidationError("the ZIP holds a path outside its folder", field="body")
                z.extractall(folder)
        except zipfile.BadZipFile:
            raise ValidationError("the body is not a valid ZIP file", field="body") from None
        return folder
    name = Path(filename or "upload.dcm").name
    path = folder / name
    path.write_bytes(data)
    return path


@router.post("/upload")
async def upload(twin_id: str, request: Request, rt: RT, filename: str = "upload.dcm") -> dict[str, Any]:
    """Import the request body: a ZIP of DICOM files, one DICOM file, or a NIfTI/NRRD volume."""
    data = await request.body()
    if not data:
        raise ValidationError("empty body", field="body")
    by = _by(request)

    def work() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as d:
            p = _unpack(data, filename, Path(d))
            return _svc(rt).import_path(twin_id, [p], by=by)

    return await asyncio.to_thread(work)


@router.post("/series/{series_id}/labels")
async def upload_labels(
    twin_id: str, series_id: str, request: Request, rt: RT, filename: str = "labels.seg.nrrd"
) -> dict[str, Any]:
    """Attach a label map made elsewhere (.seg.nrrd, .nii/.nii.gz, .nrrd, DICOM SEG) to a series."""
    svc = _svc(rt)
    _own(svc, "series", series_id, twin_id)
    data = await request.body()
    by = _by(request)

    def work() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / Path(filename).name
            p.write_bytes(data)
            return public("segmentation", svc.import_labels(series_id, p, by=by, name=Path(filename).name))

    return await asyncio.to_thread(work)


@router.post("/series/{series_id}/segment")
async def segment(twin_id: str, series_id: str, request: Request, rt: RT) -> dict[str, Any]:
    """Threshold or region growing (``method``, ``lower``/``upper`` HU, ``seed_lps``/``seed_index``,
    ``tolerance``), then ``largest_only``/``split_islands``, ``closing_mm``/``opening_mm``,
    ``fill_holes``, ``margin_mm``; ``name`` and ``role`` (organ, lesion, node, vessel, graft)."""
    svc = _svc(rt)
    _own(svc, "series", series_id, twin_id)
    body = await _json(request)
    row = await asyncio.to_thread(svc.segment, series_id, body, by=_by(request))
    return public("segmentation", row)


@router.get("/series/{series_id}/slices/{index}")
async def slice_png(
    twin_id: str,
    series_id: str,
    index: int,
    rt: RT,
    centre: float = 40.0,
    width: float = 400.0,
    seg: str | None = None,
) -> Response:
    """One acquisition slice as PNG (display window ``centre``/``width``; ``seg`` overlays labels)."""
    svc = _svc(rt)
    _own(svc, "series", series_id, twin_id)
    if seg:
        _own(svc, "segmentation", seg, twin_id)
    png = await asyncio.to_thread(svc.slice_png, series_id, index, centre=centre, width=width, seg_id=seg)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/segmentations/{seg_id}/measurements")
async def measurements(twin_id: str, seg_id: str, rt: RT, record: bool = False) -> dict[str, Any]:
    """Volume, diameters, centroid and HU statistics per segment; ``record=true`` also stores them
    as observations on the twin."""
    svc = _svc(rt)
    _own(svc, "segmentation", seg_id, twin_id)
    return await asyncio.to_thread(followup.measure_segmentation, svc, seg_id, record=record)


@router.get("/segmentations/{seg_id}/mesh.glb")
async def mesh(twin_id: str, seg_id: str, rt: RT) -> Response:
    """The segments as smoothed, decimated surfaces in one GLB (glTF axes x=L, y=S, z=A, mm)."""
    svc = _svc(rt)
    _own(svc, "segmentation", seg_id, twin_id)
    data = await asyncio.to_thread(svc.glb, seg_id)
    return Response(data, media_type="model/gltf-binary")


@router.post("/recist")
async def recist(twin_id: str, request: Request, rt: RT) -> dict[str, Any]:
    """``{"baseline": seg_id, "followups": [seg_id, ...], "reference"?: organ segment for alignment,
    "organs"?: {lesion: organ}, "ignore_new"?: [names]}`` -> RECIST 1.1 and volumetric response."""
    svc = _svc(rt)
    body = await _json(request)
    base = body.get("baseline")
    fus = body.get("followups") or []
    if not isinstance(base, str) or not isinstance(fus, list):
        raise ValidationError(
            "baseline (a segmentation id) and followups (a list) are required", field="baseline"
        )
    for s in [base, *fus]:
        _own(svc, "segmentation", str(s), twin_id)
    return await asyncio.to_thread(
        followup.assess_recist,
        svc,
        base,
        [str(x) for x in fus],
        reference=body.get("reference"),
        organs=body.get("organs"),
        ignore_new=body.get("ignore_new") or (),
        by=_by(request),
    )


@router.post("/doppler")
async def doppler(twin_id: str, request: Request, rt: RT) -> dict[str, Any]:
    """``{"organ": "liver"|"kidney", "psv": cm/s, "edv": cm/s, "time", "vessel"?,
    "hours_since_transplant"?}`` -> resistive index with its published range."""
    body = await _json(request)
    try:
        psv, edv = float(body["psv"]), float(body["edv"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError("psv and edv (cm/s) are required numbers", field="psv") from None
    when = parse_time(body["time"]) if body.get("time") else rt.clock.now()
    hrs = body.get("hours_since_transplant")
    return await asyncio.to_thread(
        followup.record_doppler,
        _svc(rt),
        twin_id,
        organ=str(body.get("organ", "")),
        psv=psv,
        edv=edv,
        when=when,
        vessel=str(body.get("vessel", "")),
        hours_since_transplant=float(hrs) if hrs is not None else None,
        by=_by(request),
    )


@router.post("/graft")
async def graft(twin_id: str, request: Request, rt: RT) -> dict[str, Any]:
    """``{"segmentation", "segment", "recipient_kg"?, "height_cm"?}`` -> graft volume, change since
    the previous one, GRWR and GV/SLV."""
    svc = _svc(rt)
    body = await _json(request)
    seg_id = str(body.get("segmentation", ""))
    _own(svc, "segmentation", seg_id, twin_id)
    return await asyncio.to_thread(
        followup.graft_followup,
        svc,
        seg_id,
        str(body.get("segment", "")),
        recipient_kg=body.get("recipient_kg"),
        height_cm=body.get("height_cm"),
        by=_by(request),
    )


@router.get("/assessments")
def assessments(twin_id: str, rt: RT, kind: str | None = None) -> list[dict[str, Any]]:
    svc = _svc(rt)
    where: dict[str, Any] = {"twin_id": twin_id}
    if kind:
        where["kind"] = kind
    return [public("assessment", a) for a in svc.repo.find("assessment", order="t_us", **where)]


@router.post("/plans")
async def create_plan(twin_id: str, request: Request, rt: RT) -> dict[str, Any]:
    """``{"segmentation", "name"?, "organ"?, "lesions"?, "vessels"?, "plane": {"point": [x,y,z],
    "normal": [x,y,z]}, "liver_state"?: healthy|chemotherapy|cirrhosis, "min_margin_mm"?}``."""
    svc = _svc(rt)
    body = await _json(request)
    seg_id = str(body.get("segmentation", ""))
    _own(svc, "segmentation", seg_id, twin_id)
    row = await asyncio.to_thread(planning.create_plan, svc, seg_id, body, by=_by(request))
    return public("plan", row)


@router.get("/plans")
def list_plans(twin_id: str, rt: RT) -> list[dict[str, Any]]:
    return [public("plan", p) for p in _svc(rt).repo.find("plan", twin_id=twin_id)]


@router.get("/plans/compare")
def compare(
    twin_id: str, rt: RT, ids: Annotated[str, Query(description="plan ids, comma-separated")]
) -> dict[str, Any]:
    svc = _svc(rt)
    plan_ids = [x for x in ids.split(",") if x]
    for p in plan_ids:
        _own(svc, "plan", p, twin_id)
    return planning.compare_plans(svc, plan_ids)
