"""The security service of one runtime: accounts, tokens, scope cache, rate limits, pseudonyms.

``security_for(runtime)`` creates it once (``runtime.services["security"]``); the API, the live
feed and the CLI share it. ``authenticate`` turns a presented credential (a JWT access token or a
device key) into a :class:`~medtwin.security.principal.Principal`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from medtwin.core.events import Context, Generic
from medtwin.security.accounts import DEVICE_KEY_PREFIX, Accounts, Grant, User, wall_now
from medtwin.security.policy import scope_of
from medtwin.security.principal import BreakGlass, Principal, Role
from medtwin.security.pseudonyms import Pseudonymizer
from medtwin.security.ratelimit import RateLimits
from medtwin.security.scope import ScopeCache
from medtwin.security.tokens import TokenError, TokenService

if TYPE_CHECKING:
    from medtwin.runtime import Runtime

log = logging.getLogger("medtwin.security")
_lock = threading.Lock()


class AuthFailed(Exception):
    """The credential is not acceptable; the message is safe to send to the client."""


class _Ttl:
    """A tiny time-bounded cache (user rows, session and deny-list look-ups, grants)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.data: dict[Any, tuple[float, Any]] = {}
        self.lock = threading.Lock()

    def get(self, key: Any, fn: Any) -> Any:
        now = time.monotonic()
        with self.lock:
            hit = self.data.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        value = fn()
        with self.lock:
            if len(self.data) > 20_000:
                self.data.clear()
            self.data[key] = (now, value)
        return value

    def drop(self, key: Any) -> None:
        with self.lock:
            self.data.pop(key, None)


class Security:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.settings = rt.settings
        self.accounts = Accounts(rt.store)
        self.tokens = TokenService(rt.settings)
        self.scope = ScopeCache(rt)
        self.limits = RateLimits(rt.settings)
        self.pseudonyms = Pseudonymizer(rt.settings)
        self._users = _Ttl(5.0)
        self._sessions = _Ttl(5.0)
        self._revoked = _Ttl(5.0)
        self._grants = _Ttl(5.0)
        self._keys = _Ttl(5.0)

    # ------------------------------------------------------------------ authentication
    def authenticate(self, credential: str, ip: str | None = None) -> Principal:
        if credential.startswith(DEVICE_KEY_PREFIX):
            return self._device(credential, ip)
        try:
            claims = self.tokens.verify(credential)
        except TokenError as exc:
            raise AuthFailed(str(exc)) from None
        jti, sid, sub = claims["jti"], claims.get("sid"), claims["sub"]
        if self._revoked.get(jti, lambda: self.accounts.jti_revoked(jti)):
            raise AuthFailed("token revoked")
        if not isinstance(sid, str) or not self._sessions.get(sid, lambda: self.accounts.session_active(sid)):
            raise AuthFailed("session ended")
        user: User | None = self._users.get(sub, lambda: self.accounts.get_user(sub))
        if user is None or user.disabled:
            raise AuthFailed("account disabled")
        if user.role.value != claims["role"]:
            raise AuthFailed("role changed: sign in again")
        return self.principal_for(user, ip=ip, jti=jti, sid=sid, expires=float(claims["exp"]))

    def principal_for(
        self, user: User, *, ip: str | None = None, jti: str | None = None, sid: str | None = None,
        expires: float | None = None,
    ) -> Principal:  # fmt: skip
        wards, patients = set(user.wards), set(user.patients)
        if scope_of(user.role) == "care":  # the staff twin's ward and care team
            sw, sp = self.scope.staff_links(user.staff_id or user.id)
            wards |= sw
            patients |= sp
        grants: list[Grant] = self._grants.get(user.id, lambda: self.accounts.active_grants(user.id))
        now = wall_now()
        glass = tuple(BreakGlass(g.justification, g.patient_id, g.until) for g in grants if g.until > now)
        return Principal(
            subject=user.id, role=user.role, wards=frozenset(wards), patients=frozenset(patients),
            token_id=jti, break_glass=glass, ip=ip, name=user.name, session_id=sid, expires=expires,
        )  # fmt: skip

    def _device(self, credential: str, ip: str | None) -> Principal:
        key = self._keys.get(credential, lambda: self.accounts.check_device_key(credential))
        if key is None:
            raise AuthFailed("unknown or revoked device key")
        return Principal(
            subject=key.device_id, role=Role.DEVICE, device_id=key.device_id, token_id=key.id, ip=ip,
            devices=frozenset(key.devices) if key.relay else frozenset(),
        )  # fmt: skip

    # ------------------------------------------------------------------ revocation
    def revoked_locally(self, jti: str | None, sid: str | None) -> None:
        """Forget cached "still valid" answers after a logout in this process."""
        if jti:
            self._revoked.drop(jti)
        if sid:
            self._sessions.drop(sid)

    def forget_user(self, user_id: str) -> None:
        self._users.drop(user_id)
        self._grants.drop(user_id)

    # ------------------------------------------------------------------ break the glass
    def break_glass(self, p: Principal, patient_id: str, justification: str, minutes: int) -> Grant:
        g = self.accounts.add_grant(p.subject, p.role.value, patient_id, justification, minutes)
        self._grants.drop(p.subject)
        # To the privacy officer: who, which grant, how long. No name and no justification text in
        # the log; the officer reads the justification from the grant (audited access).
        log.warning("break-the-glass grant %s: user %s (%s), %d min", g.id, p.subject, p.role.value, minutes)
        self.rt.bus.publish(
            Generic(
                time=self.rt.clock.now(),
                context=Context(actor=p.actor),
                type="privacy_alert",
                data={
                    "kind": "break_glass", "grant": g.id, "user": p.subject, "role": p.role.value,
                    "patient": patient_id, "minutes": minutes,
                    "until": g.until.isoformat().replace("+00:00", "Z"), "to": "privacy_officer",
                },
            )
        )  # fmt: skip
        return g


def security_for(rt: Runtime) -> Security:
    with _lock:
        sec = rt.services.get("security")
        if not isinstance(sec, Security):
            sec = rt.services["security"] = Security(rt)
        return sec
