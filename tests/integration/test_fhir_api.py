"""FHIR R4 endpoints end to end: FastAPI TestClient against a runtime on a real SQLite file."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.runtime import Runtime
from tests.conftest import auth_headers

FHIR = {"Content-Type": "application/fhir+json"}
UCUM = "http://unitsofmeasure.org"


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime(Settings.load(db=str(tmp_path / "t.db"), mqtt_enabled=False, data_dir=tmp_path))


@pytest.fixture
def c(rt: Runtime) -> Iterator[TestClient]:
    app = create_app(rt)
    with TestClient(app, headers=auth_headers(rt)) as client:
        yield client


def patient(pid: str = "P1", **over: Any) -> dict[str, Any]:
    res = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": f"MRN-{pid}"}],
        "name": [{"family": "Lee", "given": ["Ann"]}],
        "gender": "female",
        "birthDate": "1950-02-03",
    }
    res.update(over)
    return res


def obs(
    ident: str = "m1",
    code: str = "8867-4",
    value: float = 72,
    unit: str = "/min",
    time: str = "2026-01-10T10:00:00Z",
    subject: str = "Patient/P1",
    **over: Any,
) -> dict[str, Any]:
    res = {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:mon", "value": ident}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": time,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        "device": {"reference": "Device/MON-1"},
    }
    res.update(over)
    return res


def bp(ident: str, s: float, d: float, time: str = "2026-01-10T10:00:00Z") -> dict[str, Any]:
    res = obs(ident, code="85354-9", time=time)
    del res["valueQuantity"]
    res["component"] = [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": v, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
        }
        for code, v in (("8480-6", s), ("8462-4", d))
    ]
    return res


def outcome(r: Any, status: int) -> dict[str, Any]:
    """Assert an OperationOutcome answer with this status; return it."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    get_fhir_model_class("OperationOutcome").model_validate(body)
    return dict(body)


def expressions(body: dict[str, Any]) -> list[str]:
    return [e for i in body["issue"] for e in i.get("expression", [])]


def put_patient(c: TestClient, pid: str = "P1") -> None:
    assert c.put(f"/fhir/Patient/{pid}", json=patient(pid), headers=FHIR).status_code in (200, 201)


# ------------------------------------------------------------------------------------------ metadata, Patient
def test_capability_statement(c: TestClient) -> None:
    r = c.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    cap = r.json()
    get_fhir_model_class("CapabilityStatement").model_validate(cap)
    assert cap["fhirVersion"] == "4.0.1"
    resources = {x["type"]: x for x in cap["rest"][0]["resource"]}
    assert {"Patient", "Observation"} <= set(resources)
    assert {p["name"] for p in resources["Observation"]["searchParam"]} >= {
        "subject",
        "patient",
        "code",
        "date",
    }
    assert {i["code"] for i in cap["rest"][0]["interaction"]} == {"batch", "transaction"}


def test_put_and_get_patient(c: TestClient, rt: Runtime) -> None:
    r = c.put("/fhir/Patient/P1", json=patient(), headers=FHIR)
    assert r.status_code == 201 and r.headers["location"].endswith("/fhir/Patient/P1")
    twin = rt.store.get_twin("P1")
    assert twin is not None and twin.kind is TwinKind.PATIENT and twin.identity["mrn"] == "MRN-P1"
    assert rt.ingestor.is_subject("P1")  # went through the registry: caches refreshed
    r2 = c.put("/fhir/Patient/P1", json=patient(gender="male"), headers={"Content-Type": "application/json"})
    assert r2.status_code == 200 and r2.json()["gender"] == "male"
    got = c.get("/fhir/Patient/P1")
    assert got.status_code == 200
    get_fhir_model_class("Patient").model_validate(got.json())
    assert got.json()["name"] == [{"family": "Lee", "given": ["Ann"]}]
    outcome(c.get("/fhir/Patient/NOPE"), 404)


