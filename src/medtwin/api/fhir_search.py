"""FHIR search for Observation and MedicationAdministration: parameter parsing and execution.

Supported: ``subject`` (or ``patient``) = ``Patient/ID``; ``code`` = ``[system|]code`` with commas for
OR (85354-9 answers blood-pressure panels, paired from the systolic/diastolic/mean readings of one
source at one time); ``date`` with prefixes ge, gt, le, lt, eq (repeat for a range; precision
follows the value: ``2026-01-01`` is that UTC day); ``_count``, ``_offset``, ``_sort`` (date or -date).
Unknown parameters are ignored and reported in an OperationOutcome entry (search mode ``outcome``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from medtwin.core.codes import BY_KEY, LOINC, lookup
from medtwin.core.model import Observation
from medtwin.ingest.fhir_common import FhirInvalid, Issue, reference_id
from medtwin.ingest.fhir_export import bp_panel_to_fhir, observation_to_fhir
from medtwin.ingest.fhir_map import BP_PANEL
from medtwin.store.sql import SqlStore

DEFAULT_COUNT = 100
MAX_COUNT = 1000
CAP = 10_000  # rows read per code; past this the total is not given
_DATE = re.compile(
    r"^(?P<prefix>[a-z]{2})?(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?P<time>T\d{2}:\d{2}(?::\d{2}(?P<frac>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
PANEL_KEYS = ("sbp", "dbp", "map")
OBS_PARAMS = {"subject", "patient", "code", "date", "_count", "_offset", "_sort", "_format"}


def _bad(param: str, reason: str) -> FhirInvalid:
    return FhirInvalid([Issue(f"search parameter {param}: {reason}", param, "invalid")], 400)


def date_bounds(value: str) -> tuple[str, datetime, datetime]:
    """(prefix, start, end) of a FHIR date search value: the range its precision covers, in UTC."""
    m = _DATE.match(value.strip())
    if m is None:
        raise _bad("date", f"{value[:40]!r} is not [prefix]YYYY[-MM[-DD[Thh:mm[:ss]+zz:zz]]]")
    prefix = m["prefix"] or "eq"
    if prefix not in ("eq", "ge", "gt", "le", "lt"):
        raise _bad("date", f"prefix {prefix!r} is not supported (use eq, ge, gt, le, lt)")
    y = int(m["y"])
    try:
        if m["time"]:
            if not m["tz"]:
                raise _bad("date", "a time needs a UTC offset (Z or +hh:mm)")
            start = datetime.fromisoformat(value.strip()[len(m["prefix"] or "") :]).astimezone(UTC)
            time_part = m["time"][1:].split("Z")[0].split("+")[0].split("-")[0]
            step = (
                timedelta(microseconds=1)
                if m["frac"]
                else timedelta(seconds=1)
                if time_part.count(":") == 2
                else timedelta(minutes=1)
            )
            return prefix, start, start + step
        if m["d"]:
            start = datetime(y, int(m["m"]), int(m["d"]), tzinfo=UTC)
            return prefix, start, start + timedelta(days=1)
        if m["m"]:
            mo = int(m["m"])
            start = datetime(y, mo, 1, tzinfo=UTC)
            return prefix, start, datetime(y + mo // 12, mo % 12 + 1, 1, tzinfo=UTC)
        return prefix, datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC)
    except ValueError as exc:
        raise _bad("date", f"{value[:40]!r} is not a valid date ({exc})") from None


@dataclass
class ObsQuery:
    subject: str
    codes: list[str] = field(default_factory=list)  # canonical refs; empty = every code
    panel: bool = False
    start: datetime | None = None
    end: datetime | None = None
    count: int = DEFAULT_COUNT
    offset: int = 0
    descending: bool = True
    warnings: list[Issue] = field(default_factory=list)
    empty: bool = False  # a constraint no observation can meet (unknown code, empty date range)


def _int(items: list[str], name: str, default: int, lo: int, hi: int) -> int:
    if not items:
        return default
    try:
        n = int(items[-1])
    except ValueError:
        raise _bad(name, f"{items[-1][:20]!r} is not an integer") from None
    if not lo <= n <= hi:
        raise _bad(name, f"must be between {lo} and {hi}")
    return n


def subject_param(params: list[tuple[str, str]]) -> str:
    vals = [v for k, v in params if k in ("subject", "patient", "subject:Patient")]
    if not vals:
        raise FhirInvalid(
            [
                Issue(
                    "search needs subject=Patient/ID (or patient=ID): medtwin searches one "
                    "patient's record at a time",
                    "subject",
                    "required",
                )
            ],
            400,
        )
    if len(set(vals)) > 1:
        raise _bad("subject", "give one patient")
    v = vals[0]
    pid = reference_id(v, "Patient") or (v if "/" not in v else None)
    if not pid:
        raise _bad("subject", f"{v[:60]!r} is not Patient/ID")
    return pid


def parse_obs_query(params: list[tuple[str, str]]) -> ObsQuery:
    q = ObsQuery(subject_param(params))
    for k, _v in params:
        if k not in OBS_PARAMS and k != "subject:Patient":
            q.warnings.append(
                Issue(
                    f"search parameter {k[:40]!r} is not supported and was ignored",
                    k[:40],
                    "not-supported",
                    "warning",
                )
            )
    for k, v in params:
        if k != "code":
            continue
        for token in v.split(","):
            system, sep, code = token.rpartition("|")
            system = system if sep else ""
            if code == BP_PANEL and system in ("", LOINC):
                q.panel = True
                continue
            info = lookup(code, system or LOINC) or (None if system else lookup(code))
            if info is None:
                q.warnings.append(
                    Issue(
                        f"unknown code {token[:60]!r}: nothing can match it",
                        "code",
                        "code-invalid",
                        "warning",
                    )
                )
            elif info.ref not in q.codes:
                q.codes.append(info.ref)
    if any(k == "code" for k, _ in params) and not q.codes and not q.panel:
        q.empty = True
    for k, v in params:
        if k != "date":
            continue
        prefix, a, b = date_bounds(v)
        lo, hi = {"eq": (a, b), "ge": (a, None), "gt": (b, None), "lt": (None, a), "le": (None, b)}[prefix]
        if lo is not None and (q.start is None or lo > q.start):
            q.start = lo
        if hi is not None and (q.end is None or hi < q.end):
            q.end = hi
    if q.start is not None and q.end is not None and q.start >= q.end:
        q.empty = True
    q.count = _int([v for k, v in params if k == "_count"], "_count", DEFAULT_COUNT, 0, MAX_COUNT)
    q.offset = _int([v for k, v in params if k == "_offset"], "_offset", 0, 0, 10_000_000)
    sort = [v for k, v in params if k == "_sort"]
    if sort:
        if sort[-1] not in ("date", "-date"):
            raise _bad("_sort", "use date or -date")
        q.descending = sort[-1] == "-date"
    return q


def _pair_panels(rows: list[Observation]) -> list[list[Observation]]:
    """Group systolic/diastolic/mean readings from one source at one time into panels."""
    groups: dict[tuple[str, datetime], dict[str, Observation]] = {}
    for o in rows:
        groups.setdefault((o.source, o.effective), {})
        key = next(k for k in PANEL_KEYS if BY_KEY[k].ref == o.code)
        groups[(o.source, o.effective)].setdefault(key, o)
    return [[g[k] for k in PANEL_KEYS if k in g] for g in groups.values() if "sbp" in g and "dbp" in g]


def run_obs_query(store: SqlStore, q: ObsQuery) -> tuple[list[dict[str, Any]], int | None]:
    """Execute: (resources of the requested page, total or None when past the cap)."""
    if q.empty:
        return [], 0
    items: list[tuple[datetime, int, dict[str, Any] | Observation | list[Observation]]] = []
    capped = False

    def hist(code: str | None) -> list[Observation]:
        nonlocal capped
        rows = store.history(q.subject, code, q.start, q.end, limit=CAP + 1, descending=q.descending)
        if len(rows) > CAP:
            capped = True
            rows = rows[:CAP]
        return rows

    if q.codes or not q.panel:
        codes: list[str | None] = list(q.codes) or [None]
        for code in codes:
            items.extend((o.effective, o.id or 0, o) for o in hist(code))
    if q.panel:
        rows = [o for k in PANEL_KEYS for o in hist(BY_KEY[k].ref)]
        items.extend((p[0].effective, p[0].id or 0, p) for p in _pair_panels(rows))
    items.sort(key=lambda t: (t[0], t[1]), reverse=q.descending)
    page = items[q.offset : q.offset + q.count]
    out = [
        bp_panel_to_fhir(x) if isinstance(x, list) else observation_to_fhir(x)  # type: ignore[arg-type]
        for _t, _i, x in page
    ]
    return out, None if capped else len(items)


def read_panel(store: SqlStore, panel: str) -> dict[str, Any] | None:
    """The panel ``bp-<sbp id>-<dbp id>[-<map id>]``, or None when the ids do not form one."""
    parts = panel.split("-")[1:]
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    try:
        rows = [store.get_observation(int(p)) for p in parts]
    except Exception:
        return None
    keys = [next((k for k in PANEL_KEYS if BY_KEY[k].ref == o.code), None) for o in rows]
    first = rows[0]
    if keys[:2] != ["sbp", "dbp"] or (len(keys) == 3 and keys[2] != "map"):
        return None
    if any(
        (o.twin_id, o.source, o.effective) != (first.twin_id, first.source, first.effective) for o in rows
    ):
        return None
    return bp_panel_to_fhir(rows)
