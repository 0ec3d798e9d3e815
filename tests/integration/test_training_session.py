"""Training end to end (issue 12) on the demo hospital: the demo's deteriorating patients become
de-identified cases (plus synthetic ones), an educator builds and publishes, a trainee works a case
through the API with the virtual patient reacting, submits a diagnosis and gets a score and the
comparison with the real case; the educator sees the cohort and replays the session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.demo.run import backfill, build_ward
from medtwin.devices import Ward
from medtwin.runtime import Runtime
from tests.conftest import auth_headers

DETERIORATING = {"P001", "P005", "P010", "P018"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime]]:
    tmp: Path = tmp_path_factory.mktemp("trsession")
    rt = Runtime(Settings.load(db=str(tmp / "t.db"), mqtt_enabled=False, data_dir=tmp))
    with TestClient(create_app(rt)) as c:
        h = seed(rt.registry)
        now = datetime.now(UTC).replace(microsecond=0)
        start = now - timedelta(hours=5)
        full = build_ward(h, start, now)
        devices = [d for d in full.devices if getattr(d, "patient_id", None) in DETERIORATING]
        backfill(rt, Ward(devices, ward_id="demo", start=start), start, now)
        yield c, rt


def _post(c: TestClient, url: str, h: dict[str, str], body: Any = None, code: int = 200) -> Any:
    r = c.post(url, json=body, headers=h)
    assert r.status_code == code, (url, r.status_code, r.text[:500])
    return r.json()


def test_demo_cases_trainee_session_score_cohort_and_replay(world: tuple[TestClient, Runtime]) -> None:
    c, rt = world
    admin, ed = auth_headers(rt, "admin"), auth_headers(rt, "educator", wards=("ICU", "MED"))
    tr, tr2 = auth_headers(rt, "trainee"), auth_headers(rt, "trainee", user="trainee-2")
    made = _post(c, "/api/training/demo-cases", admin)["cases"]
    built = {x.get("title") for x in made if x.get("source") == "twin"}
    assert "Fever, confusion and low blood pressure" in built  # P001's sepsis, from its real record
    assert sum(x.get("source") == "template" for x in made) == 3
    assert any(
        x.get("twin") == "P005" and x.get("skipped") for x in made
    )  # bleeds only after the demo starts
    assert _post(c, "/api/training/demo-cases", admin)["cases"][0]["skipped"] == "case exists"  # idempotent
    cands = c.get("/api/training/candidates", headers=ed).json()
    assert {x["id"] for x in cands} >= DETERIORATING and all(x["display"].startswith("PSN-") for x in cands)

    cases = c.get("/api/training/cases", headers=tr).json()
    sepsis = next(x for x in cases if x["title"].startswith("Fever"))
    st = _post(c, "/api/training/sessions", tr, {"case_id": sepsis["id"], "speed": 60}, 201)
    sid = st["session"]["id"]
    base = f"/api/training/sessions/{sid}"
    _post(
        c, f"{base}/clock", tr, {"running": False}
    )  # the trainee pauses while reading (speed 60: 1 s = 1 min)
    assert st["monitor"] is None and set(st["stages"]) == {"presenting"}  # progressive disclosure
    r = c.post(
        f"/api/training/sessions/{sid}/actions", json={"kind": "antibiotics", "drug": "meropenem"}, headers=tr
    )
    assert (
        r.status_code == 422 and r.json()["errors"][0]["field"] == "stage"
    )  # no orders before the orders stage
    assert (
        c.post(f"/api/training/sessions/{sid}/reveal", json={"stage": "vitals"}, headers=tr).status_code
        == 422
    )
    for stage in ("history", "examination", "vitals", "orders"):
        st = _post(c, f"/api/training/sessions/{sid}/reveal", tr, {"stage": stage})
    assert st["monitor"]["before"] and st["monitor"]["now"]["hr"] > 0
    _post(c, f"{base}/orders", tr, {"test": "blood_cultures"})
    _post(c, f"{base}/orders", tr, {"test": "lactate"})
    _post(c, f"{base}/actions", tr, {"kind": "antibiotics", "drug": "piperacillin-tazobactam"})
    st = _post(c, f"{base}/actions", tr, {"kind": "fluids", "volume": 1000, "minutes": 15})
    map0 = st["monitor"]["now"]["map"]
    assert st["orders"][1].get("result") is None  # lactate not back yet
    st = _post(c, f"{base}/clock", tr, {"advance_min": 20})
    assert st["t"] == pytest.approx(20.0, abs=0.5)
    assert st["orders"][1]["result"]["values"][0]["code"] == "32693-4"  # lactate, from the virtual patient
    _post(c, f"{base}/actions", tr, {"kind": "fluids", "volume": 1000, "minutes": 15})
    _post(c, f"{base}/actions", tr, {"kind": "fluids", "volume": 500, "minutes": 10})
    st = _post(c, f"{base}/clock", tr, {"advance_min": 30})
    assert st["monitor"]["now"]["map"] >= map0 - 3  # fluids held the pressure up
    assert [a["kind"] for a in st["actions"]] == ["antibiotics", "fluids", "fluids", "fluids"]
    assert c.get(base, headers=tr2).status_code == 404  # another trainee's session does not exist for them
    rep = _post(c, f"{base}/diagnosis", tr, {"primary": "A41.9", "differential": ["N39.0"]})
    assert rep["diagnosis"]["match"] == "exact" and rep["parts"]["diagnosis"] == 100
    items = {i["id"]: i for i in rep["management"]["items"]}
    assert items["antibiotics_1h"]["status"] == "on time" and items["antibiotics_1h"]["t"] < 1
    assert items["cultures_first"]["status"] == "on time" and items["fluids_30"]["status"] == "on time"
    assert {x["reference"] for x in rep["outcome"]["comparisons"]} >= {
        "no treatment",
        "real patient (observed)",
    }
    assert rep["outcome"]["courses"]["trainee"]["end"] and rep["feedback"]["real_treatment"]
    assert rep["total"] > 60
    assert c.post(f"{base}/actions", json={"kind": "oxygen"}, headers=tr).status_code == 409  # submitted

    coh = c.get(f"/api/training/cases/{sepsis['id']}/cohort", headers=ed).json()
    assert coh["n"] == 1 and coh["sessions"][0]["total"] == rep["total"]
    rp1 = c.get(f"{base}/replay", headers=ed).json()
    rp2 = c.get(f"{base}/replay", headers=ed).json()
    assert rp1["trace"] == rp2["trace"] and len(rp1["trace"]) >= 50  # deterministic replay of the course
    assert [s["kind"] for s in rp1["steps"]].count("action") == 4 and rp1["score"]["total"] == rep["total"]
    assert all(x["trainee"] == "test-trainee" for x in c.get("/api/training/sessions", headers=tr).json())
    assert c.get("/api/training/sessions", headers=tr2).json() == []
