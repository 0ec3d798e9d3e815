"""Journey analytics on an opened event log, columnar in DuckDB (no Python object per event).

Definitions (interval logs with start and end per activity, as recommended for waiting-time
analysis; pm4py issue #411 notes that single-timestamp methods cannot separate the two):

* order in a case: by start, then end, then activity name;
* **waiting** before an activity = its start − the previous activity's end in the same case
  (walking plus queueing); negative values (overlapping activities) count as 0 and are
  reported as ``overlaps``; the first activity of a case has no waiting;
* **service** = end − start;
* **directly-follows graph**: a → b when b is the next activity of the case after a, with the
  count and the waiting between them; ``▶`` and ``■`` mark case start and end;
* **bottleneck score** of an activity = mean waiting × number of visits = total waiting time it
  causes (hours); ranked, with its share of all waiting and the hour of day it peaks;
* **rework**: an activity occurring more than once in a case (a planned follow-up counts too);
  ``immediate_repeats`` counts the repeats that directly follow the same activity;
* **utilisation** of a resource = its service time / its presence, presence being each day's
  span from its first start to its last end (a log has no rosters; this slightly overstates
  utilisation since idle time before the first and after the last patient is not seen);
* load by hour and weekday in the log's time zone (arrivals = first event of each case).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from medtwin.models.flow.stats import fit_sufficient
from medtwin.services.operations.core import core, prepare
from medtwin.services.operations.logs import EventLog

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BINS_MIN = (0, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180)
START, END = "▶", "■"


def _r(x: Any, nd: int = 2) -> float | None:
    if x is None:
        return None
    f = float(x)
    return None if math.isnan(f) or math.isinf(f) else round(f, nd)


def _bins_case(col: str) -> str:
    parts = [f"WHEN {col} < {b * 60} THEN {i}" for i, b in enumerate(BINS_MIN[1:])]
    return f"CASE {' '.join(parts)} ELSE {len(BINS_MIN) - 1} END"


def summary(log: EventLog) -> dict[str, Any]:
    r = log.con.execute(
        """SELECT count(*), count(DISTINCT case_id), count(DISTINCT activity), count(DISTINCT resource),
            count(DISTINCT location), min(start), max("end"), count(*) FILTER (WHERE gap_s < 0),
            count(DISTINCT CAST(lstart AS DATE))
        FROM ev"""
    ).fetchone()
    assert r is not None
    return {
        "events": int(r[0]),
        "cases": int(r[1]),
        "activities": int(r[2]),
        "resources": int(r[3]),
        "locations": int(r[4]),
        "first": r[5].isoformat() if r[5] else None,
        "last": r[6].isoformat() if r[6] else None,
        "overlaps": int(r[7]),
        "days_with_events": int(r[8]),
        "timezone": log.timezone,
        "skipped_rows": log.skipped,
        "source": log.path.name,
        "format": log.format,
    }


def dfg(log: EventLog) -> dict[str, Any]:
    c = core(log)
    return {
        "nodes": [
            {"activity": a, "count": n, "cases": k, "position": _r(pos)} for a, n, k, pos in c["nodes"]
        ],
        "edges": [
            {
                "from": a,
                "to": b,
                "count": n,
                "wait_mean_min": _r(m / 60 if m is not None else None),
                "wait_median_min": _r(md / 60 if md is not None else None),
                "wait_p90_min": _r(p / 60 if p is not None else None),
            }
            for a, b, n, m, md, p in c["edges"]
        ],
    }


def stages(log: EventLog) -> list[dict[str, Any]]:
    """Per activity: waiting and service distributions, fitted service distribution, hot hour."""
    rows = log.con.execute(
        """SELECT activity, count(*), count(DISTINCT case_id),
            count(gap_s), avg(wait_s), quantile_cont(wait_s, [0.5, 0.9, 0.95]),
            sum(wait_s),
            avg(svc_s), quantile_cont(svc_s, [0.5, 0.9]), stddev_samp(svc_s),
            count(*) FILTER (WHERE svc_s > 0), sum(svc_s) FILTER (WHERE svc_s > 0),
            sum(ln(svc_s)) FILTER (WHERE svc_s > 0), sum(ln(svc_s) * ln(svc_s)) FILTER (WHERE svc_s > 0),
            sum(svc_s * svc_s) FILTER (WHERE svc_s > 0), count(*) FILTER (WHERE svc_s <= 0)
        FROM ev GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    hot = dict(
        log.con.execute(
            """SELECT activity, arg_max(h, w) FROM (
                SELECT activity, hour(lstart) AS h, sum(wait_s) AS w FROM ev
                WHERE gap_s IS NOT NULL GROUP BY 1, 2) GROUP BY 1"""
        ).fetchall()
    )
    hist = _histograms(log)
    out = []
    for a, n, cases, nw, wm, wq, wsum, sm, sq, ssd, npos, sx, slx, slx2, sx2, nzero in rows:
        fit = fit_sufficient(
            int(npos),
            float(sx or 0),
            float(slx or 0),
            float(slx2 or 0),
            n_zero=int(nzero),
            sum_x2=float(sx2 or 0),
        )
        out.append(
            {
                "activity": a,
                "visits": int(n),
                "cases": int(cases),
                "waits": int(nw),
                "wait_mean_min": _r((wm or 0) / 60),
                "wait_median_min": _r(wq[0] / 60) if wq else None,
                "wait_p90_min": _r(wq[1] / 60) if wq else None,
                "wait_p95_min": _r(wq[2] / 60) if wq else None,
                "wait_total_h": _r((wsum or 0) / 3600, 1),
                "service_mean_min": _r((sm or 0) / 60),
                "service_median_min": _r(sq[0] / 60) if sq else None,
                "service_p90_min": _r(sq[1] / 60) if sq else None,
                "service_cv": _r(ssd / sm if ssd and sm else 0.0, 3),
                "service_fit": fit.as_dict(),
                "peak_wait_hour": hot.get(a),
                "wait_hist": hist["wait"].get(a, []),
                "service_hist": hist["service"].get(a, []),
            }
        )
    return out


