"""JWT access tokens (PyJWT, HS256) and the signing key.

* Key: ``jwt_secret`` (env ``MEDTWIN_JWT_SECRET``, base64url, >= 32 bytes) or a key file
  (``jwt_key_file``, default ``<data_dir>/keys/jwt-hs256.key``) created with 32 random bytes and
  mode 0600 on first start. Never in the repository. Every process of one deployment must share it.
* Issue: ``iss``, ``aud``, ``sub``, ``iat``, ``nbf``, ``exp`` (``access_token_minutes``), ``jti``
  (revocation), ``sid`` (the sign-in session, revoked on logout or refresh-token reuse), ``role``,
  ``wards``, ``patients`` and ``name`` (display).
* Verify: ``algorithms=["HS256"]`` only (so ``alg: none`` and algorithm confusion fail), required
  claims ``exp iat nbf iss aud sub jti role``, audience and issuer checked, 30 s leeway.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from medtwin.config import Settings

ALGORITHM = "HS256"
ALGORITHMS = [ALGORITHM]
REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "role"]
LEEWAY_S = 30


class TokenError(Exception):
    """The token is not acceptable; ``str(exc)`` is safe to return to the client."""


def key_path(settings: Settings) -> Path:
    return (
        Path(settings.jwt_key_file) if settings.jwt_key_file else settings.data_dir / "keys" / "jwt-hs256.key"
    )


def load_key(settings: Settings) -> bytes:
    """The HS256 key: from the settings (environment), else the key file, created if missing."""
    if settings.jwt_secret:
        key = base64.urlsafe_b64decode(settings.jwt_secret + "=" * (-len(settings.jwt_secret) % 4))
        if len(key) < 32:
            raise ValueError("jwt_secret must decode to at least 32 bytes")
        return key
    path = key_path(settings)
    if path.exists():
        key = path.read_bytes()
        if len(key) < 32:
            raise ValueError(f"JWT key file {path} holds fewer than 32 bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    try:  # O_EXCL: two processes starting together keep one key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    expires: datetime
    claims: dict[str, Any]


class TokenService:
    def __init__(self, settings: Settings, key: bytes | None = None) -> None:
        self.key = key if key is not None else load_key(settings)
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = timedelta(minutes=settings.access_token_minutes)

    def issue(
        self,
        *,
        subject: str,
        role: str,
        now: datetime,
        session: str,
        name: str = "",
        wards: list[str] | None = None,
        patients: list[str] | None = None,
    ) -> AccessToken:
        jti = uuid.uuid4().hex
        exp = now + self.ttl
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(exp.timestamp()),
            "jti": jti,
            "sid": session,
            "role": role,
            "name": name,
            "wards": sorted(wards or []),
            "patients": sorted(patients or []),
        }
        token = jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"typ": "at+jwt"})
        return AccessToken(token, jti, exp, claims)

    def verify(self, token: str, now: datetime | None = None) -> dict[str, Any]:
        """The verified claims, or TokenError naming what is wrong (no secret in the message)."""
        if len(token) > 8192:
            raise TokenError("token too long")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": REQUIRED, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token has the wrong audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token has the wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidAlgorithmError:
            raise TokenError("token algorithm not accepted") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature invalid") from None
        except jwt.PyJWTError:
            raise TokenError("token malformed") from None
        if now is not None and claims["exp"] < now.timestamp() - LEEWAY_S:
            raise TokenError("token expired")
        for name in ("sub", "jti", "role"):
            if not isinstance(claims.get(name), str) or not claims[name]:
                raise TokenError(f"token claim {name!r} invalid")
        return claims
