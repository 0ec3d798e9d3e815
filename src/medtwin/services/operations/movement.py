"""Wasted movement: walking per journey on the building graph, from the rooms in the log.

Each step from one event's location to the next event's location in the same case is a walk
along the fastest route of :class:`~medtwin.models.flow.building.Building` (metres, seconds,
floors changed). Reported: walking per journey (mean, median, p90) and in total per year, the
share of the journey spent walking, floor changes, *backtracking* (A -> B -> A: the patient
returns to the room they just left, e.g. a follow-up consultation after a blood draw two floors
away), and the transitions and room pairs that account for most metres: where moving a room or
a service would save the most walking. Rooms in the log that the building does not know are
listed and their steps left out (never guessed).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from medtwin.models.flow.building import Building
from medtwin.services.operations.logs import EventLog


def _r(x: Any, nd: int = 1) -> float | None:
    return None if x is None else round(float(x), nd)


def register_distances(log: EventLog, b: Building) -> None:
    pairs = b.pairs()
    t = pa.table(
        {
            "a": [p[0] for p in pairs],
            "b": [p[1] for p in pairs],
            "m": [p[2] for p in pairs],
            "s": [p[3] for p in pairs],
            "fl": [p[4] for p in pairs],
        }
    )
    log.con.register("dist_arrow", t)
    log.con.execute("CREATE OR REPLACE TEMP TABLE dist AS SELECT * FROM dist_arrow")
    log.con.unregister("dist_arrow")


def walking(log: EventLog, b: Building, top: int = 10) -> dict[str, Any]:
    con = log.con
    register_distances(log, b)
    unknown = con.execute(
        """SELECT location, count(*) FROM ev WHERE location IS NOT NULL AND location NOT IN (SELECT a FROM dist)
        GROUP BY 1 ORDER BY 2 DESC LIMIT 20"""
    ).fetchall()
    con.execute(
        """CREATE OR REPLACE TEMP TABLE steps AS SELECT e.case_id, e.prev_act, e.activity, e.prev_loc, e.location,
            d.m, d.s, d.fl, (e.prev2_loc = e.location AND e.prev_loc <> e.location) AS back
        FROM ev e JOIN dist d ON d.a = e.prev_loc AND d.b = e.location WHERE e.seq > 1"""
    )
    per_case = con.execute(
        """WITH c AS (SELECT case_id, sum(m) AS m, sum(s) AS s, sum(fl) AS fl, sum(m) FILTER (WHERE back) AS bm
            FROM steps GROUP BY 1),
        dur AS (SELECT case_id, epoch(max("end")) - epoch(min(start)) AS d FROM ev GROUP BY 1)
        SELECT count(*), avg(m), quantile_cont(m, 0.5), quantile_cont(m, 0.9), sum(m), avg(fl),
            sum(coalesce(bm, 0)), count(*) FILTER (WHERE bm > 0), sum(s) / nullif(sum(d), 0)
        FROM c JOIN dur USING (case_id)"""
    ).fetchone()
    assert per_case is not None
    n, mean, med, p90, total, floors, back_m, back_cases, walk_share = per_case
    span = con.execute('SELECT epoch(max("end")) - epoch(min(start)) FROM ev').fetchone()
    years = max((span[0] if span and span[0] else 0) / (365.25 * 86400), 1 / 365.25)
    trans = con.execute(
        f"""SELECT prev_act, activity, count(*), avg(m), sum(m), avg(fl) FROM steps WHERE m > 0
        GROUP BY 1, 2 ORDER BY 5 DESC LIMIT {int(top)}"""
    ).fetchall()
    rooms = con.execute(
        f"""SELECT prev_loc, location, count(*), any_value(m), sum(m) FROM steps WHERE m > 0
        GROUP BY 1, 2 ORDER BY 5 DESC LIMIT {int(top)}"""
    ).fetchall()
    total = total or 0.0
    return {
        "building": b.id,
        "journeys": int(n or 0),
        "metres_per_journey_mean": _r(mean),
        "metres_per_journey_median": _r(med),
        "metres_per_journey_p90": _r(p90),
        "km_total": _r(total / 1000),
        "km_per_year": _r(total / 1000 / years),
        "floor_changes_per_journey": _r(floors, 2),
        "walking_share_of_journey": _r(walk_share, 4),
        "backtracking_km": _r((back_m or 0) / 1000),
        "backtracking_share": _r((back_m or 0) / total, 4) if total else 0.0,
        "journeys_with_backtracking": int(back_cases or 0),
        "top_transitions": [
            {
                "from": a,
                "to": c,
                "steps": int(k),
                "metres_mean": _r(mm),
                "km_total": _r(sm / 1000),
                "km_per_year": _r(sm / 1000 / years),
                "share": _r(sm / total, 4) if total else 0.0,
                "floor_changes_mean": _r(fl, 2),
            }
            for a, c, k, mm, sm, fl in trans
        ],
        "top_room_pairs": [
            {"from": a, "to": c, "steps": int(k), "metres": _r(m), "km_total": _r(sm / 1000)}
            for a, c, k, m, sm in rooms
        ],
        "unknown_locations": [{"location": loc, "events": int(k)} for loc, k in unknown],
    }
