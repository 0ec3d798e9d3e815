"""Signed tree heads (STH) of the audit log: Ed25519 signing key, STH format, JSON Lines export.

The signing key comes from ``MEDTWIN_AUDIT_KEY`` (base64 of the 32-byte Ed25519 private key), else
the key file ``MEDTWIN_AUDIT_KEY_FILE``, else ``<data_dir>/keys/audit-ed25519.key`` (generated on
first use, mode 0600). Its id is the first 16 hex digits of SHA-256 of the raw public key.

An STH signs these canonical bytes (sorted keys, no spaces)::

    {"log_id": "...", "root_hash": "<hex>", "timestamp": <ms since epoch>, "tree_size": <n>,
     "version": "medtwin-sth/1"}

A JSON Lines line of an exported STH adds ``key_id``, ``public_key`` (base64) and ``signature``
(base64). Keep the exported file (``medtwin audit export-sth``, or the ``.sth.jsonl`` file the log
appends to) outside the system: it is what makes truncation and rewriting detectable.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from medtwin.security.keys import KeyringError

VERSION = "medtwin-sth/1"


@dataclass(frozen=True)
class TreeHead:
    log_id: str
    tree_size: int
    root_hash: str  # hex
    timestamp: int  # ms since the epoch
    key_id: str
    public_key: str  # base64 raw Ed25519 public key
    signature: str  # base64

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.log_id, self.tree_size, self.root_hash, self.timestamp)

    def as_dict(self) -> dict[str, Any]:
        return {"version": VERSION, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TreeHead:
        return cls(
            str(d["log_id"]), int(d["tree_size"]), str(d["root_hash"]), int(d["timestamp"]),
            str(d["key_id"]), str(d["public_key"]), str(d["signature"]),
        )  # fmt: skip

    def verify(self, public_key: Ed25519PublicKey | None = None) -> bool:
        """Signature check, with the pinned key when given (else the key the STH names)."""
        try:
            key = public_key or Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
            if public_key is not None and key_id(public_key) != self.key_id:
                return False
            key.verify(base64.b64decode(self.signature), self.signed_bytes())
            return True
        except (InvalidSignature, ValueError):
            return False


def signed_bytes(log_id: str, size: int, root_hex: str, ts_ms: int) -> bytes:
    doc = {"log_id": log_id, "root_hash": root_hex, "timestamp": ts_ms, "tree_size": size, "version": VERSION}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(pub: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(pub)).hexdigest()[:16]


class Signer:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._key = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)
        self.public_b64 = base64.b64encode(raw_public(self.public)).decode()

    def sign(self, log_id: str, size: int, root: bytes, ts_ms: int) -> TreeHead:
        sig = self._key.sign(signed_bytes(log_id, size, root.hex(), ts_ms))
        return TreeHead(
            log_id, size, root.hex(), ts_ms, self.key_id, self.public_b64, base64.b64encode(sig).decode()
        )

    @classmethod
    def load(cls, data_dir: Path | None = None) -> Signer:
        env = os.environ.get("MEDTWIN_AUDIT_KEY")
        if env:
            try:
                return cls(Ed25519PrivateKey.from_private_bytes(base64.b64decode(env)))
            except ValueError:
                raise KeyringError(
                    "MEDTWIN_AUDIT_KEY must be base64 of a 32-byte Ed25519 private key"
                ) from None
        path = key_path(data_dir)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            raw = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(raw).decode() + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made one first
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise KeyringError(f"audit signing key {path} is readable by others: chmod 600 {path}")
        try:
            return cls(Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip())))
        except ValueError:
            raise KeyringError(f"audit signing key {path} is malformed") from None


def key_path(data_dir: Path | None = None) -> Path:
    env = os.environ.get("MEDTWIN_AUDIT_KEY_FILE")
    if env:
        return Path(env).expanduser()
    if data_dir is None:
        from medtwin.config import Settings

        data_dir = Settings.load().data_dir
    return Path(data_dir) / "keys" / "audit-ed25519.key"


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from base64 (raw 32 bytes) or PEM text."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def read_sth_file(path: Path) -> list[TreeHead]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(TreeHead.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}:{n}: not a signed tree head") from None
    return out
