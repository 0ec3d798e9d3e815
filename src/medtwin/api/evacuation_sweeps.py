"""``POST /api/evacuation/sweeps``: an evacuation scenario grid (docs/sweeps.md), same permission as
runs (``evac.run``).

Body: ``{"scenario": {...}, "axes": {...}, "replications": 3, "seed": 1}``, or the scenario's own
fields at the top level next to ``axes``, ``replications`` and ``seed`` (the CLI's ``evac sweep``
takes the same scenario and axes). Answer: the grid result of
:func:`medtwin.services.safety.sweep.run_grid` (per point its runs and their summary); people
appear only as counts.

The sweep runs in FastAPI's thread pool (the event loop stays free), on the Dask scheduler of the
setting ``dask_scheduler`` when set, else in the server process. Bounds: at most
:data:`MAX_API_RUNS` runs (grid points x replications) per request, larger grids through
``medtwin evac sweep``; one sweep at a time per server process (409 while one runs) so a sweep
cannot starve the server's other work.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from medtwin.api.deps import get_runtime
from medtwin.core.errors import ConflictError, MedtwinError, ValidationError
from medtwin.runtime import Runtime
from medtwin.security.service import security_for
from medtwin.services.safety.service import safety_for
from medtwin.services.safety.sweep import resolver, run_grid

router = APIRouter(prefix="/api/evacuation", tags=["evacuation"])
RT = Annotated[Runtime, Depends(get_runtime)]
MAX_API_RUNS = 200
SWEEP_KEYS = ("axes", "replications", "seed")
_busy = threading.Lock()
log = logging.getLogger(__name__)


class SweepUnavailableError(MedtwinError):
    status = 503
    title = "Compute cluster unavailable"


def _int(body: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = body.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValidationError(f"must be an integer from {lo} to {hi}", field=key)
    return v


def parse_body(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    """(scenario, axes, replications, seed) of a sweep request, checked; ValidationError names the field."""
    if len(json.dumps(body)) > 2_000_000:
        raise ValidationError("sweep request too large", field="scenario")
    scenario = body.get("scenario")
    if scenario is None:
        scenario = {k: v for k, v in body.items() if k not in SWEEP_KEYS}
    if not isinstance(scenario, dict) or not scenario:
        raise ValidationError("needs the base scenario (an object)", field="scenario")
    axes = body.get("axes", {})
    if not isinstance(axes, dict):
        raise ValidationError('must be an object of lists, e.g. {"alarm_s": [0, 60]}', field="axes")
    replications = _int(body, "replications", 3, 1, MAX_API_RUNS)
    seed = _int(body, "seed", 1, 0, 2**63 - 1)
    points = 1
    for v in axes.values():
        points *= len(v) if isinstance(v, list) else 1
    if points * replications > MAX_API_RUNS:
        raise ValidationError(
            f"at most {MAX_API_RUNS} runs per request (grid points x replications = {points * replications}); "
            "run larger grids with medtwin evac sweep",
            field="replications",
        )
    return scenario, axes, replications, seed


@router.post("/sweeps")
def sweep(rt: RT, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    scenario, axes, replications, seed = parse_body(body)
    if not _busy.acquire(blocking=False):
        raise ConflictError("another evacuation sweep is running on this server; try again when it ends")
    scheduler = rt.settings.dask_scheduler.strip() or None
    try:
        resolve = resolver(safety_for(rt), security_for(rt).pseudonyms.pseudonym)
        res = run_grid(
            scenario, axes, replications=replications, seed=seed, scheduler=scheduler, resolve=resolve
        )
    except (
        ImportError,
        OSError,
    ) as exc:  # dask missing, scheduler unreachable (the address stays in the log)
        log.warning("evacuation sweep: Dask scheduler %r unavailable: %s", scheduler, exc)
        raise SweepUnavailableError("the compute cluster (setting dask_scheduler) is unavailable") from None
    finally:
        _busy.release()
    return {**res, "backend": "dask" if scheduler else "server"}
