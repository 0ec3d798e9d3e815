"""OCEL 2.0 (object-centric event logs, https://www.ocel-standard.org, Berti et al. 2023) in and out.

Flattening picks a *case notion*: the object type whose objects are the journeys (``patient``
when present, else the first object type; ``ocel_case_type`` in the mapping overrides). Each
event related to such an object becomes one row of that case. The activity is the event type;
the end is the event time; the start is an event attribute named ``start``, ``start_time`` or
``start_timestamp`` (else the event is an instant); the resource and the location are event
attributes (``resource``/``org:resource``, ``location``/``room``) or related objects whose type
or qualifier is ``staff``/``resource``/``employee`` or ``room``/``location``.

The JSON format is read by DuckDB's JSON reader (C++; no Python object per event) and the SQLite
format by SQL inside SQLite, streamed in batches.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from medtwin.core.errors import ValidationError

START_KEYS = ("start", "start_time", "start_timestamp")
RES_KEYS = ("resource", "org:resource")
LOC_KEYS = ("location", "room")
RES_TYPES = ("staff", "resource", "employee")
LOC_TYPES = ("room", "location")


def _lit(t: str) -> str:
    return "'" + t.replace("'", "''") + "'"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def read_ocel_json(src: Path, sink: Any, *, case_type: str | None = None) -> int:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    size = max(src.stat().st_size * 2, 16 * 2**20)
    cols = (
        "{'events': 'STRUCT(id VARCHAR, type VARCHAR, time VARCHAR, attributes STRUCT(name VARCHAR, value JSON)[],"
        " relationships STRUCT(objectId VARCHAR, qualifier VARCHAR)[])[]',"
        " 'objects': 'STRUCT(id VARCHAR, type VARCHAR)[]'}"
    )
    try:
        con.execute(
            f"CREATE TEMP TABLE j AS SELECT * FROM read_json({_lit(str(src))}, columns = {cols}, "
            f"maximum_object_size = {size}, format = 'auto')"
        )
    except duckdb.Error as exc:
        raise ValidationError(f"not an OCEL 2.0 JSON log: {str(exc).splitlines()[0]}", field="log") from None
    con.execute(
        "CREATE TEMP TABLE obj AS SELECT o.id AS id, o.type AS type FROM (SELECT unnest(objects) AS o FROM j)"
    )
    types = [r[0] for r in con.execute("SELECT DISTINCT type FROM obj ORDER BY 1").fetchall()]
    ct = _case_type(types, case_type)

    def attr(keys: tuple[str, ...]) -> str:
        return (
            f"json_extract_string(list_filter(e.attributes, lambda x: x.name IN {_in(keys)})[1].value, '$')"
        )

    def rel(types_: tuple[str, ...]) -> str:
        return (
            f"(SELECT min(o.id) FROM unnest(e.relationships) AS u(r) JOIN obj o ON o.id = r.objectId "
            f"WHERE o.type IN {_in(types_)} OR r.qualifier IN {_in(types_)})"
        )

    sql = f"""
        WITH ev AS (SELECT unnest(events) AS e FROM j)
        SELECT o.id AS case_id, e.type AS activity,
            CAST(coalesce({attr(START_KEYS)}, e.time) AS TIMESTAMPTZ) AS start,
            CAST(e.time AS TIMESTAMPTZ) AS "end",
            coalesce({attr(RES_KEYS)}, {rel(RES_TYPES)}) AS resource,
            coalesce({attr(LOC_KEYS)}, {rel(LOC_TYPES)}) AS location
        FROM ev, unnest(e.relationships) AS u(r) JOIN obj o ON o.id = r.objectId
        WHERE o.type = {_lit(ct)}"""
    try:
        reader = con.execute(sql).to_arrow_reader(100_000)
        n = 0
        for batch in reader or ():
            sink.write_batch(batch)
            n += batch.num_rows
    except duckdb.Error as exc:
        raise ValidationError(
            f"cannot flatten the OCEL log: {str(exc).splitlines()[0]}", field="log"
        ) from None
    finally:
        con.close()
    return n


def _case_type(types: list[str], wanted: str | None) -> str:
    if not types:
        raise ValidationError("the OCEL log has no objects", field="log")
    if wanted:
        if wanted not in types:
            raise ValidationError(
                f"object type {wanted!r} not in the log ({', '.join(types)})", field="mapping.ocel_case_type"
            )
        return wanted
    return next((t for t in ("patient", "case", "journey") if t in types), types[0])


def read_ocel_sqlite(src: Path, sink: Any, *, case_type: str | None = None) -> int:
    con = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        need = {"event", "object", "event_object", "event_map_type"}
        if not need <= tables:
            raise ValidationError(
                f"not an OCEL 2.0 SQLite log (missing {', '.join(sorted(need - tables))})", field="log"
            )
        types = [r[0] for r in con.execute("SELECT DISTINCT ocel_type FROM object ORDER BY 1")]
        ct = _case_type(types, case_type)
        links = (
            "links AS (SELECT eo.ocel_event_id AS eid, "
            f"min(CASE WHEN o.ocel_type IN {_in(RES_TYPES)} OR eo.ocel_qualifier IN {_in(RES_TYPES)} "
            "THEN o.ocel_id END) AS res, "
            f"min(CASE WHEN o.ocel_type IN {_in(LOC_TYPES)} OR eo.ocel_qualifier IN {_in(LOC_TYPES)} "
            "THEN o.ocel_id END) AS loc, "
            f"min(CASE WHEN o.ocel_type = {_lit(ct)} THEN o.ocel_id END) AS one_case, "
            f"count(CASE WHEN o.ocel_type = {_lit(ct)} THEN 1 END) AS n_cases "
            "FROM event_object eo JOIN object o ON o.ocel_id = eo.ocel_object_id GROUP BY eo.ocel_event_id)"
        )
        parts = []
        for etype, tmap in con.execute("SELECT ocel_type, ocel_type_map FROM event_map_type"):
            t = f"event_{tmap}"
            if t not in tables:
                continue
            cols = {r[1] for r in con.execute(f'PRAGMA table_info("{t}")')}

            def pick(keys: tuple[str, ...], cols: set[Any] = cols) -> str:
                return next((f'x."{k}"' for k in keys if k in cols), "NULL")

            parts.append(
                f"SELECT o.ocel_id, {_lit(etype)}, coalesce({pick(START_KEYS)}, x.ocel_time), x.ocel_time, "
                f"coalesce({pick(RES_KEYS)}, l.res), coalesce({pick(LOC_KEYS)}, l.loc) "
                f'FROM "{t}" x JOIN links l ON l.eid = x.ocel_id '
                "JOIN event_object eo ON eo.ocel_event_id = x.ocel_id "
                f"JOIN object o ON o.ocel_id = eo.ocel_object_id AND o.ocel_type = {_lit(ct)}"
            )
        n = 0
        cur = con.execute(f"WITH {links} " + " UNION ALL ".join(parts)) if parts else None
        while cur is not None:
            rows = cur.fetchmany(50_000)
            if not rows:
                break
            for case, act, start, end, res, loc in rows:
                sink.add(str(case), str(act), _us(start, "start"), _us(end, "ocel_time"), res, loc)
            n += len(rows)
        return n
    except sqlite3.DatabaseError as exc:
        raise ValidationError(f"not an OCEL 2.0 SQLite log: {exc}", field="log") from None
    finally:
        con.close()


def _us(v: Any, key: str) -> int:
    try:
        dt = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"unparsable timestamp {v!r}", field=key) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _tmap(name: str) -> str:
    return re.sub(r"\W+", "", name.title()) or "Event"


def write_ocel(batches: Any, out: Path, *, sqlite: bool = False) -> int:
    """Write a canonical relation as OCEL 2.0 (JSON or SQLite) with patient, staff and room objects."""
    rows: list[tuple[Any, ...]] = []
    for batch in batches:
        d = batch.to_pydict()
        rows.extend(
            zip(d["case_id"], d["activity"], d["start"], d["end"], d["resource"], d["location"], strict=True)
        )
    ids: dict[tuple[str, str], str] = {}
    for t, k in (("patient", 0), ("staff", 4), ("room", 5)):
        taken = set(ids.values())
        for r in rows:
            v = r[k]
            if v and (t, v) not in ids:
                ids[(t, v)] = v if v not in taken else f"{t}:{v}"  # OCEL object ids are unique across types
    objs = {(t, i) for (t, _v), i in ids.items()}
    rows = [
        (c, a, s, e, ids[("staff", r)] if r else None, ids[("room", lc)] if lc else None)
        for c, a, s, e, r, lc in rows
    ]
    acts = sorted({r[1] for r in rows})
    if not sqlite:
        events = []
        for i, (c, a, s, e, res, loc) in enumerate(rows):
            rels = [{"objectId": c, "qualifier": "patient"}]
            rels += [{"objectId": res, "qualifier": "staff"}] if res else []
            rels += [{"objectId": loc, "qualifier": "room"}] if loc else []
            events.append(
                {
                    "id": f"e{i + 1}",
                    "type": a,
                    "time": _iso(e),
                    "attributes": [{"name": "start", "value": _iso(s)}],
                    "relationships": rels,
                }
            )
        doc = {
            "objectTypes": [{"name": t, "attributes": []} for t in ("patient", "staff", "room")],
            "eventTypes": [{"name": a, "attributes": [{"name": "start", "type": "time"}]} for a in acts],
            "objects": [{"id": i, "type": t, "attributes": [], "relationships": []} for t, i in sorted(objs)],
            "events": events,
        }
        out.write_text(json.dumps(doc))
        return len(rows)
    out.unlink(missing_ok=True)
    con = sqlite3.connect(out)
    with con:
        con.execute("CREATE TABLE event (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)")
        con.execute("CREATE TABLE object (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)")
        con.execute(
            "CREATE TABLE event_object (ocel_event_id TEXT, ocel_object_id TEXT, ocel_qualifier TEXT)"
        )
        con.execute(
            "CREATE TABLE object_object (ocel_source_id TEXT, ocel_target_id TEXT, ocel_qualifier TEXT)"
        )
        con.execute("CREATE TABLE event_map_type (ocel_type TEXT, ocel_type_map TEXT)")
        con.execute("CREATE TABLE object_map_type (ocel_type TEXT, ocel_type_map TEXT)")
        for a in acts:
            con.execute("INSERT INTO event_map_type VALUES (?, ?)", (a, _tmap(a)))
            con.execute(f'CREATE TABLE "event_{_tmap(a)}" (ocel_id TEXT, ocel_time TEXT, start TEXT)')
        for t in ("patient", "staff", "room"):
            con.execute("INSERT INTO object_map_type VALUES (?, ?)", (t, _tmap(t)))
            con.execute(
                f'CREATE TABLE "object_{_tmap(t)}" (ocel_id TEXT, ocel_time TEXT, ocel_changed_field TEXT)'
            )
        con.executemany("INSERT INTO object VALUES (?, ?)", [(i, t) for t, i in objs])
        for i, (c, a, s, e, res, loc) in enumerate(rows):
            eid = f"e{i + 1}"
            con.execute("INSERT INTO event VALUES (?, ?)", (eid, a))
            con.execute(f'INSERT INTO "event_{_tmap(a)}" VALUES (?, ?, ?)', (eid, _iso(e), _iso(s)))
            links = (
                [(eid, c, "patient")]
                + ([(eid, res, "staff")] if res else [])
                + ([(eid, loc, "room")] if loc else [])
            )
            con.executemany("INSERT INTO event_object VALUES (?, ?, ?)", links)
    con.close()
    return len(rows)
