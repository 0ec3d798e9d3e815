"""CSV bulk backfill.

Columns (header row required, order free; see docs/ingest.md):

=========== ======== ==========================================================================
column      required meaning
=========== ======== ==========================================================================
patient     yes      patient twin id
code        yes      LOINC code, medtwin key (``hr``) or ``system|code``
value       yes      number, or the answer code / text for coded and text observations
unit        no       UCUM or a common spelling (``bpm``, ``mmHg``, ``degF``); default canonical
time        yes      ISO 8601 with offset, or epoch seconds
source      no       who measured (device id or user id); default ``csv:<file name>``
source_id   no       the source's own id for the row; default the data row number
system      no       code system (``loinc``, ``snomed``, ``medtwin``)
status      no       final (default), preliminary, amended, corrected, entered-in-error
method      no       device, manual
=========== ======== ==========================================================================

The file is streamed: rows are validated and submitted in chunks, so files of millions of rows
use bounded memory. Re-importing the same file stores nothing twice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medtwin.core.errors import ParseError
from medtwin.core.model import Method
from medtwin.ingest.pipeline import ReadingBatch

REQUIRED = ("patient", "code", "value", "time")
KNOWN = (*REQUIRED, "unit", "source", "source_id", "system", "status", "method")


def _reading(row: dict[str, str]) -> dict[str, Any]:
    r: dict[str, Any] = {
        "code": (row.get("code") or "").strip(),  # a short row gives None for the missing cells
        "value": row.get("value") or "",
        "time": (row.get("time") or "").strip(),
    }
    t = r["time"]
    if t and t.replace(".", "", 1).isdigit():
        r["time"] = float(t)
    for k in ("unit", "system", "status", "method"):
        v = (row.get(k) or "").strip()
        if v:
            r[k] = v
    sid = (row.get("source_id") or "").strip()
    if sid:
        r["id"] = sid
    return r


def read_csv(
    path: Path | str, *, chunk: int = 5000, text: str | None = None
) -> Iterator[tuple[list[ReadingBatch], list[dict[str, Any]]]]:
    """Yield (one-reading batches, row rejects) a chunk at a time; index = data row number (0-based)."""
    name = Path(path).name
    f: Any = io.StringIO(text) if text is not None else open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
    try:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ParseError(
                f"missing column(s): {', '.join(missing)}; found: {', '.join(header) or 'none'}",
                field="header",
            )
        unknown = [h for h in header if h not in KNOWN]
        if unknown:
            raise ParseError(
                f"unknown column(s): {', '.join(unknown)}; known: {', '.join(KNOWN)}", field="header"
            )
        reader.fieldnames = header
        out: list[ReadingBatch] = []
        rejects: list[dict[str, Any]] = []
        for i, row in enumerate(reader):
            if None in row:  # more cells than header columns
                rejects.append({"index": i, "field": "row", "reason": "row has more cells than the header"})
                continue
            reading = _reading(row)
            source = (row.get("source") or "").strip() or f"csv:{name}"
            method = Method.MANUAL if (row.get("method") or "").strip() == "manual" else Method.DEVICE
            out.append(
                ReadingBatch(
                    source=source,
                    msg_id=f"row{i}",
                    readings=[reading],
                    subject=(row.get("patient") or "").strip() or None,
                    method=method,
                    index_offset=i,
                )
            )
            if len(out) + len(rejects) >= chunk:
                yield out, rejects
                out, rejects = [], []
        if out or rejects:
            yield out, rejects
    except csv.Error as exc:
        raise ParseError(f"CSV error: {exc}", field="file") from exc
    except UnicodeDecodeError as exc:
        raise ParseError("file is not UTF-8 text", field="file") from exc
    finally:
        f.close()
