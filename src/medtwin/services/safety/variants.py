"""Scenario changes for comparisons: an extra exit, more (or fewer) staff, moved beds, door widths.

A change set is a JSON object applied to a base scenario (and its building):

* ``doors``: ``{door id: {"width_m": ..., "state": ...}}`` (door widths, doors held shut);
* ``add_staff``: ``[{"space": "ICU-STATION", "count": 1}]`` (e.g. an extra night nurse);
* ``remove_staff``: number of staff to take off each ward's station (night cover);
* ``extra_exit``: ``{"id", "floor", "polygon": GeoJSON, "door": [[x, y], [x, y]], "from": space,
  "width_m"}``, or ``"demo"`` for the demo building's patio door;
* ``relocate``: ``{"rooms": {from room: to room}, "stations": {from: to}}`` moves the occupants
  of rooms (e.g. the ICU's beds to another floor) and their staff's stations;
* ``strategy``, ``alarm_s``, ``staff_response_s``, ``pre_movement_s``: as in the scenario.
"""

from __future__ import annotations

import copy
from typing import Any

from shapely.geometry import LineString, shape

from medtwin.models.evacuation.building import Building, BuildingError, Door, Exit
from medtwin.models.evacuation.classes import Mobility
from medtwin.models.evacuation.scenario import Occupant, ScenarioError
from medtwin.services.safety import demo

SCALARS = ("strategy", "alarm_s", "staff_response_s", "pre_movement_s")
KNOWN = {"doors", "add_staff", "remove_staff", "extra_exit", "relocate", *SCALARS}


def apply_doc(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(changes, dict) or set(changes) - KNOWN:
        raise ScenarioError(f"changes may only hold {', '.join(sorted(KNOWN))}", "changes")
    doc = copy.deepcopy(base)
    for k in SCALARS:
        if k in changes:
            doc[k] = changes[k]
    if "doors" in changes:
        doc["doors"] = {**doc.get("doors", {}), **changes["doors"]}
    return doc


def apply_building(b: Building, changes: dict[str, Any]) -> Building:
    x = changes.get("extra_exit")
    if x is None:
        return b
    if x == "demo":
        return demo.extra_exit(b)
    try:
        eid, floor = str(x["id"]), str(x["floor"])
        exits = {**b.exits, eid: Exit(eid, floor, shape(x["polygon"]))}
        line = LineString(x["door"])
        doors = {**b.doors, f"D-{eid}": Door(f"D-{eid}", floor, line, (str(x["from"]), eid),
                                              float(x.get("width_m", line.length)))}  # fmt: skip
        return b.with_changes(exits=exits, doors=doors)
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(
            f"needs id, floor, polygon, door and from ({exc})", "changes.extra_exit"
        ) from None
    except BuildingError as exc:
        raise ScenarioError(exc.reason, f"changes.extra_exit.{exc.field}") from None


def apply_occupants(occ: list[Occupant], b: Building, changes: dict[str, Any]) -> list[Occupant]:
    out = [copy.copy(o) for o in occ]
    rel = changes.get("relocate") or {}
    rooms, stations = rel.get("rooms", {}), rel.get("stations", {})
    for o in out:
        target = rooms.get(o.space) if o.role in ("patient", "visitor") else stations.get(o.space)
        if target:
            if target not in b.spaces:
                raise ScenarioError(f"no space {target!r}", "changes.relocate")
            o.space, o.bed, o.position, o.floor = target, "", None, b.spaces[target].floor
    drop = int(changes.get("remove_staff", 0) or 0)
    if drop:
        seen: dict[str, int] = {}
        kept = []
        for o in out:
            if o.role == "staff":
                seen[o.space] = seen.get(o.space, 0) + 1
                if seen[o.space] <= drop:
                    continue
            kept.append(o)
        out = kept
    for i, add in enumerate(changes.get("add_staff") or []):
        space = add.get("space") if isinstance(add, dict) else None
        if space not in b.spaces:
            raise ScenarioError("needs the space where the staff start", f"changes.add_staff[{i}].space")
        for k in range(int(add.get("count", 1))):
            out.append(
                Occupant(
                    f"extra-{space}-{k + 1}", Mobility.STAFF, b.spaces[space].floor, None, "staff", space
                )
            )
    return out


def presets(b: Building) -> list[dict[str, Any]]:
    """Comparisons a safety officer of the demo hospital starts from."""
    out = [
        {"name": "extra night nurse in ICU", "changes": {"add_staff": [{"space": "ICU-STATION", "count": 1}]}},
        {"name": "full evacuation instead of horizontal", "changes": {"strategy": "full"}},
        {"name": "barrier door 1.2 m instead of 1.8 m",
         "changes": {"doors": {d.id: {"width_m": 1.2} for d in b.doors.values() if d.barrier}}},
        {"name": "ICU beds on the ground floor (swap with MED)", "changes": {"relocate": {
            "rooms": {**{f"ICU-R{i + 1:02d}": f"MED-R{i // 2 + 1:02d}" for i in range(8)},
                      **{f"MED-R{i + 1:02d}": f"ICU-R{2 * i + 1:02d}" for i in range(4)}},
            "stations": {"ICU-STATION": "MED-STATION", "MED-STATION": "ICU-STATION"}}}},
    ]  # fmt: skip
    if "MED-DAY" in b.spaces:
        out.insert(1, {"name": "patio door as an extra exit", "changes": {"extra_exit": "demo"}})
    return out