def _histograms(log: EventLog) -> dict[str, dict[str, list[int]]]:
    out: dict[str, dict[str, list[int]]] = {"wait": {}, "service": {}}
    for key, col, cond in (("wait", "wait_s", "gap_s IS NOT NULL"), ("service", "svc_s", "true")):
        for a, b, n in log.con.execute(
            f"SELECT activity, {_bins_case(col)} AS b, count(*) FROM ev WHERE {cond} GROUP BY 1, 2"
        ).fetchall():
            out[key].setdefault(a, [0] * len(BINS_MIN))[int(b)] = int(n)
    return out


def bottlenecks(stage_rows: list[dict[str, Any]], top: int = 10) -> list[dict[str, Any]]:
    total = sum(s["wait_total_h"] or 0 for s in stage_rows) or 1.0
    ranked = sorted(
        (s for s in stage_rows if s["waits"]), key=lambda s: s["wait_mean_min"] * s["waits"], reverse=True
    )
    return [
        {
            "rank": i + 1,
            "activity": s["activity"],
            "score_h": _r(s["wait_mean_min"] * s["waits"] / 60, 1),
            "share": _r((s["wait_total_h"] or 0) / total, 4),
            "wait_mean_min": s["wait_mean_min"],
            "wait_p90_min": s["wait_p90_min"],
            "visits": s["visits"],
            "peak_wait_hour": s["peak_wait_hour"],
        }
        for i, s in enumerate(ranked[:top])
    ]


