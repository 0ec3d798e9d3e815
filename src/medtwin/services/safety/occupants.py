"""Occupants from the live twin: patients in their beds, staff on shift, visitors by time of day.

* **Patients**: every active patient twin whose location chain reaches a bed or room of the
  building plan (bed twin ids or room twin ids on the plan's beds and spaces). Mobility class:
  the patient's ``mobility`` attribute (``ambulant``, ``walking_aid``, ``wheelchair``,
  ``bed_bound``, ``critical``). **Default** when it is missing: ``critical`` in a ward whose
  ``specialty`` is critical care, ``bed_bound`` elsewhere. This errs on the safe side (staff and a
  bed are planned for a patient whose mobility nobody recorded) and is listed in the result as an
  assumption with the number of patients it applied to.
* **Staff**: staff twins who ``works_in`` a ward of the building. On shift: the ``shifts``
  attribute (``["day", "night"]``) when present; otherwise nurses and charge nurses work both
  shifts and everyone else days only (the demo hospital has no rota). They start at their ward's
  station (a space ``<WARD>-STATION``), else in a corridor of the ward's floor.
* **Visitors**: ``visitors_per_patient`` per patient in wards that are not critical care, in the
  patient's room, during the day only. The default 0.5 is an input for the safety officer to set,
  not a published figure.
* **Day and night**: ``"day"`` or ``"night"``, or a clock time (day is 08:00-20:00).

Results never hold patients' names: patients appear as pseudonyms (``PSN-...``), with their bed,
room and mobility class.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from typing import Any

from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.models.evacuation.building import Building
from medtwin.models.evacuation.classes import Mobility
from medtwin.models.evacuation.scenario import Occupant
from medtwin.services.registry import Registry

BOTH_SHIFTS = ("nurse", "charge_nurse")
DAY = (time(8, 0), time(20, 0))


def is_day(when: str) -> bool:
    if when in ("day", "night"):
        return when == "day"
    hh, mm = (int(x) for x in when.split(":")[:2])
    return DAY[0] <= time(hh, mm) < DAY[1]


def _critical(ward: Twin | None) -> bool:
    return bool(ward and "critical" in str(ward.attributes.get("specialty", "")).lower())


def mobility_of(patient: Twin, ward: Twin | None) -> tuple[Mobility, bool]:
    """The class and whether it came from the documented default."""
    m = patient.attributes.get("mobility")
    if m:
        try:
            return Mobility(str(m)), False
        except ValueError:
            pass
    return (Mobility.CRITICAL if _critical(ward) else Mobility.BED_BOUND), True


def on_shift(staff: Twin, day: bool) -> bool:
    shifts = staff.attributes.get("shifts")
    if isinstance(shifts, list) and shifts:
        return ("day" if day else "night") in shifts
    return True if day else staff.attributes.get("role") in BOTH_SHIFTS


def census(
    reg: Registry,
    b: Building,
    *,
    when: str = "night",
    pseudonym: Callable[[str], str] = lambda x: x,
    visitors_per_patient: float = 0.5,
) -> tuple[list[Occupant], dict[str, Any]]:
    day = is_day(when)
    store = reg.store
    occupants: list[Occupant] = []
    info: dict[str, Any] = {"when": "day" if day else "night", "defaulted_mobility": 0, "off_plan": 0}
    wards_here: dict[str, Twin] = {}
    for p in store.list_twins(TwinKind.PATIENT):
        if not p.active:
            continue
        chain = reg.location_chain(p.id)
        bed = next((t for t in chain if t.kind is TwinKind.BED), None)
        room = next((t for t in chain if t.kind is TwinKind.ROOM), None)
        ward = next((t for t in chain if t.kind is TwinKind.WARD), None)
        plan_bed = b.bed_of_twin(bed.id) if bed else None
        plan_room = b.room_of_twin(room.id) if room else None
        if plan_bed is None and plan_room is None:
            info["off_plan"] += 1
            continue
        cls, defaulted = mobility_of(p, ward)
        info["defaulted_mobility"] += defaulted
        space = plan_bed.room if plan_bed else plan_room.id  # type: ignore[union-attr]
        if ward:
            wards_here[ward.id] = ward
        age = p.attributes.get("age")
        occupants.append(Occupant(
            pseudonym(p.id), cls, b.spaces[space].floor, None, "patient", space,
            plan_bed.id if plan_bed else "", None, float(age) if isinstance(age, int | float) else None,
            ward.id if ward else "",
        ))  # fmt: skip
    for s in store.list_twins(TwinKind.STAFF):
        if not s.active or not on_shift(s, day):
            continue
        works = [r.dst for r in store.relationships(s.id, type_=RelType.WORKS_IN, direction="out")]
        ward_id = next((w for w in works if w in wards_here or f"{w}-STATION" in b.spaces), None)
        if ward_id is None:
            continue
        station = f"{ward_id}-STATION"
        if station in b.spaces:
            where = station
        else:
            floors = {o.floor for o in occupants if o.ward == ward_id}
            corr = [x for x in b.spaces.values() if x.kind == "corridor" and x.floor in floors]
            if not corr:
                continue
            where = corr[0].id
        occupants.append(
            Occupant(s.id, Mobility.STAFF, b.spaces[where].floor, None, "staff", where, ward=ward_id)
        )
    info["visitors"] = 0
    if day and visitors_per_patient > 0:
        per_room: dict[str, int] = {}
        for o in list(occupants):
            if o.role == "patient" and not _critical(wards_here.get(o.ward)):
                per_room[o.space] = per_room.get(o.space, 0) + 1
        k = 0
        for room_id, n in sorted(per_room.items()):
            for _ in range(round(n * visitors_per_patient)):
                k += 1
                occupants.append(
                    Occupant(
                        f"V{k:03d}", Mobility.AMBULANT, b.spaces[room_id].floor, None, "visitor", room_id
                    )
                )
        info["visitors"] = k
    info["patients"] = sum(o.role == "patient" for o in occupants)
    info["staff"] = sum(o.role == "staff" for o in occupants)
    return occupants, info


def occupant_json(o: Occupant) -> dict[str, Any]:
    return {"id": o.key, "class": o.cls.value, "role": o.role, "floor": o.floor, "space": o.space, "bed": o.bed,
            "ward": o.ward}  # fmt: skip