def test_patient_errors(c: TestClient, rt: Runtime) -> None:
    assert expressions(outcome(c.put("/fhir/Patient/P1", json=patient("P2"), headers=FHIR), 400)) == [
        "Patient.id"
    ]
    assert expressions(outcome(c.put("/fhir/Patient/P1", json=patient(gender="f"), headers=FHIR), 422)) == [
        "Patient.gender"
    ]
    rt.registry.put(Twin("BED-1", TwinKind.BED, "Bed 1"))
    outcome(c.put("/fhir/Patient/BED-1", json=patient("BED-1"), headers=FHIR), 409)
    outcome(c.get("/fhir/Patient/BED-1"), 404)
    rt.registry.put(Twin("ROOM-1", TwinKind.ROOM, "Room 1"))  # the Ingestor takes rooms as subjects; FHIR not
    body = outcome(c.post("/fhir/Observation", json=obs(subject="Patient/ROOM-1"), headers=FHIR), 422)
    assert "is a room, not a patient" in body["issue"][0]["diagnostics"]
    put_patient(c, "P5")
    rt.registry.put(Twin("P5", TwinKind.PATIENT, "Ann Lee", active=False))
    body = outcome(c.post("/fhir/Observation", json=obs(subject="Patient/P5"), headers=FHIR), 422)
    assert "inactive" in body["issue"][0]["diagnostics"]
    assert rt.store.count_observations() == 0
    outcome(c.put("/fhir/Patient/P1", json=obs(), headers=FHIR), 400)


# ------------------------------------------------------------------------------------------ Observation
def test_post_observation_then_duplicate_is_stored_once(c: TestClient, rt: Runtime) -> None:
    put_patient(c)
    r = c.post("/fhir/Observation", json=obs(), headers=FHIR)
    assert r.status_code == 201, r.text
    loc = r.headers["location"]
    body = r.json()
    assert loc.endswith(f"/fhir/Observation/{body['id']}")
    assert body["valueQuantity"] == {"value": 72.0, "unit": "/min", "system": UCUM, "code": "/min"}
    assert body["subject"] == {"reference": "Patient/P1"} and body["device"] == {"display": "MON-1"}
    assert rt.store.count_observations() == 1  # answered after the commit
    again = c.post("/fhir/Observation", json=obs(), headers=FHIR)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert rt.store.count_observations() == 1
    read = c.get(loc)
    assert read.status_code == 200 and read.json() == body
    outcome(c.get("/fhir/Observation/999999"), 404)
    outcome(c.get("/fhir/Observation/abc"), 404)


def test_blood_pressure_panel_is_stored_as_two_readings(c: TestClient, rt: Runtime) -> None:
    put_patient(c)
    r = c.post("/fhir/Observation", json=bp("bp1", 142, 91), headers=FHIR)
    assert r.status_code == 201, r.text
    assert rt.store.count_observations() == 2
    latest = rt.store.latest("P1")
    assert latest["8480-6"].value == 142 and latest["8462-4"].value == 91
    panel = c.get(r.headers["location"]).json()
    assert panel["code"]["coding"][0]["code"] == "85354-9"
    assert [x["valueQuantity"]["value"] for x in panel["component"]] == [142, 91]
    assert c.post("/fhir/Observation", json=bp("bp1", 142, 91), headers=FHIR).status_code == 200
    assert rt.store.count_observations() == 2


@pytest.mark.parametrize(
    ("mutate", "status", "where", "words"),
    [
        (lambda o: o.update(status="bogus"), 422, "Observation.status", "not an R4 ObservationStatus"),
        (lambda o: o.update(status="registered"), 422, "Observation.status", "no result"),
        (
            lambda o: o["code"]["coding"][0].update(code="1234-5"),
            422,
            "Observation.code.coding",
            "unknown code",
        ),
        (
            lambda o: o["valueQuantity"].update(code="kg", unit="kg"),
            422,
            "Observation.valueQuantity.code",
            "cannot be converted",
        ),
        (
            lambda o: o["valueQuantity"].update(value=400),
            422,
            "Observation.valueQuantity.value",
            "plausible range",
        ),
        (lambda o: o["valueQuantity"].update(value="72"), 422, "Observation.valueQuantity.value", "number"),
        (lambda o: o.pop("subject"), 422, "Observation.subject", "missing subject"),
        (
            lambda o: o.update(subject={"reference": "Patient/GHOST"}),
            422,
            "Observation.subject.reference",
            "unknown patient",
        ),
        (
            lambda o: o.update(effectiveDateTime="2026-01-10"),
            422,
            "Observation.effectiveDateTime",
            "time of day",
        ),
        (lambda o: o.update(resourceType="Patient"), 400, "Observation.resourceType", "not accepted"),
        (lambda o: o.update(shoeSize=44), 422, "Observation.shoeSize", "unknown element"),
    ],
)
def test_invalid_observations_are_refused_with_the_field(
    c: TestClient, rt: Runtime, mutate: Any, status: int, where: str, words: str
) -> None:
    put_patient(c)
    o = obs()
    mutate(o)
    body = outcome(c.post("/fhir/Observation", json=o, headers=FHIR), status)
    assert where in expressions(body), body
    assert any(words in i["diagnostics"] for i in body["issue"]), body
    assert rt.store.count_observations() == 0


