"""Alarm API through FastAPI's TestClient: readings in through POST /api/ingest, alarms out through
GET /api/alarms and the ward WebSocket feed; acknowledge, pause, escalate, limits (problem+json)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from medtwin.services.monitoring.alarms.service import AlarmService, start_alarms
from tests.conftest import auth_headers


def _app(rt: Runtime, hooks: list[Any]) -> FastAPI:
    return create_app(rt, on_start=hooks)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    rt = Runtime(Settings.load(db=str(tmp_path / "api.db"), mqtt_enabled=False, data_dir=tmp_path))
    app = _app(rt, [start_alarms])
    with TestClient(app, headers=auth_headers(rt)) as c:
        seed(rt.registry)
        yield c, rt


def ingest(
    c: TestClient, device: str, seq0: int, values: dict[str, float], seconds: int, end: datetime
) -> None:
    for i in range(seconds):
        t = (end - timedelta(seconds=seconds - 1 - i)).isoformat()
        r = c.post(
            "/api/ingest",
            json={
                "device": device,
                "seq": seq0 + i,
                "readings": [{"code": k, "value": v, "time": t} for k, v in values.items()],
            },
        )
        assert r.status_code == 200, r.text


def next_alarm(ws: Any) -> dict[str, Any]:
    """The next alarm message of the feed (observation flushes and others are skipped)."""
    for _ in range(50):
        msg: dict[str, Any] = ws.receive_json()
        if msg["type"] == "alarm":
            return msg
    raise AssertionError("no alarm message")


def svc(rt: Runtime) -> AlarmService:
    s: AlarmService = rt.services["alarms"]
    assert s.wait_idle(10)
    return s


def test_alarm_lifecycle_over_http_and_websocket(client: tuple[TestClient, Runtime]) -> None:
    c, rt = client
    now = datetime.now(UTC).replace(microsecond=0)
    with c.websocket_connect("/ws/ward/ICU") as ws:
        assert ws.receive_json()["type"] == "hello"
        ingest(c, "MON-001", 0, {"hr": 80, "spo2": 84}, 20, now)  # bed 1: SpO2 below 85 for 19 s
        ingest(c, "MON-002", 0, {"hr": 126, "spo2": 97}, 20, now)  # bed 2: HR above 120
        svc(rt)
        msgs = [next_alarm(ws) for _ in range(2)]
        assert {m["data"]["twin"] for m in msgs} == {"P001", "P002"}
        assert all(m["data"]["event"]["type"] == "raised" for m in msgs)

        alarms = c.get("/api/alarms", params={"ward": "ICU"}).json()
        assert [a["condition"] for a in alarms] == ["spo2_low", "hr_high"]  # high priority first
        high, med = alarms
        assert (
            high["priority"] == "high"
            and high["latched"]
            and high["bed"] == "Bed 1"
            and high["ward"] == "ICU"
        )
        assert high["evidence"]["code"] == "2708-6" and high["evidence"]["limit"] == 85
        assert high["escalated_to"] == ["ICU-nurse-2"] and high["escalation_level"] == 0
        assert med["priority"] == "medium" and not med["latched"]

        r = c.post(f"/api/alarms/{high['id']}/pause", json={"by": "ICU-nurse-2"})
        assert r.status_code == 200 and r.json()["state"] == "paused" and r.json()["paused_until"]
        assert (
            c.get(f"/api/alarms/{med['id']}").json()["state"] == "active"
        )  # pausing one never silences another
        assert next_alarm(ws)["data"]["event"]["type"] == "paused"

        r = c.post(f"/api/alarms/{med['id']}/escalate", json={"by": "ICU-nurse-3"})
        assert r.json()["escalation_level"] == 1 and r.json()["escalated_to"][-1] == "ICU-chargenurse-1"
        r = c.post(f"/api/alarms/{med['id']}/acknowledge", json={"by": "ICU-chargenurse-1"})
        assert r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"] == "ICU-chargenurse-1"

    assert [a["id"] for a in c.get("/api/alarms", params={"state": "acknowledged"}).json()] == [med["id"]]
    assert [a["id"] for a in c.get("/api/alarms", params={"state": "paused"}).json()] == [high["id"]]
    assert c.get("/api/alarms", params={"twin": "P002"}).json()[0]["id"] == med["id"]
    detail = c.get(f"/api/alarms/{med['id']}").json()
    assert [e["type"] for e in detail["history"]] == ["raised", "escalated", "acknowledged", "stand_down"]
    assert detail["history"][1]["actor"] == "ICU-nurse-3"

    # the desaturation ends: the latched high alarm stays until acknowledged
    ingest(c, "MON-001", 100, {"hr": 80, "spo2": 97}, 15, now + timedelta(seconds=15))
    svc(rt)
    one = c.get(f"/api/alarms/{high['id']}").json()
    assert one["condition_active"] is False and one["state"] == "paused"
    assert (
        c.post(f"/api/alarms/{high['id']}/acknowledge", json={"by": "ICU-nurse-2"}).json()["state"]
        == "resolved"
    )
    assert c.get("/api/alarms", params={"state": "resolved"}).json()[0]["id"] == high["id"]
    r = c.post(f"/api/alarms/{high['id']}/acknowledge", json={"by": "ICU-nurse-2"})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"


def test_errors_are_problem_json(client: tuple[TestClient, Runtime]) -> None:
    c, rt = client
    now = datetime.now(UTC).replace(microsecond=0)
    r = c.get("/api/alarms", params={"state": "sleeping"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "state"
    r = c.post("/api/alarms/nope/acknowledge", json={"by": "x"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    ingest(c, "MON-003", 0, {"hr": 80, "spo2": 89}, 20, now)
    svc(rt)
    (a,) = c.get("/api/alarms").json()
    r = c.post(f"/api/alarms/{a['id']}/pause", json={"by": "n", "seconds": 600})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "seconds"
    r = c.post(f"/api/alarms/{a['id']}/acknowledge", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "by"
    r = c.post(f"/api/alarms/{a['id']}/resolve", json={"by": "n"})
    assert r.status_code == 409  # physiological condition still present


def test_alarm_limits_get_and_put(client: tuple[TestClient, Runtime]) -> None:
    c, rt = client
    got = c.get("/api/twins/P003/alarm-limits").json()
    assert got["kind"] == "patient" and got["ward"] == "ICU" and got["limits"] == {}
    assert got["effective"]["spo2"] == {"low": 92, "critical_low": 85}
    r = c.put("/api/twins/P003/alarm-limits", json={"limits": {"spo2": {"low": 88}}, "by": "ICU-physician-1"})
    assert r.status_code == 200 and r.json()["effective"]["spo2"]["low"] == 88
    r = c.put("/api/twins/P003/alarm-limits", json={"limits": {"spo2": {"low": 70}}, "by": "ICU-physician-1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limits.spo2.critical_low"
    assert c.get("/api/twins/P003/alarm-limits").json()["limits"] == {"spo2": {"low": 88.0}}  # nothing lost
    ward = c.put(
        "/api/twins/MED/alarm-limits", json={"hr": {"high": 130}}, params={"by": "MED-chargenurse-1"}
    )
    assert ward.status_code == 200 and ward.json()["effective"]["hr"]["high"] == 130
    assert c.get("/api/twins/P010/alarm-limits").json()["inherited"]["hr"]["high"] == 130  # MED patient
    r = c.get("/api/twins/B1/alarm-limits")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "id"
    assert c.get("/api/twins/nobody/alarm-limits").status_code == 404
    # the new limit is used: 89 % is no longer an alarm for this patient
    now = datetime.now(UTC).replace(microsecond=0)
    ingest(c, "MON-003", 0, {"hr": 80, "spo2": 89}, 20, now)
    svc(rt)
    assert c.get("/api/alarms", params={"twin": "P003"}).json() == []


def test_503_when_the_service_is_not_running(tmp_path: Path) -> None:
    rt = Runtime(Settings.load(db=str(tmp_path / "x.db"), mqtt_enabled=False, data_dir=tmp_path))
    app = _app(rt, [])
    with TestClient(app, headers=auth_headers(rt)) as c:
        r = c.get("/api/alarms")
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"


def test_repository_round_trip_and_append_only_on_both_dialects(store: Any) -> None:
    """``store`` is the conftest fixture: SQLite and the real PostgreSQL (store migration 3)."""
    from sqlalchemy import text

    from medtwin.services.monitoring.alarms.model import Alarm, Kind, Priority, State, Transition
    from medtwin.services.monitoring.alarms.repository import AlarmRepository

    t0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
    repo = AlarmRepository(store)
    a = Alarm(
        "al-1",
        "P1",
        "spo2_low",
        Kind.PHYSIOLOGICAL,
        Priority.HIGH,
        "SpO2 low",
        t0,
        t0,
        ward="ICU",
        bed="Bed 1",
    )
    repo.record(a, [Transition("raised", t0, data={"targets": ["n1"]})])
    a.state, a.acknowledged_by, a.updated = State.ACKNOWLEDGED, "n1", t0 + timedelta(seconds=5)
    repo.record(a, [Transition("acknowledged", a.updated, actor="n1")])
    assert [x.id for x in repo.open_alarms()] == ["al-1"]
    assert repo.get("al-1") is not None and repo.get("al-1").to_json() == a.to_json()  # type: ignore[union-attr]
    assert [x.id for x in repo.list(ward="ICU", states=["acknowledged"])] == ["al-1"]
    assert repo.list(ward="MED") == [] and repo.list(states=[]) == []
    assert [(e["type"], e["actor"]) for e in repo.history("al-1")] == [
        ("raised", "system"),
        ("acknowledged", "n1"),
    ]
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as c:
        c.execute(text("UPDATE alarm_events SET actor = 'someone else'"))
    assert repo.history("al-1")[1]["actor"] == "n1"
