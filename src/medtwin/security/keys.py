"""The keyring: key-encryption keys (KEKs) and the HMAC root secret, from the environment or a key file.

Where the keys come from, first match wins:

1. ``MEDTWIN_KEK``: base64 of 32 random bytes, or ``ID:BASE64[,ID:BASE64...]`` (the first is the
   active KEK, the others are older KEKs kept for rotation). Needs ``MEDTWIN_HMAC_KEY`` too (base64
   of >= 32 random bytes): the secret behind blind indexes and pseudonyms, which must outlive KEK
   rotations. ``medtwin keys generate`` prints both.
2. ``MEDTWIN_KEK_FILE``: a key file (JSON, below).
3. ``<data_dir>/keys/keyring.json`` (data_dir from :class:`medtwin.config.Settings`), generated on
   first start with mode 0600 in a 0700 folder.

A key file readable by group or others is refused (as ssh does). Key file format::

    {"format": "medtwin-keyring/1", "hmac_secret": "<base64>",
     "keks": [{"id": "kek-...", "key": "<base64>", "created": "...Z", "status": "active"},
              {"id": "kek-...", "key": "<base64>", "created": "...Z", "status": "retired"}]}

Exactly one KEK is active: new data keys are wrapped under it. Retired KEKs stay until every data
key has been re-wrapped (``medtwin keys rotate``), then ``medtwin keys rotate --prune`` (or
``medtwin keys prune``) removes them. Keys never appear in logs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import stat
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medtwin.core.errors import MedtwinError

FORMAT = "medtwin-keyring/1"
KEY_BYTES = 32


class KeyringError(MedtwinError):
    """The keyring is missing, malformed, unsafe, or lacks a key that the data needs."""

    status = 500
    title = "Key management error"


@dataclass(frozen=True)
class Kek:
    id: str
    key: bytes = field(repr=False)
    created: str = ""
    status: str = "active"  # active | retired


@dataclass
class Keyring:
    keks: list[Kek]
    hmac_secret: bytes = field(repr=False)
    path: Path | None = None  # None: from the environment (read-only)
    source: str = "file"

    @property
    def active(self) -> Kek:
        for k in self.keks:
            if k.status == "active":
                return k
        raise KeyringError("the keyring has no active key-encryption key")

    def get(self, kek_id: str) -> Kek | None:
        return next((k for k in self.keks if k.id == kek_id), None)

    def ids(self) -> list[str]:
        return [k.id for k in self.keks]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str, min_len: int = KEY_BYTES) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{what} is not valid base64") from None
    if len(raw) < min_len:
        raise KeyringError(f"{what} must be at least {min_len} bytes (got {len(raw)})")
    return raw


def new_kek_id() -> str:
    return f"kek-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate() -> Keyring:
    """A fresh keyring (one active KEK, a new HMAC secret), not yet saved."""
    return Keyring(
        [Kek(new_kek_id(), secrets.token_bytes(KEY_BYTES), _now(), "active")],
        secrets.token_bytes(KEY_BYTES),
    )


# ------------------------------------------------------------------------------------- environment
def _from_env(kek_env: str, hmac_env: str | None) -> Keyring:
    keks = []
    for i, part in enumerate(p for p in kek_env.split(",") if p.strip()):
        if ":" in part:
            kid, b64 = part.split(":", 1)
            kid = kid.strip()
        else:
            kid, b64 = "", part
        key = _unb64(b64, "MEDTWIN_KEK")
        if len(key) != KEY_BYTES:
            raise KeyringError("MEDTWIN_KEK keys must be 32 bytes (AES-256)")
        if not kid:
            # A stable id for an unnamed key: a fingerprint (HMAC of a constant, not the key itself).
            import hashlib
            import hmac

            kid = "env-" + hmac.new(key, b"medtwin kek id", hashlib.sha256).hexdigest()[:12]
        keks.append(Kek(kid, key, "", "active" if i == 0 else "retired"))
    if not keks:
        raise KeyringError("MEDTWIN_KEK is empty")
    if not hmac_env:
        raise KeyringError(
            "MEDTWIN_KEK is set but MEDTWIN_HMAC_KEY is not: set both (base64 of 32 random bytes each; "
            "`medtwin keys generate` prints a pair)"
        )
    return Keyring(keks, _unb64(hmac_env, "MEDTWIN_HMAC_KEY"), None, "env")


# ------------------------------------------------------------------------------------- key file
def _check_mode(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyringError(f"key file {path} is readable by others (mode {mode:o}): chmod 600 {path}")


def read_file(path: Path) -> Keyring:
    _check_mode(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeyringError(f"cannot read key file {path}: {type(exc).__name__}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise KeyringError(f"key file {path} is not a {FORMAT} file")
    try:
        keks = [
            Kek(
                str(k["id"]),
                _unb64(k["key"], f"key {k['id']} in {path}"),
                str(k.get("created", "")),
                str(k.get("status", "retired")),
            )
            for k in doc["keks"]
        ]
        ring = Keyring(keks, _unb64(doc["hmac_secret"], f"hmac_secret in {path}"), path, "file")
    except (KeyError, TypeError):
        raise KeyringError(f"key file {path} is malformed") from None
    ring.active  # noqa: B018 - raises when there is none
    return ring


def _doc(ring: Keyring) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "hmac_secret": _b64(ring.hmac_secret),
        "keks": [
            {"id": k.id, "key": _b64(k.key), "created": k.created, "status": k.status} for k in ring.keks
        ],
    }


def write_file(ring: Keyring, path: Path, *, exclusive: bool = False) -> None:
    """Write atomically with mode 0600 (folder 0700). ``exclusive``: fail if the file exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_doc(ring), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)  # atomic, fails when another process created it first
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    ring.path = path


