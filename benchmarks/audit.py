"""Audit log benchmark: append rate (events/s, signed tree head every N) and `medtwin audit verify`
time for 100,000 events, against pymerkle (the peer: an RFC 9162 Merkle tree library with its own
SQLite backend) measured in the same run.

    .venv/bin/python benchmarks/audit.py [--events 100000] [--sth-every 1000] [--peer-events 20000]

What is measured:

* medtwin append: 100,000 realistic audit events (one per API request: subject, role, IP, patient,
  route...) through ``AuditLog.append`` -> the writer thread's group commit (SQLite WAL,
  synchronous=FULL), leaf hashes, new perfect nodes and an Ed25519 signed tree head every
  ``--sth-every`` events; wall time from the first append to the last commit;
* medtwin append, one request at a time: each append waits for its commit (what a lone client
  of the API pays with ``durable_before_response``), on a shorter run;
* ``medtwin audit verify`` on the 100,000-event log, as a subprocess (CLI start-up included) and
  in-process (the check alone): every leaf, link, node, tree head and the exported heads;
* pymerkle ``SqliteTree.append_entries`` of the same canonical events (no signatures, no query
  columns) and pymerkle's root recomputation for the same size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MEDTWIN_AUDIT_KEY_FILE", str(Path(tempfile.mkdtemp()) / "audit.key"))

from medtwin.security.audit import canonical, new_event
from medtwin.security.audit_log import AuditLog
from medtwin.security.audit_sth import Signer
from medtwin.security.audit_verify import verify


def events(n: int) -> list[dict]:
    return [
        new_event(
            "rest",
            action="R",
            status=200,
            subject=f"nurse-{i % 40}",
            role="nurse",
            ip=f"10.0.{i % 7}.{i % 250}",
            patients=[f"P{i % 1000:04d}"],
            entity=f"Twin/P{i % 1000:04d}",
            method="GET",
            route="/api/twins/{twin_id}/observations",
            query=["start", "end", "code"],
            detail={"ms": 3.2},
        )
        for i in range(n)
    ]


def bench_append(d: Path, n: int, every: int) -> tuple[float, Path]:
    db = d / "audit.db"
    log = AuditLog(str(db), sth_every=every, sth_seconds=3600, sth_file=d / "audit.sth.jsonl")
    evs = events(n)
    t = time.perf_counter()
    futs = [log.append(e) for e in evs]
    futs[-1].result(600)
    dt = time.perf_counter() - t
    log.close()
    return n / dt, db


def bench_sequential(d: Path, n: int, every: int) -> float:
    log = AuditLog(str(d / "seq.db"), sth_every=every, sth_seconds=3600)
    evs = events(n)
    t = time.perf_counter()
    for e in evs:
        log.append(e).result(60)
    dt = time.perf_counter() - t
    log.close()
    return n / dt


def bench_verify(db: Path, sth: Path) -> tuple[float, float, bool]:
    pub = Signer.load().public_b64
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "medtwin.cli.main", "audit", "verify", "--audit-db", str(db), "--sth", str(sth),
         "--public-key", pub],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    cli = time.perf_counter() - t
    t = time.perf_counter()
    rep = verify(str(db), public_key=Signer.load().public, sth_file=sth)
    inproc = time.perf_counter() - t
    return cli, inproc, p.returncode == 0 and rep.ok


def bench_peer(d: Path, n: int) -> tuple[float, float]:
    from pymerkle import SqliteTree

    data = [canonical(e) for e in events(n)]
    tree = SqliteTree(str(d / "pymerkle.db"), algorithm="sha256")
    t = time.perf_counter()
    for i in range(0, n, 1000):
        tree.append_entries(data[i : i + 1000])
    rate = n / (time.perf_counter() - t)
    t = time.perf_counter()
    tree.cache_clear()
    tree.get_root(n) if hasattr(tree, "get_root") else tree.get_state(n)
    root_s = time.perf_counter() - t
    tree.close()
    return rate, root_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--sth-every", type=int, default=1000)
    ap.add_argument("--sequential", type=int, default=2000)
    ap.add_argument("--peer-events", type=int, default=20_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rate, db = bench_append(d, a.events, a.sth_every)
        print(
            f"medtwin append (group commit, STH every {a.sth_every}): {a.events:,} events, {rate:,.0f} events/s"
        )
        seq = bench_sequential(d, a.sequential, a.sth_every)
        print(f"medtwin append, waiting for each commit: {a.sequential:,} events, {seq:,.0f} events/s")
        cli, inproc, ok = bench_verify(db, d / "audit.sth.jsonl")
        print(
            f"medtwin audit verify, {a.events:,} events: {cli:.2f} s (CLI) / {inproc:.2f} s (in-process), intact={ok}"
        )
        peer_rate, peer_root = bench_peer(d, a.peer_events)
        print(f"pymerkle SqliteTree.append_entries: {a.peer_events:,} events, {peer_rate:,.0f} events/s; "
              f"root of {a.peer_events:,} recomputed in {peer_root:.2f} s")  # fmt: skip
        print(f"ratio medtwin/pymerkle append rate: {rate / peer_rate:.1f}x")
        print(f"verify throughput: medtwin {a.events / inproc:,.0f} entries/s (all checks) vs pymerkle root "
              f"{a.peer_events / max(peer_root, 1e-9):,.0f} leaves/s (root only)")  # fmt: skip


if __name__ == "__main__":
    main()
