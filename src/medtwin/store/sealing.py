"""Which stored fields are personal, and how the store seals, opens and indexes them.

Sealed at rest (AES-256-GCM, :mod:`medtwin.security.codec`), associated data = column + twin id:

=============================  ===========================================================
``twins.name``                 every twin (patients, staff, homes...): a display name
``twins.identity``             the JSON of personal identifiers (name, MRN, birth date,
                               address, telecom, identifiers...), sealed as one value
``observations.value_text``    free-text codes (``medtwin|note``: nursing notes); the copy in
``latest.value_text``          ``latest`` is sealed the same way
``observations.meta.reason``   a correction's free-text reason (also in
``observation_corrections.reason``)
``medications.performer``      who gave the dose (may be a name) and the free-text note
``medications.note``
``ingest_rejects.payload``     the raw refused message (an HL7 PID segment holds names)
=============================  ===========================================================

Identifiers (the ``mrn`` key and every ``identifiers[].value``) also go to ``twin_identifiers`` as
keyed blind indexes (:func:`medtwin.security.crypto.blind_index`) for equality search.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from medtwin.core.codes import ValueKind, all_codes
from medtwin.core.model import Twin, TwinKind
from medtwin.security import crypto
from medtwin.security.codec import unseal_opt

if TYPE_CHECKING:
    from medtwin.security.codec import FieldCodec
    from medtwin.store.sql import SqlStore

log = logging.getLogger(__name__)

SEALED_CODES = frozenset(c.ref for c in all_codes() if c.kind is ValueKind.TEXT)
IDENTIFIER_KIND = "identifier"
BATCH = 500


def identifier_values(identity: dict[str, Any]) -> list[str]:
    """The identifier values of an identity (``mrn``, ``identifiers[].value``), de-duplicated."""
    out: list[str] = []
    mrn = identity.get("mrn")
    if isinstance(mrn, str | int) and str(mrn).strip():
        out.append(str(mrn))
    for it in identity.get("identifiers") or []:
        if isinstance(it, dict) and isinstance(it.get("value"), str | int) and str(it["value"]).strip():
            out.append(str(it["value"]))
    seen: set[str] = set()
    return [
        v
        for v in out
        if not (crypto.normalise_identifier(v) in seen or seen.add(crypto.normalise_identifier(v)))
    ]


def blind_indexes(identity: dict[str, Any]) -> list[str]:
    return sorted({crypto.blind_index(IDENTIFIER_KIND, v) for v in identifier_values(identity)})


def seal_twin(codec: FieldCodec, twin: Twin) -> tuple[str, str]:
    """(name, identity JSON) as stored."""
    ident = json.dumps(twin.identity) if twin.identity else "{}"
    name = codec.seal_opt(twin.name, "twins", "name", twin.id) or ""
    if ident != "{}":
        ident = codec.seal(ident, "twins", "identity", twin.id)
    return name, ident


def open_twin(r: Any) -> Twin:
    name = unseal_opt(r[2], "twins", "name", r[0]) or ""
    ident = unseal_opt(r[4], "twins", "identity", r[0]) or "{}"
    return Twin(
        id=r[0],
        kind=TwinKind(r[1]),
        name=name,
        attributes=json.loads(r[3]),
        identity=json.loads(ident),
        active=bool(r[5]),
    )


def write_blind_indexes(c: Any, twin_id: str, identity: dict[str, Any]) -> None:
    c.execute(text("DELETE FROM twin_identifiers WHERE twin_id = :t"), {"t": twin_id})
    rows = [{"b": b, "t": twin_id, "k": IDENTIFIER_KIND} for b in blind_indexes(identity)]
    if rows:
        c.execute(text("INSERT INTO twin_identifiers (bidx, twin_id, kind) VALUES (:b, :t, :k)"), rows)


def open_meta(twin_id: str, meta: dict[str, Any] | None) -> dict[str, Any] | None:
    if meta and crypto.is_sealed(meta.get("reason")):
        meta = {**meta, "reason": unseal_opt(meta["reason"], "observation_corrections", "reason", twin_id)}
    return meta


# ------------------------------------------------------------------------ rows written before v6
def _pending(store: SqlStore) -> bool:
    with store.engine.connect() as c:
        v = c.execute(text("SELECT value FROM crypto_state WHERE name = 'plaintext_migration'")).scalar()
    return v == "pending"


def encrypt_existing(store: SqlStore) -> int:
    """Seal every personal field still in plaintext (a database from before encryption at rest),
    in batches; then mark the migration done and, on SQLite, VACUUM so no plaintext stays in free
    pages or the WAL. Idempotent (sealed values are skipped); returns how many values it sealed."""
    if not _pending(store):
        return 0
    codec = store.codec
    n = 0
    n += _migrate_twins(store, codec)
    n += _migrate_column(store, codec, "observations", "value_text", "id", "twin_id", codes=True)
    n += _migrate_column(store, codec, "latest", "value_text", "obs_id", "twin_id", codes=True)
    n += _migrate_column(store, codec, "medications", "performer", "id", "twin_id")
    n += _migrate_column(store, codec, "medications", "note", "id", "twin_id")
    n += _migrate_column(store, codec, "ingest_rejects", "payload", "id", "source")
    n += _migrate_corrections(store, codec)
    with store.transaction() as c:
        c.execute(text("UPDATE crypto_state SET value = 'done' WHERE name = 'plaintext_migration'"))
    if n and store.dialect == "sqlite":
        with store.engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = store.engine.raw_connection()
        try:
            raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
    if n:
        log.info("encryption at rest: sealed %d values written before it was enabled", n)
    return n


def _migrate_twins(store: SqlStore, codec: FieldCodec) -> int:
    with store.engine.connect() as c:
        rows = c.execute(text("SELECT id, kind, name, attributes, identity, active FROM twins")).all()
    n = 0
    for i in range(0, len(rows), BATCH):
        chunk = rows[i : i + BATCH]
        codec.reserve(2 * len(chunk))
        with store.transaction() as c:
            for r in chunk:
                if crypto.is_sealed(r[2]) and (r[4] in ("{}", "") or crypto.is_sealed(r[4])):
                    continue
                twin = open_twin(r)
                name, ident = seal_twin(codec, twin)
                c.execute(
                    text("UPDATE twins SET name = :n, identity = :i WHERE id = :id"),
                    {"n": name, "i": ident, "id": twin.id},
                )
                write_blind_indexes(c, twin.id, twin.identity)
                n += 1
    return n


def _migrate_column(
    store: SqlStore,
    codec: FieldCodec,
    table: str,
    column: str,
    key: str,
    twin_col: str,
    *,
    codes: bool = False,
) -> int:
    where = f"{column} IS NOT NULL AND {column} <> '' AND {column} NOT LIKE 'enc1:%'"
    params: dict[str, Any] = {}
    if codes:
        where += " AND code IN (" + ", ".join(f":c{i}" for i in range(len(SEALED_CODES))) + ")"
        params = {f"c{i}": c for i, c in enumerate(sorted(SEALED_CODES))}
    aad_table, aad_col = ("observations", "value_text") if table == "latest" else (table, column)
    n = 0
    while True:
        with store.engine.connect() as c:
            rows = c.execute(
                text(f"SELECT {key}, {twin_col}, {column} FROM {table} WHERE {where} LIMIT {BATCH}"), params
            ).all()
        if not rows:
            return n
        codec.reserve(len(rows))
        with store.transaction() as c:
            for k, twin, value in rows:
                sealed = codec.seal(value, aad_table, aad_col, twin or "")
                c.execute(text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"), {"v": sealed, "k": k})
        n += len(rows)


def _migrate_corrections(store: SqlStore, codec: FieldCodec) -> int:
    with store.engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT id, obs_id, reason FROM observation_corrections WHERE reason <> '' AND reason NOT LIKE 'enc1:%'"
            )
        ).all()
        metas = c.execute(
            text("SELECT id, twin_id, meta FROM observations WHERE meta LIKE '%\"reason\"%'")
        ).all()
    codec.reserve(len(rows) + len(metas))
    n = 0
    with store.transaction() as c:
        for cid, obs_id, reason in rows:
            sealed = codec.seal(reason, "observation_corrections", "reason", f"obs/{obs_id}")
            c.execute(
                text("UPDATE observation_corrections SET reason = :r WHERE id = :i"), {"r": sealed, "i": cid}
            )
            n += 1
        for oid, twin, meta in metas:
            m = json.loads(meta)
            if isinstance(m.get("reason"), str) and m["reason"] and not crypto.is_sealed(m["reason"]):
                m["reason"] = codec.seal(m["reason"], "observation_corrections", "reason", twin)
                c.execute(
                    text("UPDATE observations SET meta = :m WHERE id = :i"), {"m": json.dumps(m), "i": oid}
                )
                n += 1
    return n
