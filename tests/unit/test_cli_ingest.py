"""`medtwin ingest PATH --json`: one JSON object, exit 0 when nothing was rejected, 1 otherwise;
plus fuzzing of the MQTT payload decoder and the CSV reader."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from medtwin.cli.main import app
from medtwin.core.errors import MedtwinError, ParseError
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.csv_in import read_csv
from medtwin.ingest.hl7v2 import build_oru
from medtwin.ingest.mqtt import decode
from medtwin.store.sql import SqlStore

runner = CliRunner()


def _db(tmp_path: Path, *patients: str) -> str:
    db = str(tmp_path / "cli.db")
    s = SqlStore(db)
    for p in patients:
        s.put_twin(Twin(p, TwinKind.PATIENT))
    s.close()
    return db


def _run(*args: str) -> tuple[int, dict]:
    r = runner.invoke(app, ["ingest", *args, "--json"])
    return r.exit_code, json.loads(r.stdout.strip().splitlines()[-1])


def test_csv_ok_then_duplicates(tmp_path: Path) -> None:
    db = _db(tmp_path, "P1")
    f = tmp_path / "v.csv"
    f.write_text(
        "patient,code,value,unit,time\nP1,hr,81,bpm,2026-11-28T09:00:00Z\n"
        "P1,temp,100.4,degF,2026-11-28T09:00:00Z\nP1,acvpu,A,,2026-11-28T09:00:00Z\n"
    )
    code, out = _run(str(f), "--db", db)
    assert code == 0 and out == {"accepted": 3, "duplicates": 0, "rejected": []}
    code, out = _run(str(f), "--db", db)
    assert code == 0 and out == {"accepted": 0, "duplicates": 3, "rejected": []}
    s = SqlStore(db)
    assert round(s.latest("P1")["8310-5"].value or 0, 3) == 38.0
    s.close()


def test_csv_rejects_name_row_and_field(tmp_path: Path) -> None:
    db = _db(tmp_path, "P1")
    f = tmp_path / "bad.csv"
    f.write_text(
        "patient,code,value,unit,time\nP1,hr,81,bpm,2026-11-28T09:00:00Z\nP1,hr,abc,,2026-11-28T09:00:00Z\n"
        "P9,hr,80,,2026-11-28T09:00:00Z\nP1,hr,80,,2026-11-28T09:00:00Z,extra\nP1,hr,80,kg,2026-11-28T09:00:00Z\n"
    )
    code, out = _run(str(f), "--db", db)
    assert code == 1 and out["accepted"] == 1
    assert sorted((r["index"], r["field"]) for r in out["rejected"]) == [
        (1, "value"),
        (2, "patient"),
        (3, "row"),
        (4, "unit"),
    ]


def test_csv_bad_header(tmp_path: Path) -> None:
    db = _db(tmp_path)
    f = tmp_path / "h.csv"
    f.write_text("patient,code,value\nP1,hr,80\n")
    code, out = _run(str(f), "--db", db)
    assert code == 1 and out["rejected"][0]["field"] == "header" and "time" in out["rejected"][0]["reason"]


def test_fhir_bundle_creates_patient_and_observations(tmp_path: Path) -> None:
    db = _db(tmp_path)
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "id": "o1",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/PX"},
        "effectiveDateTime": "2026-11-28T10:00:00Z",
        "valueQuantity": {"value": 70, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    bad = json.loads(json.dumps(obs))
    bad["status"] = "bogus"
    bad["id"] = "o2"
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "id": "PX"},
                "request": {"method": "PUT", "url": "Patient/PX"},
            },
            {"resource": obs, "request": {"method": "POST", "url": "Observation"}},
            {"resource": bad, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    f = tmp_path / "b.json"
    f.write_text(json.dumps(bundle))
    code, out = _run(str(f), "--db", db)
    assert code == 1 and out["accepted"] == 1
    assert out["rejected"][0]["index"] == 2 and "status" in out["rejected"][0]["field"]


def test_hl7_file(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    db = _db(tmp_path, "P1")
    t = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    m1 = build_oru("P1", [("147842", 72, "264864", t), ("150456", 97, "262688", t)], "c1", "MON")
    m2 = build_oru("P1", [("147842", -999, "264864", t)], "c2", "MON")
    f = tmp_path / "m.hl7"
    f.write_text(m1 + "\n" + m2)
    code, out = _run(str(f), "--db", db)
    assert code == 0 and out["accepted"] == 2
    junk = tmp_path / "junk.hl7"
    junk.write_bytes(b"MSH|^~\\&|\x00\xff garbage")
    code, out = _run(str(junk), "--db", db, "--format", "hl7v2")
    assert code == 1 and out["rejected"]


def test_unknown_format(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"\x00\x01\x02")
    code, out = _run(str(f), "--db", _db(tmp_path))
    assert code == 1 and out["rejected"][0]["field"] == "format"
    r = runner.invoke(app, ["ingest", str(f), "--format", "xml", "--json"])
    assert r.exit_code == 2


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300),
    st.sampled_from(
        [
            "medtwin/v1/devices/D1/obs",
            "medtwin/v1/devices/D1/med",
            "medtwin/v1/devices/x y/obs",
            "other/topic",
        ]
    ),
)
def test_mqtt_decode_fuzz(payload: bytes, topic: str) -> None:
    try:
        b = decode(topic, payload)
    except MedtwinError as e:
        assert e.field
        return
    assert b.source == "D1"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["device", "patient", "seq", "readings", "medications", "x"]), json_values
    )
)
def test_mqtt_decode_structures_fuzz(body: dict) -> None:
    try:
        decode("medtwin/v1/devices/D1/obs", json.dumps(body).encode())
    except MedtwinError as e:
        assert e.field


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_csv_reader_fuzz(text: str) -> None:
    try:
        for batches, rejects in read_csv("f.csv", text="patient,code,value,time\n" + text):
            for b in batches:
                assert len(b.readings) == 1
            for r in rejects:
                assert r["field"] and r["reason"]
    except ParseError as e:
        assert e.field
