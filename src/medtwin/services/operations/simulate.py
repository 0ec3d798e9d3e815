"""Replications, validation against the log, and what-if comparison with confidence intervals.

* A replication simulates ``days`` open days drawn (with replacement, seeded) from the log's
  own open days; replication r uses the same days and the same per-patient random numbers in
  the baseline and in every what-if plan (common random numbers), so differences are compared
  with paired-t intervals (Law 2015, §10.2.1).
* **Validation** compares, per activity, the simulated mean waiting (walking + queueing + extra
  delay) with the log's. An activity passes when the log's mean lies inside the simulation's 95 %
  interval widened by the tolerance ``max(rel_tol x log mean, abs_tol)`` (defaults 15 % and
  1.5 min). Why that tolerance: queueing waits grow like 1/(1−ρ), so at the utilisations of a
  busy clinic (ρ ≈ 0.8-0.9) an error of 2-3 % in a fitted service rate or of one rostered
  person in a quiet hour moves the mean wait by 10-20 %; rosters are rebuilt from the log to
  whole people, and walking is modelled at one mean speed. A model within that band reproduces
  the ranking and size of the bottlenecks, which is what the what-if comparison needs.
* Little's law (sample-path form) is checked on every pool of every simulated day.
"""

from __future__ import annotations

import multiprocessing as mp
import random
from collections.abc import Callable
from typing import Any

from medtwin.models.flow.network import FlowModel, run_replication
from medtwin.models.flow.stats import mean_ci, paired_ci

REL_TOL = 0.15
ABS_TOL_MIN = 1.5
LITTLE_TOL = 1e-6


def pool_context() -> Any:
    """Worker processes for replications and log generation: ``forkserver`` (a clean,
    single-threaded parent), never a fork of a process that runs threads (DuckDB, a web server)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["medtwin.models.flow.network", "medtwin.services.operations.genkernel"])
    return ctx


def sample_days(m: FlowModel, n: int, seed: int) -> list[tuple[int, float]]:
    rnd = random.Random(seed * 31 + 17)
    return [tuple(rnd.choice(m.days)) for _ in range(n)] if m.days else []  # type: ignore[misc]


def _rep(args: tuple[FlowModel, int, int]) -> dict[str, Any]:
    m, days, seed = args
    acc = run_replication(m, sample_days(m, days, seed), seed)
    return summarise_rep(acc)


def summarise_rep(acc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"stage": {}, "pool": {}}
    for a, (n, w, q, walk, svc) in acc["stage"].items():
        if n:
            out["stage"][a] = {
                "visits": n,
                "wait_min": w / n / 60,
                "queue_min": q / n / 60,
                "walk_min": walk / n / 60,
                "service_min": svc / n / 60,
            }
    for p, r in acc["pool"].items():
        out["pool"][p] = {
            "utilisation": r["busy"] / r["roster"] if r["roster"] else None,
            "little": r["little"],
        }
    j = max(acc["journeys"], 1)
    out["journey_min"] = acc["journey_s"] / j / 60
    out["metres_per_journey"] = acc["metres"] / j
    out["patients_per_day"] = acc["journeys"] / max(acc["days"], 1)
    out["little_max_error"] = max((r["little"] for r in acc["pool"].values()), default=0.0)
    return out


def _rep_task(days: int, seed: int, m: FlowModel) -> dict[str, Any]:
    return _rep((m, days, seed))


def run(
    m: FlowModel,
    *,
    replications: int = 10,
    days: int = 10,
    seed: int = 1,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    scheduler: Any = None,
) -> list[dict[str, Any]]:
    """Replications r = 0..n-1 with seeds ``seed * 1000 + r``; on Dask when ``scheduler`` is given
    (a client or an address, :mod:`medtwin.compute`), else ``workers`` local processes."""
    tasks = [(m, days, seed * 1_000 + r) for r in range(replications)]
    if scheduler is not None:
        from medtwin.compute import run_sweep

        return run_sweep(_rep_task, [days] * replications, seeds=[t[2] for t in tasks], shared=m,
                         scheduler=scheduler, progress=progress)  # fmt: skip
    out: list[dict[str, Any]] = []
    if workers > 1 and replications > 1:
        with pool_context().Pool(min(workers, replications)) as pool:
            for res in pool.imap(_rep, tasks):
                out.append(res)
                if progress:
                    progress(len(out), replications)
    else:
        for t in tasks:
            out.append(_rep(t))
            if progress:
                progress(len(out), replications)
    return out


def _metric(reps: list[dict[str, Any]], get: Callable[[dict[str, Any]], Any]) -> list[float]:
    vals = []
    for r in reps:
        try:
            v = get(r)
        except (KeyError, TypeError):
            v = None
        vals.append(float("nan") if v is None else float(v))
    return vals


def _ci(vals: list[float]) -> dict[str, Any]:
    ci = mean_ci(vals)

    def rnd(x: float) -> float | None:
        return None if x != x else round(x, 3)

    return {"mean": rnd(ci.mean), "ci95": [rnd(ci.lo), rnd(ci.hi)]}


def metrics(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and 95 % CI of every output over the replications."""
    stages = sorted({a for r in reps for a in r["stage"]})
    pools = sorted({p for r in reps for p in r["pool"]})
    return {
        "journey_min": _ci(_metric(reps, lambda r: r["journey_min"])),
        "metres_per_journey": _ci(_metric(reps, lambda r: r["metres_per_journey"])),
        "patients_per_day": _ci(_metric(reps, lambda r: r["patients_per_day"])),
        "little_max_error": max(r["little_max_error"] for r in reps),
        "stages": {
            a: {
                k: _ci(_metric(reps, lambda r, a=a, k=k: r["stage"][a][k]))
                for k in ("wait_min", "queue_min", "walk_min", "service_min")
            }
            for a in stages
        },
        "pools": {
            p: {"utilisation": _ci(_metric(reps, lambda r, p=p: r["pool"][p]["utilisation"]))} for p in pools
        },
    }