def test_malformed_and_wrong_media_type(c: TestClient) -> None:
    put_patient(c)
    outcome(c.post("/fhir/Observation", content=b'{"resourceType": "Obs', headers=FHIR), 400)
    outcome(c.post("/fhir/Observation", content=b"[1, 2]", headers=FHIR), 400)
    outcome(c.post("/fhir/Observation", content=b'{"a": NaN}', headers=FHIR), 400)
    outcome(
        c.post("/fhir/Observation", content=b"<Observation/>", headers={"Content-Type": "application/xml"}),
        415,
    )
    outcome(c.post("/fhir", content=b"\xff\xfe", headers=FHIR), 400)


def test_unknown_routes_and_methods(c: TestClient) -> None:
    outcome(c.get("/fhir/Encounter/1"), 404)
    outcome(c.delete("/fhir/Observation/1"), 405)
    outcome(c.get("/fhir"), 405)


def test_auto_register(tmp_path: Path) -> None:
    rt = Runtime(Settings.load(db=str(tmp_path / "a.db"), auto_register=True, mqtt_enabled=False))
    app = create_app(rt)
    with TestClient(app, headers=auth_headers(rt)) as c:
        r = c.post("/fhir/Observation", json=obs(subject="Patient/NEW9"), headers=FHIR)
        assert r.status_code == 201, r.text
        twin = rt.store.get_twin("NEW9")
        assert twin is not None and twin.kind is TwinKind.PATIENT and twin.attributes["auto_registered"]


def test_body_limit(tmp_path: Path) -> None:
    rt = Runtime(Settings.load(db=str(tmp_path / "b.db"), max_body_bytes=2000, mqtt_enabled=False))
    app = create_app(rt)
    with TestClient(app, headers=auth_headers(rt)) as c:
        big = obs(note=[{"text": "x" * 5000}])
        assert c.post("/fhir/Observation", json=big, headers=FHIR).status_code == 413


# ------------------------------------------------------------------------------------------ search
@pytest.fixture
def history(c: TestClient) -> TestClient:
    put_patient(c, "P1")
    put_patient(c, "P2")
    for day in range(1, 6):  # heart rate on 1..5 January, temperature on 1..3 January
        t = f"2026-01-0{day}T08:00:00Z"
        assert (
            c.post(
                "/fhir/Observation", json=obs(f"hr{day}", time=t, value=60 + day), headers=FHIR
            ).status_code
            == 201
        )
        if day <= 3:
            tmp = obs(f"t{day}", code="8310-5", value=37, unit="Cel", time=t)
            assert c.post("/fhir/Observation", json=tmp, headers=FHIR).status_code == 201
    assert (
        c.post("/fhir/Observation", json=obs("other", subject="Patient/P2"), headers=FHIR).status_code == 201
    )
    assert (
        c.post("/fhir/Observation", json=bp("bp", 120, 80, "2026-01-02T09:00:00Z"), headers=FHIR).status_code
        == 201
    )
    return c


def search(c: TestClient, **params: Any) -> dict[str, Any]:
    r = c.get("/fhir/Observation", params=params)
    assert r.status_code == 200, r.text
    b = r.json()
    get_fhir_model_class("Bundle").model_validate(b)
    assert b["type"] == "searchset"
    return dict(b)


def matches(b: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in b["entry"] if e.get("search", {}).get("mode") == "match"]


