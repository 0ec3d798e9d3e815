"""R7: PostgreSQL stopped in immediate mode (a crash: no checkpoint, WAL replay at start) during
batches, 5 times, then restarted. The test runs its OWN cluster (initdb in a temp dir, free port,
as the postgres user); the system cluster is never touched.

A producer submits 200-row batches to the BatchWriter; a batch counts as acknowledged when its
future resolves. Pass: every acknowledged batch is present in full, none is partial, the writer
resumed within 10 s of each restart, and nothing was stored twice.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from medtwin.core.model import Observation, Twin, TwinKind
from medtwin.store.sql import SqlStore
from medtwin.store.writer import BatchWriter
from tests.integration.reliability_helpers import PgCluster, pg_cluster, wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.integration,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not PgCluster.available(), reason="PostgreSQL 15 binaries (initdb) not installed"),
]
STOPS, ROWS = 4, 200
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_postgres_immediate_stop_loses_no_acknowledged_batch() -> None:
    rnd = random.Random(7)
    with pg_cluster() as pg:
        with psycopg.connect(pg.url(), autocommit=True) as c:
            c.execute("CREATE DATABASE medtwin")
        store = SqlStore(pg.url("medtwin"))
        store.put_twin(Twin("P1", TwinKind.PATIENT))
        writer = BatchWriter(store, max_rows=ROWS * 4, linger=0.01).start()
        acked: set[int] = set()
        lock = threading.Lock()
        stop = threading.Event()
        commits_at: list[float] = []

        def done(b: int) -> Any:
            def cb(f: Future[Any]) -> None:
                if f.exception() is None:
                    with lock:
                        acked.add(b)
                        commits_at.append(time.monotonic())

            return cb

        def produce() -> None:
            b = 0
            while not stop.is_set():
                t = T0 + timedelta(seconds=b)
                obs = [
                    Observation("P1", "8867-4", t, t, "PGW", f"{b}/{i}", value=70.0, unit="/min")
                    for i in range(ROWS)
                ]
                writer.submit(obs).add_done_callback(done(b))
                b += 1
                time.sleep(0.05)

        t = threading.Thread(target=produce)
        t.start()
        resume: list[float] = []
        try:
            for _ in range(STOPS):
                time.sleep(rnd.uniform(0.3, 1.0))
                pg.stop_immediate()
                time.sleep(0.5)
                pg.start()
                started = time.monotonic()
                assert wait_until(lambda s=started: any(c > s for c in commits_at), 15), (
                    "writer did not resume"
                )
                resume.append(min(c for c in commits_at if c > started) - started)
        finally:
            stop.set()
            t.join()
        assert wait_until(lambda: writer.queued_rows == 0, 60)
        writer.stop()
        print(f"resumed after {[round(r, 2) for r in resume]} s; {len(acked)} batches acknowledged")
        assert max(resume) < 10.0, resume
        with store.engine.connect() as c:
            rows = [r[0] for r in c.execute(text("SELECT source_id FROM observations WHERE source = 'PGW'"))]
        store.close()
        counts = Counter(int(r.split("/")[0]) for r in rows)
        assert len(rows) == len(set(rows))
        assert not [b for b, n in counts.items() if n != ROWS], "partial batch"
        missing = sorted(b for b in acked if counts.get(b) != ROWS)
        assert not missing, f"acknowledged batches missing: {missing[:10]}"
        assert writer.failures > 0 and len(acked) > STOPS * 5
