"""Opening event logs: CSV and Parquet scanned in place by DuckDB; XES and OCEL 2.0 converted to
Parquet first by streaming readers. The canonical view ``ev_raw`` has the columns
``case_id, activity, start, end, resource, location`` (TIMESTAMPTZ, hour of day in the log's
time zone) and is never materialised as Python objects.

Checks, each naming the row (1-based data row; the CSV line is one more for the header) and the
column: unknown or missing columns, empty case ids or activities, unparsable timestamps, an end
before its start. ``on_error: skip`` drops such rows and reports how many.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.services.operations.mapping import ALIASES, LogMapping

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xes": "xes",
    ".jsonocel": "ocel-json",
    ".json": "ocel-json",
    ".sqlite": "ocel-sqlite",
    ".sqlite3": "ocel-sqlite",
    ".db": "ocel-sqlite",
}


class LogError(ValidationError):
    """An event log that cannot be read as given; ``field`` is the column, ``index`` the row."""

    title = "Invalid event log"


def detect_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".csv.gz", ".xes.gz"):
        if name.endswith(suffix):
            return "csv" if suffix == ".csv.gz" else "xes"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LogError(
            f"unknown log format {path.suffix!r}; use one of {', '.join(sorted(FORMATS))}", field="log"
        )
    return fmt


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sidecar(path: Path) -> dict[str, Any]:
    """The ``<log>.meta.json`` a generated log carries (time zone, building, ground truth)."""
    p = path.with_name(path.name + ".meta.json")
    if p.exists():
        try:
            return dict(json.loads(p.read_text()))
        except (OSError, ValueError):
            return {}
    return {}


@dataclass
class EventLog:
    """An opened log: a DuckDB connection holding the view ``ev_raw``."""

    con: duckdb.DuckDBPyConnection
    path: Path
    format: str
    timezone: str
    skipped: int = 0
    columns: dict[str, str | None] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    on_error: str = "raise"
    pending: bool = False  # checks not run yet (``open_log(defer_checks=True)``; prepare runs them)
    _check: Any = None  # runs the checks: raises LogError, or filters and counts skipped rows
    arrow: dict[str, Any] = field(default_factory=dict)  # Arrow tables registered in ``con`` (kept alive)
    source: Path | None = None  # the file DuckDB scans (the Parquet cache of an XES/OCEL log)
    types: dict[str, str] = field(default_factory=dict)  # source column -> DuckDB type
    timestamp_format: str | None = None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(workdir: Path | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {_lit(str(workdir / 'duckdb-spill'))}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_lit(memory_limit)}")
    con.execute("SET preserve_insertion_order = true")
    return con


def _source_sql(path: Path, fmt: str, m: LogMapping) -> str:
    p = _lit(str(path))
    if fmt == "parquet":
        return f"read_parquet({p})"
    opts = "header = true, all_varchar = true"
    if m.delimiter:
        opts += f", delim = {_lit(m.delimiter)}"
    elif path.suffix.lower() == ".tsv":
        opts += ", delim = '\t'"
    return f"read_csv({p}, {opts})"


def _resolve(cols: dict[str, str], m: LogMapping) -> dict[str, str | None]:
    lower = {c.lower(): c for c in cols}
    out: dict[str, str | None] = {}
    for key in ("case_id", "activity", "start", "end", "resource", "location"):
        want = getattr(m, key)
        if want is None:
            out[key] = None
            continue
        if want in cols:
            out[key] = want
            continue
        explicit = want != getattr(LogMapping(), key)
        hit = None if explicit else next((lower[a] for a in ALIASES[key] if a in lower), None)
        if hit is None and key in ("resource", "location", "start") and not explicit:
            out[key] = None  # optional columns fall back silently when not asked for by name
            continue
        if hit is None:
            raise LogError(
                f"column {want!r} not found; the file has: {', '.join(cols)}", field=f"mapping.{key}"
            )
        out[key] = hit
    return out


def _ts_expr(col: str, ctype: str, m: LogMapping) -> str:
    c = _q(col)
    if ctype.startswith("TIMESTAMP"):
        return f"CAST({c} AS TIMESTAMPTZ)"
    if m.timestamp_format:
        return f"CAST(try_strptime(trim(CAST({c} AS VARCHAR)), {_lit(m.timestamp_format)}) AS TIMESTAMPTZ)"
    # trim() also keeps DuckDB from pushing the cast into the CSV scanner as a strict column type
    # (which would raise on the first bad value instead of letting us name its row)
    return f"TRY_CAST(trim(CAST({c} AS VARCHAR)) AS TIMESTAMPTZ)"


def open_table(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, m: LogMapping, tz: str) -> EventLog:
    """Create the view ``ev_raw`` over a CSV or Parquet file after checking it."""
    con.execute(f"SET TimeZone = {_lit(tz)}")
    src = _source_sql(path, fmt, m)
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
    except duckdb.Error as exc:
        raise LogError(f"cannot read {path.name} as {fmt}: {str(exc).splitlines()[0]}", field="log") from None
    cols = {r[0]: str(r[1]) for r in desc}
    res = _resolve(cols, m)
    case, act, end = (_q(res[k] or "") for k in ("case_id", "activity", "end"))
    end_ts = _ts_expr(res["end"] or "", cols[res["end"] or ""], m)
    start_ts = _ts_expr(res["start"], cols[res["start"]], m) if res["start"] else end_ts
    start_raw = _q(res["start"]) if res["start"] else end
    opt = {k: (f"CAST({_q(v)} AS VARCHAR)" if v else "CAST(NULL AS VARCHAR)") for k, v in res.items()}
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW ev_src AS SELECT
            CAST({case} AS VARCHAR) AS case_id, CAST({act} AS VARCHAR) AS activity,
            {start_raw} AS start_raw, {end} AS end_raw, {start_ts} AS start, {end_ts} AS "end",
            {opt["resource"]} AS resource, {opt["location"]} AS location
        FROM {src}"""
    )
    log = EventLog(
        con,
        path,
        fmt,
        tz,
        0,
        res,
        on_error=m.on_error,
        pending=True,
        source=path,
        types=cols,
        timestamp_format=m.timestamp_format,
    )
    con.execute(
        'CREATE OR REPLACE TEMP VIEW ev_raw AS SELECT case_id, activity, start, "end", resource, location FROM ev_src'
    )
    log._check = lambda: _run_checks(log, m)
    return log


