"""Simulation sweeps: many independent runs, in this process or on ``dask.distributed``.

``run_sweep(fn, items, seed=...)`` calls ``fn(item, task_seed)`` (or ``fn(item, task_seed,
shared)``) for every item and returns the results in item order. Where it runs is chosen by
``scheduler``:

* ``None`` or ``""``: here, one after the other (the reference);
* ``"local"`` / ``"local:N"``: a :class:`dask.distributed.LocalCluster` of N single-threaded worker
  processes (one per CPU without N), started and closed around the sweep;
* ``"tcp://host:8786"`` (any scheduler address): the cluster behind it (``dask scheduler`` and
  ``dask worker`` processes with medtwin installed);
* a :class:`dask.distributed.Client`: reuse it (several sweeps, one connection).

Reproducibility: task *i* gets the seed ``task_seeds(seed, n)[i]``, spawned from
``numpy.random.SeedSequence(seed)`` (independent streams; O'Neill's PCG seeding, numpy's
recommended way to seed parallel work), so a task's seed depends on the sweep seed and its index
only, never on which worker ran it or in which order. Callers with their own per-task seeds (common
random numbers across plans) pass ``seeds=``. Results are therefore identical on every backend.

Batching: ``chunk`` items run as one Dask task (the scheduler costs ~1 ms per task; keep >= 0.1 s
of work per task). ``shared`` (a model, a building) is sent to each worker once
(``Client.scatter(broadcast=True)``), not once per task. ``progress(done, total)`` is called as
tasks finish; :func:`medtwin.compute.progress.rich_progress` turns it into a progress bar.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from medtwin.core.errors import MedtwinError

Progress = Callable[[int, int], None]


class SweepError(MedtwinError):
    """A task of a sweep failed (its index and the original error in the message). A task's own
    :class:`MedtwinError` (a validation error of its scenario) is raised as it is."""


def task_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent per-task seeds (non-negative 63-bit integers) from ``SeedSequence(seed)``."""
    return [
        int(s.generate_state(1, np.uint64)[0] >> np.uint64(1)) for s in np.random.SeedSequence(seed).spawn(n)
    ]


@contextlib.contextmanager
def dask_client(scheduler: str | Any | None) -> Iterator[Any]:
    """A Dask client for ``scheduler`` (see the module docstring), or None to run in this process."""
    if scheduler is None or scheduler == "":
        yield None
        return
    if not isinstance(scheduler, str):
        yield scheduler  # a Client: the caller owns it
        return
    from dask.distributed import Client, LocalCluster

    if scheduler == "local" or scheduler.startswith("local:"):
        n = int(scheduler.split(":", 1)[1]) if ":" in scheduler else (os.cpu_count() or 1)
        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    with Client(scheduler, timeout="30s") as client:  # type: ignore[no-untyped-call]
        yield client


def _run_chunk(
    fn: Callable[..., Any], items: list[Any], seeds: list[int], shared: Any, has_shared: bool
) -> list[Any]:
    if has_shared:
        return [fn(item, s, shared) for item, s in zip(items, seeds, strict=True)]
    return [fn(item, s) for item, s in zip(items, seeds, strict=True)]


def run_sweep(
    fn: Callable[..., Any],
    items: Sequence[Any],
    *,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    shared: Any = None,
    scheduler: str | Any | None = None,
    chunk: int = 1,
    progress: Progress | None = None,
) -> list[Any]:
    """Run ``fn`` over ``items``; results in item order (see the module docstring)."""
    n = len(items)
    task_s = list(seeds) if seeds is not None else task_seeds(seed, n)
    if len(task_s) != n:
        raise ValueError("one seed per item")
    has_shared = shared is not None
    chunk = max(1, chunk)
    bounds = [(i, min(i + chunk, n)) for i in range(0, n, chunk)]
    out: list[Any] = [None] * n
    done = 0

    def collect(lo: int, hi: int, result: Callable[[], list[Any]]) -> None:
        nonlocal done
        try:
            out[lo:hi] = result()
        except MedtwinError:
            raise
        except Exception as exc:
            raise SweepError(f"task {lo}..{hi - 1} failed: {exc!r}") from exc
        done += hi - lo
        if progress:
            progress(done, n)

    with dask_client(scheduler) as client:
        if client is None:
            for lo, hi in bounds:
                run = functools.partial(_run_chunk, fn, list(items[lo:hi]), task_s[lo:hi], shared, has_shared)
                collect(lo, hi, run)
            return out
        from dask.distributed import as_completed

        arg = client.scatter([shared], broadcast=True)[0] if has_shared else None  # one object, not its items
        futures = {
            client.submit(_run_chunk, fn, list(items[lo:hi]), task_s[lo:hi], arg, has_shared, pure=False): (
                lo,
                hi,
            )
            for lo, hi in bounds
        }
        try:
            for fut in as_completed(list(futures)):  # type: ignore[no-untyped-call]
                collect(*futures[fut], fut.result)
        finally:
            client.cancel([f for f in futures if not f.done()])
    return out
