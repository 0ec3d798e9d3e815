"""Sign-in API: ``POST /api/auth/login``, ``/refresh``, ``/logout``, ``GET /api/auth/me`` and
``POST /api/auth/break-glass`` (docs/security.md).

* login ``{"username", "password"}`` -> ``{"access_token", "token_type": "Bearer", "expires_in",
  "refresh_token", "refresh_expires_in", "user": {...}}``; at most ``login_rate`` attempts per
  account and per client address (429 problem+json with ``Retry-After``); a wrong password and an
  unknown account get the same 401 and take the same time.
* refresh ``{"refresh_token"}`` -> a new access token and the next refresh token (each refresh
  token works once; a second use revokes the whole sign-in session).
* logout: the access token's ``jti`` goes on the deny-list until it expires and the session (all
  its refresh tokens) is revoked.
* break-glass ``{"patient", "justification", "minutes"}`` -> 201, access to that patient for at
  most ``break_glass_max_minutes``; a ``privacy_alert`` event goes to the privacy officer and
  every access under it is flagged (``request.state.break_glass``) for the audit.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from medtwin.api.guard import principal_of
from medtwin.api.problems import problem
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.core.model import TwinKind
from medtwin.security.accounts import RefreshRefused, User, wall_now
from medtwin.security.passwords import hash_password, needs_rehash, verify_dummy, verify_password
from medtwin.security.principal import Principal
from medtwin.security.service import Security, security_for

log = logging.getLogger("medtwin.security")
router = APIRouter(prefix="/api/auth", tags=["auth"])


def _sec(request: Request) -> Security:
    return security_for(request.app.state.runtime)


SEC = Annotated[Security, Depends(_sec)]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: str | None = Field(None, max_length=40, description="Ignored: the account decides the role.")


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=10, max_length=200)


class LogoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str | None = Field(None, max_length=200)


class BreakGlassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient: str = Field(min_length=1, max_length=64)
    justification: str = Field(min_length=1, max_length=2000, description="Why: typed by the user.")
    minutes: int = Field(60, ge=1, le=24 * 60, description="Length; at most the configured maximum.")


def _tokens(sec: Security, user: User, sid: str, refresh: str) -> dict[str, Any]:
    p = sec.principal_for(user)
    at = sec.tokens.issue(
        subject=user.id, role=user.role.value, now=wall_now(), session=sid, name=user.name,
        wards=sorted(p.wards), patients=sorted(p.patients),
    )  # fmt: skip
    return {
        "access_token": at.token,
        "token_type": "Bearer",
        "expires_in": int(sec.tokens.ttl.total_seconds()),
        "refresh_token": refresh,
        "refresh_expires_in": int(sec.settings.refresh_token_hours * 3600),
        "user": {"id": user.id, "name": user.name, "role": user.role.value},
        "name": user.name,
        "role": user.role.value,
    }


def _refused(detail: str) -> JSONResponse:
    return problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="medtwin"'})


@router.post("/login")
def login(body: LoginIn, request: Request, sec: SEC) -> JSONResponse:
    p = principal_of(request)
    wait = sec.limits.login_attempt(body.username, p.ip or "unknown")
    if wait:
        return problem(429, "Too many requests", f"too many sign-in attempts: retry in {int(wait)} s",
                       headers={"Retry-After": str(int(wait))})  # fmt: skip
    user = sec.accounts.get_user(body.username)
    if user is None or user.disabled:
        verify_dummy(body.password)
        log.info("sign-in refused: unknown or disabled account")
        return _refused("wrong user name or password")
    if not verify_password(user.password_hash, body.password):
        log.info("sign-in refused: wrong password for %s", user.id)
        return _refused("wrong user name or password")
    if needs_rehash(user.password_hash):
        sec.accounts.set_password_hash(user.id, hash_password(body.password))
    ttl = timedelta(hours=sec.settings.refresh_token_hours)
    sid, refresh = sec.accounts.new_session(user.id, ttl)
    sec.forget_user(user.id)
    log.info("sign-in: %s (%s)", user.id, user.role.value)
    return JSONResponse(_tokens(sec, user, sid, refresh))


@router.post("/refresh")
def refresh(body: RefreshIn, sec: SEC) -> JSONResponse:
    try:
        user_id, sid, nxt = sec.accounts.rotate_refresh(
            body.refresh_token, timedelta(hours=sec.settings.refresh_token_hours)
        )
    except RefreshRefused as exc:
        log.info("refresh refused: %s", exc)
        sec.revoked_locally(None, exc.session)
        return _refused(str(exc))
    sec.revoked_locally(None, sid)
    user = sec.accounts.get_user(user_id)
    if user is None or user.disabled:
        sec.accounts.revoke_session(sid, "disabled")
        return _refused("account disabled")
    return JSONResponse(_tokens(sec, user, sid, nxt))


@router.post("/logout", status_code=204)
def logout(request: Request, sec: SEC, body: LogoutIn | None = None) -> None:
    p = principal_of(request)
    if p.token_id and p.expires:
        sec.accounts.revoke_jti(p.token_id, datetime.fromtimestamp(p.expires, UTC))
    if p.session_id:
        sec.accounts.revoke_session(p.session_id, "logout")
    sec.revoked_locally(p.token_id, p.session_id)
    log.info("sign-out: %s", p.subject)


@router.get("/me")
def me(request: Request) -> dict[str, Any]:
    p: Principal = principal_of(request)
    return {
        "id": p.subject,
        "role": p.role.value,
        "name": p.name,
        "wards": sorted(p.wards),
        "patients": sorted(p.patients),
        "device": p.device_id,
        "expires": datetime.fromtimestamp(p.expires, UTC).isoformat() if p.expires else None,
        "break_glass": [
            {"patient": g.patient_id, "until": g.until.isoformat().replace("+00:00", "Z")}
            for g in p.break_glass
        ],
    }


@router.post("/break-glass", status_code=201)
def break_glass(body: BreakGlassIn, request: Request, sec: SEC) -> dict[str, Any]:
    p = principal_of(request)
    s = sec.settings
    t = sec.rt.store.get_twin(body.patient)
    if t is None or t.kind is not TwinKind.PATIENT:
        raise NotFoundError(f"no patient {body.patient!r}", field="patient")
    text = " ".join(body.justification.split())
    if len(text) < s.break_glass_min_justification:
        raise ValidationError(
            f"justification must be at least {s.break_glass_min_justification} characters",
            field="justification",
        )
    if body.minutes > s.break_glass_max_minutes:
        raise ValidationError(f"minutes must be at most {s.break_glass_max_minutes}", field="minutes")
    g = sec.break_glass(p, t.id, text, body.minutes)
    return {
        "grant": g.id,
        "patient": g.patient_id,
        "minutes": body.minutes,
        "until": g.until.isoformat().replace("+00:00", "Z"),
    }
