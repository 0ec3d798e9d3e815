"""De-identification of training cases (issue 12): a source twin seeded with identifiers of every kind
(name, record number, birth date, address, phone, e-mail, free-text notes, device ids, bed id, staff
id) becomes a case through the real builder; none of them appears anywhere in the case, its stored
record, its API answers (educator and trainee), its export, a session, its report or its replay.
The identifier guard refuses an educator's edit that types one in, and trainees never reach the
source record."""

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
from medtwin.core.errors import ValidationError
from medtwin.core.model import Relationship, RelType, Twin, TwinKind
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime
from medtwin.services.training import guard
from tests.conftest import auth_headers

PID = "ZQ-PT-7781"
SECRETS = (
    "Zebulon", "Quixworth", "MRN-SEED-4417", "SEED4417", "1958-04-23", "23/04/1958", "742 Evergreen", "Evergreen Terrace",
    "Springfield", "62704", "555-0142", "5550142", "zq4417@example.org", "SN-PUMP-88231", "MON-ZQ-9931", "BEDLABEL-7781",
    PID, "zq-msg", "nurse-zq-4417", "agitated", "J. Quixworth", "HP-99172", "1.2.826.0.1.3680043.8.498.4417",
)  # fmt: skip
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)


def _seed(rt: Runtime) -> None:
    ident = {
        "name": "Zebulon Quixworth", "mrn": "MRN-SEED-4417", "birth_date": "1958-04-23",
        "address": [{"line": ["742 Evergreen Terrace"], "city": "Springfield", "state": "IL", "postalCode": "62704"}],
        "telecom": [{"system": "phone", "value": "+1-555-0142-778"}, {"system": "email", "value": "zq4417@example.org"}],
        "identifiers": [{"type": {"coding": [{"code": "MB"}]}, "value": "HP-99172"}], "device_serial": "SN-PUMP-88231",
    }  # fmt: skip
    attrs = {
        "sex": "male",
        "weight_kg": 82,
        "condition": "urosepsis (Zebulon, bed BEDLABEL-7781)",
        "notes": "Quixworth",
    }
    rt.registry.put(Twin(PID, TwinKind.PATIENT, "Zebulon Quixworth", attrs, ident))
    rt.registry.put(Twin("BEDLABEL-7781", TwinKind.BED, "Bed 7781"))
    rt.registry.put(Twin("MON-ZQ-9931", TwinKind.DEVICE, "Monitor", {"type": "bedside_monitor"}))
    rt.store.relate(Relationship(PID, RelType.LOCATED_IN, "BEDLABEL-7781"))
    rt.store.relate(Relationship("MON-ZQ-9931", RelType.MONITORS, PID))
    readings = []
    for i in range(60):  # 5 h at 5-min intervals; deteriorates (sepsis) from 3 h on
        t, x = T0 + timedelta(minutes=5 * i), max(0.0, (i - 36) / 24)
        when = t.isoformat()
        readings += [
            {"code": "hr", "value": 78 + 40 * x, "time": when}, {"code": "rr", "value": 15 + 9 * x, "time": when},
            {"code": "spo2", "value": 97 - 2 * x, "time": when}, {"code": "sbp", "value": 124 - 38 * x, "time": when},
            {"code": "dbp", "value": 76 - 18 * x, "time": when}, {"code": "temp", "value": 36.9 + 1.8 * x, "time": when},
        ]  # fmt: skip
    note = {"code": "note", "value": "Zebulon Quixworth agitated, MRN-SEED-4417, call +1-555-0142-778",
            "time": (T0 + timedelta(hours=4)).isoformat(), "method": "manual"}  # fmt: skip
    med = {"drug": "piperacillin/tazobactam", "dose": 4.5, "unit": "g", "route": "intravenous",
           "time": (T0 + timedelta(hours=4, minutes=20)).isoformat(), "performer": "nurse-zq-4417",
           "note": "given by J. Quixworth"}  # fmt: skip
    with rt.store.transaction() as c:  # two imaging studies; one description names the patient
        for i, desc in enumerate(("CT abdomen, Quixworth Z", "Chest radiograph")):
            c.execute(
                text(
                    "INSERT INTO imaging_studies (id, twin_id, study_uid, started_us, modalities, description, source, "
                    "created_us) VALUES (:i, :t, :u, :s, :m, :d, 'test', :s)"
                ),
                {"i": f"st-{i}", "t": PID, "u": f"1.2.826.0.1.3680043.8.498.4417{i}", "m": ("CT", "CR")[i], "d": desc,
                 "s": int((T0 + timedelta(hours=4)).timestamp() * 1e6)},
            )  # fmt: skip
    res = rt.ingestor.ingest(
        ReadingBatch("MON-ZQ-9931", "zq-msg-1", [*readings, note], subject=PID, medications=[med])
    )
    assert not res.result(30).rejected


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime]]:
    tmp: Path = tmp_path_factory.mktemp("trdeid")
    rt = Runtime(Settings.load(db=str(tmp / "t.db"), mqtt_enabled=False, data_dir=tmp))
    with TestClient(create_app(rt)) as c:
        _seed(rt)
        yield c, rt


