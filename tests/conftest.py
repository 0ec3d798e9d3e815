"""Shared fixtures: stores on SQLite and on the real PostgreSQL, a fresh runtime, MQTT settings."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.runtime import Runtime
from medtwin.store.sql import SqlStore

# Keys (encryption at rest, audit signing) for the whole test session, outside the repo: every
# store, runtime and CLI subprocess of the run shares them (see medtwin.security.keys).
_KEYS = Path(tempfile.mkdtemp(prefix="medtwin-test-keys-"))
os.environ.setdefault("MEDTWIN_KEK_FILE", str(_KEYS / "keyring.json"))
os.environ.setdefault("MEDTWIN_AUDIT_KEY_FILE", str(_KEYS / "audit-ed25519.key"))

PG_ADMIN = os.environ.get("MEDTWIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MQTT_HOST = os.environ.get("MEDTWIN_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("MEDTWIN_TEST_MQTT_PORT", "1883"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the real server, dropped afterwards."""
    name = "medtwin_t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = SqlStore(db_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore(str(tmp_path / "store.db"))
    yield s
    s.close()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(Settings.load(db=str(tmp_path / "rt.db"), mqtt_enabled=False, data_dir=tmp_path))
    rt.start()
    yield rt
    rt.stop()


def add_patients(rt_or_store: Runtime | SqlStore, *ids: str) -> None:
    if isinstance(rt_or_store, Runtime):
        for i in ids:
            rt_or_store.registry.put(Twin(i, TwinKind.PATIENT, f"Synthetic {i}"))
    else:
        for i in ids:
            rt_or_store.put_twin(Twin(i, TwinKind.PATIENT, f"Synthetic {i}"))


@pytest.fixture
def mqtt_prefix() -> str:
    """A topic prefix of its own per test, so tests sharing the broker never see each other."""
    return "medtwin-test/" + uuid.uuid4().hex[:10]


# ------------------------------------------------------------------------------------------ security
TEST_PASSWORD = "test-password-123"


def _runtime_of(target: object) -> Runtime:
    if isinstance(target, Runtime):
        return target
    app = getattr(target, "app", target)
    return app.state.runtime  # type: ignore[attr-defined, no-any-return]


def auth_headers(
    target: object,
    role: str = "admin",
    *,
    user: str | None = None,
    wards: tuple[str, ...] = (),
    patients: tuple[str, ...] = (),
    staff_id: str | None = None,
) -> dict[str, str]:
    """``Authorization`` for a user of ``role`` (created on first use) on a runtime, app or client:
    a real access token of the app's token service, as ``POST /api/auth/login`` would issue."""
    from datetime import timedelta

    from medtwin.security.accounts import wall_now
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for

    sec = security_for(_runtime_of(target))
    uid = user or f"test-{role.replace('_', '-')}"
    u = sec.accounts.get_user(uid)
    if u is None:
        u = sec.accounts.add_user(
            uid,
            Role(role),
            TEST_PASSWORD,
            name=uid,
            wards=list(wards),
            patients=list(patients),
            staff_id=staff_id,
        )
    sid, _refresh = sec.accounts.new_session(uid, timedelta(hours=2))
    at = sec.tokens.issue(subject=uid, role=u.role.value, now=wall_now(), session=sid)
    return {"Authorization": f"Bearer {at.token}"}


def device_headers(target: object, device: str, *, relay_for: tuple[str, ...] = ()) -> dict[str, str]:
    """``Authorization`` with a new device key for ``device`` (a relay such as a gateway when
    ``relay_for`` names device-id patterns it may send for)."""
    from medtwin.security.service import security_for

    sec = security_for(_runtime_of(target))
    key = sec.accounts.add_device_key(device, relay=bool(relay_for), devices=list(relay_for))
    return {"Authorization": f"Bearer {key}"}
