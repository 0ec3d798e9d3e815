"""The columnar core of journey analytics: ordering the log and the statistics every report needs.

:func:`prepare` makes one DuckDB scan of the log (the deferred input checks ride along), hands the
columns to polars as Arrow (no Python object per event), sorts them by case, start, end and
activity (polars detects input that is already ordered, as exported logs usually are), derives
the previous activity, end and location with a global shift masked at case boundaries, and
registers the result in DuckDB as ``ev`` (zero-copy) for the SQL statistics of
:mod:`.analytics`.

:func:`core` computes (DuckDB, on integer case numbers) what PM4Py calls the DFG, the
performance DFG, start and end activities, variants, rework and case durations; the benchmark
``benchmarks/flow_pm4py.py`` checks them equal to PM4Py's. (DuckDB's hash aggregates cost less
CPU than polars' here; polars' sort and shift less than DuckDB's window operator.)
"""

from __future__ import annotations

from typing import Any

import polars as pl

from medtwin.services.operations.logs import BAD_ROW_SQL, EventLog, ensure_checked


def _arrow(con: Any, sql: str) -> Any:
    """The result as an Arrow table (relation API: no extra copy). DuckDB 2 refuses a relation while
    an earlier ``execute`` result is unfinished, so one tiny statement settles the connection first."""
    con.execute("SELECT 1").fetchall()
    return con.sql(sql).to_arrow_table()


def prepare(log: EventLog) -> None:
    """Materialise ``ev`` (see the module docstring)."""
    con = log.con
    cols = 'case_id, activity, start, "end", resource, location'
    fast = _parquet_frame(log) if log.pending else None
    if fast is not None:
        tbl = None
        df = fast
    elif log.pending:
        tbl = _arrow(con, f"SELECT {cols}, {BAD_ROW_SQL} AS bad FROM ev_src")
        bad = pl.from_arrow(tbl.column("bad")).max() if tbl.num_rows else 0
        if tbl.num_rows == 0 or bad:
            ensure_checked(log)  # names the first bad row, or filters ev_raw (on_error: skip)
            tbl = _arrow(con, f"SELECT {cols} FROM ev_raw")
        else:
            log.pending = False
            tbl = tbl.drop_columns(["bad"])
    else:
        tbl = _arrow(con, f"SELECT {cols} FROM ev_raw")
    if tbl is not None:
        df = pl.from_arrow(tbl)  # type: ignore[assignment]
    assert isinstance(df, pl.DataFrame)
    df = df.sort(["case_id", "start", "end", "activity"])
    same = pl.col("case_id") == pl.col("case_id").shift(1)
    idx = pl.int_range(pl.len(), dtype=pl.Int64)

    def us(c: str) -> pl.Expr:
        return pl.col(c).dt.epoch("us")

    gap = pl.when(same).then(us("start") - us("end").shift(1))
    df = df.with_columns(
        (~same).fill_null(True).cum_sum().cast(pl.Int64).alias("case_no"),
        (idx - pl.when(same).then(None).otherwise(idx).forward_fill() + 1).alias("seq"),
        pl.when(same).then(pl.col("activity").shift(1)).alias("prev_act"),
        pl.when(same).then(pl.col("location").shift(1)).alias("prev_loc"),
        pl.when(same & same.shift(1)).then(pl.col("location").shift(2)).alias("prev2_loc"),
        (pl.col("case_id") != pl.col("case_id").shift(-1)).fill_null(True).alias("is_last"),
        (gap / 1e6).alias("gap_s"),
        (gap.clip(lower_bound=0) / 1e6).alias("wait_s"),
        ((us("end") - us("start")) / 1e6).alias("svc_s"),
        pl.col("start").dt.convert_time_zone(log.timezone).dt.replace_time_zone(None).alias("lstart"),
    )
    log.arrow["polars"] = df
    log.arrow["ev"] = df.to_arrow()  # DuckDB scans these buffers in place; the log keeps them alive
    con.register("ev", log.arrow["ev"])
    log.arrow.pop("core", None)


def _parquet_frame(log: EventLog) -> pl.DataFrame | None:
    """Parquet with typed timestamps: polars reads it directly (cheaper than a DuckDB scan handed
    over as Arrow) and only detects problems; any problem goes to the DuckDB checks, which name
    the row and column. None when the fast path does not apply."""
    res, types = log.columns, log.types
    if (
        (log.format not in ("parquet",) and log.source is None)
        or log.source is None
        or log.source.suffix != ".parquet"
    ):
        return None
    start, end = res["start"] or res["end"], res["end"]
    if not (
        start
        and end
        and types.get(start, "").startswith("TIMESTAMP")
        and types.get(end, "").startswith("TIMESTAMP")
    ):
        return None
    if types.get(res["case_id"] or "") != "VARCHAR" or types.get(res["activity"] or "") != "VARCHAR":
        return None
    want = {k: v for k, v in res.items() if v}
    df = pl.read_parquet(log.source, columns=sorted(set(want.values())))

    def ts(col: str) -> pl.Expr:
        e = pl.col(col)
        tz = getattr(df.schema[col], "time_zone", None)
        e = e.dt.replace_time_zone(log.timezone) if tz is None else e
        return e.dt.convert_time_zone("UTC").dt.cast_time_unit("us")

    def text(k: str) -> pl.Expr:
        return pl.col(str(res[k])).cast(pl.Utf8) if res.get(k) else pl.lit(None, pl.Utf8)

    df = df.select(
        text("case_id").alias("case_id"),
        text("activity").alias("activity"),
        ts(start).alias("start"),
        ts(end).alias("end"),
        text("resource").alias("resource"),
        text("location").alias("location"),
    )

    def blank(c: str) -> pl.Expr:
        return pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")

    bad = df.select(
        (
            blank("case_id")
            | blank("activity")
            | pl.col("start").is_null()
            | pl.col("end").is_null()
            | (pl.col("end") < pl.col("start"))
        ).any()
    ).item()
    if bad or df.height == 0:
        ensure_checked(log)  # names the first bad row (or skips bad rows: then the DuckDB path runs)
        return None
    log.pending = False
    return df


