"""HTTP ingest in medtwin's native JSON shape (the MQTT payload, see docs/ingest.md).

``POST /api/ingest`` answers only after the readings are committed: 200 with
``{"accepted", "duplicates", "rejected": [{"index", "field", "reason"}]}``; 422 when every
item was rejected. Valid items of a batch are stored even when others are rejected.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from medtwin.api.deps import get_runtime
from medtwin.api.guard import principal_of
from medtwin.core.errors import ParseError, ValidationError
from medtwin.core.events import Context
from medtwin.core.ids import valid_id
from medtwin.core.model import Method
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime
from medtwin.security.principal import Role

router = APIRouter(prefix="/api", tags=["ingest"])


def batch_from_json(body: Any, method: Method = Method.DEVICE) -> ReadingBatch:
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object", field="body")
    source = body.get("device") or body.get("source")
    if not isinstance(source, str) or not valid_id(source):
        raise ValidationError(
            "device (or source) must be an id of 1-64 letters, digits, '.', '_' or '-'", field="device"
        )
    seq = body.get("seq")
    if seq is None or isinstance(seq, bool) or not isinstance(seq, int | str):
        raise ValidationError("seq (the sender's message number) is required", field="seq")
    readings = body.get("readings", [])
    meds = body.get("medications", [])
    if not isinstance(readings, list):
        raise ValidationError("readings must be a list", field="readings")
    if not isinstance(meds, list):
        raise ValidationError("medications must be a list", field="medications")
    patient = body.get("patient")
    if patient is not None and not isinstance(patient, str):
        raise ValidationError("patient must be a string id", field="patient")
    m = body.get("method", method.value)
    return ReadingBatch(
        source=source,
        msg_id=str(seq),
        readings=readings,
        medications=meds,
        subject=patient,
        device=source if m == "device" else None,
        method=Method(m) if m in ("device", "manual") else method,
    )


@router.post("/ingest")
async def ingest(request: Request, rt: Annotated[Runtime, Depends(get_runtime)]) -> JSONResponse:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"body is not JSON: {exc}", field="body") from None
    batch = batch_from_json(body)
    p = principal_of(request)  # the policy check already tied a device key to its own device
    actor = f"device:{batch.source}" if p.role is Role.DEVICE or p.role is Role.ANONYMOUS else p.actor
    fut = rt.ingestor.ingest(batch, context=Context(actor=actor))
    res = await asyncio.wrap_future(fut)
    total = len(batch.readings) + len(batch.medications)
    status = 422 if res.rejected and len(res.rejected) >= total else 200
    return JSONResponse(res.as_dict(), status_code=status)