def leaks(obj: Any) -> list[str]:
    blob = json.dumps(obj).lower() if not isinstance(obj, str) else obj.lower()
    return [s for s in SECRETS if s.lower() in blob]


def test_case_api_export_session_and_report_hold_no_identifier(world: tuple[TestClient, Runtime]) -> None:
    c, rt = world
    ed = auth_headers(rt, "educator", patients=(PID,))
    tr = auth_headers(rt, "trainee")
    r = c.post(f"/api/training/twins/{PID}/case", json={"diagnosis": "A41.9"}, headers=ed)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["condition"] == "sepsis"  # inferred from the record's condition attribute
    assert (
        case["source"]["kind"] == "twin" and case["timeline"]["vitals"] and case["patient"]["sex"] == "male"
    )
    assert case["physiology"]["calibration"]["target"]["hr"] is not None
    assert case["real"]["treatment"][0]["kind"] == "antibiotics"
    assert sorted((i["modality"], i["description"]) for i in case["imaging"]) == [
        ("CR", "Chest radiograph"),
        ("CT", ""),
    ]
    assert "guard" not in case
    assert not leaks(case), leaks(case)
    with rt.store.engine.connect() as conn:  # what is stored: the record and every column
        stored = [list(row) for row in conn.execute(text("SELECT * FROM training_cases"))]
    assert not leaks(json.dumps(stored, default=str))
    assert not leaks(c.get(f"/api/training/cases/{case['id']}/export", headers=ed).json())
    assert (
        c.put(f"/api/training/cases/{case['id']}", json={"status": "published"}, headers=ed).status_code
        == 200
    )
    answers = [
        c.get("/api/training/cases", headers=tr).json(),
        c.get(f"/api/training/cases/{case['id']}", headers=tr).json(),
    ]
    s = c.post("/api/training/sessions", json={"case_id": case["id"], "speed": 60}, headers=tr).json()
    sid = s["session"]["id"]
    for stage in ("history", "examination", "vitals", "orders"):
        answers.append(
            c.post(f"/api/training/sessions/{sid}/reveal", json={"stage": stage}, headers=tr).json()
        )
    answers.append(
        c.post(f"/api/training/sessions/{sid}/orders", json={"test": "blood_gas"}, headers=tr).json()
    )
    answers.append(c.post(f"/api/training/sessions/{sid}/clock", json={"advance_min": 10}, headers=tr).json())
    answers.append(
        c.post(f"/api/training/sessions/{sid}/diagnosis", json={"primary": "A41.9"}, headers=tr).json()
    )
    answers += [c.get(f"/api/training/sessions/{sid}/{p}", headers=tr).json() for p in ("report", "replay")]
    answers += [
        c.get("/api/training/sessions", headers=tr).json(),
        c.get("/api/training/catalogue", headers=tr).json(),
    ]
    answers.append(c.get(f"/api/training/cases/{case['id']}/cohort", headers=ed).json())
    assert answers[9]["total"] >= 0 and answers[10]["steps"]  # the report and the replay
    assert all(a for a in answers)
    for a in answers:
        assert not leaks(a), leaks(a)
    assert answers[4]["monitor"][
        "before"
    ]  # the trainee saw the real (de-identified) chart before presentation