def test_search_by_subject_code_and_date(history: TestClient) -> None:
    c = history
    assert search(c, subject="Patient/P1")["total"] == 10  # 5 HR + 3 temperature + systolic + diastolic
    assert search(c, patient="P2")["total"] == 1
    b = search(c, subject="Patient/P1", code="http://loinc.org|8867-4")
    assert b["total"] == 5
    assert all(
        e["fullUrl"] == f"http://testserver/fhir/Observation/{e['resource']['id']}" for e in b["entry"]
    )
    assert [r["valueQuantity"]["value"] for r in matches(b)] == [65, 64, 63, 62, 61]  # newest first
    asc = search(c, subject="Patient/P1", code="8867-4", _sort="date")
    assert [r["valueQuantity"]["value"] for r in matches(asc)] == [61, 62, 63, 64, 65]
    window = search(
        c,
        subject="Patient/P1",
        code="8867-4,8310-5",
        date=["ge2026-01-02T00:00:00Z", "lt2026-01-04T00:00:00Z"],
    )
    assert window["total"] == 4
    assert search(c, subject="Patient/P1", code="8867-4", date="2026-01-03")["total"] == 1
    assert search(c, subject="Patient/P1", code="8867-4", date="gt2026-01-03")["total"] == 2
    assert search(c, subject="Patient/P1", code="8867-4", date="le2026-01-03")["total"] == 3
    assert search(c, subject="Patient/P1", code="8867-4", date="2026-01")["total"] == 5
    assert search(c, subject="Patient/P1", code="8867-4", date=["ge2026-01-04", "lt2026-01-02"])["total"] == 0
    assert search(c, subject="Patient/NOBODY")["total"] == 0


def test_search_paging_panels_and_warnings(history: TestClient) -> None:
    c = history
    page = search(c, subject="Patient/P1", code="8867-4", _count=2)
    assert page["total"] == 5 and len(matches(page)) == 2
    nxt = next(x["url"] for x in page["link"] if x["relation"] == "next")
    page2 = c.get(nxt).json()
    assert [r["valueQuantity"]["value"] for r in matches(page2)] == [63, 62]
    panels = search(c, subject="Patient/P1", code="85354-9")
    assert panels["total"] == 1
    [panel] = matches(panels)
    assert panel["id"].startswith("bp-") and len(panel["component"]) == 2
    unknown = search(c, subject="Patient/P1", code="9999-9")
    assert unknown["total"] == 0
    assert [e["resource"]["resourceType"] for e in unknown["entry"]] == ["OperationOutcome"]
    ignored = search(c, subject="Patient/P1", _elements="id")
    assert ignored["total"] == 10 and ignored["entry"][-1]["search"]["mode"] == "outcome"


def test_search_errors(history: TestClient) -> None:
    c = history
    outcome(c.get("/fhir/Observation", params={"code": "8867-4"}), 400)
    outcome(c.get("/fhir/Observation", params={"subject": "Patient/P1", "date": "2026-01-01T10:00"}), 400)
    outcome(c.get("/fhir/Observation", params={"subject": "Patient/P1", "date": "sa2026"}), 400)
    outcome(c.get("/fhir/Observation", params={"subject": "Patient/P1", "date": "yesterday"}), 400)
    outcome(c.get("/fhir/Observation", params={"subject": "Patient/P1", "_count": "lots"}), 400)
    outcome(c.get("/fhir/Observation", params={"subject": "Patient/P1", "_sort": "value"}), 400)


# ------------------------------------------------------------------------------------------ Bundles
def entry(
    res: dict[str, Any], method: str = "POST", url: str | None = None, full: str | None = None
) -> dict[str, Any]:
    e: dict[str, Any] = {"resource": res, "request": {"method": method, "url": url or res["resourceType"]}}
    if full:
        e["fullUrl"] = full
    return e


def test_batch_stores_the_valid_entries(c: TestClient, rt: Runtime) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            entry(obs("b1")),
            entry(patient("P1"), "PUT", "Patient/P1"),
            entry(obs("b2", value=-5)),
            entry(obs("b3", code="8310-5", value=37.2, unit="Cel")),
            entry(obs("b4", status="bogus")),
        ],
    }
    r = c.post("/fhir", json=bundle, headers=FHIR)
    assert r.status_code == 200, r.text
    out = r.json()
    get_fhir_model_class("Bundle").model_validate(out)
    assert out["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses == [
        "201 Created",
        "201 Created",
        "422 Unprocessable Entity",
        "201 Created",
        "422 Unprocessable Entity",
    ]
    bad = out["entry"][2]["response"]["outcome"]
    assert bad["issue"][0]["expression"] == ["Bundle.entry[2].resource.valueQuantity.value"]
    assert out["entry"][4]["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[4].resource.status"
    ]
    assert rt.store.count_observations() == 2
    assert out["entry"][0]["response"]["location"].startswith("Observation/")
    again = c.post("/fhir", json=bundle, headers=FHIR).json()
    assert [e["response"]["status"] for e in again["entry"]][:2] == ["200 OK", "200 OK"]
    assert rt.store.count_observations() == 2


