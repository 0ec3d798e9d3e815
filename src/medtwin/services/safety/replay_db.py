"""The replay as an SQLite file (``medtwin evac run ... --replay out.sqlite``).

The tables ``trajectory_data``, ``metadata``, ``geometry`` and ``frame_data`` follow JuPedSim's
trajectory format version 2 (:mod:`jupedsim.sqlite_serialization`), so PedPy
(``load_trajectory_from_jupedsim_sqlite``) and JuPedSim's viewer read a one-floor replay as if
JuPedSim had written it; ``id`` is the person's index in the scenario. medtwin adds
``medtwin_people`` (index, id, class, role, floor, mode), ``medtwin_frames`` (every floor),
``medtwin_moves`` (staff-assisted moves with their path) and ``medtwin_report`` (the JSON report).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from medtwin.models.evacuation.building import Building

DATABASE_VERSION = 2


def write_replay(
    path: Path, b: Building, replay: dict[str, Any], report: dict[str, Any], *, frame_s: float = 1.0
) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        with con:
            floors = replay["floors"]
            main = next(iter(floors), next(iter(b.floors)))
            geo = b.walkable(main).wkt
            con.execute("CREATE TABLE trajectory_data (frame INTEGER NOT NULL, id INTEGER NOT NULL, pos_x REAL NOT NULL, "
                        "pos_y REAL NOT NULL, ori_x REAL NOT NULL, ori_y REAL NOT NULL)")  # fmt: skip
            con.execute("CREATE TABLE metadata(key TEXT NOT NULL UNIQUE PRIMARY KEY, value TEXT NOT NULL)")
            x0, y0, x1, y1 = b.bounds(main)
            con.executemany("INSERT INTO metadata VALUES(?, ?)", [
                ("version", str(DATABASE_VERSION)), ("fps", str(1.0 / frame_s)), ("xmin", str(x0)), ("xmax", str(x1)),
                ("ymin", str(y0)), ("ymax", str(y1)), ("writer", "medtwin"), ("floor", main)])  # fmt: skip
            con.execute("CREATE TABLE geometry(hash INTEGER NOT NULL, wkt TEXT NOT NULL)")
            con.execute("CREATE UNIQUE INDEX geometry_hash on geometry(hash)")
            h = hash(geo)
            con.execute("INSERT INTO geometry VALUES(?, ?)", (h, geo))
            con.execute("CREATE TABLE frame_data(frame INTEGER NOT NULL, geometry_hash INTEGER NOT NULL)")
            con.execute("CREATE TABLE medtwin_frames(floor TEXT NOT NULL, t REAL NOT NULL, id INTEGER NOT NULL, "
                        "x REAL NOT NULL, y REAL NOT NULL)")  # fmt: skip
            for f, frames in floors.items():
                rows = [(f, t, i, x, y) for t, people in frames for i, x, y in people]
                con.executemany("INSERT INTO medtwin_frames VALUES(?, ?, ?, ?, ?)", rows)
                if f == main:
                    con.executemany("INSERT INTO trajectory_data VALUES(?, ?, ?, ?, 1.0, 0.0)",
                                    [(round(t / frame_s), i, x, y) for _f, t, i, x, y in rows])  # fmt: skip
                    con.executemany("INSERT INTO frame_data VALUES(?, ?)",
                                    [(round(t / frame_s), h) for t, _p in frames])  # fmt: skip
            con.execute("CREATE INDEX frame_id_idx ON trajectory_data(frame, id)")
            con.execute(
                "CREATE TABLE medtwin_people(i INTEGER PRIMARY KEY, id TEXT, class TEXT, role TEXT, floor TEXT, mode TEXT)"
            )
            con.executemany("INSERT INTO medtwin_people VALUES(?, ?, ?, ?, ?, ?)",
                            [(p["i"], p["id"], p["class"], p["role"], p["floor"], p["mode"]) for p in replay["people"]])  # fmt: skip
            con.execute(
                "CREATE TABLE medtwin_moves(person INTEGER, start_s REAL, end_s REAL, staff TEXT, path TEXT)"
            )
            con.executemany("INSERT INTO medtwin_moves VALUES(?, ?, ?, ?, ?)",
                            [(m["person"], m["start_s"], m["end_s"], json.dumps(m["staff"]), json.dumps(m["path"]))
                             for m in replay["moves"]])  # fmt: skip
            con.execute("CREATE TABLE medtwin_report(json TEXT NOT NULL)")
            con.execute("INSERT INTO medtwin_report VALUES(?)", (json.dumps(report),))
    finally:
        con.close()
