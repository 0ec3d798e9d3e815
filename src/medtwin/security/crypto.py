"""Cryptographic primitives of medtwin: keyed pseudonyms, blind indexes, AES-256-GCM field sealing.

* :func:`pseudonym` - ``HMAC-SHA256(k_purpose, value)`` truncated to 128 bits (32 hex digits), with
  ``k_purpose = HKDF-SHA256(root, info="medtwin/pseudonym/1|" + purpose)``. Deterministic for one
  purpose, unlinkable across purposes, and not reversible by enumerating MRNs without the secret
  (an unkeyed SHA-256 of a 10^8 MRN space falls in minutes).
* :func:`blind_index` - the same construction under a separate derived key, for searching
  encrypted identifiers by equality (``GET /api/twins?mrn=...``).
* :func:`seal` / :func:`unseal` - AES-256-GCM of one text field under a data key (DEK), with
  associated data binding the ciphertext to its twin and column. Token format::

      enc1:<dek id>:<base64url(12-byte nonce || ciphertext || 16-byte tag)>

  ``enc1`` is the format version; the DEK id names the data key (its row in ``data_keys`` says
  which KEK wraps it). Data keys are registered here once unwrapped (see
  :mod:`medtwin.security.codec`), so any reader in the process can unseal.

The root secret is the keyring's ``hmac_secret`` (:mod:`medtwin.security.keys`), which survives KEK
rotation, so pseudonyms and blind indexes stay stable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from medtwin.security import keys

PREFIX = "enc1:"
NONCE_BYTES = 12
PSEUDONYM_HEX = 32  # 128 bits

__all__ = ["PREFIX", "InvalidTag", "blind_index", "derive", "is_sealed", "pseudonym", "seal", "unseal"]


@lru_cache(maxsize=256)
def _derive(root: bytes, info: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"medtwin-hkdf-v1", info=info.encode()).derive(
        root
    )


def derive(info: str, root: bytes | None = None) -> bytes:
    """A 32-byte key for ``info`` derived (HKDF-SHA256) from the keyring's root secret."""
    return _derive(root if root is not None else keys.current().hmac_secret, info)


def pseudonym(purpose: str, value: str, *, root: bytes | None = None) -> str:
    """Keyed pseudonym of ``value`` for ``purpose`` (e.g. ``"export:study-42"``, ``"display"``).

    32 lower-case hex digits (128 bits). Same (purpose, value, secret) -> same pseudonym; another
    purpose gives an unrelated one."""
    if not purpose:
        raise ValueError("pseudonym purpose must not be empty")
    k = derive("medtwin/pseudonym/1|" + purpose, root)
    return hmac.new(k, value.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def normalise_identifier(value: str) -> str:
    return "".join(str(value).split()).upper()


def blind_index(kind: str, value: str, *, root: bytes | None = None) -> str:
    """Equality-search token for an identifier (MRN...): HMAC under a key derived for ``kind``."""
    k = derive("medtwin/blind-index/1|" + kind, root)
    return hmac.new(k, normalise_identifier(value).encode("utf-8"), hashlib.sha256).hexdigest()[
        :PSEUDONYM_HEX
    ]


# ----------------------------------------------------------------------------------- field sealing
_deks: dict[str, AESGCM] = {}
_deks_lock = threading.Lock()


def register_dek(dek_id: str, key: bytes) -> None:
    with _deks_lock:
        if dek_id not in _deks:
            _deks[dek_id] = AESGCM(key)


def known_dek(dek_id: str) -> bool:
    return dek_id in _deks


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def seal(dek_id: str, plaintext: str, aad: str) -> str:
    """Encrypt under the registered data key ``dek_id``. Callers count uses (see codec)."""
    aes = _deks[dek_id]
    nonce = os.urandom(NONCE_BYTES)
    ct = aes.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
    return f"{PREFIX}{dek_id}:{_b64e(nonce + ct)}"


class SealError(Exception):
    """A sealed field could not be opened (unknown data key, malformed token)."""


def unseal(token: str, aad: str) -> str:
    """Decrypt a token from :func:`seal`. A token moved to another twin or column raises
    :class:`cryptography.exceptions.InvalidTag`; plaintext (not sealed) is returned as is."""
    if not token.startswith(PREFIX):
        return token
    try:
        dek_id, body = token[len(PREFIX) :].split(":", 1)
        raw = _b64d(body)
    except (ValueError, TypeError):
        raise SealError("malformed sealed field") from None
    aes = _deks.get(dek_id)
    if aes is None:
        raise SealError(f"data key {dek_id} is not loaded (is this the right keyring?)")
    return aes.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8")).decode("utf-8")


def aad_for(table: str, column: str, twin_id: str) -> str:
    """Associated data: the format, the column and the twin (patient) the value belongs to."""
    return f"medtwin/1|{table}.{column}|{twin_id}"
