"""Encryption at rest: canaries in every personal field never reach the database files, WAL, logs,
audit log or backups; ciphertexts are bound to their patient; KEK rotation (then destroying the old
KEK) keeps every record readable; MRN search through the blind index; old plaintext databases are
sealed on start; data keys rotate before their use limit."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from medtwin.config import Settings
from medtwin.core.model import MedicationAdministration, Method, Observation, Twin, TwinKind
from medtwin.runtime import Runtime
from medtwin.security import codec as codec_mod
from medtwin.security import crypto, keys
from medtwin.security.codec import FieldCodec
from medtwin.security.crypto import InvalidTag
from medtwin.store.corrections import amend
from medtwin.store.sql import SqlStore
from tests.conftest import auth_headers

NOTE = "medtwin|note"
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10].upper()
    fields = ("NAME", "IDNAME", "MRN", "BIRTH", "ADDR", "PHONE", "EMAIL", "SSN", "NOTE", "NOTE2", "REASON",
              "PERFORMER", "MEDNOTE", "PAYLOAD")  # fmt: skip
    return {f: f"CANARY{f}{tag}" for f in fields}


def _scan(paths: list[Path], canaries: dict[str, str]) -> list[str]:
    hits = []
    for p in paths:
        if p.exists():
            data = p.read_bytes()
            hits += [f"{p.name}:{k}" for k, v in canaries.items() if v.encode() in data]
    return hits


def test_canaries_never_reach_files_logs_or_backups(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = _canaries()
    db = tmp_path / "main.db"
    rt = Runtime(Settings.load(db=str(db), mqtt_enabled=False, data_dir=tmp_path)).start()
    from medtwin.api.app import create_app

    app = create_app(rt, own_runtime=False)
    client = TestClient(app)
    h = auth_headers(client, "admin")
    identity = {
        "name": c["IDNAME"], "mrn": c["MRN"], "birth_date": c["BIRTH"], "address": {"line": [c["ADDR"]]},
        "phone": c["PHONE"], "email": c["EMAIL"], "ssn": c["SSN"],
    }  # fmt: skip
    r = client.put(
        "/api/twins/PC1", json={"kind": "patient", "name": c["NAME"], "identity": identity}, headers=h
    )
    assert r.status_code == 200, r.text
    found = client.get("/api/twins", params={"mrn": c["MRN"].lower()}, headers=h)
    assert [t["id"] for t in found.json()] == ["PC1"]
    assert client.get("/api/twins/PC1", headers=h).json()["identity"]["mrn"] == c["MRN"]
    store = rt.store
    res = store.write(
        [Observation("PC1", NOTE, T0, T0, "user:n1", "note-1", value_text=c["NOTE"], method=Method.MANUAL)],
        [
            MedicationAdministration(
                "PC1",
                "paracetamol",
                1.0,
                "g",
                "oral",
                T0,
                "user:n1",
                "med-1",
                performer=c["PERFORMER"],
                note=c["MEDNOTE"],
            )
        ],
    )
    amend(store, res.accepted[0].id or 0, value=None, value_text=c["NOTE2"], unit="", by="n1", reason=c["REASON"],
          now=T0 + timedelta(minutes=1))  # fmt: skip
    store.record_rejects(
        "hl7v2", "dev-1", [{"index": 0, "reason": "unknown patient"}], payload=f"PID|||{c['PAYLOAD']}"
    )
    # everything reads back in plaintext through the API
    notes = client.get("/api/twins/PC1/observations", params={"include_errors": True, "start": "2026-04-01T00:00:00Z",
                                                              "end": "2026-06-01T00:00:00Z"}, headers=h).json()  # fmt: skip
    assert {o.get("value_text") for o in notes} == {c["NOTE"], c["NOTE2"]}
    meds = client.get("/api/twins/PC1/medications", params={"start": "2026-04-01T00:00:00Z",
                                                             "end": "2026-06-01T00:00:00Z"}, headers=h).json()  # fmt: skip
    assert meds[0]["performer"] == c["PERFORMER"] and meds[0]["note"] == c["MEDNOTE"]
    from medtwin.store.backup import backup

    backup(str(db), tmp_path / "backup.db")
    audit_log = app.state.audit
    audit_log.flush()
    files = [
        db,
        Path(f"{db}-wal"),
        Path(f"{db}-shm"),
        tmp_path / "backup.db",
        tmp_path / "backup.db.manifest.json",
    ]
    audit_files = [Path(audit_log.url), Path(f"{audit_log.url}-wal"), Path(f"{audit_log.url}-shm")]
    assert Path(f"{db}-wal").exists()  # scanned while the WAL holds the writes
    assert _scan(files + audit_files, c) == []
    rt.stop()
    assert _scan(files + audit_files + list(tmp_path.glob("*.jsonl")), c) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert [k for k, v in c.items() if v in logged] == []


def test_ciphertext_swapped_between_patients_fails(store: SqlStore) -> None:
    store.put_twin(Twin("PA", TwinKind.PATIENT, "Alba Arnell", identity={"mrn": "M-A"}))
    store.put_twin(Twin("PB", TwinKind.PATIENT, "Bruno Bexley", identity={"mrn": "M-B"}))
    store.write([Observation(p, NOTE, T0, T0, "user:n", f"n-{p}", value_text=f"note of {p}", method=Method.MANUAL)
                 for p in ("PA", "PB")])  # fmt: skip
    with store.transaction() as c:
        a, b = (
            c.execute(text("SELECT identity FROM twins WHERE id = :i"), {"i": i}).scalar()
            for i in ("PA", "PB")
        )
        assert a.startswith("enc1:") and "M-A" not in a
        c.execute(text("UPDATE twins SET identity = :v WHERE id = 'PA'"), {"v": b})
        na = c.execute(text("SELECT value_text FROM observations WHERE twin_id = 'PB'")).scalar()
        c.execute(text("UPDATE observations SET value_text = :v WHERE twin_id = 'PA'"), {"v": na})
    with pytest.raises(InvalidTag):
        store.get_twin("PA")
    with pytest.raises(InvalidTag):
        store.history("PA", start=T0 - timedelta(days=1))
    assert store.get_twin("PB").identity == {"mrn": "M-B"}  # type: ignore[union-attr]


def test_mrn_search_uses_the_blind_index(store: SqlStore) -> None:
    for i in range(20):
        store.put_twin(Twin(f"P{i:02d}", TwinKind.PATIENT, f"Patient {i}", identity={
            "mrn": f"MRN{i:04d}", "identifiers": [{"system": "urn:ins", "value": f"INS-{i}"}]}))  # fmt: skip
    assert [t.id for t in store.find_twins("mrn0007")] == ["P07"]
    assert [t.id for t in store.find_twins(" INS-12 ")] == ["P12"]
    assert store.find_twins("MRN9999") == []
    store.put_twin(Twin("P07", TwinKind.PATIENT, "Patient 7", identity={"mrn": "MRN7777"}))  # MRN changed
    assert store.find_twins("MRN0007") == [] and [t.id for t in store.find_twins("MRN7777")] == ["P07"]
    with store.engine.connect() as c:
        rows = [r[0] for r in c.execute(text("SELECT bidx FROM twin_identifiers"))]
    assert rows and all("MRN" not in r and len(r) == 32 for r in rows)


def _cli() -> typer.Typer:
    from medtwin.cli.security_cmd import security_commands

    app = typer.Typer()
    security_commands(app)
    return app


def _forget(store: SqlStore) -> None:
    """Drop this database's unwrapped data keys from the process (as a restart would)."""
    for d in codec_mod.data_keys(store):
        crypto._deks.pop(d.id, None)
    keys._cache.clear()


