"""The demo hospital's building geometry: building B1 of :mod:`medtwin.demo.hospital`.

Two floors on one 56 x 16.4 m footprint with a 2.4 m double-loaded corridor, each split into two
smoke compartments by a barrier door across the corridor at x = 28 m, and a stair core at each
end. Floor F1 (ground): the medical ward MED (rooms MED-R01..R04, four beds each, on the north
side), a nurse station, lobby with the main entrance, utility, day room, store and treatment
room; both stair cores open to the outside. Floor F2 (4 m up): the ICU (single rooms ICU-R01..R08,
one bed each), station, support, store and staff rooms. A bed lift (F1-LIFT / F2-LIFT) opens onto
the east corridors for the beds that cannot go down the stairs. Room and bed ids are the registry's twin
ids, so the live census maps onto the plan. Everything here is invented for the demo.
"""

from __future__ import annotations

from dataclasses import replace

from shapely.geometry import LineString, Point, Polygon, box

from medtwin.models.evacuation.building import Bed, Building, Compartment, Door, Exit, Floor, Space

CORR_Y0, CORR_Y1 = 8.0, 10.4
NORTH_Y1, SOUTH_Y0 = 17.4, 1.0
X0, X1, XB = 4.0, 52.0, 28.0
STAIR_FLIGHT_M = 10.0  # two flights of 12 risers of 178/279 mm plus landings, per storey
LIFT_BOX = box(35.2, 5.0, 38.0, CORR_Y0)  # shaft of the bed lift, the same on both floors
# the demo lift's rated speed and time per stop (doors, wheeling a bed in or out): values of this
# invented building, as a real plan states its own (docs/evacuation.md)
DEMO_LIFT = {"speed_m_s": 1.0, "door_s": 30.0}
DEMO_MOBILITY = {  # demo patients' mobility classes (the platform's default applies to real ones)
    **{f"P{i:03d}": "critical" for i in (1, 2, 3, 5, 6, 8)}, "P004": "bed_bound", "P007": "bed_bound",
    **{f"P{i:03d}": c for i, c in zip(range(9, 25), (
        "ambulant", "walking_aid", "bed_bound", "ambulant", "wheelchair", "ambulant", "walking_aid", "bed_bound",
        "ambulant", "ambulant", "walking_aid", "bed_bound", "wheelchair", "ambulant", "walking_aid", "ambulant"),
        strict=True)},
}  # fmt: skip


def _door(b: Building, did: str, floor: str, p: tuple[float, float], q: tuple[float, float], a: str, c: str,
          *, barrier: bool = False, state: str = "open") -> None:  # fmt: skip
    line = LineString([p, q])
    b.doors[did] = Door(did, floor, line, (a, c), round(line.length, 3), barrier, state)


def _floor(b: Building, f: str, comps: tuple[str, str], north: list[tuple[str, str, float, float]],
           south: list[tuple[str, str, float, float]]) -> None:  # fmt: skip
    west, east = comps
    for cid, name in ((west, "west"), (east, "east")):
        b.compartments[cid] = Compartment(cid, f, "smoke", f"{f} {name} smoke compartment")
    for cid, x0, x1 in ((west, X0, XB), (east, XB, X1)):
        sid = f"{f}-COR-{'W' if cid == west else 'E'}"
        b.spaces[sid] = Space(sid, "corridor", f, box(x0, CORR_Y0, x1, CORR_Y1), cid, f"{f} corridor")
    _door(b, f"{f}-D-BARRIER", f, (XB, CORR_Y0 + 0.3), (XB, CORR_Y1 - 0.3), f"{f}-COR-W", f"{f}-COR-E",
          barrier=True, state="self_closing")  # fmt: skip
    for side, rooms in (("N", north), ("S", south)):
        for sid, name, x0, x1 in rooms:
            cid = west if x1 <= XB else east
            poly = box(x0, CORR_Y1, x1, NORTH_Y1) if side == "N" else box(x0, SOUTH_Y0, x1, CORR_Y0)
            twin = sid if sid.startswith(("MED-R", "ICU-R")) else ""
            b.spaces[sid] = Space(sid, "room", f, poly, cid, name, twin)
            y = CORR_Y1 if side == "N" else CORR_Y0
            mid = (x0 + x1) / 2
            cor = f"{f}-COR-{'W' if cid == west else 'E'}"
            _door(b, f"{sid}-D", f, (mid - 0.7, y), (mid + 0.7, y), sid, cor)
    for tag, sx0, sx1, dx in (("W", 0.0, X0, X0), ("E", X1, X1 + 4.0, X1)):
        sid = f"{f}-STAIR-{tag}"
        b.spaces[sid] = Space(sid, "stair", f, box(sx0, 5.0, sx1, 13.4), "", f"stair {tag}",
                              connects=("F1", "F2"), flight_m=STAIR_FLIGHT_M)  # fmt: skip
        _door(
            b,
            f"{sid}-D",
            f,
            (dx, CORR_Y0 + 0.6),
            (dx, CORR_Y1 - 0.6),
            sid,
            f"{f}-COR-{tag}",
            state="self_closing",
        )


