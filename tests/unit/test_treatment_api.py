"""Treatment API end to end on a real runtime: record doses and levels, the service refits the twin,
fit with uncertainty band, compare regimens, pick one; glucose twin; access policy by role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.core.events import Generic
from medtwin.core.model import Twin, TwinKind
from medtwin.runtime import Runtime
from medtwin.services.treatment.service import TreatmentService
from tests.conftest import auth_headers

ATTRS = {"age": 60, "sex": "male", "weight": 80, "height": 175, "scr": 1.2}


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    r = Runtime(Settings.load(db=str(tmp_path / "tx.db"), mqtt_enabled=False, data_dir=tmp_path))
    r.registry.put(Twin("PT1", TwinKind.PATIENT, "Synthetic PT1", attributes=ATTRS))
    r.registry.put(Twin("PT2", TwinKind.PATIENT, "Synthetic PT2", attributes=ATTRS))
    TreatmentService.attach(r).start()
    yield r
    if r.started:
        r.stop()


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt), headers=auth_headers(rt)) as c:
        yield c


def _iso(rt: Runtime, hours: float) -> str:
    return (rt.clock.now() + timedelta(hours=hours)).isoformat()


def test_library_and_one_simulation(client: TestClient) -> None:
    lib = client.get("/api/treatment/drugs").json()
    names = {d["name"] for d in lib["drugs"]}
    assert {"propofol", "remifentanil", "vancomycin", "gentamicin", "lithium"} <= names
    body = {
        "drug": "propofol", "model": "schnider", "age": 40, "weight": 70, "height": 170, "sex": "male",
        "regimen": [{"type": "bolus", "dose_mg": 140, "at_min": 0, "duration_s": 0}], "times_min": [1, 2, 5],
    }  # fmt: skip
    out = client.post("/api/treatment/simulate", json=body).json()
    assert out["t_min"] == [1, 2, 5] and len(out["cp"]) == 3 and len(out["ce"]) == 3 and "effect" in out
    bad = client.post("/api/treatment/simulate", json={**body, "sex": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sex"


def test_levels_refit_compare_and_select(client: TestClient, rt: Runtime) -> None:
    fits: list[Generic] = []
    rt.bus.subscribe(Generic, lambda e: fits.append(e) if e.type == "treatment_fit" else None)
    for h in (-36, -24, -12):
        r = client.post(
            "/api/twins/PT1/treatment/vancomycin/doses", json={"dose_mg": 1000, "time": _iso(rt, h)}
        )
        assert r.status_code == 201, r.text
    rec = client.get("/api/twins/PT1/treatment/vancomycin").json()
    assert len(rec["doses"]) == 3 and rec["doses"][0]["duration_min"] == 100  # <= 10 mg/min
    assert (
        client.post(
            "/api/twins/PT1/treatment/vancomycin/levels",
            json={"value": 14.0, "time": _iso(rt, -12.5), "code": "4092-3"},
        ).status_code
        == 201
    )
    deadline = time.monotonic() + 20
    while not fits and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fits and fits[0].data["twin"] == "PT1" and fits[0].data["n_levels"] == 1
    fit = client.get("/api/twins/PT1/treatment/vancomycin/fit").json()
    assert (
        fit["status"] == "current"
        and fit["levels"][0]["value"] == 14.0
        and fit["trigger"].startswith("observations")
    )
    band = fit["curve"]["fit"]
    assert len(band["p50"]) == len(fit["curve"]["t_h"]) and all(
        a <= b for a, b in zip(band["p5"], band["p95"], strict=True)
    )
    cands = [{"dose_mg": a, "interval_h": 12, "n_doses": 4} for a in (750, 1000, 1500)]
    run = client.post(
        "/api/twins/PT1/treatment/vancomycin/compare", json={"candidates": cands, "n": 300}
    ).json()
    out = run["output"]
    assert out["best"] and len(out["results"]) == 3 and out["suggestion"] is not None
    assert all("confidence" in r and r["explanation"] for r in out["results"])
    assert run["provenance"]["fit_id"] == fit["id"]
    picked = client.post(
        f"/api/twins/PT1/treatment/runs/{run['id']}/select", json={"label": out["best"]}
    ).json()
    assert picked["selected"]["label"] == out["best"] and picked["selected_by"].startswith("user:")
    assert client.get("/api/twins/PT1/treatment").json()["runs"][0]["selected"]["label"] == out["best"]
    bad = client.post(f"/api/twins/PT1/treatment/runs/{run['id']}/select", json={"label": "nope"})
    assert bad.status_code == 422
    # a second level refits: the earlier fit is superseded, not lost
    client.post(
        "/api/twins/PT1/treatment/vancomycin/levels",
        json={"value": 30.0, "time": _iso(rt, -11), "code": "4090-7"},
    )
    deadline = time.monotonic() + 20
    while len(fits) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fits) >= 2
    from medtwin.services.treatment.repository import TreatmentRepository

    statuses = [f["status"] for f in TreatmentRepository(rt.store).fits("PT1", "vancomycin")]
    assert statuses[0] == "current" and "superseded" in statuses


def test_errors_name_the_field(client: TestClient) -> None:
    r = client.post("/api/twins/PT1/treatment/aspirin/fit", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "drug"
    r = client.post("/api/twins/PT1/treatment/vancomycin/levels", json={"value": 9000})
    assert r.status_code == 422
    r = client.get("/api/twins/PT2/treatment/gentamicin/fit")
    assert r.status_code == 404


def test_missing_covariates_are_listed_then_recorded(client: TestClient, rt: Runtime) -> None:
    rt.registry.put(Twin("PT3", TwinKind.PATIENT, "Synthetic PT3", attributes={"age": 70, "sex": "female"}))
    rec = client.get("/api/twins/PT3/treatment/gentamicin").json()
    assert rec["missing"] == ["weight"] and rec["covariates"] == {"age": 70, "sex": "female"}
    r = client.post("/api/twins/PT3/treatment/measurements", json={"weight": 61.5, "height": 160, "scr": 0.8})
    assert r.status_code == 201 and r.json()["accepted"] == 3
    rec = client.get("/api/twins/PT3/treatment/gentamicin").json()
    assert rec["missing"] == [] and rec["covariates"]["weight"] == 61.5
    assert rec["covariate_sources"]["scr"].startswith("observation")
    assert client.post("/api/twins/PT3/treatment/measurements", json={}).status_code == 422


def test_glucose_virtual_patient_and_twin(client: TestClient, rt: Runtime) -> None:
    pts = client.get("/api/glucose/patients").json()
    assert len(pts) == 30
    sim = client.post(
        "/api/glucose/simulate",
        json={"patient": "adult#001", "meals": [{"time_min": 60, "grams": 50}], "hours": 6, "seed": 1},
    ).json()
    assert 0 <= sim["metrics"]["tir"] <= 1 and len(sim["cgm"]["value"]) > 10
    # a glucose twin from CGM readings of a virtual patient (charted through the API)
    import numpy as np

    from medtwin.models.glucose.cgm import cgm_readings
    from medtwin.models.glucose.cohort import batch, get_patient
    from medtwin.models.glucose.scenario import InsulinRegimen, Meal, insulin_inputs, meal_inputs
    from medtwin.models.glucose.uva_padova import simulate

    vp = get_patient("adult#004")
    start = rt.clock.now() - timedelta(hours=8)
    meals = [Meal(60, 60)]
    reg = InsulinRegimen("r", vp.basal_u_per_min * 60, vp.cr)
    g = simulate(
        batch([vp.name]), meal_inputs(meals, 480)[None], insulin_inputs(reg, meals, 480)[None]
    ).sensor[0]
    t, y = cgm_readings(g, np.random.default_rng(0))
    readings = [
        {
            "code": "99504-3",
            "value": round(float(v), 1),
            "time": (start + timedelta(minutes=float(m))).isoformat(),
        }
        for m, v in zip(t, y, strict=True)
    ]
    readings.append({"code": "carbs", "value": 60, "time": (start + timedelta(minutes=60)).isoformat()})
    meds = [
        {
            "drug": "insulin aspart",
            "dose": 60 / vp.cr,
            "unit": "U",
            "route": "sc",
            "time": (start + timedelta(minutes=60)).isoformat(),
        }
    ]
    from medtwin.ingest.pipeline import ReadingBatch

    res = rt.ingestor.ingest(ReadingBatch("cgm-1", "m1", readings, subject="PT2", medications=meds)).result(
        30
    )
    assert not res.rejected and res.accepted == len(readings) + 1
    fit = client.post(
        "/api/twins/PT2/glucose/fit", json={"hours": 8, "basal_u_per_h": vp.basal_u_per_min * 60}
    ).json()
    assert (
        fit["drug"] == "insulin"
        and fit["fit"]["template"].startswith("adult#")
        and fit["record"]["n_cgm"] > 100
    )
    cmp = client.post(
        "/api/twins/PT2/glucose/compare",
        json={
            "candidates": [{"label": "usual", "basal_u_per_h": vp.basal_u_per_min * 60, "carb_ratio": vp.cr}],
            "hours": 6,
            "n": 10,
        },
    ).json()
    assert cmp["output"]["results"][0]["label"] == "usual" and "tir" in cmp["output"]["results"][0]["metrics"]


def test_access_policy(rt: Runtime) -> None:
    app = create_app(rt)
    cand = {"candidates": [{"dose_mg": 1000, "interval_h": 12, "n_doses": 2}], "n": 50}
    with TestClient(app) as c:
        pharm = auth_headers(rt, "pharmacist", patients=("PT1",))
        nurse = auth_headers(rt, "nurse", patients=("PT1",))
        other = auth_headers(rt, "physician", user="doc-elsewhere", patients=("PT2",))
        assert (
            c.post("/api/twins/PT1/treatment/vancomycin/compare", json=cand, headers=pharm).status_code == 201
        )
        assert (
            c.post("/api/twins/PT1/treatment/vancomycin/compare", json=cand, headers=nurse).status_code == 403
        )
        assert (
            c.post("/api/twins/PT1/treatment/vancomycin/compare", json=cand, headers=other).status_code == 403
        )
        assert c.get("/api/twins/PT1/treatment", headers=nurse).status_code == 200  # reading is care-scope
        assert c.get("/api/treatment/drugs").status_code == 401