def test_transaction_is_all_or_nothing(c: TestClient, rt: Runtime) -> None:
    good = [
        entry(obs("t1", subject="urn:uuid:9f0c"), full="urn:uuid:obs1"),
        entry(bp("t2", 150, 95, "2026-01-10T10:01:00Z") | {"subject": {"reference": "urn:uuid:9f0c"}}),
        entry({"resourceType": "Patient", "name": [{"text": "New Patient"}]}, full="urn:uuid:9f0c"),
        entry(patient("P7"), "PUT", "Patient/P7"),
    ]
    bad = copy.deepcopy(good)
    bad.append(entry(obs("t3", subject="Patient/P7", value="abc")))
    r = c.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": bad}, headers=FHIR)
    body = outcome(r, 400)
    assert expressions(body) == ["Bundle.entry[4].resource.valueQuantity.value"]
    assert rt.store.count_observations() == 0
    assert rt.store.get_twin("P7") is None
    assert [t.id for t in rt.store.list_twins(TwinKind.PATIENT)] == []
    ok = c.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": good}, headers=FHIR)
    assert ok.status_code == 200, ok.text
    out = ok.json()
    assert out["type"] == "transaction-response"
    assert [e["response"]["status"] for e in out["entry"]] == ["201 Created"] * 4
    new_id = out["entry"][2]["resource"]["id"]
    assert out["entry"][0]["resource"]["subject"] == {"reference": f"Patient/{new_id}"}
    assert rt.store.count_observations() == 3
    assert rt.store.count_observations(new_id) == 3


def test_transaction_refuses_unknown_subject_and_bad_requests(c: TestClient, rt: Runtime) -> None:
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [entry(patient("P1"), "PUT", "Patient/P1"), entry(obs("x1", subject="Patient/P404"))],
    }
    body = outcome(c.post("/fhir", json=tx, headers=FHIR), 400)
    assert expressions(body) == ["Bundle.entry[1].resource.subject.reference"]
    assert rt.store.get_twin("P1") is None
    tx["entry"] = [entry(obs("x1"), "PUT", "Observation/5")]
    outcome(c.post("/fhir", json=tx, headers=FHIR), 400)
    outcome(
        c.post("/fhir", json={"resourceType": "Bundle", "type": "collection", "entry": []}, headers=FHIR), 400
    )
    outcome(c.post("/fhir", json=obs(), headers=FHIR), 400)


def test_medications_in_a_batch(c: TestClient, rt: Runtime) -> None:
    put_patient(c)
    med = {
        "resourceType": "MedicationAdministration",
        "identifier": [{"value": "mar-1"}],
        "status": "completed",
        "medicationCodeableConcept": {"text": "Paracetamol"},
        "subject": {"reference": "Patient/P1"},
        "effectiveDateTime": "2026-01-10T08:00:00Z",
        "dosage": {"dose": {"value": 1, "unit": "g", "system": UCUM, "code": "g"}, "route": {"text": "oral"}},
    }
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry(med)]}
    out = c.post("/fhir", json=bundle, headers=FHIR).json()
    assert out["entry"][0]["response"]["status"] == "201 Created"
    assert c.post("/fhir", json=bundle, headers=FHIR).json()["entry"][0]["response"]["status"] == "200 OK"
    [m] = rt.store.medications("P1")
    assert (m.drug, m.dose, m.dose_unit, m.route) == ("Paracetamol", 1.0, "g", "oral")
    found = c.get("/fhir/MedicationAdministration", params={"subject": "Patient/P1"}).json()
    assert (
        found["total"] == 1
        and found["entry"][0]["resource"]["medicationCodeableConcept"]["text"] == "Paracetamol"
    )


def test_unexpected_errors_are_an_outcome_without_personal_data_in_the_log(
    c: TestClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(_twin_id: str) -> None:
        raise RuntimeError(" ".join(["Ann", "Lee,", "born", "-".join(["1950", "02", "03"])]))

    monkeypatch.setattr(rt.store, "get_twin", boom)
    with caplog.at_level("ERROR", logger="medtwin.api.fhir"):
        body = outcome(c.get("/fhir/Patient/P1"), 500)
    assert body["issue"][0]["code"] == "exception"
    assert "RuntimeError" in caplog.text and "/fhir/Patient/{pid}" in caplog.text
    assert "Ann Lee" not in caplog.text and "1950-02-03" not in caplog.text


def test_odd_ids_are_not_found(c: TestClient) -> None:
    for oid in ("²", "bp-1", "bp-x-y", "bp-1-2-3-4", "9" * 30):
        outcome(c.get(f"/fhir/Observation/{oid}"), 404)
