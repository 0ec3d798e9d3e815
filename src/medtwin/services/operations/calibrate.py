"""Build a :class:`~medtwin.models.flow.network.FlowModel` from an event log, automatically.

All estimates are SQL aggregates over the prepared log (:func:`analytics.prepare`):

* **arrivals**: first events per (weekday, hour) averaged over the open days of that weekday
  (days with at least one arrival), and each open day's factor = its arrivals / its weekday's
  expected total, so sampling days reproduces seasonality and weekly variation;
* **routing**: transition counts between states "activity#k" (k-th occurrence, capped at 3);
* **service**: exponential / gamma / lognormal fitted per state (per activity when a state has
  fewer than 200 visits) from sufficient statistics, best AIC (:mod:`medtwin.models.flow.stats`);
* **pools**: activities that share resources form one pool (connected components of the
  activity-resource graph); activities without resources are pure delays;
* **rosters**: each resource's presence is rebuilt from its services, merging gaps shorter than
  45 minutes into one session (a break of 45 minutes or more is time away); the resource counts
  as present in an hour it covers for at least 30 minutes; the roster of a pool for (weekday,
  hour) is the median over that weekday's open days of the number of its resources present;
* **rooms**: the frequency of each location per activity; walking from the building graph.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from medtwin.models.flow.building import Building
from medtwin.models.flow.network import END, START, FlowModel, Stage
from medtwin.models.flow.stats import Fit, fit_sufficient
from medtwin.services.operations.logs import EventLog

MIN_STATE_VISITS = 200
GAP_MERGE_S = 45 * 60
PRESENT_S = 30 * 60


def _states(log: EventLog) -> None:
    log.con.execute(
        """CREATE OR REPLACE TEMP TABLE evs AS SELECT case_id, seq, activity, resource, location, svc_s, start,
            activity || '#' || least(row_number() OVER (PARTITION BY case_id, activity ORDER BY seq), 3) AS state
        FROM ev"""
    )


def _fits(log: EventLog) -> dict[str, dict[str, Fit]]:
    agg = """count(*) FILTER (WHERE svc_s > 0), sum(svc_s) FILTER (WHERE svc_s > 0),
        sum(ln(svc_s)) FILTER (WHERE svc_s > 0), sum(ln(svc_s) ^ 2) FILTER (WHERE svc_s > 0),
        sum(svc_s ^ 2) FILTER (WHERE svc_s > 0), count(*) FILTER (WHERE svc_s <= 0), count(*)"""
    out: dict[str, dict[str, Fit]] = defaultdict(dict)
    for key in ("activity", "state"):
        for k, n, sx, slx, slx2, sx2, nz, total in log.con.execute(
            f"SELECT {key}, {agg} FROM evs GROUP BY 1"
        ).fetchall():
            f = fit_sufficient(
                int(n),
                float(sx or 0),
                float(slx or 0),
                float(slx2 or 0),
                n_zero=int(nz),
                sum_x2=float(sx2 or 0),
            )
            if key == "activity":
                out[k]["*"] = f
            elif total >= MIN_STATE_VISITS:
                out[k.rsplit("#", 1)[0]][k] = f
    return out


def _pools(log: EventLog) -> dict[str, str | None]:
    """activity -> pool name (connected components of activity-resource links)."""
    acts = [a for (a,) in log.con.execute("SELECT DISTINCT activity FROM ev ORDER BY 1").fetchall()]
    parent = {a: a for a in acts}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (group,) in log.con.execute(
        "SELECT list(DISTINCT activity ORDER BY activity) FROM ev WHERE resource IS NOT NULL GROUP BY resource"
    ).fetchall():
        for other in group[1:]:
            ra, rb = find(group[0]), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    staffed = {
        a
        for (a,) in log.con.execute("SELECT DISTINCT activity FROM ev WHERE resource IS NOT NULL").fetchall()
    }
    members: dict[str, list[str]] = defaultdict(list)
    for a in acts:
        if a in staffed:
            members[find(a)].append(a)
    name = {root: " + ".join(sorted(m)) for root, m in members.items()}
    return {a: (name[find(a)] if a in staffed else None) for a in acts}


def _routing(log: EventLog) -> dict[str, tuple[list[str], list[float]]]:
    rows = log.con.execute(
        f"""WITH t AS (SELECT coalesce(lag(state) OVER w, '{START}') AS a, state AS b,
                lead(state) OVER w IS NULL AS last FROM evs WINDOW w AS (PARTITION BY case_id ORDER BY seq))
        SELECT a, b, count(*) FROM t GROUP BY 1, 2
        UNION ALL SELECT b, '{END}', count(*) FROM t WHERE last GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2"""
    ).fetchall()
    by: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for a, b, n in rows:
        by[a].append((b, int(n)))
    out = {}
    for a, lst in by.items():
        total = sum(n for _, n in lst)
        cum, acc = [], 0
        for _, n in lst:
            acc += n
            cum.append(acc / total)
        out[a] = ([b for b, _ in lst], cum)
    return out


def _arrivals(log: EventLog) -> tuple[list[list[float]], list[tuple[int, float]], list[tuple[str, int]]]:
    per_day = log.con.execute(
        """SELECT CAST(lstart AS DATE) AS d, isodow(lstart) - 1, hour(lstart), count(*) FROM ev WHERE seq = 1
        GROUP BY 1, 2, 3 ORDER BY 1"""
    ).fetchall()
    day_total: dict[Any, int] = defaultdict(int)
    day_wd: dict[Any, int] = {}
    rate_sum = np.zeros((7, 24))
    for d, wd, h, n in per_day:
        day_total[d] += int(n)
        day_wd[d] = int(wd)
        rate_sum[int(wd), int(h)] += n
    open_days = np.zeros(7)
    for d in day_total:
        open_days[day_wd[d]] += 1
    rates = rate_sum / np.maximum(open_days, 1)[:, None]
    days = []
    for d, tot in sorted(day_total.items()):
        expected = rates[day_wd[d]].sum()
        days.append((day_wd[d], float(tot / expected) if expected else 1.0))
    return rates.round(4).tolist(), days, [(str(d), day_wd[d]) for d in sorted(day_total)]


def _rosters(
    log: EventLog, pools: dict[str, str | None], open_dates: list[tuple[str, int]]
) -> dict[str, list[list[int]]]:
    rows = log.con.execute(
        f"""WITH iv AS (SELECT resource, CAST(lstart AS DATE) AS d,
                epoch(lstart) - epoch(CAST(CAST(lstart AS DATE) AS TIMESTAMP)) AS a,
                epoch(lstart) - epoch(CAST(CAST(lstart AS DATE) AS TIMESTAMP)) + svc_s AS b, activity FROM ev
                WHERE resource IS NOT NULL),
            g AS (SELECT *, CASE WHEN a - max(b) OVER (PARTITION BY resource, d ORDER BY a, b
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) > {GAP_MERGE_S} THEN 1 ELSE 0 END AS brk FROM iv),
            s AS (SELECT *, sum(brk) OVER (PARTITION BY resource, d ORDER BY a, b) AS sess FROM g),
            se AS (SELECT resource, d, any_value(activity) AS act, min(a) AS a, max(b) AS b FROM s GROUP BY 1, 2, sess),
            hr AS (SELECT resource, d, act, a, b, unnest(range(CAST(floor(a / 3600) AS BIGINT),
                CAST(least(floor(b / 3600), 23) AS BIGINT) + 1)) AS h FROM se)
        SELECT act, CAST(d AS VARCHAR), h, count(DISTINCT resource) FROM hr
        WHERE least(b, (h + 1) * 3600) - greatest(a, h * 3600) >= {PRESENT_S}
        GROUP BY 1, 2, 3"""
    ).fetchall()
    index = {d: i for i, (d, _wd) in enumerate(open_dates)}
    pool_names = sorted({p for p in pools.values() if p})
    counts = {p: np.zeros((len(open_dates), 24)) for p in pool_names}
    for act, d, h, n in rows:
        p = pools.get(act)
        if p and d in index:
            counts[p][index[d], int(h)] += n  # a resource serves one pool (components)
    wds = np.array([wd for _d, wd in open_dates])
    out: dict[str, list[list[int]]] = {}
    for p, c in counts.items():
        table = []
        for wd in range(7):
            sel = c[wds == wd]
            table.append([math.floor(v + 0.5) for v in np.median(sel, axis=0)] if len(sel) else [0] * 24)
        out[p] = table
    return out


def _rooms(log: EventLog) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for a, loc, share in log.con.execute(
        """SELECT activity, location, count(*) / sum(count(*)) OVER (PARTITION BY activity) FROM ev
        WHERE location IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 3 DESC"""
    ).fetchall():
        out[a].append((loc, float(share)))
    return out


def build_model(log: EventLog, building: Building | None) -> FlowModel:
    """The calibrated model of the log (``analytics.prepare`` must have run)."""
    _states(log)
    pools = _pools(log)
    fits = _fits(log)
    rooms = _rooms(log)
    known = set(building.rooms) if building else set()
    stages = {}
    for a, pool in pools.items():
        rm = [(r, p) for r, p in rooms.get(a, []) if r in known]
        total = sum(p for _, p in rm)
        stages[a] = Stage(
            a,
            pool,
            fits.get(a) or {"*": Fit("constant", {"value": 0.0}, 0.0, 0.0)},
            [(r, p / total) for r, p in rm] if total else [],
        )
    arrivals, days, open_dates = _arrivals(log)
    rosters = _rosters(log, pools, open_dates)
    if building is not None:
        ids, wm, ws, _ = building.matrices()
    else:
        ids, wm, ws = [], np.zeros((0, 0)), np.zeros((0, 0))
    return FlowModel(
        stages=stages,
        routing=_routing(log),
        arrivals=arrivals,
        days=days,
        rosters=rosters,
        rooms=list(ids),
        walk_s=np.round(ws, 2).tolist(),
        walk_m=np.round(wm, 2).tolist(),
        meta={
            "source": log.path.name,
            "timezone": log.timezone,
            "building": building.id if building else None,
            "open_days": len(days),
        },
    )
