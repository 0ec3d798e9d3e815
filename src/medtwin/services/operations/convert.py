"""Conversion between log formats: XES and OCEL 2.0 in (streamed into Parquet in batches), and
Parquet/CSV/XES/OCEL out (``medtwin flow convert``), so any of them can be analysed or handed to
another tool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from medtwin.services.operations.mapping import LogMapping

SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("activity", pa.string()),
        ("start", pa.timestamp("us", tz="UTC")),
        ("end", pa.timestamp("us", tz="UTC")),
        ("resource", pa.string()),
        ("location", pa.string()),
    ]
)


class ParquetSink:
    """Buffers rows (times as UTC microseconds) and writes Parquet row groups of ``batch`` rows."""

    def __init__(self, path: Path, batch: int = 100_000, tz: str = "UTC") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(path.name + ".part")
        self.path = path
        self.batch = batch
        self.cols: list[list[Any]] = [[] for _ in SCHEMA]
        self.rows = 0
        self.writer = pq.ParquetWriter(
            self.tmp, SCHEMA.with_metadata({"medtwin.timezone": tz}), compression="zstd"
        )

    def add(self, case: str, act: str, start_us: int, end_us: int, res: str | None, loc: str | None) -> None:
        c = self.cols
        c[0].append(case)
        c[1].append(act)
        c[2].append(start_us)
        c[3].append(end_us)
        c[4].append(res)
        c[5].append(loc)
        if len(c[0]) >= self.batch:
            self.flush()

    def write_batch(self, batch: pa.RecordBatch) -> None:
        """Append an Arrow batch with the canonical column names (cast to the schema)."""
        self.flush()
        self.writer.write_table(pa.Table.from_batches([batch]).select(SCHEMA.names).cast(SCHEMA))
        self.rows += batch.num_rows

    def flush(self) -> None:
        if not self.cols[0]:
            return
        arrays = [pa.array(col, type=f.type) for col, f in zip(self.cols, SCHEMA, strict=True)]
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=SCHEMA))
        self.rows += len(self.cols[0])
        self.cols = [[] for _ in SCHEMA]

    def close(self) -> int:
        self.flush()
        self.writer.close()
        self.tmp.replace(self.path)
        return self.rows

    def abort(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


def to_parquet(
    src: Path, fmt: str, out: Path, m: LogMapping, *, progress: Callable[[int], None] | None = None
) -> int:
    """Stream an XES or OCEL 2.0 file into canonical Parquet at ``out``; returns the row count."""
    sink = ParquetSink(out, tz=m.timezone or "UTC")
    try:
        if fmt == "xes":
            from medtwin.services.operations.xes import read_xes

            read_xes(src, sink, location_key=m.xes_location_key, progress=progress)
        elif fmt == "ocel-json":
            from medtwin.services.operations.ocel import read_ocel_json

            read_ocel_json(src, sink, case_type=m.ocel_case_type)
        elif fmt == "ocel-sqlite":
            from medtwin.services.operations.ocel import read_ocel_sqlite

            read_ocel_sqlite(src, sink, case_type=m.ocel_case_type)
        else:
            raise ValueError(fmt)
    except BaseException:
        sink.abort()
        raise
    return sink.close()


def export(log: Any, out: Path, fmt: str) -> int:
    """Write an opened :class:`~medtwin.services.operations.logs.EventLog` as parquet, csv, xes,
    ocel-json or ocel-sqlite (ordered by case and start)."""
    log.con.execute("SELECT 1").fetchall()  # settle any unfinished result before the relation API
    rel = log.con.sql('SELECT * FROM ev_raw ORDER BY case_id, start, "end", activity').to_arrow_reader(
        100_000
    )
    if fmt in ("parquet", "csv"):
        reader = rel
        n = 0
        writer: Any = None
        try:
            for batch in reader:
                if writer is None:
                    writer = (
                        pq.ParquetWriter(out, batch.schema, compression="zstd")
                        if fmt == "parquet"
                        else pacsv.CSVWriter(out, batch.schema)
                    )
                writer.write_batch(batch)
                n += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        return n
    if fmt == "xes":
        from medtwin.services.operations.xes import write_xes

        return write_xes(rel, out)
    if fmt in ("ocel-json", "ocel-sqlite"):
        from medtwin.services.operations.ocel import write_ocel

        return write_ocel(rel, out, sqlite=fmt == "ocel-sqlite")
    raise ValueError(f"unknown output format {fmt!r}")
