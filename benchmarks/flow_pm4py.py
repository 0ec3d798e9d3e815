"""Journey analytics on a 1,000,000-event log: medtwin (DuckDB) against PM4Py's own path, same run.

The log is the synthetic outpatient log (``medtwin flow generate``) cut at a case boundary to at
most 1,000,000 events, as Parquet. Both sides start from that file and compute the same
statistics:

* directly-follows counts, start and end activities;
* performance DFG: mean waiting on each edge = start of b − end of a (PM4Py's interval log with
  ``start_timestamp_key``);
* variants with their counts; rework per activity (cases repeating it);
* mean service time per activity (end − start); case durations.

PM4Py's path: ``pandas.read_parquet`` → ``pm4py.format_dataframe`` → ``discover_dfg``,
``discover_performance_dfg``, ``get_start_activities``, ``get_end_activities``, ``get_variants``,
``get_rework_cases_per_activity``, ``get_all_case_durations``, and the service time as a pandas
group-by (PM4Py 2.7 has no one-call interval service-time statistic; a group-by is what its own
``statistics.service_time`` pandas variant does). medtwin's path: :func:`open_log` +
:func:`core.prepare` and :func:`core.core` (polars on the ordered log), as the analysis uses them.
Checked: identical DFG, start/end activities, variants and rework; waits and service means equal
to 1e-6 s. Optionally, the XES reader on a 100,000-event slice (``--xes``).

PM4Py is AGPL-3.0: install it only for this side-by-side run (``pip install --no-deps pm4py lxml
graphviz pytz``; see docs/adr/0009-operations-process-mining-and-des.md).

Run: .venv/bin/python benchmarks/flow_pm4py.py [--events 1000000] [--repeat 3] [--xes]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")

import pyarrow.compute as pc
import pyarrow.parquet as pq

from medtwin.services.operations import core as C
from medtwin.services.operations.genconfig import GeneratorConfig
from medtwin.services.operations.generator import generate
from medtwin.services.operations.logs import open_log

START, END = "▶", "■"


def make_log(events: int, folder: Path) -> Path:
    out = folder / f"bench-{events}.parquet"
    if out.exists():
        return out
    raw = folder / "bench-raw.parquet"
    years = events / 1_150_000 * 1.1  # ~1.15 M events per year at the default volume
    generate(GeneratorConfig(years=years, seed=42), raw, workers=0)
    t = pq.read_table(raw)
    case = t.column("case_id")
    # cut at a case boundary: cases are contiguous and ordered
    last = case[events - 1].as_py()
    keep = pc.less_equal(case, last)
    if case[events].as_py() == last:
        keep = pc.less(case, last)
    t = t.filter(keep)
    pq.write_table(t, out, compression="zstd")
    raw.unlink()
    return out


def ours(path: Path) -> tuple[dict, float, float]:
    """medtwin's product path: open (checks deferred to the first pass), prepare, core statistics."""
    t0, c0 = time.perf_counter(), time.process_time()
    log = open_log(path, defer_checks=True)
    C.prepare(log)
    c = C.core(log)
    out = {
        "dfg": {(a, b): n for a, b, n, *_ in c["edges"] if a != "▶" and b != "■"},
        "perf": {(a, b): m for a, b, n, m, *_ in c["edges"] if a != "▶" and b != "■"},
        "starts": c["starts"],
        "ends": c["ends"],
        "variants": {v: n for v, n, _d in c["variants"]},
        "rework": {a: k for a, k, _r in c["rework"]},
        "service": c["service_mean_s"],
        "durations": C.case_durations(log),
        "events": log.arrow["polars"].height,
    }
    log.close()
    return out, time.perf_counter() - t0, time.process_time() - c0


