"""Process discovery and conformance through PM4Py, an *optional* extra (AGPL-3.0).

medtwin is Apache-2.0 and computes every statistic it shows itself (DuckDB). PM4Py (Berti, van
Zelst, Schuster: "PM4Py: a process mining library for Python", Software Impacts 17, 2023) is
used only here, only when the user installed ``medtwin[process-mining]`` and runs ``medtwin
flow discover``: inductive miner (Leemans, Fahland, van der Aalst 2013; IMf with a noise
threshold) or heuristics miner, Petri net / BPMN export, token-based replay fitness and
precision. It is never imported by the server (AGPL-3.0 §13 would reach a network service);
see docs/adr/0009-operations-process-mining-and-des.md.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from medtwin.core.errors import MedtwinError
from medtwin.services.operations.logs import EventLog

INSTALL_HINT = (
    "process discovery needs the optional PM4Py extra (AGPL-3.0): pip install 'medtwin[process-mining]'; "
    "see docs/adr/0009-operations-process-mining-and-des.md"
)


class NotInstalledError(MedtwinError):
    status = 501
    title = "Optional component not installed"


def available() -> bool:
    return importlib.util.find_spec("pm4py") is not None


def _pm4py() -> Any:
    if not available():
        raise NotInstalledError(INSTALL_HINT, field="pm4py")
    os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")
    import pm4py

    return pm4py


def to_dataframe(log: EventLog, sample_cases: int | None = None) -> Any:
    """The log as the pandas frame PM4Py expects (interval log: start and end timestamps)."""
    pm4py = _pm4py()
    where = ""
    if sample_cases:
        where = (
            f"WHERE case_id IN (SELECT case_id FROM (SELECT DISTINCT case_id FROM ev_raw) "
            f"USING SAMPLE {int(sample_cases)} ROWS)"
        )
    df = log.con.execute(
        f'SELECT case_id, activity, start, "end", resource FROM ev_raw {where} ORDER BY case_id, start, "end"'
    ).df()
    return pm4py.format_dataframe(
        df, case_id="case_id", activity_key="activity", timestamp_key="end", start_timestamp_key="start"
    )


def discover(
    log: EventLog,
    *,
    miner: str = "inductive",
    noise: float = 0.0,
    sample_cases: int | None = None,
    precision: bool = False,
    pnml: Path | None = None,
    bpmn: Path | None = None,
) -> dict[str, Any]:
    pm4py = _pm4py()
    t0 = time.perf_counter()
    df = to_dataframe(log, sample_cases)
    t1 = time.perf_counter()
    if miner == "inductive":
        net, im, fm = pm4py.discover_petri_net_inductive(df, noise_threshold=noise)
    elif miner == "heuristics":
        net, im, fm = pm4py.discover_petri_net_heuristics(df)
    else:
        raise MedtwinError(f"unknown miner {miner!r}; use inductive or heuristics", field="miner")
    t2 = time.perf_counter()
    fit = pm4py.fitness_token_based_replay(df, net, im, fm)
    out: dict[str, Any] = {
        "miner": miner,
        "noise": noise,
        "cases": int(df["case:concept:name"].nunique()),
        "events": len(df),
        "places": len(net.places),
        "transitions": len(net.transitions),
        "visible_transitions": sum(1 for t in net.transitions if t.label),
        "fitness": {k: float(v) for k, v in fit.items() if isinstance(v, int | float)},
        "seconds": {
            "to_pm4py": round(t1 - t0, 2),
            "discovery": round(t2 - t1, 2),
            "replay": round(time.perf_counter() - t2, 2),
        },
    }
    if precision:
        out["precision"] = float(pm4py.precision_token_based_replay(df, net, im, fm))
    if pnml:
        pm4py.write_pnml(net, im, fm, str(pnml))
    if bpmn:
        pm4py.write_bpmn(
            pm4py.convert_to_bpmn(net, im, fm), str(bpmn), auto_layout=False
        )  # no Graphviz needed
    return out
