"""XES (IEEE 1849-2016) event logs: a streaming reader and a writer.

The reader walks the XML with :func:`xml.etree.ElementTree.iterparse` and frees every trace as
soon as it has been written, so memory stays flat whatever the file size (plain or gzip).
Lifecycle transitions (the XES *lifecycle* extension) are paired into intervals: a ``start``
is matched with the next ``complete`` of the same activity in the same trace; a ``complete``
without a start is an instant unless the event carries a ``start_timestamp`` attribute (the
convention of pm4py's interval logs). Other transitions (schedule, assign, suspend...) are
ignored. ``org:resource`` is the resource and the attribute ``location`` (configurable) the room.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import iterparse
from xml.sax.saxutils import quoteattr

from medtwin.core.errors import ValidationError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(text: str, trace: str, key: str) -> int:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"trace {trace!r}: unparsable {key} {text!r}", field=key) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _US


_US = datetime.resolution  # one microsecond as a timedelta


def _open(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def read_xes(
    path: Path, sink: Any, *, location_key: str = "location", progress: Callable[[int], None] | None = None
) -> int:
    """Stream ``path`` into ``sink`` (a :class:`~medtwin.services.operations.convert.ParquetSink`)."""
    n_traces = 0
    depth_trace = False
    case = ""
    events: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    root = None
    with _open(path) as f:
        try:
            for kind, el in iterparse(f, events=("start", "end")):
                tag = el.tag.rsplit("}", 1)[-1]
                if kind == "start":
                    if root is None:
                        root = el
                    if tag == "trace":
                        depth_trace, case, events = True, "", []
                    elif tag == "event" and depth_trace:
                        current = {}
                    continue
                if tag in ("string", "date", "int", "float", "boolean", "id"):
                    key, val = el.get("key"), el.get("value")
                    if key is not None and val is not None:
                        if current is not None:
                            current.setdefault(key, val)
                        elif depth_trace and key == "concept:name":
                            case = val
                elif tag == "event" and current is not None:
                    events.append(current)
                    current = None
                elif tag == "trace":
                    _emit(case or f"trace-{n_traces + 1}", events, sink, location_key)
                    n_traces += 1
                    depth_trace = False
                    if root is not None:
                        root.clear()
                    if progress and n_traces % 10_000 == 0:
                        progress(n_traces)
        except SyntaxError as exc:  # ParseError
            raise ValidationError(f"not well-formed XES: {exc}", field="log") from None
    return n_traces


def _emit(case: str, events: list[dict[str, str]], sink: Any, loc_key: str) -> None:
    open_starts: dict[str, list[dict[str, str]]] = {}
    for e in events:
        act = e.get("concept:name")
        ts = e.get("time:timestamp")
        if act is None or ts is None:
            raise ValidationError(
                f"trace {case!r}: an event lacks concept:name or time:timestamp", field="event"
            )
        life = e.get("lifecycle:transition", "complete").lower()
        if life == "start":
            open_starts.setdefault(act, []).append(e)
            continue
        if life != "complete":
            continue
        end = _us(ts, case, "time:timestamp")
        waiting = open_starts.get(act)
        if waiting:
            s = waiting.pop(0)
            start = _us(s["time:timestamp"], case, "time:timestamp")
            res = e.get("org:resource") or s.get("org:resource")
            loc = e.get(loc_key) or s.get(loc_key)
        else:
            st = e.get("start_timestamp")
            start = _us(st, case, "start_timestamp") if st else end
            res, loc = e.get("org:resource"), e.get(loc_key)
        sink.add(case, act, start, end, res, loc)
    for act, rest in open_starts.items():  # started, never completed: an instant at the start
        for s in rest:
            t = _us(s["time:timestamp"], case, "time:timestamp")
            sink.add(case, act, t, t, s.get("org:resource"), s.get(loc_key))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_xes(batches: Any, out: Path) -> int:
    """Write Arrow record batches (case_id, activity, start, end, resource, location; ordered by
    case) as XES with start/complete lifecycle pairs. Returns the number of activities."""
    n = 0
    case = None
    with out.open("w", encoding="utf-8") as f:
        f.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1849-2016" xmlns="http://www.xes-standard.org/">\n'
        )
        f.write(
            '<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>\n'
        )
        f.write('<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>\n')
        f.write(
            '<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>\n'
        )
        f.write(
            '<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>\n'
        )
        for batch in batches:
            d = batch.to_pydict()
            for c, a, s, e, r, loc in zip(
                d["case_id"], d["activity"], d["start"], d["end"], d["resource"], d["location"], strict=True
            ):
                if c != case:
                    if case is not None:
                        f.write("</trace>\n")
                    f.write(f'<trace><string key="concept:name" value={quoteattr(c)}/>\n')
                    case = c
                extra = (f'<string key="org:resource" value={quoteattr(r)}/>' if r else "") + (
                    f'<string key="location" value={quoteattr(loc)}/>' if loc else ""
                )
                for life, t in (("start", s), ("complete", e)):
                    f.write(
                        f'<event><string key="concept:name" value={quoteattr(a)}/>'
                        f'<string key="lifecycle:transition" value="{life}"/>'
                        f'<date key="time:timestamp" value="{_iso(t)}"/>{extra}</event>\n'
                    )
                n += 1
        if case is not None:
            f.write("</trace>\n")
        f.write("</log>\n")
    return n
