"""Evacuation scenario grids: every combination of a few scenario settings x replications.

``run_grid(base, axes, replications=5, seed=1)`` takes a scenario document (docs/evacuation.md)
and axes such as ``{"alarm_s": [0, 60, 120], "staff_response_s": [60, 180],
"variants": [{"name": "extra exit", "changes": {"extra_exit": "demo"}}]}``: scalar axes override
the scenario's field, ``variants`` are change sets of :mod:`medtwin.services.safety.variants`.
Every grid point is resolved once on the driver (building, census of the live twin, change set:
the database is never touched by workers) into a building and a scenario; then each
(point, replication) runs as a task of :func:`medtwin.compute.run_sweep`, here or on Dask, with
its own seed spawned from ``seed`` (walking speeds are drawn from it), so a grid gives identical
results on one process and on a cluster. The result has, per point, the replications' RSET, ASET,
margin, people at risk and stranded, and their summary (mean and worst).
"""

from __future__ import annotations

import copy
import itertools
import statistics
from collections.abc import Callable
from typing import Any

from medtwin.compute import run_sweep, task_seeds
from medtwin.core.errors import ValidationError
from medtwin.models.evacuation import plan, results
from medtwin.models.evacuation.building import BuildingError
from medtwin.models.evacuation.scenario import parse

SCALAR_AXES = ("alarm_s", "pre_movement_s", "staff_response_s", "strategy", "dt")
MAX_TASKS = 10_000


def grid_points(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the axes, in order (the last axis varies fastest)."""
    if not isinstance(axes, dict) or set(axes) - {*SCALAR_AXES, "variants"}:
        raise ValidationError(f"axes may be {', '.join((*SCALAR_AXES, 'variants'))}", field="axes")
    names = list(axes)
    for k in names:
        if not isinstance(axes[k], list) or not axes[k]:
            raise ValidationError("must be a non-empty list", field=f"axes.{k}")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(axes[k] for k in names))]


def _point_doc(base: dict[str, Any], point: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    doc = copy.deepcopy(base)
    doc.update({k: v for k, v in point.items() if k != "variants"})
    v = point.get("variants")
    changes = v.get("changes") if isinstance(v, dict) else None
    return doc, changes


def label(point: dict[str, Any]) -> str:
    parts = []
    for k, v in point.items():
        parts.append(str(v.get("name", "variant")) if k == "variants" and isinstance(v, dict) else f"{k}={v}")
    return ", ".join(parts) or "base"


def _metrics(rep: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": rep["status"],
        "rset_s": rep["rset_s"],
        "aset_s": rep["aset_s"],
        "margin_s": rep["margin_s"],
        "at_risk": len(rep["at_risk"]),
        "stranded": rep["stuck"],
        "fed_over_0_3": len(rep["fed_over_0_3"]),
    }


def evac_task(item: tuple[int, int], seed: int, resolved: list[tuple[Any, Any]]) -> dict[str, Any]:
    """One run of grid point ``item[0]`` (replication ``item[1]``) with ``seed``; no I/O."""
    building, scenario = resolved[item[0]]
    sc = copy.deepcopy(scenario)
    sc.seed = seed
    return _metrics(results.report(plan.run(building, sc, record_frames=False)))


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rsets = [r["rset_s"] for r in runs if r["rset_s"] is not None]
    return {
        "completed": len(rsets),
        "rset_mean_s": round(statistics.fmean(rsets), 1) if rsets else None,
        "rset_max_s": max(rsets) if rsets else None,
        "at_risk_max": max(r["at_risk"] for r in runs),
        "stranded_max": max(r["stranded"] for r in runs),
    }


def _point_error(exc: BuildingError | ValidationError, point: dict[str, Any]) -> ValidationError:
    """A grid point's error naming the axis (``axes.alarm_s``) when an axis value caused it."""
    field = exc.field
    if field in point:
        field = f"axes.{field}"
    elif "variants" in point and field:
        field = f"axes.variants: {field}"
    return ValidationError(f"{exc.reason} (grid point {label(point)})", field=field)


def run_grid(
    base: dict[str, Any],
    axes: dict[str, list[Any]],
    *,
    replications: int = 3,
    seed: int = 1,
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
    resolve: Callable[[dict[str, Any], dict[str, Any] | None], tuple[Any, Any]] | None = None,
) -> dict[str, Any]:
    """Run the grid (see the module docstring). ``resolve(doc, changes)`` turns a document into
    (building, scenario); default: :func:`~medtwin.models.evacuation.scenario.parse` (self-contained
    documents); :func:`resolver` uses a :class:`SafetyService` (stored buildings, census, variants)."""
    if not isinstance(base, dict):
        raise ValidationError("must be a JSON object", field="scenario")
    points = grid_points(axes) if axes else [{}]
    if replications < 1 or len(points) * replications > MAX_TASKS:
        raise ValidationError(f"1 to {MAX_TASKS} runs per grid", field="replications")
    resolved = []
    for p in points:
        doc, changes = _point_doc(base, p)
        if changes and resolve is None:
            raise ValidationError(
                "variants need the safety service (a stored building)", field="axes.variants"
            )
        try:
            resolved.append(resolve(doc, changes) if resolve is not None else parse(doc))
        except (BuildingError, ValidationError) as exc:
            raise _point_error(exc, p) from None
    items = [(i, r) for i in range(len(points)) for r in range(replications)]
    seeds = task_seeds(seed, len(items))
    runs = run_sweep(evac_task, items, seeds=seeds, shared=resolved, scheduler=scheduler, progress=progress)
    rows = []
    for i, p in enumerate(points):
        mine = runs[i * replications : (i + 1) * replications]
        rows.append({"point": p, "label": label(p), "runs": mine, **_summary(mine)})
    return {"replications": replications, "seed": seed, "tasks": len(items), "rows": rows}


def resolver(svc: Any, pseudonym: Callable[[str], str] = lambda x: x) -> Callable[..., tuple[Any, Any]]:
    """``resolve`` for :func:`run_grid` through a :class:`~medtwin.services.safety.service.SafetyService`."""

    def resolve(doc: dict[str, Any], changes: dict[str, Any] | None) -> tuple[Any, Any]:
        b, sc, _info = svc._resolve(doc, pseudonym, changes)
        return b, sc

    return resolve