def default_path(data_dir: Path | None = None) -> Path:
    env = os.environ.get("MEDTWIN_KEK_FILE")
    if env:
        return Path(env).expanduser()
    if data_dir is None:
        from medtwin.config import Settings

        data_dir = Settings.load().data_dir
    return Path(data_dir) / "keys" / "keyring.json"


def load(data_dir: Path | None = None, *, create: bool = True) -> Keyring:
    """The keyring from the environment, else the key file (generated when missing and ``create``)."""
    kek_env = os.environ.get("MEDTWIN_KEK")
    if kek_env:
        return _from_env(kek_env, os.environ.get("MEDTWIN_HMAC_KEY"))
    path = default_path(data_dir)
    if not path.exists():
        if not create:
            raise KeyringError(f"no key file at {path} (and MEDTWIN_KEK is not set)")
        with contextlib.suppress(FileExistsError):  # another process generated it first: use theirs
            write_file(generate(), path, exclusive=True)
    return read_file(path)


_cache: dict[tuple[str, str, str], Keyring] = {}
_cache_lock = threading.Lock()


def current(data_dir: Path | None = None) -> Keyring:
    """The process's keyring (cached per source; a changed key file is re-read)."""
    kek_env = os.environ.get("MEDTWIN_KEK", "")
    if kek_env:
        key = ("env", kek_env, os.environ.get("MEDTWIN_HMAC_KEY", ""))
    else:
        p = default_path(data_dir)
        mtime = str(p.stat().st_mtime_ns) if p.exists() else ""
        key = ("file", str(p), mtime)
    with _cache_lock:
        ring = _cache.get(key)
        if ring is None:
            ring = load(data_dir)
            if not kek_env:  # the file may have just been created: key it by its real mtime
                p = default_path(data_dir)
                key = ("file", str(p), str(p.stat().st_mtime_ns))
            _cache[key] = ring
        return ring


def rotate_file(ring: Keyring) -> Kek:
    """Add a new active KEK to a file keyring (the old ones become retired) and save it."""
    if ring.path is None:
        raise KeyringError(
            "keys come from MEDTWIN_KEK: put the new key first in MEDTWIN_KEK (ID:BASE64,OLD_ID:OLD_BASE64), "
            "restart, then run `medtwin keys rotate` to re-wrap the data keys"
        )
    new = Kek(new_kek_id(), secrets.token_bytes(KEY_BYTES), _now(), "active")
    ring.keks = [Kek(k.id, k.key, k.created, "retired") for k in ring.keks] + [new]
    write_file(ring, ring.path)
    return new


def prune_file(ring: Keyring, in_use: set[str]) -> list[str]:
    """Remove retired KEKs that no data key uses any more; returns the ids removed."""
    if ring.path is None:
        raise KeyringError("keys come from MEDTWIN_KEK: remove the old key from the environment instead")
    gone = [k.id for k in ring.keks if k.status != "active" and k.id not in in_use]
    if gone:
        ring.keks = [k for k in ring.keks if k.id not in gone]
        write_file(ring, ring.path)
    return gone