def test_trainees_never_reach_the_source_or_the_answers(world: tuple[TestClient, Runtime]) -> None:
    c, rt = world
    tr = auth_headers(rt, "trainee")
    assert c.get(f"/api/twins/{PID}", headers=tr).status_code == 403
    assert c.get(f"/api/twins/{PID}/observations", headers=tr).status_code == 403
    assert c.post(f"/api/training/twins/{PID}/case", json={}, headers=tr).status_code == 403
    assert c.get("/api/training/candidates", headers=tr).status_code == 403
    assert c.get("/api/training/cohort", headers=tr).status_code == 403
    for row in c.get("/api/training/cases", headers=tr).json():
        assert set(row) == {
            "id",
            "title",
            "specialty",
            "difficulty",
            "tags",
            "patient",
            "presenting",
            "max_minutes",
        }
    # the educator's routes: build, edit, publish, export, import, seed; a trainee gets 403 on each
    some = c.get("/api/training/cases", headers=tr).json()[0]["id"]
    for method, url, body in (("POST", "/api/training/cases", {"condition": "sepsis"}),
                              ("PUT", f"/api/training/cases/{some}", {"status": "draft"}),
                              ("GET", f"/api/training/cases/{some}/export", None),
                              ("POST", "/api/training/cases/import", {}), ("POST", "/api/training/demo-cases", None),
                              ("GET", f"/api/training/cases/{some}/cohort", None)):  # fmt: skip
        assert c.request(method, url, json=body, headers=tr).status_code == 403, (method, url)
    # a trainee's library has no answers and cannot be searched by condition (the diagnosis)
    assert (
        c.get("/api/training/cases?condition=opioid_overdose", headers=tr).json()
        == c.get("/api/training/cases", headers=tr).json()
    )
    cat = c.get("/api/training/catalogue", headers=tr).json()
    assert cat["conditions"] == [] and cat["choices"] == [] and cat["actions"]
    # an educator whose scope does not cover the patient may not build from it
    other = auth_headers(rt, "educator", user="edu-other", patients=("NOBODY",))
    assert c.post(f"/api/training/twins/{PID}/case", json={}, headers=other).status_code == 403
    assert (
        c.get(f"/api/twins/{PID}", headers=auth_headers(rt, "educator", patients=(PID,))).status_code == 403
    )


def test_guard_refuses_identifiers_typed_in_by_an_educator(world: tuple[TestClient, Runtime]) -> None:
    c, rt = world
    ed = auth_headers(rt, "educator", patients=(PID,))
    case = c.post(f"/api/training/twins/{PID}/case", json={"condition": "sepsis"}, headers=ed).json()
    url = f"/api/training/cases/{case['id']}"
    for bad in ("Seen with Mr Quixworth", "MRN-SEED-4417 notes", "born 23/04/1958", "lives at 742 Evergreen Terrace",
                "phone +1 555 0142 778", "monitor MON-ZQ-9931"):  # fmt: skip
        r = c.put(url, json={"stages": {"history": bad}}, headers=ed)
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"].startswith("stages.history")
    ok = c.put(
        url, json={"stages": {"history": "Three days of dysuria; the terrace garden is green."}}, headers=ed
    )
    assert ok.status_code == 200


def test_guard_tokens_are_keyed_and_catch_variants() -> None:
    toks = guard.identifier_tokens(
        {"name": "Ada Lovelace", "birth_date": "1915-12-10", "mrn": "X-1234-99"}, "Ada Lovelace", ["BED-7"]
    )
    sealed = guard.seal_tokens(toks)
    assert not any("lovelace" in s for s in sealed)  # HMACs, not values
    for text_ in ("Lovelace", "x 1234 99", "10.12.1915", "bed-7"):
        with pytest.raises(ValidationError):
            guard.check({"history": text_}, sealed)
    guard.check(
        {"history": "loves lace; 1915 was a year; bed 12"}, sealed
    )  # words, years and small numbers pass
