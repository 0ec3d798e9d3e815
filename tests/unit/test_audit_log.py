"""The tamper-evident audit log: appends, signed tree heads, proofs, and 1,000 random mutations
of the stored log, every one caught by ``medtwin audit verify``."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from medtwin.cli.security_cmd import security_commands
from medtwin.security import merkle
from medtwin.security.audit import audit, canonical, new_event, set_default_log
from medtwin.security.audit_fhir import to_fhir
from medtwin.security.audit_log import AuditLog
from medtwin.security.audit_sth import Signer, read_sth_file
from medtwin.security.audit_verify import verify

N_EVENTS = 150
STH_EVERY = 40


def _event(i: int) -> dict:
    return new_event(
        random.Random(i).choice(["rest", "login", "access-denied", "export"]),
        action="R",
        outcome=4 if i % 7 == 0 else 0,
        status=403 if i % 7 == 0 else 200,
        subject=f"user-{i % 5}",
        role="nurse",
        ip="10.0.0.7",
        patients=[f"P{i % 9:03d}"],
        method="GET",
        route="/api/twins/{twin_id}",
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("audit")
    log = AuditLog(str(d / "audit.db"), sth_every=STH_EVERY, sth_seconds=3600, sth_file=d / "audit.sth.jsonl")
    for i in range(0, N_EVENTS, 30):
        futs = [log.append(_event(j)) for j in range(i, min(i + 30, N_EVENTS))]
        assert [f.result(10) for f in futs] == list(range(i, min(i + 30, N_EVENTS)))
    log.close()  # signs a final tree head
    return d


def _cli() -> typer.Typer:
    app = typer.Typer()
    security_commands(app)
    app.command("noop")(lambda: None)
    return app


_CLI = _cli()


def _verify_cli(db: Path, sth: Path) -> tuple[int, str]:
    pub = Signer.load().public_b64
    res = CliRunner().invoke(
        _CLI, ["audit", "verify", "--audit-db", str(db), "--sth", str(sth), "--public-key", pub, "--json"]
    )
    return res.exit_code, res.output


def test_log_signs_heads_and_proves(pristine: Path) -> None:
    rep = verify(
        str(pristine / "audit.db"), public_key=Signer.load().public, sth_file=pristine / "audit.sth.jsonl"
    )
    assert rep.ok, rep.problems
    assert rep.size == N_EVENTS and rep.last_signed == N_EVENTS
    # a head is signed with the (group-commit) batch that brings 40 or more new events, and at close
    sizes = [h.tree_size for h in read_sth_file(pristine / "audit.sth.jsonl")]
    assert sizes[-1] == N_EVENTS and all(
        b - a >= STH_EVERY for a, b in zip([0, *sizes[:-2]], sizes[:-1], strict=True)
    )
    assert len(sizes) >= 3
    log = AuditLog(str(pristine / "audit.db"))
    try:
        heads = log.sths()
        exported = read_sth_file(pristine / "audit.sth.jsonl")
        assert [h.as_dict() for h in heads] == [h.as_dict() for h in exported]
        assert all(h.verify(Signer.load().public) for h in heads)
        last = heads[-1]
        for i in (0, 1, 39, 40, 117, N_EVENTS - 1):
            p = log.inclusion(i, last.tree_size)
            assert p["root_hash"] == last.root_hash
            assert merkle.verify_inclusion(
                bytes.fromhex(p["leaf_hash"]), i, last.tree_size, [bytes.fromhex(x) for x in p["audit_path"]],
                bytes.fromhex(last.root_hash),
            )  # fmt: skip
        for a, b in itertools.pairwise(heads):
            c = log.consistency(a.tree_size, b.tree_size)
            assert merkle.verify_consistency(
                a.tree_size, b.tree_size, bytes.fromhex(a.root_hash), bytes.fromhex(b.root_hash),
                [bytes.fromhex(x) for x in c["consistency_path"]],
            )  # fmt: skip
        # the leaf is the hash of the canonical event
        (idx, ev), *_ = log.events(after=4, limit=1)
        assert log.inclusion(idx, 10)["leaf_hash"] == merkle.leaf_hash(canonical(ev)).hex()
    finally:
        log.close()


def test_reopening_continues_the_tree(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "a.db"), sth_every=3)
    for i in range(7):
        log.append_sync(_event(i))
    log.close()
    log = AuditLog(str(tmp_path / "a.db"), sth_every=3)  # frontier reloaded from the stored nodes
    for i in range(7, 12):
        log.append_sync(_event(i))
    log.close()
    assert verify(str(tmp_path / "a.db"), public_key=Signer.load().public).ok


def test_triggers_refuse_updates(pristine: Path, tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    shutil.copy(pristine / "audit.db", db)
    with contextlib.closing(sqlite3.connect(db)) as c:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            c.execute("UPDATE audit_entries SET outcome = 0")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            c.execute("DELETE FROM audit_sth")


COLUMNS = ("t_us", "type", "subject", "role", "patient", "outcome", "event", "leaf")


def _mutate(c: sqlite3.Connection, rnd: random.Random, n: int, sth_sizes: list[int]) -> str:
    """One random single mutation of the stored log, as an attacker with file access would do it."""
    kind = rnd.choice(["edit", "edit", "edit", "delete", "swap", "truncate", "node", "sth"])
    if kind == "edit":
        i, col = rnd.randrange(n), rnd.choice(COLUMNS)
        old = c.execute(f"SELECT {col} FROM audit_entries WHERE idx = ?", (i,)).fetchone()[0]
        if col == "event":
            ev = json.loads(old)
            field = rnd.choice(["subject", "outcome", "patients", "time", "type", "ip", "break_glass"])
            ev[field] = {"subject": "intruder", "outcome": 12 - ev["outcome"], "patients": ["P999"],
                         "time": "2020-01-01T00:00:00.000Z", "type": "system", "ip": "6.6.6.6",
                         "break_glass": not ev["break_glass"]}[field]  # fmt: skip
            new = canonical(ev).decode() if rnd.random() < 0.8 else json.dumps(ev)
        elif col in ("t_us", "outcome"):
            new = old + 1
        elif col == "leaf":
            new = merkle.leaf_hash(b"forged").hex()
        else:
            new = (old or "") + "x"
        c.execute(f"UPDATE audit_entries SET {col} = ? WHERE idx = ?", (new, i))
        return f"edit {col} of {i}"
    if kind == "delete":
        i = rnd.randrange(n)
        c.execute("DELETE FROM audit_entries WHERE idx = ?", (i,))
        return f"delete {i}"
    if kind == "swap":
        i, j = sorted(rnd.sample(range(n), 2))
        ri = c.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_entries WHERE idx = ?", (i,)).fetchone()
        rj = c.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_entries WHERE idx = ?", (j,)).fetchone()
        sets = ", ".join(f"{col} = ?" for col in COLUMNS)
        c.execute(f"UPDATE audit_entries SET {sets} WHERE idx = ?", (*rj, i))
        c.execute(f"UPDATE audit_entries SET {sets} WHERE idx = ?", (*ri, j))
        return f"swap {i} {j}"
    if kind == "truncate":
        k = rnd.randrange(n)
        c.execute("DELETE FROM audit_entries WHERE idx >= ?", (k,))
        if rnd.random() < 0.5:  # a careful attacker also removes the nodes and tree heads beyond
            c.execute("DELETE FROM audit_nodes WHERE ((idx + 1) << level) > ?", (k,))
            c.execute("DELETE FROM audit_sth WHERE tree_size > ?", (k,))
        return f"truncate at {k}"
    if kind == "node":
        ((level, idx),) = c.execute("SELECT level, idx FROM audit_nodes ORDER BY random() LIMIT 1").fetchall()
        c.execute("UPDATE audit_nodes SET hash = ? WHERE level = ? AND idx = ?", ("00" * 32, level, idx))
        return f"node {level},{idx}"
    size = rnd.choice(sth_sizes)
    what = rnd.choice(["root", "signature", "delete", "size"])
    if what == "delete":
        c.execute("DELETE FROM audit_sth WHERE tree_size = ?", (size,))
    elif what == "size":
        c.execute("UPDATE audit_sth SET tree_size = tree_size - 1 WHERE tree_size = ?", (size,))
    elif what == "root":
        c.execute("UPDATE audit_sth SET root = ? WHERE tree_size = ?", ("11" * 32, size))
    else:
        c.execute("UPDATE audit_sth SET signature = ? WHERE tree_size = ?", ("AAAA" + "A" * 84, size))
    return f"sth {what} {size}"


def test_1000_random_mutations_all_detected(pristine: Path, tmp_path: Path) -> None:
    code, out = _verify_cli(pristine / "audit.db", pristine / "audit.sth.jsonl")
    assert code == 0, out
    sth_sizes = [h.tree_size for h in read_sth_file(pristine / "audit.sth.jsonl")]
    rnd = random.Random(20260)
    db = tmp_path / "audit.db"
    kinds: dict[str, int] = {}
    for trial in range(1000):
        shutil.copy(pristine / "audit.db", db)
        for suffix in ("-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        with contextlib.closing(sqlite3.connect(db)) as c, c:
            c.execute("PRAGMA synchronous=OFF")  # a test copy: no need to wait for the disk
            for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                c.execute(f"DROP TRIGGER {name}")  # an attacker with file access drops the guards first
            what = _mutate(c, rnd, N_EVENTS, sth_sizes)
        kinds[what.split()[0]] = kinds.get(what.split()[0], 0) + 1
        code, out = _verify_cli(db, pristine / "audit.sth.jsonl")
        assert code == 1, f"trial {trial}: mutation '{what}' not detected: {out}"
        rep = json.loads(out.splitlines()[0])
        assert rep["problems"], what
        if what.startswith(("edit", "delete", "swap")):
            first = int(what.split()[-1] if what.startswith(("edit", "delete")) else what.split()[1])
            assert rep["first_bad_entry"] == first, (what, rep)
    assert set(kinds) == {"edit", "delete", "swap", "truncate", "node", "sth"}


def test_audit_outside_a_request_goes_to_the_default_log(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "a.db"))
    set_default_log(log)
    try:
        audit(
            "login-failed", subject="u-1", ip="10.1.2.3", outcome=4, detail={"reason": "bad password", "n": 3}
        )
        log.flush()
        [(idx, ev)] = log.events()
        assert ev["type"] == "login-failed" and ev["subject"] == "u-1" and ev["outcome"] == 4
        assert ev["detail"] == {"n": 3}  # free text dropped
        fhir = to_fhir(idx, ev)
        assert fhir["type"]["code"] == "110114" and fhir["subtype"][0]["code"] == "110122"
    finally:
        set_default_log(None)
        log.close()


def test_fhir_auditevent_is_valid_r4(pristine: Path) -> None:
    from fhir.resources.R4B.auditevent import AuditEvent

    log = AuditLog(str(pristine / "audit.db"))
    try:
        for i, ev in log.events(limit=20):
            res = to_fhir(i, ev)
            AuditEvent.model_validate(res)
            assert res["action"] in "CRUDE" and res["outcome"] in ("0", "4", "8", "12")
            assert any(e["what"].get("reference", "").startswith("Patient/") for e in res["entity"])
    finally:
        log.close()
