"""Imaging end to end: a radiologist imports two studies of one patient (DICOM upload and inbox),
segments the lesions, gets the RECIST 1.1 category as an observation; a surgeon compares two
resection plans -- through the API; plus the CLI, real images shipped in wheels (pydicom,
slicerio), NIfTI label import, and the errors for broken, mixed or mismatched series."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from medtwin.api.app import create_app
from medtwin.cli.main import app as cli
from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.models.imaging import phantoms
from medtwin.runtime import Runtime
from medtwin.services.imaging import synth

try:
    from tests.conftest import auth_headers
except ImportError:  # before the security layer
    auth_headers = None  # type: ignore[assignment]

SLICERIO = Path(__import__("slicerio").__file__).parent / "data"
TWIN = "pt-img"
BASE = "/api/twins/pt-img/imaging"


def _phantom(radius: float, new_lesion: bool) -> phantoms.Phantom:
    extra = [((-30.0, 20.0, 5.0), 6.0)]
    if new_lesion:
        extra.append(((-25.0, -25.0, -15.0), 7.0))
    return phantoms.liver_phantom(
        shape=(40, 64, 64), spacing=(2.5, 2.0, 2.0), tumour_radius=radius, extra_lesions=tuple(extra)
    )


@pytest.fixture
def client(tmp_path: Path):
    rt = Runtime(Settings.load(db=str(tmp_path / "img.db"), mqtt_enabled=False, data_dir=tmp_path))
    rt.registry.put(Twin(TWIN, TwinKind.PATIENT, "Synthetic imaging", identity={"mrn": "PHANTOM-1"}))
    rt.registry.put(Twin("other", TwinKind.PATIENT, "Other", identity={"mrn": "SOMEONE-ELSE"}))
    headers = auth_headers(rt) if auth_headers else {}
    with TestClient(create_app(rt), headers=headers) as c:
        yield c


def _zip(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f.name)
    return buf.getvalue()


def test_two_studies_recist_and_plans(client: TestClient, tmp_path: Path) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    synth.write_series(_phantom(12, False).ct, tmp_path / "s0", when=datetime(2026, 1, 5, 9, tzinfo=UTC))
    inbox = tmp_path / "imaging-inbox" / "s1"
    synth.write_series(_phantom(16, True).ct, inbox, when=datetime(2026, 4, 5, 9, tzinfo=UTC), seed=3)
    r = client.post(f"{BASE}/upload?filename=s0.zip", content=_zip(tmp_path / "s0"))
    assert r.status_code == 200, r.text
    s0 = r.json()["series"][0]
    assert s0["geometry"]["shape"] == [40, 64, 64] and s0["geometry"]["axes"] == "SPL"
    assert r.json()["studies"][0]["meta"]["patient_match"] == "match"
    assert "Phantom" not in r.text and "19700101" not in r.text  # no header personal data comes back
    r = client.post(f"{BASE}/import", json={"path": "s1"})
    assert r.status_code == 200, r.text
    s1 = r.json()["series"][0]
    assert client.post(f"{BASE}/import", json={"path": "../.."}).status_code == 422
    # segment lesions (threshold on enhancing tissue, one segment per island)
    spec = {"lower": 100, "upper": 150, "split_islands": True, "name": "lesion", "role": "lesion"}
    g0 = client.post(f"{BASE}/series/{s0['id']}/segment", json=spec).json()
    g1 = client.post(f"{BASE}/series/{s1['id']}/segment", json=spec).json()
    assert len(g0["segments"]) == 2 and len(g1["segments"]) == 3
    m = client.get(f"{BASE}/segmentations/{g0['id']}/measurements").json()
    big = m["segments"][0]
    assert big["volume_ml"] == pytest.approx(4 / 3 * np.pi * 12**3 / 1000, rel=0.05)
    assert big["hu"]["mean"] == 120.0
    rec = client.post(f"{BASE}/recist", json={"baseline": g0["id"], "followups": [g1["id"]]})
    assert rec.status_code == 200, rec.text
    fu = rec.json()["followups"][0]
    assert fu["overall"] == "PD" and len(fu["new_lesions"]) == 1 and fu["volumetric_response"] == "PD"
    assert rec.json()["baseline"]["sod_mm"] == pytest.approx(24 + 12, abs=3)
    latest = rt.store.latest(TWIN)
    assert latest["medtwin|recist-response"].value_text == "PD"
    assert latest["medtwin|recist-sod"].value == pytest.approx(fu["sod_mm"])
    assert (latest["medtwin|recist-sod"].meta or {})["new_lesions"] == fu["new_lesions"]
    # 3D and 2D views
    glb = client.get(f"{BASE}/segmentations/{g1['id']}/mesh.glb")
    assert glb.status_code == 200 and glb.content[:4] == b"glTF"
    png = client.get(f"{BASE}/series/{s1['id']}/slices/20", params={"seg": g1["id"]})
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"{BASE}/series/{s1['id']}/slices/99").status_code == 422
    # surgery: an organ segmentation with the tumour and the vessel, two planes
    organ = client.post(
        f"{BASE}/series/{s0['id']}/segment",
        json={"lower": 50, "upper": 150, "name": "liver", "role": "organ"},
    ).json()
    assert organ["segments"][0]["role"] == "organ"
    fhir = client.get(f"{BASE}/studies", params={"format": "fhir"}).json()
    assert fhir[0]["resourceType"] == "ImagingStudy" and fhir[0]["identifier"][0]["system"] == "urn:dicom:uid"


def test_plans_compare(client: TestClient, tmp_path: Path) -> None:
    p = _phantom(12, False)
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    synth.write_series(p.ct, tmp_path / "imaging-inbox" / "s", when=datetime(2026, 2, 1, tzinfo=UTC))
    series = client.post(f"{BASE}/import", json={"path": "s"}).json()["series"][0]
    import nibabel as nib

    from medtwin.services.imaging.formats import RAS_TO_LPS

    lab = np.zeros(p.ct.shape, dtype=np.uint8)
    lab[p.masks["liver"]] = 1
    lab[p.masks["tumour"]] = 2
    lab[p.masks["vessel"]] = 3
    nib.save(nib.Nifti1Image(lab, RAS_TO_LPS @ p.ct.affine), tmp_path / "labels.nii.gz")
    seg = client.post(
        f"{BASE}/series/{series['id']}/labels?filename=labels.nii.gz",
        content=(tmp_path / "labels.nii.gz").read_bytes(),
    ).json()
    assert [s["name"] for s in seg["segments"]] == ["label 1", "label 2", "label 3"]
    stats = client.get(f"{BASE}/segmentations/{seg['id']}/measurements").json()["segments"]
    assert stats[1]["voxels"] == int(p.masks["tumour"].sum())  # the NIfTI RAS affine landed on the grid
    body = {"segmentation": seg["id"], "organ": "label 1", "lesions": ["label 2"], "vessels": ["label 3"]}
    a = client.post(
        f"{BASE}/plans", json={**body, "name": "right", "plane": {"point": [0, 0, 0], "normal": [1, 0, 0]}}
    )
    assert a.status_code == 200, a.text
    b = client.post(
        f"{BASE}/plans",
        json={
            **body,
            "name": "extended",
            "liver_state": "cirrhosis",
            "plane": {"point": [-45, 0, 0], "normal": [1, 0, 0]},
        },
    ).json()
    ra = a.json()["result"]
    assert ra["lesions"][0]["margin_mm"] == pytest.approx(8, abs=1.5)
    assert ra["lesions"][0]["vessel_distances_mm"]["label 3"] == pytest.approx(15, abs=1.5)
    assert b["result"]["flr_status"] == "insufficient"
    assert a.json()["provenance"]["segmentation_id"] == seg["id"]
    cmp = client.get(f"{BASE}/plans/compare", params={"ids": f"{b['id']},{a.json()['id']}"}).json()
    assert cmp["recommended"] == a.json()["id"]
    bad = client.post(f"{BASE}/plans", json={**body, "plane": {"point": [0, 0], "normal": [0, 0, 0]}})
    assert bad.status_code == 422 and "plane.point" in bad.text
    # Doppler and graft follow-up become observations
    d = client.post(
        f"{BASE}/doppler", json={"organ": "liver", "psv": 80, "edv": 44, "time": "2026-02-02T10:00:00Z"}
    )
    assert d.json()["status"] == "low" and d.json()["ri"] == pytest.approx(0.45)
    gr = client.post(
        f"{BASE}/graft", json={"segmentation": seg["id"], "segment": "label 1", "recipient_kg": 70}
    )
    assert gr.status_code == 200 and gr.json()["grwr_pct"] > 0
    assert rt.store.latest(TWIN)["medtwin|doppler-ri"].meta["status"] == "low"
    # another patient's resources are not reachable through this twin
    assert client.get(f"/api/twins/other/imaging/segmentations/{seg['id']}/measurements").status_code == 404


def test_import_errors(client: TestClient, tmp_path: Path) -> None:
    p = _phantom(12, False)
    folder = tmp_path / "imaging-inbox" / "broken"
    files = synth.write_series(p.ct, folder, when=datetime(2026, 1, 1, tzinfo=UTC), seed=0)
    # remove the slice at a middle position: the gap must be reported, not silently stretched
    import pydicom

    zs = {f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in files}
    mid = sorted(zs, key=zs.get)[20]
    mid.unlink()
    r = client.post(f"{BASE}/import", json={"path": "broken"})
    assert r.status_code == 422 and "uneven slice spacing" in r.text and "slice_spacing" in r.text
    mixed = tmp_path / "imaging-inbox" / "mixed"
    synth.write_series(p.ct, mixed / "a", when=datetime(2026, 1, 1, tzinfo=UTC))
    synth.write_series(p.ct, mixed / "b", when=datetime(2026, 1, 1, tzinfo=UTC), patient_id="SOMEONE-ELSE")
    r = client.post(f"{BASE}/import", json={"path": "mixed"})
    assert r.status_code == 422 and "2 different patients" in r.text
    r = client.post(f"{BASE}/import", json={"path": "mixed/b"})
    assert r.status_code == 409 and "SOMEONE" not in r.text  # mismatch named, identifier not echoed
    (tmp_path / "imaging-inbox" / "junk").mkdir()
    (tmp_path / "imaging-inbox" / "junk" / "a.txt").write_text("not dicom")
    assert client.post(f"{BASE}/import", json={"path": "junk"}).status_code == 422


def test_real_images_shipped_in_wheels(client: TestClient, tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    ct = get_testdata_file("CT_small.dcm", download=False)
    assert ct is not None
    inbox = tmp_path / "imaging-inbox"
    inbox.mkdir(exist_ok=True)
    shutil.copy(ct, inbox / "ct.dcm")
    client.app.state.runtime.registry.put(Twin("ct-small", TwinKind.PATIENT))  # type: ignore[attr-defined]
    r = client.post("/api/twins/ct-small/imaging/import", json={"path": "ct.dcm"})
    assert r.status_code == 200, r.text
    geo = r.json()["series"][0]["geometry"]
    assert (
        geo["shape"] == [1, 128, 128]
        and geo["spacing_mm"][1] == pytest.approx(0.661468, abs=1e-4)
        and geo["unit"] == "HU"
    )
    # a real 4-slice series whose first slice lies 200 mm away: refused with the gap named
    ct2 = Path(ct).parent / "dicomdirtests" / "77654033" / "CT2"
    shutil.copytree(ct2, inbox / "ct2")
    r = client.post("/api/twins/ct-small/imaging/import", json={"path": "ct2"})
    assert r.status_code == 422 and "202.500 mm" in r.text
    # slicerio's real chest CT + 7-segment Slicer segmentation
    shutil.copy(SLICERIO / "CTChest4.nrrd", inbox / "chest.nrrd")
    r = client.post(
        "/api/twins/ct-small/imaging/import", json={"path": "chest.nrrd", "time": "2026-03-01T08:00:00Z"}
    )
    sid = r.json()["series"][0]["id"]
    seg = client.post(
        f"/api/twins/ct-small/imaging/series/{sid}/labels?filename=Segmentation.seg.nrrd",
        content=(SLICERIO / "Segmentation.seg.nrrd").read_bytes(),
    ).json()
    names = {s["name"]: s for s in seg["segments"]}
    assert names["right lung"]["code"]["code"] == "39607008"
    m = client.get(f"/api/twins/ct-small/imaging/segmentations/{seg['id']}/measurements").json()
    lung = next(s for s in m["segments"] if s["name"] == "right lung")
    assert lung["voxels"] == 34450 and lung["hu"]["median"] < -500  # aerated lung in HU


def test_cli_measure_json_shape(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["imaging", "measure", str(SLICERIO / "Segmentation.seg.nrrd"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out) == ["segments"] and len(out["segments"]) == 7
    first = out["segments"][0]
    assert list(first) == ["name", "volume_ml", "voxels", "max_diameter_mm"]
    assert first["name"] == "ribs" and first["voxels"] == 8487
    assert first["volume_ml"] == pytest.approx(8487 * 3.046875950**2 * 10 / 1000, rel=1e-6)
    from pydicom.data import get_testdata_file

    seg = runner.invoke(
        cli, ["imaging", "measure", get_testdata_file("liver_1frame.dcm", download=False), "--json"]
    )
    assert json.loads(seg.stdout)["segments"][0]["name"] == "Liver"
    bad = runner.invoke(cli, ["imaging", "measure", str(tmp_path / "none.nii.gz"), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["error"]["field"] == "path"
    # the phantom through the CLI: sphere volume known exactly
    p = _phantom(12, False)
    import nibabel as nib

    from medtwin.services.imaging.formats import RAS_TO_LPS

    nib.save(
        nib.Nifti1Image(p.masks["tumour"].astype(np.uint8), RAS_TO_LPS @ p.ct.affine), tmp_path / "t.nii.gz"
    )
    out = json.loads(runner.invoke(cli, ["imaging", "measure", str(tmp_path / "t.nii.gz"), "--json"]).stdout)
    assert out["segments"][0]["volume_ml"] == pytest.approx(p.truth["tumour_volume_ml"], rel=0.05)
    assert out["segments"][0]["max_diameter_mm"] == pytest.approx(24, abs=2.5)


def test_dicom_seg_imported_with_its_series(client: TestClient, tmp_path: Path) -> None:
    """A DICOM SEG (written with highdicom) in the same folder lands on the series it references."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    p = _phantom(12, False)
    folder = tmp_path / "imaging-inbox" / "withseg"
    files = synth.write_series(p.ct, folder, when=datetime(2026, 5, 1, tzinfo=UTC))
    src = sorted((pydicom.dcmread(f) for f in files), key=lambda d: float(d.ImagePositionPatient[2]))
    desc = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="tumour",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=src,
        pixel_array=p.masks["tumour"].astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[desc],
        series_instance_uid=generate_uid(),
        series_number=2,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="medtwin",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="0",
    )
    seg.save_as(folder / "seg.dcm")
    r = client.post(f"{BASE}/import", json={"path": "withseg"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["series"]) == 1 and len(out["segmentations"]) == 1
    g = out["segmentations"][0]
    assert g["segments"][0]["name"] == "tumour" and g["segments"][0]["role"] == "lesion"
    m = client.get(f"{BASE}/segmentations/{g['id']}/measurements").json()
    assert m["segments"][0]["voxels"] == int(p.masks["tumour"].sum())


@pytest.mark.skipif(auth_headers is None, reason="no security layer")
def test_roles_on_imaging_routes(client: TestClient, tmp_path: Path) -> None:
    """Radiologists segment and assess their patients' images; only surgeons save plans; a nurse
    reads; nobody reaches a patient outside their care scope."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    synth.write_series(
        _phantom(12, False).ct, tmp_path / "imaging-inbox" / "s", when=datetime(2026, 1, 5, tzinfo=UTC)
    )
    series = client.post(f"{BASE}/import", json={"path": "s"}).json()["series"][0]
    rad = auth_headers(rt, "radiologist", patients=(TWIN,))
    sur = auth_headers(rt, "surgeon", patients=(TWIN,))
    nurse = auth_headers(rt, "nurse", patients=(TWIN,))
    stranger = auth_headers(rt, "radiologist", user="rad-2", patients=("other",))
    spec = {"lower": 50, "upper": 150, "name": "liver", "role": "organ"}
    seg = client.post(f"{BASE}/series/{series['id']}/segment", json=spec, headers=rad)
    assert seg.status_code == 200, seg.text
    assert client.post(f"{BASE}/series/{series['id']}/segment", json=spec, headers=nurse).status_code == 403
    assert client.get(f"{BASE}/studies", headers=nurse).status_code == 200
    assert client.get(f"{BASE}/studies", headers=stranger).status_code == 403
    plan = {"segmentation": seg.json()["id"], "plane": {"point": [0, 0, 0], "normal": [1, 0, 0]}}
    assert client.post(f"{BASE}/plans", json=plan, headers=rad).status_code == 403
    assert client.post(f"{BASE}/plans", json=plan, headers=sur).status_code == 200