def compare(base: list[dict[str, Any]], plan: list[dict[str, Any]]) -> dict[str, Any]:
    """Paired differences plan − baseline with 95 % CIs (same seeds)."""

    def diff(get: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        ci = paired_ci(_metric(base, get), _metric(plan, get))

        def rnd(x: float) -> float | None:
            return None if x != x else round(x, 3)

        sig = ci.n > 1 and ci.lo == ci.lo and (ci.lo > 0 or ci.hi < 0)
        return {"mean": rnd(ci.mean), "ci95": [rnd(ci.lo), rnd(ci.hi)], "significant": bool(sig)}

    stages = sorted({a for r in base for a in r["stage"]} & {a for r in plan for a in r["stage"]})
    return {
        "journey_min": diff(lambda r: r["journey_min"]),
        "metres_per_journey": diff(lambda r: r["metres_per_journey"]),
        "stages": {a: diff(lambda r, a=a: r["stage"][a]["wait_min"]) for a in stages},
    }


def validate(
    reps: list[dict[str, Any]],
    analysis: dict[str, Any],
    rel_tol: float = REL_TOL,
    abs_tol_min: float = ABS_TOL_MIN,
) -> dict[str, Any]:
    """Simulated vs logged mean waiting per activity, journey time; Little's law."""
    rows = []
    for s in analysis["stages"]:
        a = s["activity"]
        if not s["waits"]:
            continue
        vals = _metric(reps, lambda r, a=a: r["stage"][a]["wait_min"])
        ci = mean_ci(vals)
        log_w = float(s["wait_mean_min"])
        tol = max(rel_tol * log_w, abs_tol_min)
        ok = ci.n > 0 and (ci.lo - tol <= log_w <= ci.hi + tol if ci.n > 1 else abs(ci.mean - log_w) <= tol)
        rows.append(
            {
                "activity": a,
                "log_wait_min": round(log_w, 2),
                "sim_wait_min": round(ci.mean, 2),
                "ci95": [round(ci.lo, 2), round(ci.hi, 2)] if ci.n > 1 else None,
                "tolerance_min": round(tol, 2),
                "pass": bool(ok),
            }
        )
    j = mean_ci(_metric(reps, lambda r: r["journey_min"]))
    log_j = analysis.get("variants", {}).get("journey_mean_min")
    little = max(r["little_max_error"] for r in reps)
    return {
        "rel_tol": rel_tol,
        "abs_tol_min": abs_tol_min,
        "stages": rows,
        "passed": sum(r["pass"] for r in rows),
        "total": len(rows),
        "journey": {
            "log_min": log_j,
            "sim_min": round(j.mean, 2),
            "ci95": [round(j.lo, 2), round(j.hi, 2)] if j.n > 1 else None,
        },
        "little_max_error": little,
        "little_ok": little < LITTLE_TOL,
    }
