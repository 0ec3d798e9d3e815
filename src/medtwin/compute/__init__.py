"""Compute fan-out for simulations: :func:`run_sweep` runs independent simulation tasks in this
process or on ``dask.distributed`` (a LocalCluster or a scheduler address), with per-task seeds
spawned from one ``numpy.random.SeedSequence`` so results do not depend on where tasks ran.

Used by the treatment Monte Carlo (:mod:`medtwin.services.treatment.fanout`), the hospital-flow
DES replications (:mod:`medtwin.services.operations.simulate`) and evacuation scenario grids
(:mod:`medtwin.services.safety.sweep`). Dask is imported only when a scheduler is given.
"""

from medtwin.compute.sweep import SweepError, dask_client, run_sweep, task_seeds

__all__ = ["SweepError", "dask_client", "run_sweep", "task_seeds"]
