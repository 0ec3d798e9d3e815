"""Background jobs for long operations work (generate, analyse, simulate) with progress.

Each job runs in a fresh *spawned* worker process (never a fork of the multi-threaded server),
which writes its progress to a small JSON file the server reads when asked; the result comes
back through the process pool and is stored as a run by the job's thread. One job runs at a
time by default (they use every CPU already); later ones queue.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medtwin.core.errors import MedtwinError, NotFoundError


class FileProgress:
    """Progress callback of a worker process: writes {stage, progress} at most 4 times a second."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.last = 0.0

    def __call__(self, stage: str, frac: float) -> None:
        now = time.monotonic()
        if now - self.last < 0.25 and frac < 1.0:
            return
        self.last = now
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"stage": stage, "progress": max(0.0, min(1.0, frac))}, f)
        os.replace(tmp, self.path)


def task_generate(params: dict[str, Any], out: str, progress_path: str) -> dict[str, Any]:
    from medtwin.services.operations.genconfig import load_config, parse_bottleneck
    from medtwin.services.operations.generator import generate

    cb = FileProgress(progress_path)
    cfg = load_config(None)
    for k in ("years", "patients_per_day", "seed", "start", "timezone"):
        if params.get(k) is not None:
            setattr(cfg, k, params[k])
    cfg.bottlenecks = [parse_bottleneck(b) for b in params.get("bottlenecks") or []]
    res = generate(
        cfg, Path(out), workers=params.get("workers") or 0, progress=lambda d, n: cb(f"day {d}/{n}", d / n)
    )
    return {
        "path": Path(out).name,
        "events": res.events,
        "cases": res.cases,
        "days": res.days,
        "seconds": round(res.seconds, 1),
    }


def task_analyze(
    log: str, mapping: dict[str, Any], building: str | None, workdir: str, progress_path: str
) -> dict[str, Any]:
    from medtwin.services.operations.mapping import load_mapping
    from medtwin.services.operations.pipeline import open_and_analyze

    lg, res, _b = open_and_analyze(
        log,
        load_mapping(data=mapping),
        building=building,
        workdir=Path(workdir),
        progress=FileProgress(progress_path),
    )
    lg.close()
    return res


def task_simulate(
    log: str,
    plans: list[dict[str, Any]],
    settings: dict[str, Any],
    mapping: dict[str, Any],
    building: str | None,
    workdir: str,
    progress_path: str,
) -> dict[str, Any]:
    from medtwin.services.operations.mapping import load_mapping
    from medtwin.services.operations.pipeline import simulate_plans

    return simulate_plans(
        log,
        plans,
        mapping=load_mapping(data=mapping),
        building=building,
        workdir=Path(workdir),
        progress=FileProgress(progress_path),
        **settings,
    )


def run_task(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """Worker-side wrapper: platform errors come back as data (field and reason intact)."""
    try:
        return {"ok": fn(*args)}
    except MedtwinError as exc:
        return {"error": {"title": exc.title, "status": exc.status, **exc.as_dict()}}


@dataclass
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    actor: str
    state: str = "queued"  # queued | running | done | failed
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished: str | None = None
    error: dict[str, Any] | None = None
    run_id: str | None = None
    output: dict[str, Any] | None = None
    progress_path: str = ""
    _done_progress: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        stage, frac = "waiting for a worker", 0.0
        if self.state == "running":
            stage, frac = "starting", 0.0
            try:
                d = json.loads(Path(self.progress_path).read_text())
                stage, frac = d["stage"], float(d["progress"])
            except (OSError, ValueError, KeyError):
                pass
        elif self.state in ("done", "failed"):
            stage, frac = self.state, 1.0 if self.state == "done" else self._done_progress
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "stage": stage,
            "progress": round(frac, 3),
            "created": self.created,
            "finished": self.finished,
            "error": self.error,
            "run_id": self.run_id,
            "output": self.output,
            "params": self.params,
        }


class JobManager:
    def __init__(self, workdir: Path, *, concurrent: int = 1, keep: int = 100) -> None:
        self.workdir = workdir
        (workdir / "jobs").mkdir(parents=True, exist_ok=True)
        self.pool = ThreadPoolExecutor(max_workers=concurrent, thread_name_prefix="flow-job")
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.keep = keep

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        actor: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        on_result: Callable[[Job, Any], None],
    ) -> Job:
        job = Job(uuid.uuid4().hex[:12], kind, params, actor)
        job.progress_path = str(self.workdir / "jobs" / f"{job.id}.json")
        with self.lock:
            self.jobs[job.id] = job
            for old in list(self.jobs)[: max(0, len(self.jobs) - self.keep)]:
                if self.jobs[old].state in ("done", "failed"):
                    del self.jobs[old]
        self.pool.submit(self._run, job, fn, args, on_result)
        return job

    def _run(
        self, job: Job, fn: Callable[..., Any], args: tuple[Any, ...], on_result: Callable[[Job, Any], None]
    ) -> None:
        job.state = "running"
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
                answer = ex.submit(run_task, fn, *args, job.progress_path).result()
            if "error" in answer:
                job.error = answer["error"]
                job.state = "failed"
            else:
                on_result(job, answer["ok"])
                job.state = "done"
        except MedtwinError as exc:
            job.error = {"title": exc.title, "status": exc.status, **exc.as_dict()}
            job.state = "failed"
        except Exception as exc:  # the worker's traceback stays in the server log, not in the answer
            traceback.print_exc()
            job.error = {"title": "Job failed", "status": 500, "reason": f"{type(exc).__name__}: {exc}"}
            job.state = "failed"
        finally:
            job.finished = datetime.now(UTC).isoformat()
            Path(job.progress_path).unlink(missing_ok=True)

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r}", field="job_id")
        return job

    def list(self) -> list[Job]:
        return list(reversed(self.jobs.values()))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
