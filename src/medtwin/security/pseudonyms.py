"""Pseudonyms shown instead of patients' names to roles that may not see them.

``HMAC-SHA256(k_purpose, "patient:" + id)``, truncated to 64 bits and shown as ``PSN-xxxx-xxxx``:
stable per patient and purpose, not reversible without the key (an unkeyed hash of a small id
space is, by enumeration). The key is per purpose (``display`` here; exports use their own), from
``<data_dir>/keys/pseudonym-<purpose>.key`` (32 random bytes, 0600, created on first use).

The platform's keyed pseudonym function (``medtwin.security.crypto.pseudonym``, purpose
``display``, key derived from the keyring) is used; the local key file is a fallback for a process
without a keyring.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from medtwin.config import Settings


class Pseudonymizer:
    def __init__(self, settings: Settings) -> None:
        self.dir = settings.data_dir / "keys"
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, purpose: str) -> bytes:
        with self._lock:
            k = self._keys.get(purpose)
            if k is None:
                k = self._keys[purpose] = _load_or_create(self.dir / f"pseudonym-{purpose}.key")
            return k

    def pseudonym(self, twin_id: str, purpose: str = "display") -> str:
        try:  # the platform's keyed pseudonym (HKDF from the keyring's secret, per purpose)
            from medtwin.security.crypto import pseudonym

            mac = pseudonym(purpose, f"patient:{twin_id}")
        except Exception:  # no keyring in this process: a local per-purpose key
            mac = hmac.new(self.key(purpose), f"patient:{twin_id}".encode(), hashlib.sha256).hexdigest()
        return f"PSN-{mac[:4]}-{mac[4:8]}-{mac[8:16]}"


def _load_or_create(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key
