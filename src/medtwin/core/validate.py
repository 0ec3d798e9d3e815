"""Turn a raw reading (as any adapter decoded it) into an :class:`Observation`, or say exactly
which field is wrong and why.

The raw shape is the one documented for MQTT payloads and CSV rows (docs/ingest.md)::

    {"code": "8867-4", "system": "loinc", "value": 72, "unit": "/min",
     "time": "2026-11-28T10:00:00Z", "status": "final", "method": "device"}

``code`` may also be a short key ("hr") and ``time`` epoch seconds. This function is on the hot
ingest path: it avoids pydantic and does the minimum of work per reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from medtwin.core.codes import CodeInfo, ValueKind, lookup
from medtwin.core.errors import ValidationError
from medtwin.core.model import Method, Observation, ObsStatus
from medtwin.core.units import to_canonical

_STATUSES = {s.value: s for s in ObsStatus}
_METHODS = {m.value: m for m in Method}
MAX_FUTURE = timedelta(hours=24)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)


_TIME_CACHE: dict[str, datetime] = {}
_CODE_CACHE: dict[tuple[str, str | None], CodeInfo] = {}
_CACHE_MAX = 4096


def parse_time(value: Any, field: str = "time") -> datetime:
    """ISO 8601 with a UTC offset, or epoch seconds. Naive times are refused: never guess a zone."""
    if type(value) is str:
        hit = _TIME_CACHE.get(value)
        if hit is not None:
            return hit
        when = _parse_time(value, field)
        if len(_TIME_CACHE) >= _CACHE_MAX:
            _TIME_CACHE.clear()
        _TIME_CACHE[value] = when
        return when
    return _parse_time(value, field)


def _parse_time(value: Any, field: str) -> datetime:
    if isinstance(value, bool):
        raise ValidationError("expected an ISO 8601 time or epoch seconds, got a boolean", field=field)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValidationError("time is not a finite number", field=field)
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValidationError(f"epoch seconds out of range ({value})", field=field) from exc
    if not isinstance(value, str) or not value:
        raise ValidationError("missing time", field=field)
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"not an ISO 8601 time: {value[:40]!r}", field=field) from exc
    if when.tzinfo is None:
        raise ValidationError("time has no UTC offset (add 'Z' or '+hh:mm')", field=field)
    return when.astimezone(UTC)


def resolve_code(raw_code: Any, system: Any = None, field: str = "code") -> CodeInfo:
    if type(raw_code) is str and (system is None or type(system) is str):
        hit = _CODE_CACHE.get((raw_code, system))
        if hit is not None:
            return hit
    info = _resolve_code(raw_code, system, field)
    if len(_CODE_CACHE) < _CACHE_MAX:
        _CODE_CACHE[(raw_code, system)] = info
    return info


def _resolve_code(raw_code: Any, system: Any, field: str) -> CodeInfo:
    if not isinstance(raw_code, str) or not raw_code:
        raise ValidationError("missing code", field=field)
    if system is not None and not isinstance(system, str):
        raise ValidationError("system must be a string", field="system")
    info = lookup(raw_code, system)
    if info is None:
        sys_txt = f" in system {system!r}" if system else ""
        raise ValidationError(f"unknown code {raw_code!r}{sys_txt}", field=field)
    return info


def check_value(
    info: CodeInfo, value: Any, unit: Any, field: str = "value"
) -> tuple[float | None, str | None]:
    """Return (number, text) for the code, converting units to the canonical one."""
    if info.kind is ValueKind.QUANTITY:
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise ValidationError(f"expected a number, got {value[:20]!r}", field=field) from None
            else:
                raise ValidationError(f"expected a number, got {type(value).__name__}", field=field)
        v = float(value)
        if not math.isfinite(v):
            raise ValidationError("value is not a finite number", field=field)
        if unit is not None and not isinstance(unit, str):
            raise ValidationError("unit must be a string", field="unit")
        v = to_canonical(v, unit, info.unit)
        if info.bounds is not None and not (info.bounds[0] <= v <= info.bounds[1]):
            raise ValidationError(
                f"{v:g} {info.unit} is outside the plausible range {info.bounds[0]:g}-{info.bounds[1]:g} "
                f"for {info.display}",
                field=field,
            )
        return v, None
    if not isinstance(value, str) or not value:
        raise ValidationError(f"expected text for {info.display}", field=field)
    if info.kind is ValueKind.CODED:
        if value not in info.answers:
            norm = value.strip()
            match = [a for a in info.answers if a.lower() == norm.lower()]
            if not match:
                raise ValidationError(f"{value[:20]!r} is not one of {', '.join(info.answers)}", field=field)
            value = match[0]
        return None, value
    if len(value) > 20_000:
        raise ValidationError("text longer than 20,000 characters", field=field)
    return None, value


def build_observation(
    raw: Mapping[str, Any],
    *,
    twin_id: str,
    source: str,
    source_id: str,
    received: datetime,
    default_method: Method = Method.DEVICE,
    max_future: timedelta = MAX_FUTURE,
    latest_allowed: datetime | None = None,
) -> Observation:
    """Validate one raw reading. ``latest_allowed`` (received + max_future) may be passed
    precomputed by callers validating many readings received at the same time."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"expected an object, got {type(raw).__name__}", field="reading")
    info = resolve_code(raw.get("code"), raw.get("system"))
    value, text = check_value(info, raw.get("value"), raw.get("unit"))
    t_raw = raw.get("time", raw.get("t"))
    effective = received if t_raw is None and default_method is Method.MANUAL else parse_time(t_raw)
    if effective > (latest_allowed or received + max_future):
        raise ValidationError(f"time {effective.isoformat()} is in the future", field="time")
    if effective < EARLIEST:
        raise ValidationError("time is before 1900", field="time")
    status = raw.get("status")
    if status is None:
        st = ObsStatus.FINAL
    else:
        st_ = _STATUSES.get(status) if isinstance(status, str) else None
        if st_ is None:
            raise ValidationError(f"status {status!r} is not one of {', '.join(_STATUSES)}", field="status")
        st = st_
    method = raw.get("method")
    if method is None:
        m = default_method
    else:
        m_ = _METHODS.get(method) if isinstance(method, str) else None
        if m_ is None:
            raise ValidationError(f"method {method!r} is not one of {', '.join(_METHODS)}", field="method")
        m = m_
    return Observation(
        twin_id=twin_id,
        code=info.ref,
        effective=effective,
        received=received,
        source=source,
        source_id=source_id,
        value=value,
        value_text=text,
        unit=info.unit if value is not None else "",
        method=m,
        status=st,
    )