def load(log: EventLog) -> dict[str, Any]:
    con = log.con
    ndays = dict(
        con.execute(
            """SELECT isodow(d) - 1, count(*) FROM (SELECT unnest(generate_series(
                CAST(min(lstart) AS DATE), CAST(max(lstart) AS DATE), INTERVAL 1 DAY)) AS d FROM ev) GROUP BY 1"""
        ).fetchall()
    )
    arrivals = [[0.0] * 24 for _ in range(7)]
    for wd, h, n in con.execute(
        "SELECT isodow(lstart) - 1, hour(lstart), count(*) FROM ev WHERE seq = 1 GROUP BY 1, 2"
    ).fetchall():
        arrivals[int(wd)][int(h)] = _r(n / max(ndays.get(wd, 1), 1), 2) or 0.0
    acts = [a for (a,) in con.execute("SELECT DISTINCT activity FROM ev ORDER BY 1").fetchall()]
    starts = {a: [0] * 24 for a in acts}
    waits: dict[str, list[float | None]] = {a: [None] * 24 for a in acts}
    for a, h, n, w in con.execute(
        "SELECT activity, hour(lstart), count(*), avg(wait_s) FROM ev GROUP BY 1, 2"
    ).fetchall():
        starts[a][int(h)] = int(n)
        waits[a][int(h)] = _r(w / 60) if w is not None else None
    monthly = [
        {"month": str(m), "cases": int(n)}
        for m, n in con.execute(
            "SELECT strftime(lstart, '%Y-%m'), count(*) FROM ev WHERE seq = 1 GROUP BY 1 ORDER BY 1"
        ).fetchall()
    ]
    weekday = [0] * 7
    for wd, n in con.execute(
        "SELECT isodow(lstart) - 1, count(*) FROM ev WHERE seq = 1 GROUP BY 1"
    ).fetchall():
        weekday[int(wd)] = int(n)
    return {
        "weekdays": list(WEEKDAY_NAMES),
        "arrivals_per_day_by_weekday_hour": arrivals,
        "arrivals_by_weekday": weekday,
        "starts_by_activity_hour": starts,
        "wait_mean_min_by_activity_hour": waits,
        "cases_by_month": monthly,
    }


def variants(log: EventLog, top: int = 20) -> dict[str, Any]:
    c = core(log)
    n_cases = max(c["cases"], 1)
    d = c["durations"]
    return {
        "variants": len(c["variants"]),
        "journey_mean_min": _r(d["mean"] / 60),
        "journey_median_min": _r(d["median"] / 60),
        "journey_p90_min": _r(d["p90"] / 60),
        "top": [
            {
                "activities": list(v),
                "cases": n,
                "share": _r(n / n_cases, 4),
                "duration_mean_min": _r(dur / 60),
            }
            for v, n, dur in c["variants"][:top]
        ],
    }


def rework(log: EventLog) -> dict[str, Any]:
    c = core(log)
    return {
        "cases_with_rework": c["rework_cases"],
        "share": _r(c["rework_cases"] / max(c["cases"], 1), 4),
        "by_activity": [
            {"activity": a, "cases": k, "repeats": r, "immediate_repeats": c["immediate"].get(a, 0)}
            for a, k, r in c["rework"]
        ],
    }


def resources(log: EventLog, top: int = 200) -> list[dict[str, Any]]:
    rows = log.con.execute(
        f"""WITH d AS (SELECT resource, CAST(lstart AS DATE) AS day, min(start) AS s0, max("end") AS s1,
                sum(svc_s) AS busy, count(*) AS n FROM ev WHERE resource IS NOT NULL GROUP BY 1, 2),
            a AS (SELECT resource, string_agg(DISTINCT activity, ', ' ORDER BY activity) AS acts
                FROM ev WHERE resource IS NOT NULL GROUP BY 1)
        SELECT d.resource, a.acts, sum(n), sum(busy), sum(epoch(s1) - epoch(s0)), count(*)
        FROM d JOIN a USING (resource) GROUP BY 1, 2 ORDER BY 1 LIMIT {int(top)}"""
    ).fetchall()
    return [
        {
            "resource": r,
            "activities": acts,
            "events": int(n),
            "busy_h": _r(busy / 3600, 1),
            "present_h": _r(pres / 3600, 1),
            "days": int(days),
            "utilisation": _r(busy / pres, 3) if pres else None,
        }
        for r, acts, n, busy, pres, days in rows
    ]


def analyze(
    log: EventLog,
    building: Any = None,
    *,
    prepared: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Every statistic above (and walking when a building is given) as one JSON-able dict."""
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("order", lambda: None if prepared else prepare(log)),
        ("summary", lambda: summary(log)),
        ("dfg", lambda: dfg(log)),
        ("stages", lambda: stages(log)),
        ("load", lambda: load(log)),
        ("variants", lambda: variants(log)),
        ("rework", lambda: rework(log)),
        ("resources", lambda: resources(log)),
    ]
    if building is not None:
        from medtwin.services.operations.movement import walking

        steps.append(("walking", lambda: walking(log, building)))
    out: dict[str, Any] = {}
    for i, (name, fn) in enumerate(steps):
        if progress:
            progress(name, i / len(steps))
        res = fn()
        if res is not None:
            out[name] = res
    out["bottlenecks"] = bottlenecks(out["stages"])
    if progress:
        progress("done", 1.0)
    return out
