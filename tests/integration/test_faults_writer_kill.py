"""R5: the SQLite writer process killed with SIGKILL mid-batch, 30 times.

A child process writes 500-row batches through the BatchWriter (one transaction each, WAL,
synchronous=FULL) and prints ``ACK <batch>`` after each commit. The test kills it at a random
moment, checks the database, and starts the next child. Pass, after every kill:
``PRAGMA integrity_check`` is ok, every acknowledged batch is present in full, and no batch is
partial (all 500 rows or none).
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from medtwin.core.model import Twin, TwinKind
from medtwin.store.sql import SqlStore
from tests.integration.reliability_helpers import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(240)]
KILLS, ROWS = 30, 500


def _batches(db: Path) -> Counter[int]:
    c = sqlite3.connect(db)
    try:
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = c.execute("SELECT source_id FROM observations WHERE source = 'WRITER'").fetchall()
    finally:
        c.close()
    return Counter(int(r[0].split("/")[0]) for r in rows)


def test_writer_killed_mid_batch_keeps_every_acknowledged_batch(tmp_path: Path) -> None:
    rnd = random.Random(5)
    db = tmp_path / "w.db"
    s = SqlStore(str(db))
    s.put_twin(Twin("P1", TwinKind.PATIENT))
    s.close()
    acked: set[int] = set()
    first = 0
    for kill in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.writer_child", str(db), str(first), str(ROWS)],
            stdout=subprocess.PIPE, cwd=str(ROOT), text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(rnd.uniform(0.02, 0.4))
        proc.kill()
        out, _ = proc.communicate(timeout=10)
        acked |= {int(line.split()[1]) for line in out.splitlines() if line.startswith("ACK ")}
        counts = _batches(db)
        missing = sorted(b for b in acked if counts.get(b) != ROWS)
        assert not missing, f"kill {kill}: acknowledged batches missing or partial: {missing[:10]}"
        partial = sorted(b for b, n in counts.items() if n != ROWS)
        assert not partial, f"kill {kill}: partial batches {partial[:10]}"
        first = max(counts, default=-1) + 1
    assert len(acked) > KILLS  # the children did get work done between kills
