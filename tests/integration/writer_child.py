"""Child process of the writer-kill fault test: writes batches through the BatchWriter and prints
``ACK <batch>`` after each commit, until killed.

Usage: python -m tests.integration.writer_child DB_URL FIRST_BATCH ROWS_PER_BATCH
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from medtwin.core.model import Observation
from medtwin.store.sql import SqlStore
from medtwin.store.writer import BatchWriter

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    url, first, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = SqlStore(url)
    writer = BatchWriter(store, max_rows=rows, linger=0.0).start()
    print("READY", flush=True)
    b = first
    while True:
        t = T0 + timedelta(seconds=b)
        obs = [
            Observation("P1", "8867-4", t, t, "WRITER", f"{b}/{i}", value=float(60 + i % 50), unit="/min")
            for i in range(rows)
        ]
        writer.write(obs, timeout=60)
        print(f"ACK {b}", flush=True)
        b += 1


if __name__ == "__main__":
    main()
