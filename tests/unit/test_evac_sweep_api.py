"""POST /api/evacuation/sweeps: a safety officer runs a scenario grid (self-contained or the demo
building's census), the same as the CLI; on the setting's Dask scheduler the answer is the same;
bad axes name the field; roles without evac.run are refused; the request size is bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping

from medtwin.api import evacuation_sweeps
from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from medtwin.services.safety.sweep import run_grid
from tests.conftest import auth_headers

WARD = {
    "walkable": mapping(box(0, 0, 20, 10)),
    "exits": [mapping(box(19.5, 4, 20, 6))],
    "agents": [{"position": [2, 2], "class": "ambulant"}, {"position": [3, 8], "class": "walking_aid"},
               {"position": [5, 5], "class": "staff"}],
}  # fmt: skip


def _client(tmp_path: Path, **settings: object) -> Iterator[TestClient]:
    s = Settings.load(
        db=str(tmp_path / "api.db"), mqtt_enabled=False, data_dir=str(tmp_path / "data"), **settings
    )
    rt = Runtime(s)
    with TestClient(create_app(rt), headers=auth_headers(rt, "safety_officer")) as c:
        seed(rt.registry)
        c.rt = rt
        yield c


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path)


def test_sweep_of_a_self_contained_scenario_equals_the_library(client: TestClient) -> None:
    body = {**WARD, "axes": {"alarm_s": [0, 60]}, "replications": 2, "seed": 5}  # flat form
    r = client.post("/api/evacuation/sweeps", json=body)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res.pop("backend") == "server"
    assert res == run_grid(WARD, {"alarm_s": [0, 60]}, replications=2, seed=5)
    assert res["rows"][1]["rset_mean_s"] > res["rows"][0]["rset_mean_s"] + 50
    nested = client.post("/api/evacuation/sweeps", json={"scenario": WARD, "axes": {"alarm_s": [0, 60]},
                                                         "replications": 2, "seed": 5})  # fmt: skip
    assert nested.status_code == 200 and nested.json()["rows"] == res["rows"]


def test_sweep_of_the_demo_building_census(client: TestClient) -> None:
    scenario = {"building": "B1", "census": "night", "strategy": "horizontal", "alarm_s": 60,
                "pre_movement_s": 60, "fire": {"space": "ICU-R03", "growth": "fast", "peak_kw": 1000}}  # fmt: skip
    r = client.post("/api/evacuation/sweeps", json={"scenario": scenario, "replications": 1,
                                                    "axes": {"staff_response_s": [30, 300]}})  # fmt: skip
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [x["label"] for x in rows] == ["staff_response_s=30", "staff_response_s=300"]
    assert rows[0]["completed"] == 1 and rows[1]["rset_mean_s"] > rows[0]["rset_mean_s"]
    names = {t.name for t in client.rt.store.list_twins() if t.kind.value == "patient"}
    assert not any(n in r.text for n in names)


def test_bad_requests_name_the_field(client: TestClient) -> None:
    def field(body: dict[str, object]) -> str:
        r = client.post("/api/evacuation/sweeps", json=body)
        assert r.status_code == 422, r.text
        return str(r.json()["errors"][0]["field"])

    assert field({"scenario": WARD, "axes": {"alarm_s": [0], "wind": [3]}}) == "axes"
    assert field({"scenario": WARD, "axes": {"alarm_s": "soon"}}) == "axes.alarm_s"
    assert field({"scenario": WARD, "axes": {"alarm_s": [-5]}}) == "axes.alarm_s"
    assert field({"scenario": WARD, "axes": [1]}) == "axes"
    assert field({"axes": {"alarm_s": [0]}}) == "scenario"
    assert field({"scenario": WARD, "replications": 0}) == "replications"
    big = {"scenario": WARD, "axes": {"alarm_s": list(range(30)), "dt": [0.05, 0.1]}, "replications": 4}
    assert field(big) == "replications"  # 240 runs > 200
    assert client.post("/api/evacuation/sweeps", json={"scenario": {"building": "B9"}}).status_code == 404


def test_one_sweep_at_a_time(client: TestClient) -> None:
    with evacuation_sweeps._busy:  # another request's sweep is running
        r = client.post("/api/evacuation/sweeps", json={"scenario": WARD, "replications": 1})
    assert r.status_code == 409 and "another evacuation sweep" in r.text
    assert (
        client.post("/api/evacuation/sweeps", json={"scenario": WARD, "replications": 1}).status_code == 200
    )


def test_roles_without_evac_run_are_refused(client: TestClient) -> None:
    body = {"scenario": WARD, "replications": 1}
    nurse = auth_headers(client.rt, "nurse", user="ICU-nurse-1")
    assert client.post("/api/evacuation/sweeps", json=body, headers=nurse).status_code == 403
    doctor = auth_headers(client.rt, "physician", user="doc-1")
    assert client.post("/api/evacuation/sweeps", json=body, headers=doctor).status_code == 403
    ops = auth_headers(client.rt, "operations")
    assert client.post("/api/evacuation/sweeps", json=body, headers=ops).status_code == 200


def test_on_the_settings_dask_scheduler(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    body = {"scenario": WARD, "axes": {"pre_movement_s": [0, 30]}, "replications": 2, "seed": 9}
    for c in _client(tmp_path, dask_scheduler="local:2"):
        r = c.post("/api/evacuation/sweeps", json=body)
        assert r.status_code == 200, r.text
        res = r.json()
        assert res.pop("backend") == "dask"
        assert res == run_grid(WARD, body["axes"], replications=2, seed=9)  # type: ignore[arg-type]
