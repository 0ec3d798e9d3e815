"""``medtwin flow generate``: a synthetic multi-year outpatient journey log with known ground truth.

Journey: car park arrival -> registration -> consultation in one of five departments -> blood
draw and/or imaging detours (with a follow-up consultation) -> payment -> pharmacy -> car park
exit, with re-registration and repeated blood draws as rework. Rooms and walking come from the
building model (:mod:`medtwin.models.flow.building`), staff from hourly rosters; parameters in
:mod:`medtwin.services.operations.genconfig`. Output: Parquet (default) or CSV with the columns
``case_id, activity, start, end, resource, location, department`` (UTC timestamps), plus
``<out>.meta.json`` holding the time zone, the configuration and the ground truth: per activity
the realised mean walking, queueing and planted waits, and the rosters.

Case ids are opaque sequence numbers; staff ids are pseudonymous codes: nothing identifies a
patient or an employee.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from medtwin.core.errors import ValidationError
from medtwin.models.flow.building import Building
from medtwin.services.operations.buildings import load_building
from medtwin.services.operations.genconfig import ARRIVAL, EXIT, WEEKDAYS, GeneratorConfig
from medtwin.services.operations.genkernel import (
    Plan,
    hours_roster,
    roster_table,
    simulate_day,
    station_params,
)

Progress = Callable[[int, int], None]


def make_plan(cfg: GeneratorConfig, building: Building) -> Plan:
    labels = [ARRIVAL, EXIT]
    roles: dict[str, int] = {}
    specs = []
    for role, st in cfg.stations.items():
        roles[role] = len(labels)
        labels.append(st.name)
        specs.append(st)
    for role in ("registration", "lab", "imaging", "payment", "pharmacy"):
        if role not in roles:
            raise ValidationError(f"the station {role!r} is required", field="stations")
    dept_station = []
    for d in cfg.departments:
        dept_station.append(len(labels))
        labels.append(d.station.name)
        specs.append(d.station)
    ids, wm, ws, _ = building.matrices()
    room_ix = {r: i for i, r in enumerate(ids)}
    if "PARK" not in room_ix:
        raise ValidationError("the building needs a room 'PARK' (car park)", field="building")
    server_room: list[list[int]] = [[room_ix["PARK"]], [room_ix["PARK"]]]
    server_res: list[list[int]] = [[-1], [-1]]
    resources: list[str] = []
    for st in specs:
        for r in st.rooms:
            if r not in room_ix:
                raise ValidationError(f"room {r!r} of {st.name!r} is not in the building", field="rooms")
        server_room.append([room_ix[r] for r in st.rooms])
        server_res.append(list(range(len(resources), len(resources) + len(st.rooms))))
        resources.extend(f"{st.staff_prefix}-{i + 1:02d}" for i in range(len(st.rooms)))
    shares = np.array([d.share for d in cfg.departments], dtype=float)
    plan = Plan(
        labels=labels,
        roles=roles,
        dept_station=dept_station,
        dept_shares=shares / shares.sum(),
        dept_probs=np.array([[d.lab, d.imaging, d.followup, d.pharmacy] for d in cfg.departments]),
        dept_names=[d.name for d in cfg.departments],
        server_room=server_room,
        server_res=server_res,
        target_room=[room_ix["PARK"], room_ix["PARK"]]
        + [room_ix[st.rooms[len(st.rooms) // 2]] for st in specs],
        svc=[(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)] + [station_params(st) for st in specs],
        roster_weekday=[[0] * 24, [0] * 24] + [hours_roster(st.roster, len(st.rooms)) for st in specs],
        roster_saturday=[[0] * 24, [0] * 24] + [hours_roster(st.saturday, len(st.rooms)) for st in specs],
        walk_m=wm,
        walk_s=ws,
        base_speed=building.speed_m_s,
        park_room=room_ix["PARK"],
        cfg=cfg,
    )
    by_name = {lb.lower(): i for i, lb in enumerate(labels)} | {r: i for r, i in roles.items()}
    for b in cfg.bottlenecks:
        s = by_name.get(b.station.lower())
        if s is None or s < 2:
            raise ValidationError(
                f"unknown station {b.station!r}; one of {', '.join(labels[2:])}", field="bottlenecks"
            )
        plan.bottlenecks.append((s, b))
    plan.resources = resources  # type: ignore[attr-defined]
    plan.rooms = ids  # type: ignore[attr-defined]
    return plan


def expected_patients(cfg: GeneratorConfig, day: date) -> float:
    """Mean number of patients on ``day`` (weekday factor x season x holidays)."""
    if day.strftime("%m-%d") in cfg.holidays:
        return 0.0
    f = cfg.weekday_factor.get(WEEKDAYS[day.weekday()], 0.0)
    doy = day.timetuple().tm_yday
    season = 1.0 + cfg.winter_excess * math.cos(2 * math.pi * (doy - 15) / 365.25)
    if 29 <= day.isocalendar().week <= 34:
        season *= 1.0 - cfg.summer_dip
    return cfg.patients_per_day * f * season


def calendar(cfg: GeneratorConfig) -> list[tuple[int, date, int]]:
    """(day number, date, patients) for every day of the log (Poisson volumes, seeded)."""
    start = date.fromisoformat(cfg.start)
    days = round(cfg.years * 365.25)
    rng = np.random.default_rng([cfg.seed, 10**9])
    out = []
    for k in range(days):
        d = start + timedelta(days=k)
        out.append((k, d, int(rng.poisson(expected_patients(cfg, d)))))
    return out


def _empty_truth(n: int) -> dict[str, list[float]]:
    return {k: [0.0] * n for k in ("walk", "queue", "delay", "n")}


def _run_chunk(args: tuple[Plan, list[tuple[int, date, int]]]) -> tuple[list[Any], dict[str, list[float]]]:
    plan, days = args
    truth = _empty_truth(len(plan.labels))
    outs = []
    for k, d, n in days:
        ev = simulate_day(plan, d, k, n, truth)
        outs.append((k, d, n, {key: np.asarray(v) for key, v in ev.items()}))
    return outs, truth


@dataclass
class GenerateResult:
    path: Path
    events: int
    cases: int
    days: int
    seconds: float
    meta_path: Path


def _to_table(plan: Plan, chunk: list[Any], case_offset: int, tz: str) -> tuple[pa.Table, int]:
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("case", "act", "start", "end", "res", "loc", "dept")}
    off = case_offset
    for _k, d, n, ev in chunk:
        if not len(ev["case"]):
            continue
        midnight = (d - date(1970, 1, 1)).days * 86_400_000_000
        order = np.lexsort((ev["start"], ev["case"]))
        for key in cols:
            a = ev[key][order]
            if key in ("start", "end"):
                a = midnight + np.round(a).astype(np.int64) * 1_000_000
            elif key == "case":
                a = a + off
            cols[key].append(a)
        off += n
    if not cols["case"]:
        return pa.table({}), off
    c = {k: np.concatenate(v) for k, v in cols.items()}
    case = pc.binary_join_element_wise(
        "J", pc.utf8_lpad(pa.array(c["case"] + 1).cast(pa.string()), 8, "0"), ""
    )
    res_names = pa.array(plan.resources, pa.string())  # type: ignore[attr-defined]
    res_ix = pa.array(np.where(c["res"] < 0, 0, c["res"]), pa.int32())
    resource = pc.if_else(pa.array(c["res"] < 0), pa.scalar(None, pa.string()), pc.take(res_names, res_ix))
    ts = []
    for key in ("start", "end"):
        naive = pa.array(c[key], pa.timestamp("us"))
        ts.append(
            pa.array(c[key], pa.timestamp("us", tz="UTC"))
            if tz == "UTC"
            else pc.assume_timezone(naive, timezone=tz, ambiguous="earliest", nonexistent="latest").cast(
                pa.timestamp("us", tz="UTC")
            )
        )
    table = pa.table(
        {
            "case_id": case,
            "activity": pc.take(pa.array(plan.labels, pa.string()), pa.array(c["act"], pa.int32())),
            "start": ts[0],
            "end": ts[1],
            "resource": resource,
            "location": pc.take(pa.array(plan.rooms, pa.string()), pa.array(c["loc"], pa.int32())),  # type: ignore[attr-defined]
            "department": pc.take(pa.array(plan.dept_names, pa.string()), pa.array(c["dept"], pa.int32())),
        }
    )
    return table, off


def _chunks(days: list[tuple[int, date, int]], size: int) -> Iterator[list[tuple[int, date, int]]]:
    for i in range(0, len(days), size):
        yield days[i : i + size]


def generate(
    cfg: GeneratorConfig,
    out: Path,
    *,
    fmt: str = "parquet",
    workers: int = 0,
    progress: Progress | None = None,
    building: Building | None = None,
) -> GenerateResult:
    """Write the log to ``out`` (Parquet or CSV) and ``<out>.meta.json``; returns counts."""
    if fmt not in ("parquet", "csv"):
        raise ValidationError("must be parquet or csv", field="format")
    if cfg.years <= 0:
        raise ValidationError("must be > 0", field="years")
    t0 = time.perf_counter()
    building = building or load_building(cfg.building or None)
    plan = make_plan(cfg, building)
    days = calendar(cfg)
    chunk_days = 7 if len(days) <= 400 else 28
    tasks = [(plan, ch) for ch in _chunks(days, chunk_days)]
    truth = _empty_truth(len(plan.labels))
    out.parent.mkdir(parents=True, exist_ok=True)
    writer: Any = None
    events = cases = 0
    workers = workers or min(mp.cpu_count(), 8)
    from medtwin.services.operations.simulate import pool_context

    ctx = pool_context() if workers > 1 else None
    pool = ctx.Pool(workers) if ctx else None
    try:
        results = pool.imap(_run_chunk, tasks) if pool else map(_run_chunk, tasks)
        done = 0
        for chunk, tr in results:
            for key in truth:
                truth[key] = [a + b for a, b in zip(truth[key], tr[key], strict=True)]
            table, cases = _to_table(plan, chunk, cases, cfg.timezone)
            done += len(chunk)
            if table.num_rows:
                events += table.num_rows
                if writer is None:
                    meta = {
                        b"medtwin.timezone": cfg.timezone.encode(),
                        b"medtwin.generator": b"medtwin flow generate",
                    }
                    schema = table.schema.with_metadata(meta)
                    writer = (
                        pq.ParquetWriter(out, schema, compression="zstd")
                        if fmt == "parquet"
                        else pacsv.CSVWriter(out, schema)
                    )
                writer.write_table(
                    table.replace_schema_metadata(writer.schema.metadata) if fmt == "parquet" else table
                )
            if progress:
                progress(done, len(days))
    finally:
        if pool:
            pool.close()
            pool.join()
        if writer is not None:
            writer.close()
    meta_path = out.with_name(out.name + ".meta.json")
    meta_path.write_text(json.dumps(_meta(cfg, plan, truth, days, building), indent=1, default=str))
    return GenerateResult(out, events, cases, len(days), time.perf_counter() - t0, meta_path)


def _meta(
    cfg: GeneratorConfig, plan: Plan, truth: dict[str, list[float]], days: Any, b: Building
) -> dict[str, Any]:
    per = {}
    for s, label in enumerate(plan.labels):
        n = truth["n"][s]
        if n:
            per[label] = {
                "visits": int(n),
                "mean_walk_s": truth["walk"][s] / n,
                "mean_queue_s": truth["queue"][s] / n,
                "mean_planted_s": truth["delay"][s] / n,
                "mean_wait_s": (truth["walk"][s] + truth["queue"][s] + truth["delay"][s]) / n,
            }
    monday = next(d for _k, d, _n in days if d.weekday() == 0) if days else date(2021, 1, 4)
    return {
        "format": "medtwin flow log",
        "timezone": cfg.timezone,
        "building": b.to_dict(),
        "config": cfg.as_dict(),
        "truth": {
            "per_activity": per,
            "rosters_monday": roster_table(plan, monday),
            "bottlenecks": [{"station": plan.labels[s], **vars(bn)} for s, bn in plan.bottlenecks],
        },
    }