def theirs(path: Path) -> tuple[dict, float, float, float]:
    import pandas as pd
    import pm4py

    t0, c0 = time.perf_counter(), time.process_time()
    df = pd.read_parquet(path, columns=["case_id", "activity", "start", "end", "resource"])
    df = pm4py.format_dataframe(
        df, case_id="case_id", activity_key="activity", timestamp_key="end", start_timestamp_key="start"
    )
    t_read = time.perf_counter() - t0
    dfg, starts, ends = pm4py.discover_dfg(df)
    perf, _s, _e = pm4py.discover_performance_dfg(df)
    variants = pm4py.get_variants(df)
    rework = pm4py.get_rework_cases_per_activity(df)
    # get_all_case_durations raises KeyError('start_timestamp') on interval logs in 2.7.23.11, so it gets
    # the frame without the start-timestamp attribute: duration = last end - first end (the journeys'
    # first event, the car-park arrival, is an instant, so this equals last end - first start)
    plain = df.copy(deep=False)
    plain.attrs = {k: v for k, v in df.attrs.items() if k != "pm4py:param:start_timestamp_key"}
    durations = sorted(pm4py.get_all_case_durations(plain))
    svc = (df["time:timestamp"] - df["start_timestamp"]).dt.total_seconds().groupby(df["concept:name"]).mean()
    t, cpu = time.perf_counter() - t0, time.process_time() - c0
    return (
        {
            "dfg": dict(dfg),
            "perf": {k: v["mean"] for k, v in perf.items()},
            "starts": dict(starts),
            "ends": dict(ends),
            "variants": dict(variants),
            "rework": dict(rework),
            "service": svc.to_dict(),
            "durations": durations,
            "events": len(df),
        },
        t,
        cpu,
        t_read,
    )


def check(a: dict, b: dict) -> dict[str, bool]:
    close = lambda x, y: set(x) == set(y) and all(abs(float(x[k]) - float(y[k])) < 1e-6 for k in x)  # noqa: E731
    return {
        "dfg_counts_identical": a["dfg"] == {k: int(v) for k, v in b["dfg"].items()},
        "start_end_identical": a["starts"] == b["starts"] and a["ends"] == b["ends"],
        "variants_identical": a["variants"] == {tuple(k): int(v) for k, v in b["variants"].items()},
        "rework_identical": a["rework"] == {k: int(v) for k, v in b["rework"].items()},
        "edge_waits_equal": close(a["perf"], b["perf"]),
        "service_means_equal": close(a["service"], b["service"]),
        "case_durations_equal": len(a["durations"]) == len(b["durations"])
        and max(abs(x - y) for x, y in zip(a["durations"], b["durations"], strict=True)) < 1e-6,
    }


def xes_compare(path: Path, folder: Path, events: int = 100_000) -> dict:
    import pm4py

    from medtwin.services.operations.convert import export

    xes = folder / "slice.xes"
    with open_log(path) as log:
        log.con.execute(f"CREATE TEMP TABLE s AS SELECT * FROM ev_raw LIMIT {events}")
        log.con.execute("CREATE OR REPLACE TEMP VIEW ev_raw AS SELECT * FROM s")
        export(log, xes, "xes")
    t0 = time.perf_counter()
    with open_log(xes, workdir=folder / "x") as lg:
        n_ours = lg.con.execute("SELECT count(*) FROM ev_raw").fetchone()[0]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    el = pm4py.read_xes(str(xes))
    t_pm = time.perf_counter() - t0
    return {
        "events": events,
        "xes_events": 2 * events,
        "medtwin_s": round(t_ours, 2),
        "pm4py_s": round(t_pm, 2),
        "ratio": round(t_pm / t_ours, 1),
        "rows": [n_ours, len(el)],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "medtwin-flow-bench")
    ap.add_argument("--xes", action="store_true", help="also time the XES readers on 100,000 events")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    log = make_log(args.events, args.dir)
    import pm4py

    rows = []
    for i in range(args.repeat):
        a, t_ours, c_ours = ours(log)
        b, t_pm, c_pm, t_read = theirs(log)
        ok = check(a, b)
        rows.append(
            {
                "run": i + 1,
                "events": a["events"],
                "load": round(os.getloadavg()[0], 1),
                "medtwin_s": round(t_ours, 2),
                "pm4py_s": round(t_pm, 2),
                "ratio": round(t_pm / t_ours, 1),
                "medtwin_cpu_s": round(c_ours, 2),
                "pm4py_cpu_s": round(c_pm, 2),
                "cpu_ratio": round(c_pm / c_ours, 1),
                "pm4py_read_format_s": round(t_read, 2),
                **ok,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    out = {
        "pm4py": pm4py.__version__,
        "log": str(log),
        "cpus": os.cpu_count(),
        "runs": rows,
        "median_ratio": sorted(r["ratio"] for r in rows)[len(rows) // 2],
        "median_cpu_ratio": sorted(r["cpu_ratio"] for r in rows)[len(rows) // 2],
    }
    if args.xes:
        out["xes"] = xes_compare(log, args.dir)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
