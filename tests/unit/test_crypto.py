"""Keyed pseudonyms, blind indexes, the keyring and AES-256-GCM field sealing."""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path

import pytest

from medtwin.security import crypto, keys
from medtwin.security.crypto import InvalidTag, blind_index, pseudonym


def test_pseudonym_is_keyed_deterministic_128_bits() -> None:
    root = secrets.token_bytes(32)
    p = pseudonym("export:study-1", "MRN-0042", root=root)
    assert p == pseudonym("export:study-1", "MRN-0042", root=root)
    assert len(p) == 32 and int(p, 16) >= 0  # 128 bits, hex
    assert p != pseudonym("export:study-2", "MRN-0042", root=root)
    assert p != pseudonym("export:study-1", "MRN-0042", root=secrets.token_bytes(32))
    # not an unkeyed hash of the value (those are reversible by enumerating MRNs)
    assert p not in hashlib.sha256(b"MRN-0042").hexdigest()
    with pytest.raises(ValueError):
        pseudonym("", "x", root=root)


def test_pseudonyms_of_two_purposes_do_not_link_or_collide() -> None:
    root = secrets.token_bytes(32)
    n = 100_000
    a = {pseudonym("study-a", f"P{i:07d}", root=root) for i in range(n)}
    b = {pseudonym("study-b", f"P{i:07d}", root=root) for i in range(n)}
    assert len(a) == n and len(b) == n  # no collisions within a purpose
    assert not a & b  # nothing shared between purposes


def test_default_pseudonym_uses_the_keyring_secret() -> None:
    ring = keys.current()
    assert pseudonym("display", "P001") == pseudonym("display", "P001", root=ring.hmac_secret)


def test_blind_index_normalises_and_differs_from_pseudonym() -> None:
    root = secrets.token_bytes(32)
    assert blind_index("identifier", " demo 100001 ", root=root) == blind_index(
        "identifier", "DEMO100001", root=root
    )
    assert blind_index("identifier", "DEMO100001", root=root) != pseudonym(
        "identifier", "DEMO100001", root=root
    )


def test_seal_binds_twin_and_column() -> None:
    dek = "dtest" + secrets.token_hex(4)
    crypto.register_dek(dek, secrets.token_bytes(32))
    a = crypto.aad_for("twins", "name", "P001")
    tok = crypto.seal(dek, "Alba Arnell", a)
    assert tok.startswith(f"enc1:{dek}:") and "Alba" not in tok
    assert crypto.unseal(tok, a) == "Alba Arnell"
    with pytest.raises(InvalidTag):
        crypto.unseal(tok, crypto.aad_for("twins", "name", "P002"))
    with pytest.raises(InvalidTag):
        crypto.unseal(tok, crypto.aad_for("twins", "identity", "P001"))
    assert crypto.seal(dek, "x", a) != crypto.seal(dek, "x", a)  # fresh nonce each time


def test_key_file_generated_0600_and_refused_when_world_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys" / "keyring.json"
    monkeypatch.setenv("MEDTWIN_KEK_FILE", str(path))
    monkeypatch.delenv("MEDTWIN_KEK", raising=False)
    ring = keys.load()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert keys.load().active.key == ring.active.key  # second start reads the same keys
    os.chmod(path, 0o644)
    with pytest.raises(keys.KeyringError, match="chmod 600"):
        keys.load()


def test_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    k1, k2, h = (base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(3))
    monkeypatch.setenv("MEDTWIN_KEK", f"new:{k1},old:{k2}")
    monkeypatch.delenv("MEDTWIN_HMAC_KEY", raising=False)
    with pytest.raises(keys.KeyringError, match="MEDTWIN_HMAC_KEY"):
        keys.load()
    monkeypatch.setenv("MEDTWIN_HMAC_KEY", h)
    ring = keys.load()
    assert ring.active.id == "new" and ring.get("old") is not None and ring.path is None
    monkeypatch.setenv("MEDTWIN_KEK", "not base64!")
    with pytest.raises(keys.KeyringError, match="base64") as exc:
        keys.load()
    assert k1 not in str(exc.value)