def test_kek_rotation_then_old_kek_destroyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDTWIN_KEK_FILE", str(tmp_path / "keys" / "keyring.json"))
    keys._cache.clear()
    db = str(tmp_path / "rot.db")
    store = SqlStore(db)
    for i in range(30):
        store.put_twin(Twin(f"R{i}", TwinKind.PATIENT, f"Name {i}", identity={"mrn": f"RM{i}"}))
    store.write([Observation(f"R{i}", NOTE, T0, T0, "user:n", f"r{i}", value_text=f"note {i}", method=Method.MANUAL)
                 for i in range(30)])  # fmt: skip
    old_kek = keys.load().active.id
    res = CliRunner().invoke(_cli(), ["keys", "rotate", "--db", db])
    assert res.exit_code == 0, res.output
    ring = keys.load()
    assert ring.active.id != old_kek and ring.get(old_kek) is not None  # old KEK kept until pruned
    assert {d.kek_id for d in codec_mod.data_keys(store)} == {ring.active.id}
    # no downtime: the store opened before the rotation goes on reading and writing
    store.put_twin(Twin("R-new", TwinKind.PATIENT, "After rotation", identity={"mrn": "RM-new"}))
    assert store.get_twin("R5").identity == {"mrn": "RM5"}  # type: ignore[union-attr]
    res = CliRunner().invoke(_cli(), ["keys", "prune", "--db", db])
    assert res.exit_code == 0, res.output
    assert keys.load().get(old_kek) is None  # the old KEK is destroyed
    assert old_kek not in (tmp_path / "keys" / "keyring.json").read_text()
    _forget(store)
    store.close()
    again = SqlStore(db)  # a fresh process: data keys unwrapped with the new KEK only
    try:
        assert len(again.list_twins(TwinKind.PATIENT)) == 31
        assert all(t.identity["mrn"].startswith("RM") for t in again.list_twins(TwinKind.PATIENT))
        assert {o.value_text for o in again.history("R3", start=T0 - timedelta(days=1))} == {"note 3"}
        assert [t.id for t in again.find_twins("RM-new")] == ["R-new"]
        status = CliRunner().invoke(_cli(), ["keys", "status", "--db", db, "--json"])
        assert '"needs_rewrap": 0' in status.output
    finally:
        again.close()