CHECKS = {
    "case_id": ("case_id IS NULL OR trim(case_id) = ''", "empty case id"),
    "activity": ("activity IS NULL OR trim(activity) = ''", "empty activity"),
    "start": ("start IS NULL", "unparsable or missing timestamp"),
    "end": ('"end" IS NULL', "unparsable or missing timestamp"),
    "order": ('"end" < start', "end before start"),
}
BAD_ROW_SQL = (
    "CASE " + " ".join(f"WHEN {c} THEN {i + 1}" for i, (c, _r) in enumerate(CHECKS.values())) + " ELSE 0 END"
)


def _run_checks(log: EventLog, m: LogMapping) -> None:
    """One scan counting each problem; the first bad row is named (raise) or bad rows are filtered
    out of ``ev_raw`` and counted (``on_error: skip``)."""
    con, res = log.con, log.columns
    agg = ", ".join(f"count(*) FILTER (WHERE {cond})" for cond, _ in CHECKS.values())
    counts = con.execute(f"SELECT count(*), {agg} FROM ev_src").fetchone() or (0,)
    total, bad = int(counts[0]), dict(zip(CHECKS, counts[1:], strict=True))
    log.pending = False
    if total == 0:
        raise LogError("the log has no events", field="log")
    if not any(bad.values()):
        return
    where_ok = " AND ".join(f"NOT coalesce({cond}, false)" for cond, _ in CHECKS.values())
    if m.on_error == "skip":
        log.skipped = int(con.execute(f"SELECT count(*) FROM ev_src WHERE NOT ({where_ok})").fetchone()[0])  # type: ignore[index]
        con.execute(
            f"""CREATE OR REPLACE TEMP VIEW ev_raw AS SELECT case_id, activity, start, "end", resource, location
            FROM ev_src WHERE {where_ok}"""
        )
        return
    key = next(k for k, v in bad.items() if v)
    cond, reason = CHECKS[key]
    row = con.execute(
        f"SELECT rn, start_raw, end_raw FROM (SELECT row_number() OVER () AS rn, * FROM ev_src) "
        f"WHERE {cond} ORDER BY rn LIMIT 1"
    ).fetchone()
    rn = int(row[0]) if row else 0
    column = {"start": res["start"] or res["end"], "end": res["end"], "order": res["end"]}.get(key) or res[
        key
    ]
    value = {"start": row[1] if row else None, "end": row[2] if row else None}.get(key)
    detail = f" {value!r}" if value is not None else ""
    if key in ("start", "end") and m.timestamp_format:
        detail += f" (expected format {m.timestamp_format!r})"
    line = f" (line {rn + 1})" if log.format == "csv" else ""
    raise LogError(
        f"row {rn}{line}, column {column!r}: {reason}{detail}; {bad[key]} such row(s) in the log",
        field=str(column),
        index=rn,
    )


def ensure_checked(log: EventLog) -> None:
    if log.pending and log._check is not None:
        log._check()


def cache_key(path: Path, m: LogMapping) -> str:
    st = path.stat()
    h = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{m}".encode()).hexdigest()
    return h[:20]


def open_log(
    path: str | Path,
    mapping: LogMapping | None = None,
    *,
    workdir: Path | None = None,
    memory_limit: str | None = None,
    progress: Any = None,
    defer_checks: bool = False,
) -> EventLog:
    """Open a CSV, Parquet, XES or OCEL 2.0 log; XES/OCEL are converted once into ``workdir``.

    The checks run now, or with ``defer_checks`` in the analysis's first pass over the data
    (:func:`analytics.prepare`), which saves one full scan of a large clean log."""
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"no such log: {p}", field="log")
    m = (mapping or LogMapping()).validate()
    fmt = detect_format(p)
    meta = sidecar(p)
    tz = m.timezone or meta.get("timezone") or "UTC"
    con = connect(workdir, memory_limit)
    if fmt in ("parquet", "csv"):
        if fmt == "parquet" and not m.timezone:
            try:
                kv = con.execute(
                    f"SELECT value FROM parquet_kv_metadata({_lit(str(p))}) WHERE key = 'medtwin.timezone'"
                ).fetchone()
                tz = kv[0].decode() if kv else tz
            except duckdb.Error:
                pass
        log = open_table(con, p, fmt, m, tz)
    else:
        from medtwin.services.operations.convert import to_parquet

        cache = (workdir or p.parent) / f".{p.name}.{cache_key(p, m)}.parquet"
        if not cache.exists():
            to_parquet(p, fmt, cache, m, progress=progress)
        canon = LogMapping(timezone=tz, on_error=m.on_error)
        log = open_table(con, cache, "parquet", canon, tz)
        log.path, log.format = p, fmt
    log.meta = meta
    if not defer_checks:
        ensure_checked(log)
    return log
