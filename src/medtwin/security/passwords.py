"""Password hashing with argon2id (argon2-cffi, RFC 9106) and random secrets.

The parameters are argon2-cffi's defaults (RFC 9106 "second recommended option": 64 MiB memory,
3 passes, 4 lanes), which cost ~50 ms per hash here; ``needs_rehash`` lets a sign-in upgrade an
older hash when the parameters change. A wrong password and an unknown user take the same time
(``verify_dummy``), so response timing does not reveal which accounts exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 1024
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("medtwin-dummy-password-for-timing")


class WeakPasswordError(ValueError):
    pass


def check_policy(password: str) -> None:
    """Refuse passwords shorter than MIN_LENGTH or absurdly long (a DoS on the hasher)."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_policy(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Spend the time of one verification (for unknown or disabled accounts)."""
    verify_password(_DUMMY, password[:MAX_LENGTH])


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret (refresh tokens, device keys, generated passwords)."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy random secret (refresh tokens, device keys). A slow hash is for
    human passwords; a 256-bit random secret cannot be brute-forced from its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
