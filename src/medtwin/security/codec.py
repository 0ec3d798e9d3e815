"""The store's field codec: envelope encryption of personal fields with counted, rotated data keys.

Envelope: each data key (DEK, 32 random bytes, AES-256-GCM) is stored in ``data_keys`` wrapped by
the keyring's active key-encryption key (KEK): ``AES-256-GCM(KEK, nonce, DEK, aad="medtwin/dek/1|<id>")``.
Fields are sealed by :func:`medtwin.security.crypto.seal` with the twin id and column as associated
data.

Counting (NIST SP 800-38D §8.3: at most 2**32 random-nonce encryptions per key): a codec reserves
a window of uses (``BLOCK``) on the active DEK with one atomic ``UPDATE ... reserved = reserved + n``
before it encrypts; several processes or stores get disjoint windows, so ``reserved`` bounds the
encryptions made under the key. A DEK whose reservations would pass ``MAX_USES`` (2**31, half the
limit) is retired and a new one created. Reservations happen outside write transactions: the store
calls :meth:`FieldCodec.reserve` before it opens one.

KEK rotation (:func:`rewrap`) only re-wraps DEK rows: running processes keep their unwrapped DEKs in
memory and go on working; a process creating a DEK re-reads the key file first, so it wraps under the
newest KEK.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from medtwin.security import crypto, keys

if TYPE_CHECKING:
    from medtwin.store.sql import SqlStore

BLOCK = 1 << 20
MAX_USES = 1 << 31


def _wrap(kek: keys.Kek, dek_id: str, dek: bytes) -> str:
    nonce = os.urandom(12)
    ct = AESGCM(kek.key).encrypt(nonce, dek, f"medtwin/dek/1|{dek_id}".encode())
    return base64.b64encode(nonce + ct).decode("ascii")


def _unwrap(kek: keys.Kek, dek_id: str, wrapped: str) -> bytes:
    raw = base64.b64decode(wrapped)
    try:
        return AESGCM(kek.key).decrypt(raw[:12], raw[12:], f"medtwin/dek/1|{dek_id}".encode())
    except InvalidTag:
        raise keys.KeyringError(f"data key {dek_id} does not open with KEK {kek.id} (wrong key?)") from None


@dataclass(frozen=True)
class DataKeyInfo:
    id: str
    kek_id: str
    created_us: int
    reserved: int
    retired_us: int | None
    rewrapped_us: int | None


class FieldCodec:
    """Seals and opens personal fields for one :class:`SqlStore` (``store.codec``)."""

    def __init__(
        self, keyring: keys.Keyring | None = None, *, data_dir: Path | None = None, max_uses: int = MAX_USES,
        block: int = BLOCK,
    ) -> None:  # fmt: skip
        self._ring = keyring
        self._data_dir = data_dir
        self.max_uses = max_uses
        self.block = min(block, max_uses)
        self._lock = threading.RLock()
        self._store: SqlStore | None = None
        self.active: str | None = None
        self._next = 0  # next use number in our window of the active key
        self._limit = 0  # end of our window

    # ---------------------------------------------------------------- keys
    @property
    def keyring(self) -> keys.Keyring:
        return self._ring if self._ring is not None else keys.current(self._data_dir)

    def attach(self, store: SqlStore) -> None:
        self._store = store
        self.load_data_keys()

    def load_data_keys(self) -> int:
        """Unwrap every data key of the store not yet in memory; returns how many were loaded."""
        assert self._store is not None
        try:
            with self._store.engine.connect() as c:
                rows = c.execute(text("SELECT id, kek_id, wrapped FROM data_keys")).all()
        except Exception:  # no data_keys table yet (store opened without migrating)
            return 0
        n = 0
        ring = None
        for dek_id, kek_id, wrapped in rows:
            if crypto.known_dek(dek_id):
                continue
            ring = ring or self.keyring
            kek = ring.get(kek_id)
            if kek is None:
                raise keys.KeyringError(
                    f"data key {dek_id} is wrapped under KEK {kek_id}, which is not in the keyring "
                    f"({ring.path or 'MEDTWIN_KEK'}; it has {', '.join(ring.ids())})"
                )
            crypto.register_dek(dek_id, _unwrap(kek, dek_id, wrapped))
            n += 1
        return n

    def reserve(self, n: int) -> None:
        """Make sure the next ``n`` seals need no database write. Call outside write transactions."""
        if n <= 0:
            return
        with self._lock:
            if self.active is not None and self._next + n <= self._limit:
                return
            self._reserve(n)

    def _reserve(self, n: int) -> None:
        store = self._store
        assert store is not None, "codec not attached to a store"
        want = max(self.block, n)
        if want > self.max_uses:
            raise keys.KeyringError(f"cannot reserve {n} encryptions under one data key")
        now = store._now_us()
        with store.transaction() as c:
            row = c.execute(
                text(
                    "SELECT id, reserved FROM data_keys WHERE retired_us IS NULL ORDER BY created_us DESC, id LIMIT 1"
                )
            ).first()
            got = None
            if row is not None:
                got = c.execute(
                    text(
                        "UPDATE data_keys SET reserved = reserved + :n WHERE id = :id AND retired_us IS NULL "
                        "AND reserved + :n <= :max RETURNING reserved"
                    ),
                    {"n": want, "id": row[0], "max": self.max_uses},
                ).scalar()
                if got is None:  # this key is used up: retire it
                    c.execute(
                        text("UPDATE data_keys SET retired_us = :t WHERE id = :id"), {"t": now, "id": row[0]}
                    )
            if got is not None:
                dek_id, end = row[0], int(got)  # type: ignore[index]
            else:
                dek_id, end = self._create(c, now, want), want
        if not crypto.known_dek(dek_id):
            self.load_data_keys()
        self.active, self._next, self._limit = dek_id, end - want, end

    def _create(self, c: Any, now: int, reserved: int) -> str:
        keys._cache.clear()  # re-read the key file: wrap under the newest KEK
        kek = self.keyring.active
        dek_id = "d" + secrets.token_hex(8)
        dek = secrets.token_bytes(32)
        c.execute(
            text(
                "INSERT INTO data_keys (id, kek_id, wrapped, created_us, reserved) VALUES (:i, :k, :w, :t, :r)"
            ),
            {"i": dek_id, "k": kek.id, "w": _wrap(kek, dek_id, dek), "t": now, "r": reserved},
        )
        crypto.register_dek(dek_id, dek)
        return dek_id

    # ---------------------------------------------------------------- fields
    def seal(self, plaintext: str, table: str, column: str, twin_id: str) -> str:
        with self._lock:
            if self.active is None or self._next >= self._limit:
                self._reserve(1)  # normally done by reserve() before the write transaction
            self._next += 1
            dek = self.active
        assert dek is not None
        return crypto.seal(dek, plaintext, crypto.aad_for(table, column, twin_id))

    def seal_opt(self, value: str | None, table: str, column: str, twin_id: str) -> str | None:
        """Seal a non-empty string; None and '' stay as they are."""
        if not value or crypto.is_sealed(value):
            return value
        return self.seal(value, table, column, twin_id)

    @property
    def remaining(self) -> int:
        return self._limit - self._next if self.active else 0


def unseal_opt(value: str | None, table: str, column: str, twin_id: str) -> str | None:
    if value is None or not value.startswith(crypto.PREFIX):
        return value
    return crypto.unseal(value, crypto.aad_for(table, column, twin_id))


# ------------------------------------------------------------------------------------- key admin
def data_keys(store: SqlStore) -> list[DataKeyInfo]:
    with store.engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT id, kek_id, created_us, reserved, retired_us, rewrapped_us FROM data_keys "
                "ORDER BY created_us, id"
            )
        ).all()
    return [DataKeyInfo(r[0], r[1], int(r[2]), int(r[3]), r[4], r[5]) for r in rows]


def rewrap(store: SqlStore, ring: keys.Keyring, *, batch: int = 100) -> int:
    """Re-wrap every data key not under the active KEK; returns how many. Online: each batch is a
    short transaction, readers and writers go on meanwhile, and a crash leaves each row wrapped
    under either KEK (both are in the keyring until pruned)."""
    active = ring.active
    done = 0
    while True:
        with store.engine.connect() as c:
            rows = c.execute(
                text("SELECT id, kek_id, wrapped FROM data_keys WHERE kek_id <> :k ORDER BY id LIMIT :n"),
                {"k": active.id, "n": batch},
            ).all()
        if not rows:
            return done
        updates = []
        for dek_id, kek_id, wrapped in rows:
            old = ring.get(kek_id)
            if old is None:
                raise keys.KeyringError(
                    f"data key {dek_id} is wrapped under KEK {kek_id}, not in the keyring"
                )
            dek = _unwrap(old, dek_id, wrapped)
            updates.append({"i": dek_id, "o": kek_id, "k": active.id, "w": _wrap(active, dek_id, dek)})
        now = store._now_us()
        with store.transaction() as c:
            for u in updates:
                c.execute(
                    text(
                        "UPDATE data_keys SET kek_id = :k, wrapped = :w, rewrapped_us = :t WHERE id = :i AND kek_id = :o"
                    ),
                    {**u, "t": now},
                )
        done += len(updates)


def kek_ids_in_use(store: SqlStore) -> set[str]:
    with store.engine.connect() as c:
        return {r[0] for r in c.execute(text("SELECT DISTINCT kek_id FROM data_keys"))}
