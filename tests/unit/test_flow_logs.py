"""Event-log readers: CSV/Parquet with a column mapping, XES, OCEL 2.0; errors naming row and column."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from medtwin.core.errors import ValidationError
from medtwin.services.operations.convert import export
from medtwin.services.operations.logs import LogError, open_log
from medtwin.services.operations.mapping import load_mapping
from tests.unit.flow_helpers import clinic_log

CSV = """visit;step;begin;finish;staff;room
v1;Registration;04/01/2021 08:00:00;04/01/2021 08:03:00;CLK-1;REG-01
v1;Consultation;04/01/2021 08:20:00;04/01/2021 08:35:00;DR-1;CAR-01
v2;Registration;04/01/2021 09:00:00;04/01/2021 09:02:30;CLK-1;REG-01
"""


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def _agg(log: object) -> tuple:
    return log.con.execute(  # type: ignore[attr-defined]
        'SELECT count(*), count(DISTINCT case_id), sum(epoch("end") - epoch(start)), count(resource), '
        "count(location), min(start) FROM ev_raw"
    ).fetchall()[0]


def test_csv_with_yaml_mapping_format_and_timezone(tmp_path: Path) -> None:
    m = _write(
        tmp_path,
        "m.yaml",
        "case_id: visit\nactivity: step\nstart: begin\nend: finish\nresource: staff\n"
        'location: room\ntimestamp_format: "%d/%m/%Y %H:%M:%S"\ntimezone: Europe/Amsterdam\ndelimiter: ";"\n',
    )
    with open_log(_write(tmp_path, "log.csv", CSV), load_mapping(m)) as log:
        n, cases, svc, res, loc, first = _agg(log)
        assert (n, cases, svc, res, loc) == (3, 2, 180 + 900 + 150, 3, 3)
        # naive times are Amsterdam local (UTC+1 in January): 08:00 local = 07:00 UTC
        assert first.astimezone().utcoffset() is not None
        assert log.con.execute("SELECT min(epoch(start)) FROM ev_raw").fetchone()[0] == 1609743600  # 07:00Z
        assert log.con.execute("SELECT min(hour(start)) FROM ev_raw").fetchone()[0] == 8  # local hour


def test_mapping_by_flags_and_aliases(tmp_path: Path) -> None:
    text = (
        "case:concept:name,concept:name,start_timestamp,time:timestamp,org:resource\n"
        "c1,A,2021-01-04T08:00:00Z,2021-01-04T08:10:00Z,r1\nc1,B,2021-01-04T08:30:00Z,2021-01-04T08:31:00Z,r2\n"
    )
    with open_log(_write(tmp_path, "xes-style.csv", text)) as log:  # XES-style names found by alias
        assert _agg(log)[:4] == (2, 1, 660, 2)
        assert log.columns["location"] is None
    single = "id,act,ts\n1,A,2021-01-04 08:00\n1,B,2021-01-04 08:05\n"
    m = load_mapping(data={}).with_overrides(case_id="id", activity="act", end="ts", start=None)
    with open_log(_write(tmp_path, "one.csv", single), m) as log:  # one timestamp: instants
        assert _agg(log)[:3] == (2, 1, 0)


def test_errors_name_row_and_column(tmp_path: Path) -> None:
    bad_ts = "case_id,activity,start,end\n1,A,2021-01-04 08:00,2021-01-04 08:05\n1,B,2021-01-04 8h20,2021-01-04 08:30\n"
    with pytest.raises(LogError) as e:
        open_log(_write(tmp_path, "ts.csv", bad_ts))
    assert e.value.field == "start" and e.value.index == 2
    assert (
        "row 2 (line 3)" in str(e.value)
        and "'2021-01-04 8h20'" in str(e.value)
        and "unparsable" in str(e.value)
    )

    order = "case_id,activity,start,end\n1,A,2021-01-04 08:00,2021-01-04 08:05\n1,B,2021-01-04 08:20,2021-01-04 08:10\n"
    with pytest.raises(LogError) as e:
        open_log(_write(tmp_path, "order.csv", order))
    assert e.value.field == "end" and e.value.index == 2 and "end before start" in e.value.reason

    with pytest.raises(LogError) as e:
        open_log(
            _write(tmp_path, "cols.csv", "id,what,t0,t1\n1,A,2021-01-04 08:00,2021-01-04 08:05\n"),
            load_mapping(data={"case_id": "visit"}),
        )
    assert e.value.field == "mapping.case_id" and "the file has: id, what, t0, t1" in e.value.reason

    with pytest.raises(ValidationError) as e:
        load_mapping(data={"case": "x"})
    assert e.value.field == "mapping.case"
    with pytest.raises(ValidationError) as e:
        load_mapping(data={"timezone": "Mars/Olympus"})
    assert e.value.field == "mapping.timezone"
    with pytest.raises(LogError):
        open_log(_write(tmp_path, "empty.csv", "case_id,activity,start,end\n"))
    fmt = load_mapping(data={"timestamp_format": "%d/%m/%Y"})
    with pytest.raises(LogError) as e:
        open_log(_write(tmp_path, "f.csv", "case_id,activity,start,end\n1,A,2021-01-04,2021-01-04\n"), fmt)
    assert "expected format '%d/%m/%Y'" in str(e.value)


def test_skip_invalid_rows_counts_them(tmp_path: Path) -> None:
    text = (
        "case_id,activity,start,end\n1,A,2021-01-04 08:00,2021-01-04 08:05\n1,B,bad,2021-01-04 08:30\n"
        ",C,2021-01-04 08:00,2021-01-04 08:01\n2,D,2021-01-04 09:00,2021-01-04 08:00\n"
    )
    with open_log(_write(tmp_path, "skip.csv", text), load_mapping(data={"on_error": "skip"})) as log:
        assert log.skipped == 3 and _agg(log)[0] == 1


@pytest.mark.parametrize("fmt", ["xes", "ocel-json", "ocel-sqlite", "csv", "parquet"])
def test_round_trip_through_every_format(tmp_path: Path, fmt: str) -> None:
    suffix = {
        "xes": ".xes",
        "ocel-json": ".jsonocel",
        "ocel-sqlite": ".sqlite",
        "csv": ".csv",
        "parquet": ".parquet",
    }
    with open_log(clinic_log()) as log:
        log.con.execute("CREATE TEMP TABLE sub AS SELECT * FROM ev_raw WHERE case_id <= 'J00000300'")
        log.con.execute("CREATE OR REPLACE TEMP VIEW ev_raw AS SELECT * FROM sub")
        want = _agg(log)
        out = tmp_path / f"sub{suffix[fmt]}"
        assert export(log, out, fmt) == want[0]
    with open_log(out, workdir=tmp_path / "work") as back:
        assert _agg(back) == want
        dfg = "SELECT count(*) FROM (SELECT activity, lag(activity) OVER (PARTITION BY case_id ORDER BY start) FROM ev_raw)"
        assert back.con.execute(dfg).fetchone()[0] == want[0]


def test_xes_lifecycle_pairing_and_gzip(tmp_path: Path) -> None:
    import gzip

    xes = """<?xml version="1.0"?><log xmlns="http://www.xes-standard.org/"><trace>
    <string key="concept:name" value="t1"/>
    <event><string key="concept:name" value="A"/><string key="lifecycle:transition" value="start"/>
      <date key="time:timestamp" value="2021-01-04T08:00:00.000+01:00"/></event>
    <event><string key="concept:name" value="B"/><string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2021-01-04T08:02:00Z"/><string key="start_timestamp" value="2021-01-04T08:01:00Z"/></event>
    <event><string key="concept:name" value="A"/><string key="lifecycle:transition" value="complete"/>
      <string key="org:resource" value="r9"/><date key="time:timestamp" value="2021-01-04T07:05:00Z"/></event>
    <event><string key="concept:name" value="C"/><string key="lifecycle:transition" value="schedule"/>
      <date key="time:timestamp" value="2021-01-04T07:00:00Z"/></event>
    </trace></log>"""
    p = tmp_path / "t.xes.gz"
    with gzip.open(p, "wt") as f:
        f.write(xes)
    with open_log(p, workdir=tmp_path) as log:
        rows = log.con.execute(
            'SELECT activity, epoch("end") - epoch(start), resource FROM ev_raw ORDER BY 1'
        ).fetchall()
    assert rows == [("A", 300.0, "r9"), ("B", 60.0, None)]
    with pytest.raises(ValidationError):
        open_log(_write(tmp_path, "broken.xes", "<log><trace>"), workdir=tmp_path)


def test_ocel_case_type_choice(tmp_path: Path) -> None:
    with open_log(clinic_log()) as log:
        log.con.execute("CREATE TEMP TABLE sub AS SELECT * FROM ev_raw WHERE case_id <= 'J00000020'")
        log.con.execute("CREATE OR REPLACE TEMP VIEW ev_raw AS SELECT * FROM sub")
        export(log, tmp_path / "o.jsonocel", "ocel-json")
    m = load_mapping(data={"ocel_case_type": "room"})
    with open_log(tmp_path / "o.jsonocel", m, workdir=tmp_path) as by_room:  # journeys of rooms instead
        assert by_room.con.execute("SELECT count(DISTINCT case_id) FROM ev_raw").fetchone()[0] > 5
    with pytest.raises(ValidationError) as e:
        open_log(
            tmp_path / "o.jsonocel", load_mapping(data={"ocel_case_type": "order"}), workdir=tmp_path / "w2"
        )
    assert e.value.field == "mapping.ocel_case_type"


def test_large_logs_are_scanned_not_loaded() -> None:
    """The canonical view is a DuckDB view over the file: nothing is materialised on open."""
    with open_log(clinic_log()) as log:
        kinds = {
            r[0]
            for r in log.con.execute(
                "SELECT table_type FROM information_schema.tables WHERE table_name = 'ev_raw'"
            ).fetchall()
        }
        assert kinds == {"VIEW"}
        assert isinstance(log.con, duckdb.DuckDBPyConnection)


def test_deferred_checks_in_the_analysis_pass_name_the_row(tmp_path: Path) -> None:
    """The pipeline defers the checks to its first pass (the Parquet fast path included)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from medtwin.services.operations.pipeline import open_and_analyze

    ts = lambda s: pa.array(s, pa.timestamp("us", tz="UTC"))  # noqa: E731
    good = [1609750800000000, 1609751400000000, 1609752000000000]
    t = pa.table(
        {
            "case_id": ["a", "a", "b"],
            "activity": ["X", "Y", "X"],
            "start": ts(good),
            "end": ts([good[0] + 60_000_000, good[1] - 1, good[2] + 1]),
        }
    )
    pq.write_table(t, tmp_path / "bad.parquet")
    with pytest.raises(LogError) as e:
        open_and_analyze(tmp_path / "bad.parquet")
    assert e.value.index == 2 and e.value.field == "end" and "end before start" in e.value.reason
    pq.write_table(t.slice(0, 1), tmp_path / "ok.parquet")
    log, res, _b = open_and_analyze(tmp_path / "ok.parquet")
    assert res["summary"]["events"] == 1 and not log.pending
    skip = load_mapping(data={"on_error": "skip"})
    log, res, _b = open_and_analyze(tmp_path / "bad.parquet", skip)
    assert res["summary"]["events"] == 2 and res["summary"]["skipped_rows"] == 1