def demo_building() -> Building:
    b = Building("B1", {"F1": Floor("F1", 1, 0.0, 4.0, "Floor 1"), "F2": Floor("F2", 2, 4.0, 4.0, "Floor 2")},
                 name="medtwin General Hospital (demo geometry)", source="demo")  # fmt: skip
    _floor(
        b, "F1", ("F1-C1", "F1-C2"),
        [("MED-R01", "MED room 1", 4, 12), ("MED-R02", "MED room 2", 12, 20), ("MED-OFFICE", "ward office", 20, 28),
         ("MED-R03", "MED room 3", 28, 36), ("MED-R04", "MED room 4", 36, 44), ("MED-SLUICE", "sluice", 44, 52)],
        [("MED-STATION", "nurse station", 4, 14), ("F1-LOBBY", "lobby", 14, 22), ("MED-UTIL", "utility", 22, 28),
         ("MED-DAY", "day room", 28, 38), ("MED-STORE", "store", 38, 46), ("MED-TREAT", "treatment", 46, 52)],
    )  # fmt: skip
    _floor(
        b, "F2", ("F2-C3", "F2-C4"),
        [(f"ICU-R{i + 1:02d}", f"ICU room {i + 1}", 4 + 6 * i, 10 + 6 * i) for i in range(8)],
        [("ICU-STATION", "ICU station", 4, 16), ("ICU-SUPPORT", "support", 16, 28), ("ICU-STORE", "store", 28, 40),
         ("ICU-STAFF", "staff room", 40, 52)],
    )  # fmt: skip
    for f, room in (("F1", "MED-DAY"), ("F2", "ICU-STORE")):  # a bed lift in the east compartments
        sid, host = f"{f}-LIFT", b.spaces[room]
        b.spaces[room] = replace(host, polygon=host.polygon.difference(LIFT_BOX))
        b.spaces[sid] = Space(sid, "lift", f, LIFT_BOX, host.compartment, "bed lift", connects=("F1", "F2"),
                              attrs=dict(DEMO_LIFT))  # fmt: skip
        _door(b, f"{sid}-D", f, (35.95, CORR_Y0), (37.25, CORR_Y0), sid, f"{f}-COR-E")
    b.exits["EXIT-W"] = Exit("EXIT-W", "F1", box(-4.0, 6.0, 0.0, 12.4), "west exit")
    b.exits["EXIT-E"] = Exit("EXIT-E", "F1", box(X1 + 4.0, 6.0, X1 + 8.0, 12.4), "east exit")
    b.exits["EXIT-MAIN"] = Exit("EXIT-MAIN", "F1", box(14.0, -3.0, 22.0, SOUTH_Y0), "main entrance")
    _door(b, "D-EXIT-W", "F1", (0.0, 8.4), (0.0, 10.0), "F1-STAIR-W", "EXIT-W")
    _door(b, "D-EXIT-E", "F1", (X1 + 4.0, 8.4), (X1 + 4.0, 10.0), "F1-STAIR-E", "EXIT-E")
    _door(b, "D-EXIT-MAIN", "F1", (17.0, SOUTH_Y0), (19.0, SOUTH_Y0), "F1-LOBBY", "EXIT-MAIN")
    for r in range(4):  # MED: four beds per room, 2 x 2
        room = f"MED-R{r + 1:02d}"
        x0 = b.spaces[room].polygon.bounds[0]
        for k, (dx, dy) in enumerate(((2.0, 3.0), (6.0, 3.0), (2.0, 5.6), (6.0, 5.6))):
            bid = f"{room}-B{k + 1}"
            b.beds[bid] = Bed(bid, room, Point(x0 + dx, CORR_Y1 + dy), bid)
    for r in range(8):
        room = f"ICU-R{r + 1:02d}"
        x0 = b.spaces[room].polygon.bounds[0]
        b.beds[f"{room}-B1"] = Bed(f"{room}-B1", room, Point(x0 + 3.0, CORR_Y1 + 4.0), f"{room}-B1")
    return b.validate()


def extra_exit(b: Building) -> Building:
    """Scenario variant: a patio door from the MED day room to the outside (east compartment)."""
    exits = dict(b.exits)
    exits["EXIT-PATIO"] = Exit("EXIT-PATIO", "F1", box(30.0, -3.0, 36.0, SOUTH_Y0), "patio (new)")
    doors = dict(b.doors)
    doors["D-EXIT-PATIO"] = Door("D-EXIT-PATIO", "F1", LineString([(32.1, SOUTH_Y0), (33.9, SOUTH_Y0)]),
                                 ("MED-DAY", "EXIT-PATIO"), 1.8)  # fmt: skip
    return b.with_changes(exits=exits, doors=doors)


def staff_position(b: Building, ward: str) -> tuple[str, Polygon]:
    """Where a ward's staff are found: its nurse station."""
    sid = f"{ward}-STATION"
    return sid, b.spaces[sid].polygon
