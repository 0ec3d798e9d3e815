"""Operations API: logs, background jobs with progress, stored runs, figures, report, station; access."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.runtime import Runtime
from tests.conftest import auth_headers

PLAN = """name: One more pharmacist
staff:
  - pool: Pharmacy
    add: 1
"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    s = Settings.load(db=str(tmp_path / "api.db"), mqtt_enabled=False, data_dir=str(tmp_path / "data"))
    rt = Runtime(s)
    with TestClient(create_app(rt), headers=auth_headers(rt, "operations")) as c:
        yield c


def _wait(c: TestClient, job: dict, timeout: float = 120) -> dict:
    t0 = time.monotonic()
    seen = set()
    while time.monotonic() - t0 < timeout:
        j = c.get(f"/api/operations/jobs/{job['id']}").json()
        seen.add(j["state"])
        if j["state"] in ("done", "failed"):
            j["seen"] = seen
            return j
        assert 0.0 <= j["progress"] <= 1.0
        time.sleep(0.2)
    raise AssertionError(f"job {job['id']} did not finish")


def test_generate_analyse_simulate_and_figures(client: TestClient) -> None:
    r = client.post(
        "/api/operations/generate", json={"name": "t.parquet", "years": 0.05, "patients_per_day": 250}
    )
    assert r.status_code == 202, r.text
    job = _wait(client, r.json())
    assert job["state"] == "done", job["error"]
    assert job["output"]["events"] > 1000
    logs = client.get("/api/operations/logs").json()
    assert [x["name"] for x in logs] == ["t.parquet"] and logs[0]["ground_truth"]

    r = client.post("/api/operations/analyses", json={"log": "t.parquet"})
    job = _wait(client, r.json())
    assert job["state"] == "done", job["error"]
    run = client.get(f"/api/operations/runs/{job['run_id']}").json()
    res = run["result"]
    assert len(res["bottlenecks"]) >= 3 and res["walking"]["metres_per_journey_mean"] > 100
    assert "J0000" not in str(res)  # no case ids in a stored result
    svg = client.get(f"/api/operations/runs/{job['run_id']}/figures/process_map")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    assert client.get(f"/api/operations/runs/{job['run_id']}/figures/nope").status_code == 404
    html = client.get(f"/api/operations/runs/{job['run_id']}/report")
    assert html.status_code == 200 and "three worst bottlenecks" in html.text

    r = client.post(
        "/api/operations/simulations",
        json={"log": "t.parquet", "plans": [{"yaml": PLAN}], "replications": 2, "days": 2},
    )
    assert r.status_code == 202, r.text
    job = _wait(client, r.json(), 180)
    assert job["state"] == "done", job["error"]
    sim = client.get(f"/api/operations/runs/{job['run_id']}").json()["result"]
    assert sim["validation"]["little_ok"]
    assert sim["plans"][0]["vs_baseline"]["stages"]["Pharmacy"]["mean"] <= 0
    assert client.get(f"/api/operations/runs/{job['run_id']}/figures/whatif_0").status_code == 200
    kinds = {x["kind"] for x in client.get("/api/operations/runs").json()}
    assert kinds == {"analysis", "simulation"}


def test_errors_upload_station_and_access(client: TestClient, tmp_path: Path) -> None:
    assert client.post("/api/operations/analyses", json={"log": "missing.csv"}).status_code == 404
    r = client.post("/api/operations/simulations", json={"log": "x.csv", "plans": [{"yaml": "bogus: 1"}]})
    assert r.status_code in (404, 422)
    csv = b"case_id,activity,start,end\n1,A,2021-01-04 08:00,2021-01-04 08:05\n1,B,2021-01-04 08:20,2021-01-04 08:10\n"
    assert (
        client.put("/api/operations/logs/bad.csv", params={"offset": 0}, content=csv[:40]).status_code == 200
    )
    assert (
        client.put("/api/operations/logs/bad.csv", params={"offset": 5}, content=csv[40:]).status_code == 422
    )
    r = client.put("/api/operations/logs/bad.csv", params={"offset": 40, "final": True}, content=csv[40:])
    assert r.json() == {"name": "bad.csv", "bytes": len(csv), "complete": True}
    assert client.put("/api/operations/logs/..%2Fx.csv", content=b"x").status_code in (404, 422)
    job = _wait(client, client.post("/api/operations/analyses", json={"log": "bad.csv"}).json())
    assert job["state"] == "failed"
    assert (
        job["error"]["field"] == "end"
        and job["error"]["index"] == 2
        and "end before start" in job["error"]["reason"]
    )
    st = client.post(
        "/api/operations/station",
        json={
            "arrivals_per_hour": 10,
            "service_minutes": 15,
            "servers": 3,
            "patients": 2000,
            "replications": 3,
        },
    ).json()
    assert st["analytic"]["wait_minutes"] == pytest.approx(21.0674, abs=1e-3)
    assert set(st["simulated"]) >= {"wait_minutes", "ci95"}
    names = [s["file"] for s in client.get("/api/operations/scenarios").json()]
    assert "pharmacy_lunch.yaml" in names
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    nurse = auth_headers(rt, "nurse")
    assert client.get("/api/operations/logs", headers=nurse).status_code == 403
    assert client.post("/api/operations/station", headers=nurse, json={}).status_code == 403
    assert client.get("/api/operations/logs", headers=auth_headers(rt, "admin")).status_code == 200
