"""Column mapping for event logs: CLI flags or a small YAML file.

Example ``mapping.yaml``::

    case_id: visit_id          # column holding the case (journey) id
    activity: step
    start: started_at          # omit (null) when the log has one timestamp per event
    end: finished_at
    resource: staff_code       # optional
    location: room             # optional
    timestamp_format: "%d/%m/%Y %H:%M:%S"   # optional; ISO 8601 is read without it
    timezone: Europe/Amsterdam # zone of naive timestamps and of "hour of day"; default UTC
    delimiter: ";"             # CSV only; detected when omitted
    on_error: raise            # or "skip": drop bad rows and count them
    ocel_case_type: patient    # OCEL 2.0: object type whose objects are the cases
    xes_location_key: location # XES: event attribute holding the room

Unknown keys are refused, naming the key. When a mapped column is missing from a file, a few
common alternative names (XES-style ``case:concept:name``, ``concept:name``,
``start_timestamp``, ``time:timestamp``, ``org:resource``) are tried before the log is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from medtwin.core.errors import ValidationError

ALIASES: dict[str, tuple[str, ...]] = {
    "case_id": ("case_id", "case", "case:concept:name", "caseid", "case id", "journey_id", "visit_id"),
    "activity": ("activity", "concept:name", "activity_name", "event", "task"),
    "start": ("start", "start_timestamp", "start_time", "starttime", "begin"),
    "end": ("end", "time:timestamp", "end_timestamp", "end_time", "complete", "completetime", "timestamp"),
    "resource": ("resource", "org:resource", "staff", "user"),
    "location": ("location", "room", "org:location", "place"),
}


@dataclass(frozen=True)
class LogMapping:
    case_id: str = "case_id"
    activity: str = "activity"
    start: str | None = "start"
    end: str = "end"
    resource: str | None = "resource"
    location: str | None = "location"
    timestamp_format: str | None = None
    timezone: str | None = None
    delimiter: str | None = None
    on_error: str = "raise"
    ocel_case_type: str | None = None
    xes_location_key: str = "location"

    def with_overrides(self, **kw: Any) -> LogMapping:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def validate(self) -> LogMapping:
        if self.on_error not in ("raise", "skip"):
            raise ValidationError("must be raise or skip", field="mapping.on_error")
        for key in ("case_id", "activity", "end"):
            if not getattr(self, key):
                raise ValidationError("a column name is required", field=f"mapping.{key}")
        if self.timezone:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValidationError(
                    f"unknown time zone {self.timezone!r}", field="mapping.timezone"
                ) from None
        return self


def load_mapping(path: str | Path | None = None, data: dict[str, Any] | None = None) -> LogMapping:
    """A mapping from a YAML file or a parsed dict; unknown keys are refused."""
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ValidationError(f"no such file: {p}", field="mapping")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValidationError(f"not valid YAML: {exc}", field="mapping") from None
    data = data or {}
    if not isinstance(data, dict):
        raise ValidationError("must be a mapping of key: value", field="mapping")
    known = {f.name for f in fields(LogMapping)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationError(
            f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            field=f"mapping.{unknown[0]}",
        )
    return LogMapping(**data).validate()
