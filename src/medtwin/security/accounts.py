"""Accounts in the database: users, sign-in sessions with rotating refresh tokens, the access-token
deny-list, device keys and break-the-glass grants (tables of store migration 5).

Refresh tokens are opaque 256-bit random strings stored as SHA-256. Each one is used once: a
refresh marks it used and issues the next one in the same session (family). Presenting a used
token again means it was copied, so the whole session is revoked (RFC 9700 §4.14.2), which also
ends the access tokens issued in it (they carry the session id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.core.errors import ConflictError, NotFoundError, ValidationError
from medtwin.core.ids import new_id, valid_id
from medtwin.security.passwords import digest, hash_password, new_secret, same
from medtwin.security.principal import Role
from medtwin.store.sql import SqlStore

DEVICE_KEY_PREFIX = "mtk_"


class RefreshRefused(LookupError):
    def __init__(self, reason: str, session: str | None = None) -> None:
        super().__init__(reason)
        self.session = session


def wall_now() -> datetime:
    """Tokens live in wall time (the runtime's clock may be simulated)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class User:
    id: str
    role: Role
    name: str
    password_hash: str
    wards: tuple[str, ...]
    patients: tuple[str, ...]
    staff_id: str | None
    disabled: bool

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role.value,
            "name": self.name,
            "wards": list(self.wards),
            "patients": list(self.patients),
            "staff_id": self.staff_id,
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class DeviceKey:
    id: str
    device_id: str
    relay: bool
    devices: tuple[str, ...]
    label: str
    revoked: bool


@dataclass(frozen=True)
class Grant:
    id: str
    user_id: str
    role: str
    patient_id: str
    justification: str
    created: datetime
    until: datetime


def _user(r: Any) -> User:
    return User(
        r[0], Role(r[1]), r[2], r[3], tuple(json.loads(r[4])), tuple(json.loads(r[5])), r[6], bool(r[7])
    )


_USER_COLS = "id, role, name, password_hash, wards, patients, staff_id, disabled"


class Accounts:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ users
    def count_users(self) -> int:
        with self.store.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM users")).scalar() or 0)

    def get_user(self, user_id: str) -> User | None:
        with self.store.engine.connect() as c:
            r = c.execute(text(f"SELECT {_USER_COLS} FROM users WHERE id = :id"), {"id": user_id}).first()
        return _user(r) if r else None

    def list_users(self) -> list[User]:
        with self.store.engine.connect() as c:
            rows = c.execute(text(f"SELECT {_USER_COLS} FROM users ORDER BY id")).all()
        return [_user(r) for r in rows]

    def add_user(
        self,
        user_id: str,
        role: Role,
        password: str,
        *,
        name: str = "",
        wards: list[str] | None = None,
        patients: list[str] | None = None,
        staff_id: str | None = None,
        replace: bool = False,
    ) -> User:
        if not valid_id(user_id):
            raise ValidationError("user id must be 1-64 letters, digits, '.', '_' or '-'", field="id")
        if role is Role.ANONYMOUS or role is Role.DEVICE:
            raise ValidationError(f"role {role.value!r} is not a user role (devices get keys)", field="role")
        if role in (Role.PATIENT, Role.CAREGIVER) and not patients:
            raise ValidationError(f"a {role.value} account needs --patient", field="patients")
        for w in [*(wards or []), *(patients or [])]:
            if not valid_id(w):
                raise ValidationError(f"invalid twin id {w[:64]!r}", field="wards")
        if self.get_user(user_id) is not None and not replace:
            raise ConflictError(f"user {user_id!r} exists", field="id")
        now = to_us(wall_now())
        p = {
            "id": user_id, "role": role.value, "name": name[:200], "ph": hash_password(password),
            "wards": json.dumps(sorted(set(wards or []))), "patients": json.dumps(sorted(set(patients or []))),
            "staff": staff_id, "now": now,
        }  # fmt: skip
        with self.store.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO users (id, role, name, password_hash, wards, patients, staff_id, disabled, "
                    "created_us, updated_us) VALUES (:id, :role, :name, :ph, :wards, :patients, :staff, 0, "
                    ":now, :now) ON CONFLICT (id) DO UPDATE SET role = excluded.role, name = excluded.name, "
                    "password_hash = excluded.password_hash, wards = excluded.wards, patients = excluded.patients, "
                    "staff_id = excluded.staff_id, disabled = 0, updated_us = excluded.updated_us"
                ),
                p,
            )
        u = self.get_user(user_id)
        if u is None:  # pragma: no cover - the row was just written
            raise NotFoundError(f"user {user_id!r} was not stored", field="id")
        return u

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self.store.transaction() as c:
            c.execute(
                text("UPDATE users SET password_hash = :ph, updated_us = :now WHERE id = :id"),
                {"ph": password_hash, "now": to_us(wall_now()), "id": user_id},
            )

    def set_disabled(self, user_id: str, disabled: bool = True) -> None:
        now = to_us(wall_now())
        with self.store.transaction() as c:
            n = c.execute(
                text("UPDATE users SET disabled = :d, updated_us = :now WHERE id = :id"),
                {"d": int(disabled), "now": now, "id": user_id},
            ).rowcount
            if not n:
                raise NotFoundError(f"no user {user_id!r}", field="id")
            if disabled:
                c.execute(
                    text("UPDATE auth_sessions SET revoked_us = :now, reason = 'disabled' "
                         "WHERE user_id = :id AND revoked_us IS NULL"),
                    {"now": now, "id": user_id},
                )  # fmt: skip

    # ------------------------------------------------------------------ sessions and refresh tokens
    def new_session(self, user_id: str, ttl: timedelta) -> tuple[str, str]:
        """A new sign-in session and its first refresh token: (session id, refresh token)."""
        sid, now = new_id("s"), wall_now()
        token = new_secret()
        with self.store.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO auth_sessions (id, user_id, created_us, expires_us) VALUES (:s, :u, :n, :e)"
                ),
                {"s": sid, "u": user_id, "n": to_us(now), "e": to_us(now + ttl)},
            )
            self._insert_refresh(c, sid, token, now, ttl)
        return sid, token

    def _insert_refresh(self, c: Any, sid: str, token: str, now: datetime, ttl: timedelta) -> None:
        c.execute(
            text(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_us, expires_us) VALUES (:h, :s, :n, :e)"
            ),
            {"h": digest(token), "s": sid, "n": to_us(now), "e": to_us(now + ttl)},
        )

    def rotate_refresh(self, token: str, ttl: timedelta) -> tuple[str, str, str]:
        """Use a refresh token once: (user id, session id, next refresh token). Raises
        RefreshRefused with a reason; a reused token revokes its whole session."""
        now = wall_now()
        h = digest(token)
        reused: str | None = None
        with self.store.transaction() as c:
            r = c.execute(
                text(
                    "SELECT t.session_id, t.expires_us, t.used_us, s.user_id, s.revoked_us, s.expires_us, "
                    "t.token_hash FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id "
                    "WHERE t.token_hash = :h"
                ),
                {"h": h},
            ).first()
            if r is None or not same(r[6], h):
                raise RefreshRefused("unknown refresh token")
            sid, t_exp, used, user_id, revoked, s_exp = r[0], r[1], r[2], r[3], r[4], r[5]
            if revoked is not None:
                raise RefreshRefused("session revoked", sid)
            if used is not None:  # a copy is in use somewhere: end the session
                c.execute(
                    text(
                        "UPDATE auth_sessions SET revoked_us = :n, reason = 'refresh token reuse' WHERE id = :s"
                    ),
                    {"n": to_us(now), "s": sid},
                )
                reused = sid  # raised after the commit (raising here would roll the revocation back)
            elif t_exp < to_us(now) or s_exp < to_us(now):
                raise RefreshRefused("refresh token expired", sid)
            else:
                c.execute(
                    text("UPDATE refresh_tokens SET used_us = :n WHERE token_hash = :h AND used_us IS NULL"),
                    {"n": to_us(now), "h": h},
                )
                nxt = new_secret()
                remaining = min(ttl, from_us(int(s_exp)) - now)
                self._insert_refresh(c, sid, nxt, now, remaining)
        if reused is not None:
            raise RefreshRefused("refresh token reused: the session is revoked", reused)
        return user_id, sid, nxt

    def revoke_session(self, sid: str, reason: str = "logout") -> None:
        with self.store.transaction() as c:
            c.execute(
                text(
                    "UPDATE auth_sessions SET revoked_us = :n, reason = :r WHERE id = :s AND revoked_us IS NULL"
                ),
                {"n": to_us(wall_now()), "r": reason, "s": sid},
            )

    def session_active(self, sid: str) -> bool:
        with self.store.engine.connect() as c:
            r = c.execute(text("SELECT revoked_us FROM auth_sessions WHERE id = :s"), {"s": sid}).first()
        return r is not None and r[0] is None

    def revoke_jti(self, jti: str, expires: datetime) -> None:
        now = to_us(wall_now())
        with self.store.transaction() as c:
            c.execute(text("DELETE FROM revoked_tokens WHERE expires_us < :n"), {"n": now})
            c.execute(
                text(
                    "INSERT INTO revoked_tokens (jti, expires_us) VALUES (:j, :e) ON CONFLICT (jti) DO NOTHING"
                ),
                {"j": jti, "e": to_us(expires)},
            )

    def jti_revoked(self, jti: str) -> bool:
        with self.store.engine.connect() as c:
            return (
                c.execute(text("SELECT 1 FROM revoked_tokens WHERE jti = :j"), {"j": jti}).first() is not None
            )

    # ------------------------------------------------------------------ device keys
    def add_device_key(
        self, device_id: str, *, relay: bool = False, devices: list[str] | None = None, label: str = ""
    ) -> str:
        """Create a key for a device (or a relay such as a gateway); returns the secret, shown once."""
        if not valid_id(device_id):
            raise ValidationError("device id must be 1-64 letters, digits, '.', '_' or '-'", field="device")
        kid, secret = new_id("k"), new_secret()
        with self.store.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO device_keys (id, device_id, secret_hash, relay, devices, label, created_us) "
                    "VALUES (:id, :d, :h, :r, :ds, :l, :n)"
                ),
                {"id": kid, "d": device_id, "h": digest(secret), "r": int(relay),
                 "ds": json.dumps(sorted(set(devices or []))), "l": label[:200], "n": to_us(wall_now())},
            )  # fmt: skip
        return f"{DEVICE_KEY_PREFIX}{kid}.{secret}"

    def check_device_key(self, presented: str) -> DeviceKey | None:
        if not presented.startswith(DEVICE_KEY_PREFIX) or "." not in presented or len(presented) > 200:
            return None
        kid, secret = presented[len(DEVICE_KEY_PREFIX) :].split(".", 1)
        with self.store.engine.connect() as c:
            r = c.execute(
                text(
                    "SELECT id, device_id, relay, devices, label, revoked_us, secret_hash FROM device_keys WHERE id = :k"
                ),
                {"k": kid},
            ).first()
        if r is None or not same(r[6], digest(secret)) or r[5] is not None:
            return None
        return DeviceKey(r[0], r[1], bool(r[2]), tuple(json.loads(r[3])), r[4], False)

    def list_device_keys(self) -> list[DeviceKey]:
        with self.store.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT id, device_id, relay, devices, label, revoked_us FROM device_keys ORDER BY device_id, id"
                )
            ).all()
        return [
            DeviceKey(r[0], r[1], bool(r[2]), tuple(json.loads(r[3])), r[4], r[5] is not None) for r in rows
        ]

    def revoke_device_key(self, key_id: str) -> None:
        with self.store.transaction() as c:
            n = c.execute(
                text("UPDATE device_keys SET revoked_us = :n WHERE id = :k AND revoked_us IS NULL"),
                {"n": to_us(wall_now()), "k": key_id},
            ).rowcount
        if not n:
            raise NotFoundError(f"no active device key {key_id!r}", field="key")

    # ------------------------------------------------------------------ break the glass
    def add_grant(self, user_id: str, role: str, patient_id: str, justification: str, minutes: int) -> Grant:
        now = wall_now()
        g = Grant(
            new_id("bg"), user_id, role, patient_id, justification, now, now + timedelta(minutes=minutes)
        )
        with self.store.transaction() as c:
            c.execute(
                text(
                    "INSERT INTO break_glass (id, user_id, role, patient_id, justification, created_us, until_us) "
                    "VALUES (:id, :u, :r, :p, :j, :c, :t)"
                ),
                {"id": g.id, "u": user_id, "r": role, "p": patient_id, "j": justification,
                 "c": to_us(g.created), "t": to_us(g.until)},
            )  # fmt: skip
        return g

    def active_grants(self, user_id: str) -> list[Grant]:
        with self.store.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT id, user_id, role, patient_id, justification, created_us, until_us FROM break_glass "
                    "WHERE user_id = :u AND until_us > :n ORDER BY until_us"
                ),
                {"u": user_id, "n": to_us(wall_now())},
            ).all()
        return [Grant(r[0], r[1], r[2], r[3], r[4], from_us(int(r[5])), from_us(int(r[6]))) for r in rows]
