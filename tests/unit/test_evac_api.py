"""Evacuation API and CLI: safety officers run tonight's census through a fire, compare variants,
get the replay and the 3D model; nurses are refused; patients appear only as pseudonyms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from typer.testing import CliRunner

from medtwin.api.app import create_app
from medtwin.cli.main import app as cli
from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.models.evacuation.geojson import to_geojson
from medtwin.runtime import Runtime
from medtwin.services.safety.demo import demo_building
from medtwin.services.safety.importers import write_laz
from medtwin.services.safety.synthetic import scan
from tests.conftest import auth_headers


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    s = Settings.load(db=str(tmp_path / "api.db"), mqtt_enabled=False, data_dir=str(tmp_path / "data"),
                      max_body_bytes=8_000_000)  # fmt: skip
    rt = Runtime(s)
    with TestClient(create_app(rt), headers=auth_headers(rt, "safety_officer")) as c:
        seed(rt.registry)
        c.rt = rt  # type: ignore[attr-defined]
        yield c


def test_safety_officer_runs_tonights_census_through_a_fire(client: TestClient) -> None:
    assert client.get("/api/evacuation/buildings").json()["demo_available"] is True
    pre = client.get("/api/evacuation/presets").json()
    assert pre["scenarios"][0]["census"] == "night" and len(pre["variants"]) >= 4
    occ = client.get("/api/evacuation/buildings/B1/occupants", params={"census": "night"}).json()
    assert occ["patients"] == 24 and all(
        o["id"].startswith("PSN-") for o in occ["occupants"] if o["role"] == "patient"
    )
    names = {t.name for t in client.rt.store.list_twins() if t.kind.value == "patient"}  # type: ignore[attr-defined]
    assert not any(n in json.dumps(occ) for n in names)
    b = client.get("/api/evacuation/buildings/B1").json()
    assert b["building"]["beds"] == 24 and b["geojson"]["medtwin"]["schema"] == "medtwin-building/1"
    r = client.post("/api/evacuation/runs", json=pre["scenarios"][0])
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["status"] == "ok" and rep["rset_s"] > 0 and rep["compartments"] and rep["id"]
    assert client.get("/api/evacuation/runs").json()[0]["id"] == rep["id"]
    stored = client.get(f"/api/evacuation/runs/{rep['id']}").json()
    assert stored["result"]["rset_s"] == rep["rset_s"] and not any(n in json.dumps(stored) for n in names)
    rp = client.get(f"/api/evacuation/runs/{rep['id']}/replay").json()
    assert rp["moves"] and rp["hazard"]["zones"]
    glb = client.get("/api/evacuation/buildings/B1/model.glb")
    assert (
        glb.status_code == 200
        and glb.content[:4] == b"glTF"
        and glb.headers["content-type"] == "model/gltf-binary"
    )
    cmp_ = client.post(
        "/api/evacuation/compare", json={"base": pre["scenarios"][0], "variants": pre["variants"][:1]}
    )
    assert cmp_.status_code == 200 and len(cmp_.json()["rows"]) == 2


def test_errors_and_imports(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/api/evacuation/runs", json={"building": "B1", "fire": {"space": "NOWHERE"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fire.space"
    assert client.get("/api/evacuation/buildings/B9").status_code == 404
    assert client.get("/api/evacuation/runs/0123456789abcdef").status_code == 404
    doc = to_geojson(demo_building())
    doc["medtwin"]["building"] = "B2"
    assert client.put("/api/evacuation/buildings/B2", json=doc).status_code == 200
    assert client.put("/api/evacuation/buildings/B3", json=doc).status_code == 422
    laz = tmp_path / "w.laz"
    write_laz(laz, scan(density=300.0))
    r = client.post(
        "/api/evacuation/buildings/SCAN/import", params={"format": "laz"}, content=laz.read_bytes()
    )
    assert r.status_code == 200, r.text
    assert r.json()["doors"] == 5 and r.json()["import"]["spaces"] == 5
    assert (
        client.post(
            "/api/evacuation/buildings/SCAN/import", params={"format": "laz"}, content=b"x"
        ).status_code
        == 422
    )


def test_nurses_are_refused(client: TestClient) -> None:
    h = auth_headers(client.rt, "nurse", user="ICU-nurse-1")  # type: ignore[attr-defined]
    assert client.get("/api/evacuation/presets", headers=h).status_code == 403
    assert client.post("/api/evacuation/runs", json={}, headers=h).status_code == 403
    ops = auth_headers(client.rt, "operations")  # type: ignore[attr-defined]
    assert client.get("/api/evacuation/presets", headers=ops).status_code == 200


def test_cli_run_json_and_replay(tmp_path: Path) -> None:
    doc = {"walkable": mapping(box(0, 0, 20, 10)), "exits": [mapping(box(19.5, 4, 20, 6))],
           "agents": [{"position": [2, 2], "class": "ambulant"}, {"position": [3, 8], "class": "walking_aid", "speed": 0.6},
                      {"position": [10, 5], "class": "bed_bound"}, {"position": [5, 5], "class": "staff"},
                      {"position": [6, 5], "class": "staff"}]}  # fmt: skip
    sc = tmp_path / "s.json"
    sc.write_text(json.dumps(doc))
    res = CliRunner().invoke(cli, ["evac", "run", str(sc), "--json", "--replay", str(tmp_path / "r.sqlite")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["stuck"] == 0 and out["evacuation_time_s"] == max(a["exit_time_s"] for a in out["agents"])
    assert len(out["agents"]) == 5 and out["agents"][1]["exit_time_s"] > 16.0 / 0.6
    assert (tmp_path / "r.sqlite").stat().st_size > 0
    doc["agents"].append({"position": [1], "class": "ambulant"})
    sc.write_text(json.dumps(doc))
    res = CliRunner().invoke(cli, ["evac", "run", str(sc), "--json"])
    assert res.exit_code == 2 and "agents[5].position" in res.output
