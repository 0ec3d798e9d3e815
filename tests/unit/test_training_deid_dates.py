"""De-identification of training cases (issue 12), second seed: exact dates and free text.

A source patient whose record lies on one known day (2021-03-14), with a birth date, a referrer's
name and an accession number in an imaging description, and a naloxone dose in micrograms, is
turned into a case. No date of the stay or of birth, in any common layout, and none of the free
text appears in any output: the API answers of educator and trainee (case, library, session,
report, replay, sessions, cohort), the exported document (API and ``medtwin training export``
file), the CLI's report and replay. Imaging vocabulary is kept, free text is withheld; the import
of an exported case comes back as a draft."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from medtwin.api.app import create_app
from medtwin.cli.main import app as cli
from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime
from medtwin.services.training import imaging_text
from tests.conftest import auth_headers

PID = "QX-DT-5120"
T0 = datetime(2021, 3, 14, 6, 5, tzinfo=UTC)  # the stay: one known day
DATES = ("2021-03-14", "14/03/2021", "03/14/2021", "14.03.2021", "14-03-2021", "20210314", "2021/03/14",
         "1961-07-30", "30/07/1961", "07/30/1961", "19610730", "Mar 14", "14 Mar", "March 14")  # fmt: skip
FREE_TEXT = ("Okafor", "Lindqvist", "99817263", "Wexford", "Qorvath")


def _seed(rt: Runtime) -> None:
    ident = {"name": "Ines Qorvath", "mrn": "MRN-DT-5120", "birth_date": "1961-07-30"}
    rt.registry.put(Twin(PID, TwinKind.PATIENT, "Ines Qorvath", {"sex": "female", "weight_kg": 64,
                                                                 "condition": "heroin overdose"}, ident))  # fmt: skip
    readings = []
    for i in range(36):  # 3 h at 5 min; opioid overdose from 2 h on
        t, x = T0 + timedelta(minutes=5 * i), 1.0 if i >= 24 else 0.0
        when = t.isoformat()
        readings += [
            {"code": "hr", "value": 82 - 6 * x, "time": when}, {"code": "rr", "value": 15 - 9 * x, "time": when},
            {"code": "spo2", "value": 97 - 12 * x, "time": when}, {"code": "sbp", "value": 122 - 8 * x, "time": when},
            {"code": "dbp", "value": 74, "time": when}, {"code": "temp", "value": 36.6, "time": when},
        ]  # fmt: skip
    med = {"drug": "naloxone", "dose": 400, "unit": "mcg", "route": "intravenous",
           "time": (T0 + timedelta(hours=2, minutes=10)).isoformat(), "performer": "dr-wexford"}  # fmt: skip
    with rt.store.transaction() as c:
        for i, (mod, desc) in enumerate((("CT", "CT head ref Dr Okafor-Lindqvist ACC 99817263"),
                                         ("CR", "Chest radiograph 2 views"), ("CT", "CT head without contrast"))):  # fmt: skip
            c.execute(
                text(
                    "INSERT INTO imaging_studies (id, twin_id, study_uid, started_us, modalities, description, source, "
                    "created_us) VALUES (:i, :t, :u, :s, :m, :d, 'test', :s)"
                ),
                {"i": f"dt-{i}", "t": PID, "u": f"1.2.826.0.1.3680043.8.498.5120{i}", "m": mod, "d": desc,
                 "s": int((T0 + timedelta(hours=2, minutes=30 + i)).timestamp() * 1e6)},
            )  # fmt: skip
    res = rt.ingestor.ingest(ReadingBatch("dev-dt-1", "dt-msg-1", readings, subject=PID, medications=[med]))
    assert not res.result(30).rejected


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime, Path]]:
    tmp: Path = tmp_path_factory.mktemp("trdates")
    db = tmp / "t.db"
    rt = Runtime(Settings.load(db=str(db), mqtt_enabled=False, data_dir=tmp))
    with TestClient(create_app(rt)) as c:
        _seed(rt)
        yield c, rt, db


def leaks(obj: Any) -> list[str]:
    blob = (obj if isinstance(obj, str) else json.dumps(obj)).lower()
    return [s for s in (*DATES, *FREE_TEXT, PID, "MRN-DT-5120") if s.lower() in blob]


def test_no_date_or_free_text_leaves_through_any_output(world: tuple[TestClient, Runtime, Path]) -> None:
    c, rt, db = world
    ed, tr = (
        auth_headers(rt, "educator", user="edu-dt", patients=(PID,)),
        auth_headers(rt, "trainee", user="tr-dt"),
    )
    r = c.post(f"/api/training/twins/{PID}/case", json={"diagnosis": "T40.1"}, headers=ed)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["condition"] == "opioid_overdose"  # inferred from the record
    assert sorted((i["modality"], i["description"], i.get("description_withheld", False)) for i in case["imaging"]) == [
        ("CR", "Chest radiograph 2 views", False), ("CT", "", True), ("CT", "CT head without contrast", False)]  # fmt: skip
    nal = [a for a in case["real"]["treatment"] if a["kind"] == "naloxone"]
    assert nal and nal[0]["params"] == {"dose": 0.4} and nal[0]["replayed"]  # 400 mcg = 0.4 mg, replayed
    cid = case["id"]
    assert c.put(f"/api/training/cases/{cid}", json={"status": "published"}, headers=ed).status_code == 200
    outputs: list[Any] = [case, c.get(f"/api/training/cases/{cid}", headers=ed).json()]
    exported = c.get(f"/api/training/cases/{cid}/export", headers=ed).json()
    assert "created" not in exported["case"] and "updated" not in exported["case"]  # no build date
    outputs += [
        exported,
        c.get("/api/training/cases", headers=tr).json(),
        c.get(f"/api/training/cases/{cid}", headers=tr).json(),
    ]
    sid = c.post("/api/training/sessions", json={"case_id": cid, "speed": 0}, headers=tr).json()["session"][
        "id"
    ]
    base = f"/api/training/sessions/{sid}"
    for stage in ("history", "examination", "vitals", "orders"):
        outputs.append(c.post(f"{base}/reveal", json={"stage": stage}, headers=tr).json())
    outputs.append(c.post(f"{base}/orders", json={"test": "ct_head"}, headers=tr).json())
    outputs.append(c.post(f"{base}/actions", json={"kind": "naloxone", "dose": 0.4}, headers=tr).json())
    outputs.append(c.post(f"{base}/clock", json={"advance_min": 60}, headers=tr).json())
    rep = c.post(f"{base}/diagnosis", json={"primary": "T40.1"}, headers=tr).json()
    assert rep["diagnosis"]["match"] == "exact" and rep["trajectories"]["real_observed"]
    outputs += [rep, c.get(f"{base}/report", headers=tr).json(), c.get(f"{base}/replay", headers=tr).json(),
                c.get(f"{base}/replay", headers=ed).json(), c.get("/api/training/sessions", headers=tr).json(),
                c.get("/api/training/sessions", headers=ed).json(), c.get(f"/api/training/cases/{cid}/cohort", headers=ed).json(),
                c.get("/api/training/cohort", headers=ed).json()]  # fmt: skip
    for i, o in enumerate(outputs):
        assert not leaks(o), (i, leaks(o))
    # the CLI: export file, report and replay
    runner = CliRunner()
    out = db.parent / "case-export.json"
    r1 = runner.invoke(cli, ["training", "export", cid, "--out", str(out), "--db", str(db)])
    assert r1.exit_code == 0, r1.output
    assert not leaks(out.read_text())
    for cmd in ("report", "replay"):
        r2 = runner.invoke(cli, ["training", cmd, sid, "--db", str(db)])
        assert r2.exit_code == 0 and not leaks(r2.output), (cmd, leaks(r2.output))
    r3 = runner.invoke(cli, ["training", "import", str(out), "--db", str(db)])
    assert r3.exit_code == 0, r3.output
    imported = c.get(f"/api/training/cases/{r3.output.strip()}", headers=ed).json()
    assert imported["status"] == "draft"  # reviewed before trainees see it
    assert imported["source"] == {"kind": "import"}


def test_imaging_vocabulary_filter() -> None:
    for ok in ("CT abdomen and pelvis with contrast", "Chest X-ray PA and lateral", "MRI brain DWI FLAIR",
               "US kidneys, bladder", "CTA pulmonary arteries (PE protocol)", ""):  # fmt: skip
        assert imaging_text.allowed(ok), ok
    for bad in ("CT head ref Dr Okafor", "Chest radiograph 14/03/2021", "MRI brain ACC 99817263",
                "US abdomen St Wexford's", "CT chest for Jane"):  # fmt: skip
        assert not imaging_text.allowed(bad), bad
        assert imaging_text.clean(bad) == ("", True)