def test_plaintext_rows_of_an_old_database_are_sealed_on_start(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    SqlStore(str(db)).close()
    with sqlite3.connect(db) as c:  # rows as a medtwin without encryption at rest wrote them
        c.execute("INSERT INTO twins (id, kind, name, attributes, identity, active, created_us, updated_us) VALUES "
                  "('OLD1', 'patient', 'PLAINNAME', '{}', '{\"mrn\": \"PLAINMRN\"}', 1, 0, 0)")  # fmt: skip
        c.execute(f"INSERT INTO observations (twin_id, code, t_us, received_us, value_text, source, source_id, method, "
                  f"status) VALUES ('OLD1', '{NOTE}', 0, 0, 'PLAINNOTE', 'user:x', 'o1', 'manual', 'final')")  # fmt: skip
        c.execute("UPDATE crypto_state SET value = 'pending'")
    c.close()
    store = SqlStore(str(db))
    try:
        t = store.get_twin("OLD1")
        assert t is not None and t.name == "PLAINNAME" and t.identity == {"mrn": "PLAINMRN"}
        assert store.history("OLD1", start=datetime(1969, 1, 1, tzinfo=UTC))[0].value_text == "PLAINNOTE"
        assert [x.id for x in store.find_twins("PLAINMRN")] == ["OLD1"]
    finally:
        store.close()
    for p in (db, Path(f"{db}-wal")):
        if p.exists():
            assert b"PLAIN" not in p.read_bytes(), p


def test_data_keys_rotate_before_their_use_limit(tmp_path: Path) -> None:
    store = SqlStore(str(tmp_path / "lim.db"), codec=FieldCodec(max_uses=100, block=10))
    try:
        for i in range(120):
            store.put_twin(Twin(f"L{i}", TwinKind.PATIENT, f"N{i}", identity={"mrn": f"LM{i}"}))
        deks = codec_mod.data_keys(store)
        assert len(deks) >= 3 and all(d.reserved <= 100 for d in deks)
        assert sum(d.retired_us is not None for d in deks) == len(deks) - 1
        assert all(t.name.startswith("N") for t in store.list_twins(TwinKind.PATIENT))
    finally:
        store.close()