def core(log: EventLog) -> dict[str, Any]:
    """DFG with waiting, start/end activities, variants, rework, case durations (cached per log).

    Variants are grouped by an exact key: the sum of hash(activity, position) over the journey
    (the set of (position, activity) pairs *is* the sequence; 64-bit hashes summed as HUGEINT, so
    two variants share a key only by a hash collision, probability ~n²/2⁶⁴); each variant is
    spelled out from one representative journey.
    """
    if "core" in log.arrow:
        return log.arrow["core"]  # type: ignore[no-any-return]
    if "polars" not in log.arrow:
        prepare(log)
    con = log.con

    def q(sql: str) -> Any:
        return con.execute(sql).fetchall()

    con.execute(
        "CREATE OR REPLACE TEMP TABLE case_a AS SELECT case_no, activity, count(*) AS k FROM ev GROUP BY 1, 2"
    )
    nodes = q(
        """SELECT activity, n, k, pos FROM (SELECT activity, count(*) AS n, avg(seq) AS pos FROM ev GROUP BY 1)
        JOIN (SELECT activity, count(*) AS k FROM case_a GROUP BY 1) USING (activity) ORDER BY n DESC, activity"""
    )
    edges = [
        (a, b, int(n), m, md, p)
        for a, b, n, m, md, p in q(
            """SELECT prev_act, activity, count(*), avg(wait_s), quantile_cont(wait_s, 0.5),
                quantile_cont(wait_s, 0.9) FROM ev WHERE prev_act IS NOT NULL GROUP BY 1, 2"""
        )
    ]
    first: dict[str, int] = dict(q("SELECT activity, count(*) FROM ev WHERE seq = 1 GROUP BY 1"))
    last: dict[str, int] = dict(q("SELECT activity, count(*) FROM ev WHERE is_last GROUP BY 1"))
    edges += [("▶", a, int(n), None, None, None) for a, n in first.items()]
    edges += [(a, "■", int(n), None, None, None) for a, n in last.items()]
    edges.sort(key=lambda e: (-e[2], e[0], e[1]))
    con.execute(
        """CREATE OR REPLACE TEMP TABLE case_v AS SELECT case_no, sum(CAST(hash(activity, seq) AS HUGEINT)) AS k,
            (max(epoch_us("end")) - min(epoch_us(start))) / 1e6 AS dur FROM ev GROUP BY 1"""
    )
    variants = q(
        """WITH t AS (SELECT k, count(*) AS n, avg(dur) AS d, min(case_no) AS rep FROM case_v GROUP BY 1)
        SELECT list(e.activity ORDER BY e.seq), t.n, t.d FROM t JOIN ev e ON e.case_no = t.rep
        GROUP BY t.k, t.n, t.d, t.rep ORDER BY t.n DESC, t.rep"""
    )
    n_cases, dmean, dmed, dp90 = q(
        "SELECT count(*), avg(dur), quantile_cont(dur, 0.5), quantile_cont(dur, 0.9) FROM case_v"
    )[0]
    rework = q("SELECT activity, count(*), sum(k - 1) FROM case_a WHERE k > 1 GROUP BY 1 ORDER BY 2 DESC, 1")
    out = {
        "cases": int(n_cases),
        "nodes": [(a, int(n), int(k), float(pos)) for a, n, k, pos in nodes],
        "edges": edges,
        "starts": {a: int(n) for a, n in first.items()},
        "ends": {a: int(n) for a, n in last.items()},
        "variants": [(tuple(v), int(n), float(d)) for v, n, d in variants],
        "rework": [(a, int(k), int(r)) for a, k, r in rework],
        "rework_cases": int(q("SELECT count(DISTINCT case_no) FROM case_a WHERE k > 1")[0][0]),
        "immediate": dict(q("SELECT activity, count(*) FROM ev WHERE prev_act = activity GROUP BY 1")),
        "durations": {"mean": float(dmean or 0.0), "median": float(dmed or 0.0), "p90": float(dp90 or 0.0)},
        "service_mean_s": dict(q("SELECT activity, avg(svc_s) FROM ev GROUP BY 1")),
    }
    log.arrow["core"] = out
    return out


def case_durations(log: EventLog) -> list[float]:
    """Every journey's duration in seconds (end of its last activity − start of its first)."""
    core(log)
    return [d for (d,) in log.con.execute("SELECT dur FROM case_v ORDER BY dur").fetchall()]
