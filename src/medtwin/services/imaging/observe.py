"""Imaging results as observations on the twin, through the same ingestor path as every reading,
so the monitoring engine sees tumour progression or graft trouble like any other value.

Each observation carries provenance in ``meta`` (study, series, segmentation, segment, method)
and a stable ``source_id``: measuring the same segmentation twice stores it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from medtwin.core.errors import StoreError, ValidationError
from medtwin.core.model import Method, Observation
from medtwin.ingest.pipeline import ReadingBatch

SOURCE = "medtwin:imaging"


def record(
    rt: Any,
    twin_id: str,
    when: datetime,
    items: Sequence[tuple[str, float | str, str, dict[str, Any]]],
    msg_id: str,
) -> list[Observation]:
    """items: (code key, value, stable id, meta). Returns the stored observations (new ones)."""
    readings = []
    for key, value, sid, _meta in items:
        r: dict[str, Any] = {
            "code": key,
            "value": value,
            "time": when.isoformat(),
            "id": sid,
            "method": "derived",
        }
        readings.append(r)
    batch = ReadingBatch(
        source=SOURCE, msg_id=msg_id, readings=readings, subject=twin_id, method=Method.DERIVED
    )
    obs, _meds, rejects = rt.ingestor.prepare(batch)
    if rejects:
        r0 = rejects[0]
        raise ValidationError(f"result not recorded: {r0['reason']}", field=r0.get("field") or "observation")
    by_id = {sid: meta for _k, _v, sid, meta in items}
    for o in obs:
        o.meta = by_id.get(o.source_id)
    if rt.writer._thread is None:  # the runtime must be started (the CLI uses ``with Runtime(...)``)
        raise StoreError("the runtime's writer is not running")
    fut = rt.ingestor.submit(obs, [], [])
    res = fut.result(timeout=60)
    return list(res.observations)
