"""Charting API over HTTP: chart vitals, amend, entered-in-error keeps the original, fluid
balance, medication administration, scores, monitoring settings, errors naming the field."""

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
from medtwin.runtime import Runtime
from medtwin.services.monitoring.scoring import ScoringService
from tests.conftest import auth_headers

NURSE = "ICU-nurse-1"
DOCTOR = "ICU-physician-1"


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    r = Runtime(Settings.load(db=str(tmp_path / "x.db"), mqtt_enabled=False))
    seed(r.registry)
    return r


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    app = create_app(rt)
    with TestClient(app, headers=auth_headers(rt)) as c:
        yield c


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _chart(client: TestClient, patient: str = "P001", **body: Any) -> Any:
    body.setdefault("by", NURSE)
    return client.post(f"/api/twins/{patient}/chart", json=body)


VITALS = [
    {"code": "hr", "value": 88},
    {"code": "rr", "value": 18},
    {"code": "spo2", "value": 95, "unit": "%"},
    {"code": "temp", "value": 99.5, "unit": "degF"},
    {"code": "sbp", "value": 118},
    {"code": "acvpu", "value": "A"},
    {"code": "o2_device", "value": "air"},
]


def test_chart_vitals(client: TestClient) -> None:
    r = _chart(client, readings=VITALS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 7 and body["duplicates"] == 0 and body["rejected"] == []
    obs = {o["key"]: o for o in body["observations"]}
    assert obs["temp"]["value"] == pytest.approx(37.5) and obs["temp"]["unit"] == "Cel"
    assert all(o["method"] == "manual" and o["source"] == f"user:{NURSE}" for o in obs.values())
    assert obs["acvpu"]["value_text"] == "A" and all(o["id"] for o in obs.values())
    state = client.get("/api/twins/P001/state").json()["latest"]
    assert state["8867-4"]["value"] == 88 and state["snomed|1104441000000107"]["value_text"] == "A"


def test_chart_everything_a_nurse_charts(client: TestClient) -> None:
    t = _iso(datetime.now(UTC) - timedelta(minutes=10))
    r = _chart(
        client,
        time=t,
        readings=[
            {"code": "meal", "value": 50},
            {"code": "sleep", "value": "asleep"},
            {"code": "urine", "value": 120},
            {"code": "gcs", "value": 15},
        ],
        medications=[{"drug": "paracetamol", "dose": 1000, "unit": "mg", "route": "oral"}],
        note="Patient comfortable, mobilised to chair.",
        fluid={"intake_ml": 250},
    )
    body = r.json()
    assert r.status_code == 200 and body["accepted"] == 7 and body["rejected"] == []
    keys = sorted(o["key"] for o in body["observations"])
    assert keys == ["fluid_in", "gcs", "meal", "note", "sleep", "urine"]
    assert all(o["time"] == t for o in body["observations"])
    (med,) = body["medications"]
    assert med["performer"] == NURSE and med["time"] == t
    meds = client.get("/api/twins/P001/medications").json()
    assert [(m["drug"], m["dose"], m["unit"], m["route"], m["performer"]) for m in meds] == [
        ("paracetamol", 1000.0, "mg", "oral", NURSE)
    ]
    note = next(o for o in body["observations"] if o["key"] == "note")
    assert note["value_text"] == "Patient comfortable, mobilised to chair."


def test_errors_name_the_field_and_valid_items_are_kept(client: TestClient) -> None:
    r = _chart(
        client,
        readings=[
            {"code": "hr", "value": 80},
            {"code": "hr", "value": "fast"},
            {"code": "spo2", "value": 101},
            {"code": "bogus", "value": 1},
            {"code": "acvpu", "value": "X"},
            {"code": "news2", "value": 3},
            "not an object",
        ],
        medications=[{"drug": "heparin", "dose": -5, "unit": "IU", "route": "sc"}],
        fluid={"intake_ml": 25_000},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1
    fields = [(x["index"], x["field"]) for x in body["rejected"]]
    assert fields == [
        (1, "readings[1].value"),
        (2, "readings[2].value"),
        (3, "readings[3].code"),
        (4, "readings[4].value"),
        (5, "readings[5].code"),
        (6, "readings[6]"),
        (None, "fluid.intake_ml"),
        (0, "medications[0].dose"),
    ]
    assert all(x["reason"] for x in body["rejected"])
    # every item rejected: 422 with the same body shape
    r = _chart(client, readings=[{"code": "hr", "value": 999}])
    assert (
        r.status_code == 422
        and r.json()["accepted"] == 0
        and r.json()["rejected"][0]["field"] == "readings[0].value"
    )


@pytest.mark.parametrize(
    ("patient", "body", "status", "field"),
    [
        ("P001", {"readings": [{"code": "hr", "value": 80}]}, 422, "by"),
        ("P001", {"by": "ICU", "readings": [{"code": "hr", "value": 80}]}, 422, "by"),  # a ward, not staff
        (
            "P001",
            {"by": NURSE, "time": "2026-11-28T10:00:00", "readings": [{"code": "hr", "value": 80}]},
            422,
            "time",
        ),
        (
            "P001",
            {"by": NURSE, "time": "2999-01-01T00:00:00Z", "readings": [{"code": "hr", "value": 80}]},
            422,
            "time",
        ),
        ("P001", {"by": NURSE}, 422, "readings"),
        ("P001", {"by": NURSE, "readings": {"hr": 80}}, 422, "readings"),
        ("ICU-R01", {"by": NURSE, "readings": [{"code": "hr", "value": 80}]}, 422, "id"),
        ("nobody", {"by": NURSE, "readings": [{"code": "hr", "value": 80}]}, 404, "id"),
    ],
)
def test_body_errors_are_problem_json(
    client: TestClient, patient: str, body: dict, status: int, field: str
) -> None:
    r = client.post(f"/api/twins/{patient}/chart", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == field


def test_idempotent_resubmission(client: TestClient) -> None:
    body = {"id": "tablet-7-0001", "readings": [{"code": "hr", "value": 72}], "note": "ok"}
    assert _chart(client, **body).json()["accepted"] == 2
    again = _chart(client, **body).json()
    assert again["accepted"] == 0 and again["duplicates"] == 2


def test_amend_keeps_the_original(client: TestClient) -> None:
    (orig,) = _chart(client, readings=[{"code": "hr", "value": 180}]).json()["observations"]
    r = client.post(
        f"/api/observations/{orig['id']}/amend", json={"by": NURSE, "value": 80, "reason": "typo: 80 not 180"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    new = body["replacement"]
    assert new["status"] == "amended" and new["value"] == 80 and new["time"] == orig["time"]
    assert new["meta"] == {"replaces": orig["id"], "reason": "typo: 80 not 180", "by": NURSE}
    assert body["original"]["value"] == 180 and body["original"]["status"] == "entered-in-error"
    assert body["correction"]["action"] == "amended" and body["correction"]["previous_status"] == "final"
    # history and latest state show the corrected value ...
    hist = client.get("/api/twins/P001/observations", params={"code": "hr"}).json()
    assert [(o["value"], o["status"]) for o in hist] == [(80, "amended")]
    assert client.get("/api/twins/P001/state").json()["latest"]["8867-4"]["value"] == 80
    # ... and the original row's data is still readable, unchanged
    full = client.get("/api/twins/P001/observations", params={"code": "hr", "include_errors": "true"}).json()
    by_id = {o["id"]: o for o in full}
    kept = by_id[orig["id"]]
    assert (kept["value"], kept["time"], kept["source"], kept["source_id"]) == (
        180,
        orig["time"],
        orig["source"],
        orig["source_id"],
    )
    one = client.get(f"/api/observations/{orig['id']}").json()
    assert one["correction"]["new_obs_id"] == new["id"] and one["correction"]["by"] == NURSE
    # corrections are made once; correct the replacement instead
    r = client.post(
        f"/api/observations/{orig['id']}/amend", json={"by": NURSE, "value": 81, "reason": "again"}
    )
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "obs_id"
    assert str(new["id"]) in r.json()["detail"]


def test_amend_errors(client: TestClient) -> None:
    (orig,) = _chart(client, readings=[{"code": "temp", "value": 37.0}]).json()["observations"]
    url = f"/api/observations/{orig['id']}/amend"
    for body, field in (
        ({"by": NURSE, "value": 37.4}, "reason"),
        ({"by": NURSE, "value": 99.9, "reason": "x"}, "value"),  # 99.9 Cel is outside the plausible range
        ({"by": NURSE, "value": "warm", "reason": "x"}, "value"),
        ({"value": 37.4, "reason": "x"}, "by"),
        ({"by": NURSE, "reason": "x"}, "value"),
    ):
        r = client.post(url, json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (body, r.text)
    assert (
        client.post(
            "/api/observations/999999/amend", json={"by": NURSE, "value": 1, "reason": "x"}
        ).status_code
        == 404
    )
    # a unit conversion in the correction
    r = client.post(url, json={"by": NURSE, "value": 99.5, "unit": "degF", "reason": "entered in degF"})
    assert r.status_code == 200 and r.json()["replacement"]["value"] == pytest.approx(37.5)


def test_entered_in_error_keeps_the_original(client: TestClient) -> None:
    now = datetime.now(UTC)
    _chart(client, time=_iso(now - timedelta(minutes=30)), readings=[{"code": "temp", "value": 36.5}])
    (wrong,) = _chart(
        client, time=_iso(now - timedelta(minutes=5)), readings=[{"code": "temp", "value": 39.9}]
    ).json()["observations"]
    assert client.get("/api/twins/P001/state").json()["latest"]["8310-5"]["value"] == 39.9
    r = client.post(
        f"/api/observations/{wrong['id']}/entered-in-error", json={"by": NURSE, "reason": "wrong patient"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["replacement"] is None and r.json()["original"]["status"] == "entered-in-error"
    assert client.get("/api/twins/P001/state").json()["latest"]["8310-5"]["value"] == 36.5  # falls back
    assert [
        o["value"] for o in client.get("/api/twins/P001/observations", params={"code": "temp"}).json()
    ] == [36.5]
    full = client.get("/api/twins/P001/observations", params={"code": "temp", "include_errors": True}).json()
    assert [(o["value"], o["status"]) for o in full] == [(36.5, "final"), (39.9, "entered-in-error")]
    again = client.post(
        f"/api/observations/{wrong['id']}/entered-in-error", json={"by": NURSE, "reason": "x"}
    )
    assert again.status_code == 409
    assert (
        client.post(f"/api/observations/{wrong['id']}/entered-in-error", json={"by": NURSE}).status_code
        == 422
    )


def test_fluid_balance(client: TestClient) -> None:
    now = datetime.now(UTC)
    _chart(client, time=_iso(now - timedelta(hours=30)), fluid={"intake_ml": 9999})  # outside 24 h
    _chart(client, time=_iso(now - timedelta(hours=3)), fluid={"intake_ml": 500, "output_ml": 300})
    _chart(client, time=_iso(now - timedelta(hours=1)), readings=[{"code": "urine", "value": 200}])
    _chart(client, readings=[{"code": "fluid_in", "value": 1, "unit": "L"}])
    fb = client.get("/api/twins/P001/fluid-balance", params={"hours": 24}).json()
    assert (fb["intake_ml"], fb["output_ml"], fb["balance_ml"]) == (1500, 500, 1000)
    assert fb["urine_ml_per_kg_h"] is None and fb["entries"] == {"intake": 2, "output": 2}
    assert datetime.fromisoformat(fb["until"]) - datetime.fromisoformat(fb["since"]) == timedelta(hours=24)
    _chart(client, readings=[{"code": "weight", "value": 70}])
    fb = client.get("/api/twins/P001/fluid-balance").json()
    assert fb["weight_kg"] == 70 and fb["urine_ml_per_kg_h"] == pytest.approx(500 / 70 / 24, abs=1e-3)
    assert client.get("/api/twins/P001/fluid-balance", params={"hours": 0}).status_code == 422


def test_scores_endpoint(rt: Runtime, client: TestClient) -> None:
    svc = ScoringService().attach(rt).start()
    _chart(client, readings=VITALS)
    assert svc.wait_idle()
    s = client.get("/api/twins/P001/scores").json()
    assert sorted(x["key"] for x in s) == ["mews", "news2", "qsofa"]
    news2 = next(x for x in s if x["key"] == "news2")
    # HR 88 -> 0, RR 18 -> 0, SpO2 95 -> 1, 37.5 -> 0, SBP 118 -> 0, A -> 0, air -> 0
    assert news2["value"] == 1 and news2["meta"]["band"] == "low" and news2["method"] == "derived"
    assert len(news2["meta"]["derived_from"]) == 7
    assert [x["key"] for x in client.get("/api/twins/P001/scores", params={"score": "qsofa"}).json()] == [
        "qsofa"
    ]
    assert client.get("/api/twins/P001/scores", params={"score": "pews"}).status_code == 422


def test_monitoring_settings(rt: Runtime, client: TestClient) -> None:
    url = "/api/twins/P001/monitoring-settings"
    assert client.get(url).json()["news2_scale"] == 1
    r = client.put(url, json={"news2_scale": 2, "by": DOCTOR})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    for bad in (3, True, "2", None):
        r = client.put(url, json={"news2_scale": bad, "by": DOCTOR, "reason": "x"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "news2_scale"
    r = client.put(url, json={"news2_scale": 2, "by": DOCTOR, "reason": "COPD, hypercapnic, target 88-92 %"})
    assert r.status_code == 200 and r.json()["news2_scale"] == 2 and r.json()["by"] == DOCTOR
    assert rt.registry.get("P001").attributes["news2_scale"] == 2
    assert client.get(url).json()["reason"] == "COPD, hypercapnic, target 88-92 %"
    assert (
        client.put("/api/twins/ICU/monitoring-settings", json={"news2_scale": 1, "by": DOCTOR}).status_code
        == 422
    )


def test_start_hooks_wire_the_services(tmp_path: Path) -> None:
    """The wiring the app needs: the charting router plus the scoring and activity start hooks."""
    from medtwin.services.monitoring.activity import ActivityService, start_activity
    from medtwin.services.monitoring.scoring import start_scoring

    rt = Runtime(Settings.load(db=str(tmp_path / "hooks.db"), mqtt_enabled=False))
    seed(rt.registry)
    app = create_app(rt, on_start=[start_scoring, start_activity])
    with TestClient(app, headers=auth_headers(rt)) as c:
        assert isinstance(rt.services["scoring"], ScoringService)
        assert isinstance(rt.services["activity"], ActivityService)
        svc = rt.services["scoring"]
        start_scoring(rt)  # idempotent
        assert rt.services["scoring"] is svc
        assert _chart(c, readings=VITALS).status_code == 200
        assert rt.services["scoring"].wait_idle()
        assert {x["key"] for x in c.get("/api/twins/P001/scores").json()} == {"news2", "qsofa", "mews"}


def test_corrections_and_scores_on_both_dialects(db_url: str) -> None:
    """The corrections transaction and the scores' latest-state query on SQLite and PostgreSQL."""
    from medtwin.core.model import Twin, TwinKind
    from medtwin.services.monitoring.charting import ChartingService
    from medtwin.services.monitoring.scoring import SCORE_REFS
    from medtwin.store.corrections import correction_of

    rt = Runtime(Settings.load(db=db_url, mqtt_enabled=False))
    rt.registry.put(Twin("P9", TwinKind.PATIENT, "Synthetic"))
    with rt:
        scoring = ScoringService().attach(rt).start()
        svc = ChartingService(rt)
        res = svc.chart(
            "P9", {"by": NURSE, "readings": [{"code": "hr", "value": 135}, {"code": "rr", "value": 16}]}
        )
        obs = res.result(10).observations
        hr = next(o for o in obs if o.code == "8867-4")
        assert hr.id is not None and scoring.wait_idle()
        assert rt.store.latest("P9")[SCORE_REFS["news2"]].value == 3
        _orig, new, corr = svc.amend(hr.id, {"by": NURSE, "value": 80, "reason": "artefact"})
        assert rt.store.latest("P9")["8867-4"].id == new.id and corr.new_obs_id == new.id
        assert scoring.wait_idle()
        assert rt.store.latest("P9")[SCORE_REFS["news2"]].value == 0
        assert new.id is not None
        svc.enter_in_error(new.id, {"by": NURSE, "reason": "wrong patient"})
        assert "8867-4" not in rt.store.latest("P9")
        got = correction_of(rt.store, new.id)
        assert got is not None and got.action == "entered-in-error"
        assert [o.status.value for o in rt.store.history("P9", "8867-4", include_errors=True)] == [
            "entered-in-error",
            "entered-in-error",
        ]
