"""Access in practice: WebSocket sign-in and filtering, device scope, pseudonyms, security headers
and CORS, no personal data in the logs, MQTT credentials on a real Mosquitto, the CLI."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from medtwin.security.bootstrap import RedactTokens
from medtwin.security.mqtt_creds import make_accounts, mosquitto_hash, write_files
from medtwin.security.service import security_for
from medtwin.testing.broker import Mosquitto
from tests.conftest import auth_headers, device_headers

A, B = "P001", "P009"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    s = Settings.load(db=str(tmp_path / "a.db"), mqtt_enabled=False, data_dir=tmp_path)
    s.extra["live_interval_s"] = 0.1
    rt = Runtime(s)
    with TestClient(create_app(rt)) as c:
        seed(rt.registry)
        yield c, rt


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _reading(device: str, seq: int, value: float = 70) -> dict[str, Any]:
    return {"device": device, "seq": seq, "readings": [{"code": "hr", "value": value, "time": _now()}]}


def _token(h: dict[str, str]) -> str:
    return h["Authorization"].removeprefix("Bearer ")


def _close_code(c: TestClient, url: str) -> int:
    with pytest.raises(WebSocketDisconnect) as exc, c.websocket_connect(url) as ws:
        ws.receive_json()
    return exc.value.code


def test_websockets_need_a_token_and_forward_only_permitted_patients(
    world: tuple[TestClient, Runtime],
) -> None:
    c, rt = world
    icu, med = auth_headers(rt, "nurse", user="ICU-nurse-1"), auth_headers(rt, "nurse", user="MED-nurse-1")
    patient_b = auth_headers(rt, "patient", user="pat-b", patients=(B,))
    assert _close_code(c, "/ws/all") == 4401
    assert _close_code(c, "/ws/ward/ICU?token=nonsense") == 4401
    assert _close_code(c, f"/ws/patient/{A}?token={_token(med)}") == 4403
    assert _close_code(c, f"/ws/all?token={_token(patient_b)}") == 4403
    assert _close_code(c, f"/ws/ward/MED?token={_token(patient_b)}") == 4403
    admin = auth_headers(rt, "admin")
    with (
        c.websocket_connect(f"/ws/all?token={_token(med)}") as ws_med,
        c.websocket_connect(f"/ws/patient/{B}?token={_token(patient_b)}") as ws_b,
    ):
        assert ws_med.receive_json()["type"] == "hello" and ws_b.receive_json()["patients"] == [B]
        assert c.post("/api/ingest", json=_reading("MON-001", 1), headers=admin).status_code == 200  # A: ICU
        assert c.post("/api/ingest", json=_reading("MON-009", 1), headers=admin).status_code == 200  # B: MED
        got: set[str] = set()
        deadline = time.monotonic() + 5
        while B not in got and time.monotonic() < deadline:
            msg = ws_med.receive_json()
            if msg["type"] == "observations":
                got |= {o["twin"] for o in msg["items"]}
        assert B in got and A not in got  # the MED nurse never sees the ICU patient's readings
        msg = ws_b.receive_json()
        while msg["type"] != "observations":
            msg = ws_b.receive_json()
        assert {o["twin"] for o in msg["items"]} == {B}
    with c.websocket_connect(f"/ws/ward/ICU?token={_token(icu)}") as ws:
        assert len(ws.receive_json()["patients"]) == 8


def test_live_feed_closes_when_the_token_expires(tmp_path: Path) -> None:
    s = Settings.load(
        db=str(tmp_path / "e.db"), mqtt_enabled=False, data_dir=tmp_path, access_token_minutes=0.03
    )
    s.extra["live_interval_s"] = 0.1
    rt = Runtime(s)
    with TestClient(create_app(rt)) as c:
        seed(rt.registry)
        tok = _token(auth_headers(rt, "nurse", user="ICU-nurse-1"))  # lives 1.8 s
        with (
            pytest.raises(WebSocketDisconnect) as exc,
            c.websocket_connect(f"/ws/ward/ICU?token={tok}") as ws,
        ):
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                ws.receive_json()
        assert exc.value.code == 4401


def test_device_writes_only_its_own_patient_and_reads_nothing(world: tuple[TestClient, Runtime]) -> None:
    c, rt = world
    dev = device_headers(rt, "MON-001")  # monitors P001
    assert c.post("/api/ingest", json=_reading("MON-001", 1), headers=dev).status_code == 200
    assert (
        c.post("/api/ingest", json={**_reading("MON-001", 2), "patient": A}, headers=dev).status_code == 200
    )
    r = c.post("/api/ingest", json={**_reading("MON-001", 3), "patient": "P002"}, headers=dev)
    assert r.status_code == 403 and "monitors another" in r.json()["detail"]
    assert (
        c.post("/api/ingest", json=_reading("MON-002", 1), headers=dev).status_code == 403
    )  # another device
    obs = {"resourceType": "Observation", "status": "final", "effectiveDateTime": _now(),
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "valueQuantity": {"value": 70, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}  # fmt: skip
    fhir = {"Content-Type": "application/fhir+json", **dev}
    assert (
        c.post(
            "/fhir/Observation", json={**obs, "subject": {"reference": f"Patient/{A}"}}, headers=fhir
        ).status_code
        == 201
    )
    assert (
        c.post(
            "/fhir/Observation", json={**obs, "subject": {"reference": "Patient/P002"}}, headers=fhir
        ).status_code
        == 403
    )
    for path in (
        f"/api/twins/{A}/state",
        f"/api/twins/{A}/observations",
        "/api/alarms",
        f"/fhir/Patient/{A}",
    ):
        assert c.get(path, headers=dev).status_code == 403, path
    assert c.get("/api/twins", headers=dev).json() == []
    assert c.put(f"/api/twins/{A}", json={"kind": "patient"}, headers=dev).status_code == 403
    # a revoked key is refused (within the 5 s cache)
    sec = security_for(rt)
    kid = sec.accounts.list_device_keys()[0].id
    sec.accounts.revoke_device_key(kid)
    sec._keys.data.clear()
    assert c.post("/api/ingest", json=_reading("MON-001", 9), headers=dev).status_code == 401
    # X-Device-Key works as well as Authorization
    key = sec.accounts.add_device_key("MON-001")
    assert (
        c.post("/api/ingest", json=_reading("MON-001", 10), headers={"X-Device-Key": key}).status_code == 200
    )


def test_relay_key_sends_for_its_devices_only(world: tuple[TestClient, Runtime]) -> None:
    c, rt = world
    gw = device_headers(rt, "GW-1", relay_for=("MON-00*",))
    assert c.post("/api/ingest", json=_reading("MON-002", 1), headers=gw).status_code == 200
    assert c.post("/api/ingest", json={**_reading("MON-003", 1), "patient": A}, headers=gw).status_code == 403
    assert c.post("/api/ingest", json=_reading("MON-010", 1), headers=gw).status_code == 403


def test_pseudonyms_for_roles_that_may_not_see_names(world: tuple[TestClient, Runtime]) -> None:
    c, rt = world
    ops = auth_headers(rt, "operations")
    occ = c.get("/api/places/ICU/patients", headers=ops).json()
    names = {p["id"]: p["name"] for p in occ}
    real = {t.id: t.name for t in rt.store.list_twins(TwinKind.PATIENT)}
    assert len(names) == 8 and all(n.startswith("PSN-") and n != real[i] for i, n in names.items())
    assert all(p["identity"] == {} and p["latest"] == {} and "condition" not in p["attributes"] for p in occ)
    again = {p["id"]: p["name"] for p in c.get("/api/places/ICU/patients", headers=ops).json()}
    assert again == names and len(set(names.values())) == 8  # stable, distinct
    assert c.get(f"/api/twins/{A}/state", headers=ops).status_code == 403  # no clinical detail
    assert c.get("/api/twins", params={"kind": "patient"}, headers=auth_headers(rt, "trainee")).json() == []
    assert (
        c.get("/api/twins", params={"kind": "ward"}, headers=auth_headers(rt, "trainee")).status_code == 200
    )


def test_security_headers_and_cors_closed_by_default(
    world: tuple[TestClient, Runtime], tmp_path: Path
) -> None:
    c, rt = world
    r = c.get("/")
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
    assert "'sha256-" in csp  # the dashboard's import map, allowed by its hash
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY" and "strict-transport-security" not in r.headers
    api = c.get("/api/codes", headers={**auth_headers(rt), "Origin": "https://evil.example"})
    assert api.headers["cache-control"] == "no-store" and "access-control-allow-origin" not in api.headers
    pre = c.options(
        "/api/codes", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in pre.headers
    with TestClient(create_app(rt, own_runtime=False), base_url="https://medtwin.example") as tls:
        assert "max-age=" in tls.get("/healthz").headers["strict-transport-security"]
    rt2 = Runtime(Settings.load(db=str(tmp_path / "cors.db"), mqtt_enabled=False, data_dir=tmp_path,
                                cors_origins="https://ward.example"))  # fmt: skip
    with TestClient(create_app(rt2)) as c2:
        ok = c2.get("/healthz", headers={"Origin": "https://ward.example"})
        assert ok.headers["access-control-allow-origin"] == "https://ward.example"
        assert (
            "access-control-allow-origin"
            not in c2.get("/healthz", headers={"Origin": "https://evil.example"}).headers
        )
    big = c.post("/api/ingest", content=b"x" * 2_000_000, headers=auth_headers(rt))
    assert big.status_code == 413 and big.headers["x-content-type-options"] == "nosniff"


def test_no_personal_data_in_the_logs(
    world: tuple[TestClient, Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    c, rt = world
    canary = "Zebulon Canarywood-7731"
    rt.registry.put(
        Twin("P001", TwinKind.PATIENT, canary, {"age": 50}, {"name": canary, "mrn": "CANARY-MRN-7731"})
    )
    with caplog.at_level(logging.DEBUG):
        h = auth_headers(rt, "nurse", user="MED-nurse-1")
        c.post("/api/auth/login", json={"username": canary, "password": canary})  # a name typed as user name
        c.get(f"/api/twins/{A}", headers=h)  # refused
        c.post("/api/auth/break-glass", headers=h,
               json={"patient": A, "justification": f"Asked by the family of {canary} at the desk"})  # fmt: skip
        c.get(f"/api/twins/{A}", headers=h)
        c.get("/api/places/ICU/patients", headers=auth_headers(rt, "operations"))
        c.get(f"/fhir/Patient/{A}", headers=auth_headers(rt))
        with c.websocket_connect(f"/ws/patient/{A}?token={_token(h)}") as ws:
            ws.receive_json()
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert canary not in caplog.text and "CANARY-MRN" not in caplog.text
    assert "break-the-glass grant" in caplog.text


def test_tokens_are_redacted_from_server_logs() -> None:
    rec = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, '%s - "WebSocket %s" [accepted]',
                            ("127.0.0.1:5", "/ws/ward/ICU?token=eyJabc.def.ghi&x=1"), None)  # fmt: skip
    RedactTokens().filter(rec)
    assert "eyJabc" not in rec.getMessage() and "token=***" in rec.getMessage()


def test_mqtt_credentials_and_acl_on_a_real_broker(tmp_path: Path) -> None:
    prefix = "medtwin/v1"
    accounts = make_accounts(["MON-1", "MON-2"])
    # the broker drops root privileges (user mosquitto): the files must be readable by it here; in
    # production the password file is root:mosquitto 0640 (docs/security.md)
    base = Path(tempfile.mkdtemp(prefix="medtwin-mqcred-"))
    base.chmod(0o755)
    paths = write_files(base / "mq", accounts, prefix)
    (base / "mq").chmod(0o755)
    paths["passwd"].chmod(0o644)
    pw = {a.username: a.password for a in accounts}
    assert mosquitto_hash("x", salt=b"0" * 12, iterations=101).startswith("$7$101$")
    extra = f"allow_anonymous false\npassword_file {paths['passwd']}\nacl_file {paths['acl']}\n"
    with Mosquitto(extra=extra) as broker:
        got: list[str] = []
        ready = threading.Event()

        def client(user: str | None, password: str | None) -> tuple[mqtt.Client, int]:
            cl = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}")
            if user:
                cl.username_pw_set(user, password)
            rc: list[int] = []
            cl.on_connect = lambda _c, _u, _f, reason, _p: (rc.append(reason.value), ready.set())
            cl.connect("127.0.0.1", broker.port)
            cl.loop_start()
            deadline = time.monotonic() + 5
            while not rc and time.monotonic() < deadline:
                time.sleep(0.02)
            return cl, rc[0] if rc else -1

        ingest, rc = client("medtwin-ingest", pw["medtwin-ingest"])
        assert rc == 0
        ingest.on_message = lambda _c, _u, m: got.append(m.topic)
        ingest.subscribe(f"{prefix}/devices/+/obs", qos=1)
        time.sleep(0.3)
        dev1, rc = client("MON-1", pw["MON-1"])
        assert rc == 0
        dev1.publish(f"{prefix}/devices/MON-1/obs", b"{}", qos=1).wait_for_publish(5)
        dev1.publish(f"{prefix}/devices/MON-2/obs", b"{}", qos=1)  # not its topic: the broker drops it
        time.sleep(0.8)
        assert got == [f"{prefix}/devices/MON-1/obs"]
        for user, password in (("MON-1", "wrong"), (None, None), ("MON-2", pw["MON-1"])):
            cl, rc = client(user, password)
            assert rc != 0, user  # refused: bad password, anonymous, another device's password
            cl.loop_stop()
        for cl in (ingest, dev1):
            cl.disconnect()
            cl.loop_stop()
    shutil.rmtree(base, ignore_errors=True)


def test_cli_user_and_device_commands(tmp_path: Path) -> None:
    from medtwin.cli.main import app

    db = str(tmp_path / "cli.db")
    run = CliRunner().invoke
    r = run(
        app,
        ["user", "add", "n1", "--role", "nurse", "--password-stdin", "--db", db],
        input="nurse-password-1\n",
    )
    assert r.exit_code == 1 and "first administrator" in r.output
    r = run(app, ["user", "add", "root", "--role", "admin", "--password-stdin", "--db", db], input="short\n")
    assert r.exit_code == 1 and "at least" in r.output
    assert (
        run(
            app,
            ["user", "add", "root", "--role", "admin", "--password-stdin", "--db", db],
            input="admin-password-1\n",
        ).exit_code
        == 0
    )
    assert (
        run(
            app,
            ["user", "add", "n1", "--role", "nurse", "--ward", "ICU", "--password-stdin", "--db", db],
            input="nurse-password-1\n",
        ).exit_code
        == 0
    )
    r = run(
        app,
        ["user", "add", "p1", "--role", "patient", "--password-stdin", "--db", db],
        input="patient-password-1\n",
    )
    assert r.exit_code == 1 and "--patient" in r.output
    r = run(app, ["user", "list", "--json", "--db", db])
    assert r.exit_code == 0 and "argon2" not in r.output and '"wards": ["ICU"]' in r.output
    assert run(app, ["user", "disable", "n1", "--db", db]).exit_code == 0
    assert run(app, ["user", "disable", "nobody", "--db", db]).exit_code == 1
    r = run(app, ["devices", "key", "MON-001", "--db", db])
    assert r.exit_code == 0 and r.stdout.strip().startswith("mtk_")
    assert "mtk_" not in run(app, ["devices", "keys", "--json", "--db", db]).stdout
    out = tmp_path / "mq"
    r = run(app, ["devices", "credentials", "--out", str(out), "--device", "MON-001", "--db", db])
    assert r.exit_code == 0 and (out / "passwd").read_text().startswith("MON-001:$7$")
    assert (out / "credentials.env").stat().st_mode & 0o077 == 0


def test_metrics_need_an_operations_role_unless_made_public(tmp_path: Path) -> None:
    rt = Runtime(Settings.load(db=str(tmp_path / "m.db"), mqtt_enabled=False, data_dir=tmp_path))
    with TestClient(create_app(rt)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=auth_headers(rt, "nurse")).status_code == 403
        assert c.get("/metrics", headers=auth_headers(rt, "operations")).status_code == 200
    rt2 = Runtime(
        Settings.load(db=str(tmp_path / "m2.db"), mqtt_enabled=False, data_dir=tmp_path, metrics_public=True)
    )
    with TestClient(create_app(rt2)) as c:
        assert c.get("/metrics").status_code == 200
