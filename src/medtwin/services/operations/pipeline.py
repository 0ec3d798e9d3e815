"""One call from a log to analytics, and from a log to a validated what-if comparison.

Used by ``medtwin flow analyze|simulate`` and by the API's background jobs. Progress is
reported as (stage label, fraction 0-1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.models.flow.building import Building
from medtwin.models.flow.network import FlowModel
from medtwin.services.operations import simulate as sim
from medtwin.services.operations.analytics import analyze
from medtwin.services.operations.buildings import load_building
from medtwin.services.operations.calibrate import build_model
from medtwin.services.operations.core import prepare
from medtwin.services.operations.logs import EventLog, open_log
from medtwin.services.operations.mapping import LogMapping
from medtwin.services.operations.scenarios import apply

Progress = Callable[[str, float], None]


def _noop(_s: str, _f: float) -> None:
    return None


def resolve_building(log: EventLog, building: str | Path | None) -> tuple[Building | None, str]:
    """Explicit file > the log's sidecar > the bundled demo building if it knows the log's rooms."""
    if building:
        return load_building(building), str(building)
    if isinstance(log.meta.get("building"), dict):
        return load_building(data=log.meta["building"]), "log sidecar"
    b = load_building()
    locs = [
        r[0]
        for r in log.con.execute("SELECT DISTINCT location FROM ev_raw WHERE location IS NOT NULL").fetchall()
    ]
    if locs and sum(loc in b.rooms for loc in locs) >= 0.5 * len(locs):
        return b, "bundled demo building"
    return None, "none (the log's locations are not in a known building)"


def open_and_analyze(
    path: str | Path,
    mapping: LogMapping | None = None,
    *,
    building: str | Path | None = None,
    workdir: Path | None = None,
    progress: Progress = _noop,
) -> tuple[EventLog, dict[str, Any], Building | None]:
    t0 = time.perf_counter()
    progress("reading the log", 0.0)
    log = open_log(
        path,
        mapping,
        workdir=workdir,
        defer_checks=True,
        progress=lambda n: progress(f"converting: {n} traces", 0.02),
    )
    progress("ordering journeys", 0.05)
    prepare(log)  # also runs the deferred checks
    b, source = resolve_building(log, building)
    res = analyze(log, b, prepared=True, progress=lambda s, f: progress(s, 0.1 + 0.85 * f))
    res["building_source"] = source
    res["seconds"] = round(time.perf_counter() - t0, 2)
    progress("done", 1.0)
    return log, res, b


def fit_delays(m: FlowModel, analysis: dict[str, Any], reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add an extra delay where the log waits longer than queueing explains (pilot run)."""
    added = []
    for row in sim.validate(reps, analysis)["stages"]:
        gap = row["log_wait_min"] - row["sim_wait_min"]
        st = m.stages.get(row["activity"])
        if st is not None and not row["pass"] and gap > 0:
            st.delay_s += gap * 60
            added.append({"activity": row["activity"], "delay_min": round(gap, 2)})
    return added


def simulate_plans(
    path: str | Path,
    plans: list[dict[str, Any]],
    *,
    mapping: LogMapping | None = None,
    building: str | Path | None = None,
    replications: int = 10,
    days: int = 20,
    seed: int = 1,
    workers: int = 1,
    calibrate_delays: bool = True,
    workdir: Path | None = None,
    progress: Progress = _noop,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Calibrate on the log, validate the baseline, run each plan with the same random numbers
    (replications on Dask when ``scheduler`` is given: :mod:`medtwin.compute`)."""
    from medtwin.compute import dask_client

    with dask_client(scheduler) as client:
        return _simulate_plans(path, plans, mapping, building, replications, days, seed, workers,
                               calibrate_delays, workdir, progress, client)  # fmt: skip


def _simulate_plans(
    path: str | Path, plans: list[dict[str, Any]], mapping: LogMapping | None, building: str | Path | None,
    replications: int, days: int, seed: int, workers: int, calibrate_delays: bool, workdir: Path | None,
    progress: Progress, client: Any,
) -> dict[str, Any]:  # fmt: skip
    t0 = time.perf_counter()
    log, analysis, b = open_and_analyze(
        path, mapping, building=building, workdir=workdir, progress=lambda s, f: progress(s, 0.3 * f)
    )
    try:
        progress("building the model", 0.3)
        model = build_model(log, b)
    finally:
        log.close()
    for i, sc in enumerate(plans):  # every plan is checked before minutes of simulation are spent
        try:
            apply(model, sc, b)
        except ValidationError as exc:
            field = (
                exc.field if (exc.field or "").startswith("plans[") else f"plans[{i}].{exc.field or 'plan'}"
            )
            raise ValidationError(f"{exc.reason} (plan {sc.get('name', i)!r})", field=field) from None
    n_runs = 1 + len(plans) + (1 if calibrate_delays else 0)
    done = [0]

    def rep_progress(label: str) -> Callable[[int, int], None]:
        def cb(i: int, n: int) -> None:
            progress(f"{label}: replication {i}/{n}", 0.35 + 0.65 * (done[0] + i / n) / n_runs)

        return cb

    kw = {"replications": replications, "days": days, "seed": seed, "workers": workers, "scheduler": client}
    delays: list[dict[str, Any]] = []
    base = sim.run(model, **kw, progress=rep_progress("baseline"))
    done[0] += 1
    if calibrate_delays:
        delays = fit_delays(model, analysis, base)
        if delays:
            base = sim.run(model, **kw, progress=rep_progress("baseline, delays calibrated"))
        done[0] += 1
    out_plans = []
    for sc in plans:
        pm = apply(model, sc, b)
        reps = sim.run(pm, **kw, progress=rep_progress(str(sc.get("name"))))
        done[0] += 1
        out_plans.append(
            {
                "name": sc.get("name"),
                "description": sc.get("description", ""),
                "scenario": sc,
                "metrics": sim.metrics(reps),
                "vs_baseline": sim.compare(base, reps),
            }
        )
    progress("done", 1.0)
    return {
        "log": Path(path).name,
        "settings": {"replications": replications, "days_per_replication": days, "seed": seed},
        "model": {
            "activities": sorted(model.stages),
            "pools": {p: {"max_staff": max(max(r) for r in rows)} for p, rows in model.rosters.items()},
            "open_days": len(model.days),
            "calibrated_delays": delays,
        },
        "analysis": analysis,
        "validation": sim.validate(base, analysis),
        "baseline": sim.metrics(base),
        "plans": out_plans,
        "seconds": round(time.perf_counter() - t0, 2),
    }
