"""Authentication: JWT negatives, sign-in, refresh rotation and reuse detection, logout and
revocation, disabled accounts, rate limits (429 + Retry-After), break-the-glass, bootstrap, keys."""

from __future__ import annotations

import base64
import json
import stat
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.core.events import Generic
from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from medtwin.security.accounts import wall_now
from medtwin.security.principal import Role
from medtwin.security.service import security_for
from medtwin.security.tokens import key_path
from tests.conftest import TEST_PASSWORD, auth_headers

A, B = "P001", "P009"


def _runtime(tmp: Path, **kw: Any) -> Runtime:
    return Runtime(Settings.load(db=str(tmp / "s.db"), mqtt_enabled=False, data_dir=tmp, **kw))


@pytest.fixture
def app_rt(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    rt = _runtime(tmp_path)
    with TestClient(create_app(rt)) as c:
        seed(rt.registry)
        acc = security_for(rt).accounts
        acc.add_user("ICU-nurse-1", Role.NURSE, TEST_PASSWORD)
        acc.add_user("MED-nurse-1", Role.NURSE, TEST_PASSWORD)
        acc.add_user("trainee", Role.TRAINEE, TEST_PASSWORD)
        yield c, rt


def _login(c: TestClient, user: str = "ICU-nurse-1", password: str = TEST_PASSWORD) -> Any:
    return c.post("/api/auth/login", json={"username": user, "password": password})


def _bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def _claims(rt: Runtime, **over: Any) -> dict[str, Any]:
    sec = security_for(rt)
    sid, _ = sec.accounts.new_session("ICU-nurse-1", timedelta(hours=1))
    now = int(wall_now().timestamp())
    c = {"iss": "medtwin", "aud": "medtwin-api", "sub": "ICU-nurse-1", "iat": now, "nbf": now,
         "exp": now + 600, "jti": "j" + str(time.monotonic_ns()), "sid": sid, "role": "nurse"}  # fmt: skip
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def _b64(d: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def test_jwt_negatives_are_all_401(app_rt: tuple[TestClient, Runtime]) -> None:
    c, rt = app_rt
    key = security_for(rt).tokens.key
    good = jwt.encode(_claims(rt), key, algorithm="HS256")
    assert c.get("/api/auth/me", headers=_bearer(good)).status_code == 200
    header, payload, sig = good.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["role"] = "admin"
    cases = {
        "alg none": _b64({"alg": "none", "typ": "JWT"}) + "." + payload + ".",
        "alg none, no signature part": _b64({"alg": "none"}) + "." + payload,
        "wrong key": jwt.encode(_claims(rt), b"k" * 32, algorithm="HS256"),
        "HS512 (not in the list)": jwt.encode(_claims(rt), key, algorithm="HS512"),
        "expired": jwt.encode(_claims(rt, exp=int(wall_now().timestamp()) - 120), key, algorithm="HS256"),
        "not yet valid": jwt.encode(
            _claims(rt, nbf=int(wall_now().timestamp()) + 600), key, algorithm="HS256"
        ),
        "wrong audience": jwt.encode(_claims(rt, aud="other-api"), key, algorithm="HS256"),
        "wrong issuer": jwt.encode(_claims(rt, iss="evil"), key, algorithm="HS256"),
        "bad signature": f"{header}.{payload}.{sig[:-4]}AAAA",
        "tampered payload": f"{header}.{_b64(tampered)}.{sig}",
        "garbage": "not-a-token",
        "unknown user": jwt.encode(_claims(rt, sub="nobody"), key, algorithm="HS256"),
        "role claim differs from the account": jwt.encode(_claims(rt, role="admin"), key, algorithm="HS256"),
        "unknown session": jwt.encode(_claims(rt, sid="s-none"), key, algorithm="HS256"),
    }
    for claim in ("exp", "sub", "aud", "iss", "jti", "role", "iat", "nbf"):
        cases[f"missing {claim}"] = jwt.encode(_claims(rt, **{claim: None}), key, algorithm="HS256")
    for name, tok in cases.items():
        for path in ("/api/auth/me", "/api/twins", "/fhir/Patient/P001"):
            r = c.get(path, headers=_bearer(tok))
            assert r.status_code == 401, (name, path, r.status_code)
            assert r.headers["www-authenticate"].startswith("Bearer"), name
            assert "Traceback" not in r.text and str(key) not in r.text
        with pytest.raises(Exception) as exc, c.websocket_connect(f"/ws/all?token={tok}") as ws:
            ws.receive_json()
        assert getattr(exc.value, "code", None) == 4401, name


def test_sign_in_refresh_rotation_reuse_and_logout(app_rt: tuple[TestClient, Runtime]) -> None:
    c, _rt = app_rt
    bad = _login(c, password="wrong-password")
    unknown = _login(c, user="nobody")
    assert bad.status_code == unknown.status_code == 401 and bad.json()["detail"] == unknown.json()["detail"]
    r = _login(c)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["role"] == "nurse" and body["expires_in"] == 900
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"iss", "aud", "exp", "iat", "jti", "sub", "role", "sid"} <= set(claims)
    assert claims["wards"] == ["ICU"]  # from the staff twin's works_in
    at1, rt1 = body["access_token"], body["refresh_token"]
    r2 = c.post("/api/auth/refresh", json={"refresh_token": rt1})
    assert r2.status_code == 200
    at2, rt2 = r2.json()["access_token"], r2.json()["refresh_token"]
    assert rt2 != rt1 and c.get("/api/auth/me", headers=_bearer(at2)).status_code == 200
    # the used refresh token again: reuse -> the whole session is revoked, its access tokens too
    assert c.post("/api/auth/refresh", json={"refresh_token": rt1}).status_code == 401
    assert c.post("/api/auth/refresh", json={"refresh_token": rt2}).status_code == 401
    assert c.get("/api/auth/me", headers=_bearer(at2)).status_code == 401
    assert c.get("/api/auth/me", headers=_bearer(at1)).status_code == 401
    # logout: the token is refused at once, the refresh token is dead
    fresh = _login(c).json()
    assert c.post("/api/auth/logout", headers=_bearer(fresh["access_token"])).status_code == 204
    r = c.get("/api/auth/me", headers=_bearer(fresh["access_token"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert c.post("/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code == 401


def test_disabled_account_is_refused(app_rt: tuple[TestClient, Runtime]) -> None:
    c, rt = app_rt
    tok = _login(c, "MED-nurse-1").json()["access_token"]
    assert c.get("/api/auth/me", headers=_bearer(tok)).status_code == 200
    security_for(rt).accounts.set_disabled("MED-nurse-1")  # as `medtwin user disable` in another process
    deadline = time.monotonic() + 8  # caches hold answers for at most 5 s
    while c.get("/api/auth/me", headers=_bearer(tok)).status_code != 401:
        assert time.monotonic() < deadline, "disabled account still accepted"
        time.sleep(0.25)
    assert _login(c, "MED-nurse-1").status_code == 401


def test_login_rate_limit_per_account_and_per_address(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    with TestClient(create_app(rt)) as c:
        security_for(rt).accounts.add_user("admin1", Role.ADMIN, TEST_PASSWORD)
        codes = [_login(c, "admin1", "wrong-password").status_code for _ in range(5)]
        assert codes == [401] * 5
        r = _login(c, "admin1")  # the right password does not help within the minute
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"].startswith("application/problem+json")
        # per address: other account names from the same address are refused too
        r = _login(c, "someone-else")
        assert r.status_code == 429


def test_api_rate_limit_per_user_and_per_address(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, rate_limit_user="5/minute", rate_limit_anonymous="3/minute")
    with TestClient(create_app(rt)) as c:
        h = auth_headers(rt, "admin")
        assert [c.get("/api/codes", headers=h).status_code for _ in range(5)] == [200] * 5
        r = c.get("/api/codes", headers=h)
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        other = auth_headers(rt, "nurse")  # another user has a budget of its own
        assert c.get("/api/codes", headers=other).status_code == 200
        assert [c.get("/api/codes").status_code for _ in range(3)] == [401] * 3
        assert c.get("/api/codes").status_code == 429
        assert c.get("/static/css/app.css").status_code == 200  # the dashboard's files are not counted


def test_break_the_glass(app_rt: tuple[TestClient, Runtime]) -> None:
    c, rt = app_rt
    alerts: list[Generic] = []
    rt.bus.subscribe(Generic, lambda e: alerts.append(e) if e.type == "privacy_alert" else None)
    h = _bearer(_login(c, "MED-nurse-1").json()["access_token"])
    assert c.get(f"/api/twins/{A}/state", headers=h).status_code == 403
    just = "Cardiac arrest call on ICU, covering for the ICU team"
    bad = [
        {"patient": A, "justification": "because", "minutes": 10},  # too short
        {"patient": A, "justification": just, "minutes": 61},  # above the maximum (60)
        {"patient": A, "justification": just, "minutes": 0},
        {"patient": A, "minutes": 10},
    ]
    for body in bad:
        assert c.post("/api/auth/break-glass", json=body, headers=h).status_code == 422, body
    assert c.post(
        "/api/auth/break-glass", json={"patient": "NOPE", "justification": just}, headers=h
    ).status_code in (403, 404)
    trainee = _bearer(_login(c, "trainee").json()["access_token"])
    assert (
        c.post(
            "/api/auth/break-glass", json={"patient": A, "justification": just}, headers=trainee
        ).status_code
        == 403
    )
    r = c.post("/api/auth/break-glass", json={"patient": A, "justification": just, "minutes": 15}, headers=h)
    assert r.status_code == 201 and r.json()["patient"] == A
    assert c.get(f"/api/twins/{A}/state", headers=h).status_code == 200  # access under the grant
    assert c.get(f"/api/twins/{B}/state", headers=h).status_code == 200  # her own ward as before
    assert c.get("/api/twins/P002/state", headers=h).status_code == 403  # only the named patient
    me = c.get("/api/auth/me", headers=h).json()
    assert [g["patient"] for g in me["break_glass"]] == [A]
    assert len(alerts) == 1 and alerts[0].data["patient"] == A and alerts[0].data["to"] == "privacy_officer"
    assert just not in json.dumps(alerts[0].data)  # the justification stays in the grant record
    # when the grant ends, access ends
    sec = security_for(rt)
    with sec.rt.store.transaction() as conn:
        conn.exec_driver_sql("UPDATE break_glass SET until_us = 0")
    sec.forget_user("MED-nurse-1")
    assert c.get(f"/api/twins/{A}/state", headers=h).status_code == 403


def test_break_the_glass_flag_reaches_the_request_state(tmp_path: Path) -> None:
    """The audit middleware reads request.state.break_glass (and .access, .principal)."""
    rt = _runtime(tmp_path)
    app = create_app(rt)
    seen: list[dict[str, Any]] = []

    class Spy:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.inner(scope, receive, send)
            if scope["type"] == "http":
                seen.append(dict(scope.get("state", {})))

    with TestClient(Spy(app)) as c:
        seed(rt.registry)
        h = auth_headers(rt, "nurse", user="MED-nurse-1")
        just = "Covering the ICU during a cardiac arrest call"
        c.post("/api/auth/break-glass", json={"patient": A, "justification": just}, headers=h)
        seen.clear()
        c.get(f"/api/twins/{A}/observations", headers=h)
        c.get(f"/api/twins/{B}/observations", headers=h)
    first, second = seen
    assert first["break_glass"].patient_id == A and first["access"].patients == [A]
    assert first["principal"].subject == "MED-nurse-1" and first["principal"].break_glass
    assert "break_glass" not in second and second["access"].patients == [B]


def test_bootstrap_admin_and_key_file(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, bootstrap_admin="root:first-admin-password")
    with TestClient(create_app(rt)) as c:
        assert _login(c, "root", "first-admin-password").json()["role"] == "admin"
    path = key_path(rt.settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    rt2 = _runtime(tmp_path, bootstrap_admin="other:another-password")  # users exist: ignored
    with TestClient(create_app(rt2)) as c:
        assert _login(c, "other", "another-password").status_code == 401
        assert _login(c, "root", "first-admin-password").status_code == 200  # same key file, same users
    secret = base64.urlsafe_b64encode(b"s" * 32).decode()
    rt3 = Runtime(Settings.load(db=str(tmp_path / "s3.db"), mqtt_enabled=False, data_dir=tmp_path / "x",
                                jwt_secret=secret))  # fmt: skip
    assert security_for(rt3).tokens.key == b"s" * 32 and not key_path(rt3.settings).exists()
    rt3.store.close()
    assert "first-admin-password" not in repr(rt.settings) and "ssss" not in repr(rt3.settings)
