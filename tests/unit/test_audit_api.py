"""The audit middleware records exactly one event per HTTP request (two per WebSocket session),
with the principal, patient and outcome; the audit API serves tree heads and proofs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.testclient import TestClient

from medtwin.api import audit as audit_api
from medtwin.api import problems
from medtwin.api.audit_mw import AuditMiddleware
from medtwin.core.errors import MedtwinError
from medtwin.security import merkle
from medtwin.security.audit import audit
from medtwin.security.audit_log import AuditLog
from medtwin.security.principal import BreakGlass, Principal, Role


def _auth(request: Request) -> Principal | None:
    """A stand-in for the authentication layer: X-User: role:subject[:glass]."""
    h = request.headers.get("x-user")
    if not h:
        return None
    role, subject, *glass = h.split(":")
    bg = (BreakGlass("emergency", "P002", __import__("datetime").datetime.max),) if glass else ()
    p = Principal(subject=subject, role=Role(role), break_glass=bg, ip="10.0.0.1")
    request.state.principal = p
    return p


def _app(log: AuditLog) -> FastAPI:
    app = FastAPI()
    app.state.audit = log
    app.add_exception_handler(MedtwinError, problems.medtwin_error_handler)

    @app.get("/api/twins/{twin_id}")
    def twin(twin_id: str, p: Annotated[Principal | None, Depends(_auth)]) -> dict[str, str]:
        if p is None:
            raise HTTPException(401, "sign in")
        if p.role is Role.PATIENT and twin_id != p.subject:
            raise HTTPException(403, "not yours")
        if twin_id.startswith("X"):
            raise HTTPException(404, "no such twin")
        return {"id": twin_id}

    @app.get("/api/search")
    def search(n: int = Query(ge=1, le=10)) -> list[int]:
        return list(range(n))

    @app.post("/api/login")
    def login(user: str) -> dict[str, str]:
        if user != "alice":
            audit("login-failed", outcome=4)
            raise HTTPException(401, "bad credentials")
        audit("login", subject="alice", role="nurse")
        return {"token": "t"}

    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    @app.websocket("/ws/live")
    async def live(ws: WebSocket) -> None:
        if ws.query_params.get("token") != "ok":
            await ws.close(code=4401)
            return
        await ws.accept()
        await ws.send_json({"hello": 1})
        await ws.receive_text()
        await ws.close()

    app.include_router(audit_api.router)
    app.add_middleware(AuditMiddleware, audit_log=log)
    return app


@pytest.fixture
def log(tmp_path: Path) -> Any:
    lg = AuditLog(str(tmp_path / "audit.db"), sth_every=25)
    yield lg
    lg.close()


REQUESTS = [
    ("GET", "/api/twins/P001", {"x-user": "nurse:n1"}, 200),
    ("GET", "/api/twins/P001", {}, 401),
    ("GET", "/api/twins/P002", {"x-user": "patient:P001"}, 403),
    ("GET", "/api/twins/X9", {"x-user": "nurse:n1"}, 404),
    ("GET", "/api/search?n=0", {}, 422),
    ("GET", "/api/search?n=3", {}, 200),
    ("GET", "/api/nowhere", {}, 404),
    ("POST", "/api/login?user=alice", {}, 200),
    ("POST", "/api/login?user=mallory", {}, 401),
    ("GET", "/api/twins/P002", {"x-user": "physician:d1:glass"}, 200),
    ("DELETE", "/api/twins/P001", {}, 405),
]


def test_one_event_per_request_property(log: AuditLog) -> None:
    client = TestClient(_app(log), raise_server_exceptions=False)
    rnd = random.Random(5)
    sent = []
    for _ in range(300):
        method, url, headers, status = rnd.choice(REQUESTS)
        r = client.request(method, url, headers=headers)
        assert r.status_code == status, (method, url, r.text)
        sent.append((method, url, headers, status))
    r = client.get("/api/boom")
    assert r.status_code == 500
    sent.append(("GET", "/api/boom", {}, 500))
    log.flush()
    events = [ev for _i, ev in log.events(limit=10_000)]
    assert len(events) == len(sent)  # exactly one per request, written before each answer
    for (method, url, headers, status), ev in zip(sent, events, strict=True):
        assert ev["method"] == method and ev["status"] == status
        assert ev["outcome"] == (0 if status < 400 else 4 if status < 500 else 8)
        assert "?" not in (ev["route"] or "") and "user=" not in str(ev)  # no query values
        if url.startswith("/api/twins/"):
            assert ev["route"] == "/api/twins/{twin_id}" and ev["patients"] == [url.rsplit("/", 1)[1]]
        if "x-user" in headers:
            assert (
                ev["subject"] == headers["x-user"].split(":")[1]
                and ev["role"] == headers["x-user"].split(":")[0]
            )
        if status in (401, 403):
            assert ev["type"] in ("access-denied", "login-failed")
        assert ev["break_glass"] == headers.get("x-user", "").endswith(":glass")
        if url == "/api/login?user=alice":
            assert ev["type"] == "login" and ev["subject"] == "alice" and ev["role"] == "nurse"
        if url == "/api/login?user=mallory":
            assert ev["type"] == "login-failed" and ev["subject"] == "anonymous"
        if url.startswith("/api/search"):
            assert ev["query"] == ["n"] and ev["action"] == "R"


def test_websocket_session_gives_connect_and_close(log: AuditLog) -> None:
    client = TestClient(_app(log))
    with client.websocket_connect("/ws/live?token=ok") as ws:
        assert ws.receive_json() == {"hello": 1}
        ws.send_text("bye")
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/live?token=bad") as ws:
        ws.receive_json()
    log.flush()
    evs = [ev for _i, ev in log.events()]
    assert [(e["detail"].get("phase"), e["outcome"]) for e in evs] == [
        ("ws-connect", 0), ("ws-close", 0), ("ws-connect", 4),
    ]  # fmt: skip
    assert evs[1]["detail"]["messages_in"] == 1 and evs[1]["detail"]["messages_out"] == 1
    assert evs[2]["type"] == "access-denied" and evs[2]["status"] == 4401


def test_audit_api_tree_heads_and_proofs(log: AuditLog) -> None:
    client = TestClient(_app(log))
    for i in range(30):
        client.get(f"/api/twins/P{i:03d}", headers={"x-user": "nurse:n1"})
    sth = client.get("/api/audit/sth").json()
    size = sth["tree_size"]
    assert size >= 30 and sth["signature"]
    p = client.get(f"/api/audit/proof/inclusion?index=7&size={size}").json()
    assert merkle.verify_inclusion(
        bytes.fromhex(p["leaf_hash"]), 7, size, [bytes.fromhex(x) for x in p["audit_path"]],
        bytes.fromhex(sth["root_hash"]),
    )  # fmt: skip
    c = client.get(f"/api/audit/proof/consistency?first=12&second={size}").json()
    first_root = client.get("/api/audit/proof/inclusion?index=0&size=12").json()["root_hash"]
    assert merkle.verify_consistency(
        12, size, bytes.fromhex(first_root), bytes.fromhex(sth["root_hash"]),
        [bytes.fromhex(x) for x in c["consistency_path"]],
    )  # fmt: skip
    assert client.get(f"/api/audit/proof/inclusion?index=5&size={size + 1000}").status_code == 422
    evs = client.get("/api/audit/events?patient=P003").json()
    assert [e["patients"] for e in evs] == [["P003"]]
    bundle = client.get("/api/audit/fhir?patient=P003").json()
    assert (
        bundle["resourceType"] == "Bundle" and bundle["entry"][0]["resource"]["resourceType"] == "AuditEvent"
    )
    assert client.get("/api/audit/events?type=bogus").status_code == 422
