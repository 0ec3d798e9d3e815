"""The real app: one audit event per request whatever the answer (200/401/403/404/422), with the
authenticated principal and the patient; exports are audited as such; the audit API is admin-only."""

from __future__ import annotations

import random
from pathlib import Path

from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.runtime import Runtime
from tests.conftest import auth_headers


def test_one_audit_event_per_request_on_the_real_app(tmp_path: Path) -> None:
    rt = Runtime(Settings.load(db=str(tmp_path / "a.db"), mqtt_enabled=False, data_dir=tmp_path)).start()
    try:
        rt.registry.put(Twin("P001", TwinKind.PATIENT, "Alba Arnell", {"sex": "female"}, {"mrn": "M1"}))
        app = create_app(rt, own_runtime=False)
        client = TestClient(app)
        who = {
            "admin": auth_headers(client, "admin"),
            "nurse": auth_headers(client, "nurse", wards=("W9",)),
            "researcher": auth_headers(client, "researcher"),
            "anonymous": {},
        }
        cases = [
            ("admin", "/api/twins/P001", 200), ("anonymous", "/api/twins/P001", 401),
            ("nurse", "/api/twins/P001", 403), ("admin", "/api/twins/NOPE", 404),
            ("admin", "/api/twins/P001/observations?limit=0", 422), ("admin", "/healthz", 200),
            ("admin", "/api/audit/sth", 200), ("nurse", "/api/audit/events", 403),
            ("researcher", "/api/export/deid?purpose=s1", 200), ("researcher", "/api/twins/P001", 403),
            ("admin", "/api/twins?mrn=M1", 200),
        ]  # fmt: skip
        log = app.state.audit
        log.flush()
        start = log.size
        rnd = random.Random(3)
        sent = []
        for _ in range(120):
            role, url, status = rnd.choice(cases)
            r = client.get(url, headers=who[role])
            assert r.status_code == status, (role, url, r.text)
            sent.append((role, url, status))
        log.flush()
        events = [ev for _i, ev in log.events(after=start - 1, limit=10_000)]
        assert len(events) == len(sent)
        for (role, url, status), ev in zip(sent, events, strict=True):
            assert ev["status"] == status and ev["method"] == "GET"
            assert ev["role"] == role and (role == "anonymous" or ev["subject"] == f"test-{role}")
            if "/api/twins/P001" in url:
                assert "P001" in ev["patients"]
            if status in (401, 403):
                assert ev["type"] == "access-denied" and ev["outcome"] == 4
            if url.startswith("/api/export/"):
                assert ev["type"] == "export" and ev["detail"].get("what") == "deid"
            assert "M1" not in str(ev)  # query values are never recorded
        deid = client.get("/api/export/deid?purpose=s1", headers=who["researcher"]).json()
        assert deid["report"]["patients"] == 1 and "Alba" not in str(deid)
    finally:
        rt.stop()
