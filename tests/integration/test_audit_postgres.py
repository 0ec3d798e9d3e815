"""The audit log on PostgreSQL: appends from two writers, signed heads, proofs, verify and tamper
detection (an attacker with database access drops the append-only trigger first)."""

from __future__ import annotations

import psycopg

from medtwin.security import merkle
from medtwin.security.audit import new_event
from medtwin.security.audit_log import AuditLog
from medtwin.security.audit_sth import Signer
from medtwin.security.audit_verify import verify


def _ev(i: int) -> dict:
    return new_event(
        "rest", action="R", status=200, subject=f"u{i % 3}", role="nurse", patients=[f"P{i % 5}"]
    )


def test_audit_log_on_postgresql(pg_url: str) -> None:
    a = AuditLog(pg_url, sth_every=10, sth_seconds=3600)
    b = AuditLog(pg_url, sth_every=10, sth_seconds=3600)  # a second process appending to the same log
    for i in range(40):
        (a if i % 2 else b).append_sync(_ev(i))
    a.close()
    b.close()
    rep = verify(pg_url, public_key=Signer.load().public)
    assert rep.ok, rep.problems
    assert rep.size == 40 and rep.last_signed == 40
    log = AuditLog(pg_url)
    try:
        sth = log.latest_sth()
        assert sth is not None and sth.tree_size == 40
        p = log.inclusion(17, 40)
        assert merkle.verify_inclusion(
            bytes.fromhex(p["leaf_hash"]), 17, 40, [bytes.fromhex(x) for x in p["audit_path"]],
            bytes.fromhex(sth.root_hash),
        )  # fmt: skip
        assert [e["patients"] for _i, e in log.events(patient="P3")] == [["P3"]] * 8
    finally:
        log.close()
    with psycopg.connect(pg_url, autocommit=True) as c:
        try:
            c.execute("UPDATE audit_entries SET subject = 'intruder' WHERE idx = 5")
            raise AssertionError("the append-only trigger let an update through")
        except psycopg.errors.RaiseException:
            pass
        c.execute("DROP TRIGGER audit_entries_append_only ON audit_entries")
        c.execute("UPDATE audit_entries SET subject = 'intruder' WHERE idx = 5")
    rep = verify(pg_url, public_key=Signer.load().public)
    assert not rep.ok and rep.first_bad == 5
