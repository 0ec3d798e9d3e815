"""Native HTTP API: twins, relationships, ingest, state, history, series, live WebSocket, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from tests.conftest import auth_headers


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    s = Settings.load(db=str(tmp_path / "api.db"), mqtt_enabled=False)
    s.extra["live_interval_s"] = 0.1
    rt = Runtime(s)
    seed(rt.registry)
    app = create_app(rt)
    with TestClient(app, headers=auth_headers(rt)) as c:
        yield c


def _reading(code: str, value: object, t: str = "2026-11-28T10:00:00Z", unit: str | None = None) -> dict:
    r = {"code": code, "value": value, "time": t}
    if unit:
        r["unit"] = unit
    return r


def test_topology(client: TestClient) -> None:
    wards = client.get("/api/twins", params={"kind": "ward"}).json()
    assert {w["id"] for w in wards} == {"ICU", "MED"}
    p = client.get("/api/twins/P001").json()
    assert [x["kind"] for x in p["location"]] == ["bed", "room", "ward", "floor", "building"]
    kinds = {r["type"] for r in p["relationships"]}
    assert {"located_in", "monitors", "cared_for_by"} <= kinds
    icu = client.get("/api/places/ICU/patients").json()
    assert len(icu) == 8 and all(x["location"][2]["id"] == "ICU" for x in icu)
    assert len(client.get("/api/places/B1/patients").json()) == 24


def test_relationship_rules(client: TestClient) -> None:
    r = client.post("/api/relationships", json={"src": "P001", "type": "part_of", "dst": "ICU"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "type"
    r = client.post("/api/relationships", json={"src": "P001", "type": "located_in", "dst": "nowhere"})
    assert r.status_code == 404
    # move a patient to another bed: exclusive, so the old bed link goes
    assert (
        client.post(
            "/api/relationships", json={"src": "P001", "type": "located_in", "dst": "MED-R01-B1"}
        ).status_code
        == 201
    )
    assert client.get("/api/twins/P001").json()["location"][2]["id"] == "MED"


def test_ingest_state_history_series(client: TestClient) -> None:
    readings = [_reading("hr", 30 + i // 2, f"2026-11-28T10:{i // 60:02d}:{i % 60:02d}Z") for i in range(300)]
    readings.append(_reading("temp", 100.4, unit="degF"))
    r = client.post("/api/ingest", json={"device": "MON-001", "seq": 1, "readings": readings})
    assert r.status_code == 200 and r.json() == {"accepted": 301, "duplicates": 0, "rejected": []}
    again = client.post("/api/ingest", json={"device": "MON-001", "seq": 1, "readings": readings}).json()
    assert again == {"accepted": 0, "duplicates": 301, "rejected": []}
    state = client.get("/api/twins/P001/state").json()["latest"]
    assert state["8867-4"]["value"] == 179 and state["8310-5"]["value"] == pytest.approx(38.0)
    h = client.get(
        "/api/twins/P001/observations",
        params={"code": "hr", "start": "2026-11-28T10:00:00Z", "end": "2026-11-28T10:01:00Z"},
    ).json()
    assert len(h) == 60 and h[0]["value"] == 30
    s = client.get(
        "/api/twins/P001/series",
        params={
            "code": "8867-4",
            "start": "2026-11-28T10:00:00Z",
            "end": "2026-11-28T10:05:00Z",
            "bucket": 60,
        },
    ).json()
    assert [b["count"] for b in s["buckets"]] == [60] * 5
    assert s["buckets"][1]["min"] == 60 and s["buckets"][1]["max"] == 89


def test_ingest_errors_name_fields(client: TestClient) -> None:
    r = client.post(
        "/api/ingest",
        json={
            "device": "MON-001",
            "seq": 2,
            "readings": [
                _reading("hr", 70),
                _reading("hr", "fast"),
                _reading("spo2", 101),
                _reading("bogus", 1),
                _reading("hr", 70, unit="mg/dL"),
                {"code": "hr", "value": 70},
            ],
        },
    )
    body = r.json()
    assert r.status_code == 200 and body["accepted"] == 1
    assert [(x["index"], x["field"]) for x in body["rejected"]] == [
        (1, "value"),
        (2, "value"),
        (3, "code"),
        (4, "unit"),
        (5, "time"),
    ]
    r = client.post("/api/ingest", json={"device": "MON-X", "seq": 1, "readings": [_reading("hr", 70)]})
    assert r.status_code == 422 and r.json()["rejected"][0]["field"] == "patient"
    r = client.post("/api/ingest", content=b"{not json")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body"
    r = client.post("/api/ingest", json={"device": "MON-001", "readings": []})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "seq"
    assert client.post("/api/ingest", content=b"x" * 2_000_000).status_code == 413
    assert len(client.get("/api/rejects").json()) >= 0


def test_problem_json_for_bad_params(client: TestClient) -> None:
    r = client.get("/api/twins/P001/observations", params={"limit": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    r = client.get("/api/twins/P001/series", params={"code": "nonsense"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    r = client.get("/api/twins/P001/observations", params={"start": "yesterday"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "start"
    r = client.put("/api/twins/bad id!", json={"kind": "patient"})
    assert r.status_code == 422


def test_live_ward_feed(client: TestClient) -> None:
    with client.websocket_connect("/ws/ward/ICU") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and "P001" in hello["patients"] and "P020" not in hello["patients"]
        client.post("/api/ingest", json={"device": "MON-020", "seq": 5, "readings": [_reading("hr", 99)]})
        client.post("/api/ingest", json={"device": "MON-001", "seq": 5, "readings": [_reading("hr", 91)]})
        msg = ws.receive_json()
        while msg["type"] != "observations":
            msg = ws.receive_json()
        assert [(i["twin"], i["value"]) for i in msg["items"]] == [("P001", 91)]


def test_unknown_ward_feed_closes(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/ward/NOPE") as ws:
        ws.receive_json()


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    assert client.get("/").status_code == 200
    assert "paths" in client.get("/openapi.json").json()


def test_rooms_hold_environment_readings_only(client: TestClient) -> None:
    r = client.post(
        "/api/ingest",
        json={
            "device": "ENV-ICU-R01",
            "seq": 1,
            "readings": [_reading("room_temp", 22.5), _reading("hr", 80)],
            "medications": [{"drug": "paracetamol", "dose": 1000, "unit": "mg", "route": "oral"}],
        },
    ).json()
    assert r["accepted"] == 1
    assert [(x["index"], x["field"]) for x in r["rejected"]] == [(1, "code"), (2, "patient")]
    state = client.get("/api/twins/ICU-R01/state").json()["latest"]
    assert list(state) == ["60832-3"]


def test_a_device_writes_only_about_the_twin_it_monitors(client: TestClient) -> None:
    r = client.post(
        "/api/ingest",
        json={"device": "MON-001", "patient": "P002", "seq": 9, "readings": [_reading("hr", 80)]},
    )
    assert r.status_code == 422
    assert (
        r.json()["rejected"][0]["field"] == "patient"
        and "monitors 'P001'" in r.json()["rejected"][0]["reason"]
    )


def test_a_new_link_applies_at_once_after_an_unlinked_reading(client: TestClient) -> None:
    """The ingestor remembers that a device has no link (no query per message); a link made
    through the API must still bind the device from the next message on."""
    body = {"device": "MON-NEW", "patient": "P002", "seq": 1, "readings": [_reading("hr", 80)]}
    assert client.post("/api/ingest", json=body).status_code == 200
    assert client.put("/api/twins/MON-NEW", json={"kind": "device"}).status_code == 200
    r = client.post("/api/relationships", json={"src": "MON-NEW", "type": "monitors", "dst": "P001"})
    assert r.status_code in (200, 201), r.text
    r = client.post("/api/ingest", json=dict(body, seq=2))
    assert r.status_code == 422 and "monitors 'P001'" in r.json()["rejected"][0]["reason"]
