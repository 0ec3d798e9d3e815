"""Authorisation matrix: every route of the app x {patient A, patient B, nurse of ward 1, nurse of
ward 2, physician (care team of A only), admin, device (monitors A), trainee, anonymous, expired
token}, for targets A and B, against the policy table (medtwin.security.policy).

The expected outcome of each cell comes from the table (the rule of the route, the role's
permissions) and from what each identity covers in this world, written out below by hand: the
enforcement code derives the same coverage from the twin graph (works_in, cared_for_by,
monitors), so a mismatch in either shows. Outcomes: ``401`` (not signed in), ``403`` (refused),
``ok`` (anything else: the endpoint answered, 2xx or its own 4xx/5xx). List endpoints must in
addition return only what the identity covers, and every route of the app must be exercised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from medtwin.security.accounts import wall_now
from medtwin.security.policy import PUBLIC, SESSION, Rule, has_perm, rule_for, scope_of
from medtwin.security.principal import Role
from medtwin.security.service import security_for
from medtwin.services.monitoring.alarms.service import start_alarms
from tests.conftest import TEST_PASSWORD, auth_headers
from tests.integration.routes import all_routes

A, B = "P001", "P009"  # ICU bed 1 and MED bed 9 of the demo hospital
ICU = {f"P{i:03d}" for i in range(1, 9)}
MED = {f"P{i:03d}" for i in range(9, 25)}


@dataclass(frozen=True)
class Who:
    name: str
    role: Role
    covers: frozenset[str] | None  # patients (None = all)
    wards: frozenset[str] = frozenset()


IDENTITIES = (
    Who("patient_a", Role.PATIENT, frozenset({A})),
    Who("patient_b", Role.PATIENT, frozenset({B})),
    Who("nurse_w1", Role.NURSE, frozenset(ICU), frozenset({"ICU"})),
    Who("nurse_w2", Role.NURSE, frozenset(MED), frozenset({"MED"})),
    Who("physician", Role.PHYSICIAN, frozenset({A})),
    Who("admin", Role.ADMIN, None),
    Who("device", Role.DEVICE, frozenset({A})),
    Who("trainee", Role.TRAINEE, frozenset()),
    Who("anonymous", Role.ANONYMOUS, frozenset()),
    Who("expired", Role.NURSE, frozenset()),  # a nurse of ward 1 whose token has expired
)


@dataclass
class World:
    client: TestClient
    rt: Runtime
    headers: dict[str, dict[str, str]]
    token: dict[str, str]
    obs: dict[str, int]
    alarms: dict[str, str]


def _sustained(c: TestClient, h: dict[str, str], device: str, seq0: int, values: dict[str, float]) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    for i in range(20):
        t = (end - timedelta(seconds=19 - i)).isoformat()
        body = {
            "device": device,
            "seq": seq0 + i,
            "readings": [{"code": k, "value": v, "time": t} for k, v in values.items()],
        }
        assert c.post("/api/ingest", json=body, headers=h).status_code == 200


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("matrix")
    rt = Runtime(
        Settings.load(
            db=str(tmp / "m.db"),
            mqtt_enabled=False,
            data_dir=tmp,
            login_rate="1000/minute",
            rate_limit_anonymous="",
        )
    )
    app = create_app(rt, on_start=[start_alarms])
    with TestClient(app) as c:
        seed(rt.registry)
        rt.registry.put(Twin("dr-a", TwinKind.STAFF, "Dr A", {"role": "physician"}))
        rt.registry.relate(A, RelType.CARED_FOR_BY, "dr-a")
        sec = security_for(rt)
        headers: dict[str, dict[str, str]] = {}
        for who, role, kw in (
            ("patient_a", "patient", {"user": "patient-a", "patients": (A,)}),
            ("patient_b", "patient", {"user": "patient-b", "patients": (B,)}),
            ("nurse_w1", "nurse", {"user": "ICU-nurse-1"}),
            ("nurse_w2", "nurse", {"user": "MED-nurse-1"}),
            ("physician", "physician", {"user": "dr-a"}),
            ("admin", "admin", {}),
            ("trainee", "trainee", {}),
        ):
            headers[who] = auth_headers(rt, role, **kw)  # type: ignore[arg-type]
        headers["device"] = {"Authorization": "Bearer " + sec.accounts.add_device_key("MON-001")}
        headers["anonymous"] = {}
        sid, _ = sec.accounts.new_session("ICU-nurse-1", timedelta(hours=1))
        old = sec.tokens.issue(
            subject="ICU-nurse-1", role="nurse", now=wall_now() - timedelta(hours=2), session=sid
        )
        headers["expired"] = {"Authorization": f"Bearer {old.token}"}
        admin = headers["admin"]
        _sustained(c, admin, "MON-001", 0, {"hr": 80, "spo2": 84})
        _sustained(c, admin, "MON-009", 0, {"hr": 80, "spo2": 84})
        svc = rt.services["alarms"]
        assert svc.wait_idle(10)
        alarms: dict[str, str] = {}
        deadline = time.monotonic() + 10
        while len(alarms) < 2 and time.monotonic() < deadline:
            for a in c.get("/api/alarms", headers=admin).json():
                alarms.setdefault(a["twin"], a["id"])
            time.sleep(0.1)
        assert {A, B} <= set(alarms), alarms
        obs = {
            p: c.get(f"/api/twins/{p}/observations", params={"code": "hr"}, headers=admin).json()[0]["id"]
            for p in (A, B)
        }
        token = {k: v.get("Authorization", "").removeprefix("Bearer ") for k, v in headers.items()}
        yield World(c, rt, headers, token, obs, alarms)


# ------------------------------------------------------------------------------ expectations
def expected(rule: Rule, who: Who, target: str) -> str:
    """The outcome the policy table prescribes: "401", "403" or "ok"."""
    if rule.perm == PUBLIC:
        return "ok"
    if who.name in ("anonymous", "expired"):
        return "401"
    if rule.perm and rule.perm != SESSION and not has_perm(who.role, rule.perm):
        return "403"
    if not rule.verb or rule.target is None:
        return "ok"
    if rule.target.kind == "place":  # a ward: reading a place needs no patient scope
        return "ok" if has_perm(who.role, f"place.{rule.verb}") else "403"
    if not has_perm(who.role, f"patient.{rule.verb}"):
        return "403"
    if scope_of(who.role) == "all":
        return "ok"
    return "ok" if who.covers is not None and target in who.covers else "403"


# ------------------------------------------------------------------------------ requests
Send = Callable[[World, dict[str, str], str], Any]


def _obs_body(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": datetime.now(UTC).isoformat(),
        "valueQuantity": {"value": 71, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip


def _ingest_body(pid: str) -> dict[str, Any]:
    device = "MON-001" if pid == A else "MON-009"
    return {"device": device, "patient": pid, "seq": f"m{time.monotonic_ns()}",
            "readings": [{"code": "hr", "value": 70, "time": datetime.now(UTC).isoformat()}]}  # fmt: skip


BODIES: dict[tuple[str, str], Callable[[str], Any]] = {
    ("POST", "/api/ingest"): _ingest_body,
    ("POST", "/fhir/Observation"): _obs_body,
    ("POST", "/fhir"): lambda p: {"resourceType": "Bundle", "type": "batch",
                                  "entry": [{"resource": _obs_body(p), "request": {"method": "POST", "url": "Observation"}}]},
    ("POST", "/api/twins/{twin_id}/chart"): lambda p: {"by": "matrix", "readings": [{"code": "rr", "value": 16}]},
    ("POST", "/api/observations/{obs_id}/amend"): lambda p: {"by": "matrix", "value": 72, "reason": "typo"},
    ("POST", "/api/observations/{obs_id}/entered-in-error"): lambda p: {"by": "matrix", "reason": "wrong patient"},
    ("PUT", "/api/twins/{twin_id}/monitoring-settings"): lambda p: {"news2_scale": 1, "by": "matrix"},
    ("PUT", "/api/twins/{twin_id}/alarm-limits"): lambda p: {"limits": {"hr": {"high": 140}}, "by": "matrix"},
    ("POST", "/api/auth/break-glass"): lambda p: {"patient": p, "justification": "too short", "minutes": 5},
    ("PUT", "/api/twins/{twin_id}"): lambda p: {"kind": "room", "name": "matrix room"},
    ("POST", "/api/relationships"): lambda p: {"src": "ZZ-none", "type": "located_in", "dst": "ZZ-none2"},
    ("PUT", "/fhir/Patient/{pid}"): lambda p: {"resourceType": "Patient", "id": "ZZ-matrix"},
}  # fmt: skip
# admin-only routes get a target that does not exist (or is new): the matrix must not destroy its world
FIXED_PATHS = {
    ("PUT", "/api/twins/{twin_id}"): "/api/twins/ZZ-matrix-room",
    ("DELETE", "/api/twins/{twin_id}"): "/api/twins/ZZ-none",
    ("DELETE", "/api/relationships"): "/api/relationships?src=ZZ-none&type=located_in&dst=ZZ-none2",
    ("PUT", "/fhir/Patient/{pid}"): "/fhir/Patient/ZZ-matrix",
}


def concrete_path(w: World, method: str, path: str, target: str) -> str:
    if (method, path) in FIXED_PATHS:
        return FIXED_PATHS[(method, path)]
    ward = "ICU" if target == A else "MED"
    values = {
        "twin_id": target, "pid": target, "patient_id": target, "place_id": ward, "ward_id": ward,
        "obs_id": str(w.obs[target]), "oid": str(w.obs[target]), "alarm_id": w.alarms[target],
        "series_id": "S-none", "seg_id": "G-none", "index": "0", "rest": "Encounter/1",
    }  # fmt: skip
    out = path
    for k, v in values.items():
        out = out.replace("{" + k + "}", v).replace("{" + k + ":path}", v)
    query = {
        "/fhir/Observation": f"?subject=Patient/{target}",
        "/fhir/MedicationAdministration": f"?subject=Patient/{target}",
        "/api/alarms": f"?twin={target}",
        "/api/twins": "?kind=patient",
    }
    return out + query.get(path, "") if method == "GET" else out


def call(w: World, who: str, method: str, path: str, target: str) -> tuple[int, Any]:
    h = dict(w.headers[who])
    if (method, path) == ("POST", "/api/auth/logout") and who not in ("anonymous", "expired", "device"):
        h = auth_headers(w.rt, "admin", user=_user_of(w, who))  # a session of its own: logout ends it
    url = concrete_path(w, method, path, target)
    body = BODIES.get((method, path))
    if (method, path) == ("POST", "/api/auth/login"):
        body = lambda p: {"username": "test-admin", "password": TEST_PASSWORD}  # noqa: E731
    if (method, path) == ("POST", "/api/auth/refresh"):
        _sid, refresh = security_for(w.rt).accounts.new_session("test-admin", timedelta(minutes=5))
        body = lambda p: {"refresh_token": refresh}  # noqa: E731
    if method == "WS":
        return _ws(w, who, url)
    r = w.client.request(method, url, json=body(target) if body else None, headers=h)
    return r.status_code, r


def _user_of(w: World, who: str) -> str:
    claims = security_for(w.rt).tokens.verify(w.token[who])
    return str(claims["sub"])


def _ws(w: World, who: str, url: str) -> tuple[int, Any]:
    token = w.token[who]
    full = url + (f"?token={token}" if token else "")
    try:
        with w.client.websocket_connect(full) as ws:
            msg = ws.receive_json()
            if msg.get("type") == "hello":
                return 200, msg
            return 500, msg
    except WebSocketDisconnect as exc:
        return {4401: 401, 4403: 403, 4404: 404}.get(exc.code, 500), None


def outcome(status: int) -> str:
    return str(status) if status in (401, 403) else "ok"


# ------------------------------------------------------------------------------ the matrix
def test_every_route_of_the_app_has_exactly_one_rule() -> None:
    rt = Runtime(Settings.load(db=":memory:", mqtt_enabled=False))
    try:
        routes = all_routes(create_app(rt, own_runtime=False))
        missing = [(m, p) for m, p in routes if rule_for(m, p) is None]
        assert not missing, f"routes without a policy rule (refused by default): {missing}"
    finally:
        rt.stop()


def test_authorisation_matrix_matches_the_policy_table(world: World) -> None:
    routes = sorted(all_routes(world.client.app))
    cells = mismatches = 0
    report: list[str] = []
    exercised = set()
    for method, path in routes:
        if method == "HEAD":
            continue  # answered by the GET rule
        rule = rule_for(method, path)
        assert rule is not None
        exercised.add((method, path))
        targets = (A, B) if rule.target is not None and rule.verb else (A,)
        for target in targets:
            for who in IDENTITIES:
                status, _resp = call(world, who.name, method, path, target)
                want = expected(rule, who, target)
                got = outcome(status)
                cells += 1
                if want != got:
                    mismatches += 1
                    report.append(
                        f"{method} {path} [{target}] as {who.name}: policy says {want}, got {status}"
                    )
    assert not mismatches, f"{mismatches}/{cells} cells differ:\n" + "\n".join(report[:60])
    assert cells > 500
    assert exercised == {(m, p) for m, p in routes if m != "HEAD"}


def _ids(items: list[dict[str, Any]], key: str = "id") -> set[str]:
    return {str(x[key]) for x in items}


@pytest.mark.parametrize(
    "who", [i for i in IDENTITIES if i.name not in ("anonymous", "expired")], ids=lambda w: w.name
)
def test_lists_show_only_what_the_identity_covers(world: World, who: Who) -> None:
    c, h = world.client, world.headers[who.name]
    covers = who.covers
    patients = c.get("/api/twins", params={"kind": "patient"}, headers=h)
    assert patients.status_code == 200
    seen = _ids(patients.json())
    if covers is None:
        assert seen >= ICU | MED
    elif who.role is Role.DEVICE:
        assert seen == set()  # a device reads nothing
    else:
        assert seen == covers  # exactly the patients it covers
    occ = c.get("/api/places/B1/patients", headers=h)
    if occ.status_code == 200:
        got = _ids(occ.json())
        assert got == (ICU | MED) if covers is None else got <= covers
    alarms = c.get("/api/alarms", headers=h)
    if alarms.status_code == 200:
        twins = _ids(alarms.json(), "twin")
        assert twins <= (covers if covers is not None else twins)
        if covers is not None and A in covers and who.role is not Role.DEVICE:
            assert A in twins  # the identity's own patient's alarm is there
    children = c.get("/api/twins/ICU/children", headers=h)
    if children.status_code == 200:
        kids = {x["id"] for x in children.json() if x["kind"] == "patient"}
        assert kids <= (covers if covers is not None else kids)
