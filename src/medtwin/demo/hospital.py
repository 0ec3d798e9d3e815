"""Seed the demo hospital: one building, two floors, two wards, 24 beds, synthetic patients.

Everything here is synthetic: names are drawn from short lists of invented given and family
names and combined at random with a fixed seed; medical record numbers are made up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.services.registry import Registry

GIVEN = (
    "Alba",
    "Bruno",
    "Carys",
    "Dario",
    "Elin",
    "Fenna",
    "Goran",
    "Hedda",
    "Ivo",
    "Jonna",
    "Kaito",
    "Liv",
    "Marek",
    "Nela",
    "Oskar",
    "Pia",
    "Quinn",
    "Runa",
    "Sven",
    "Tilde",
    "Ulf",
    "Vera",
    "Wim",
    "Ysolde",
)
FAMILY = (
    "Arnell",
    "Bexley",
    "Corvin",
    "Dahlby",
    "Eskew",
    "Farrow",
    "Gessner",
    "Holloway",
    "Isberg",
    "Jarvik",
    "Kestel",
    "Lindqvist",
    "Morrow",
    "Nyberg",
    "Orsk",
    "Pellam",
    "Quayle",
    "Rosling",
    "Stenmark",
    "Tarrow",
)
CONDITIONS = (
    "community-acquired pneumonia",
    "post-operative (hip replacement)",
    "COPD exacerbation",
    "heart failure decompensation",
    "urinary tract infection",
    "diabetic ketoacidosis (resolving)",
    "gastrointestinal bleed",
    "post-operative (bowel resection)",
    "cellulitis",
    "stroke (ischaemic)",
)


@dataclass
class DemoBed:
    bed: str
    room: str
    ward: str
    patient: str
    monitor: str
    scenario: str = "stable"


@dataclass
class DemoHospital:
    building: str = "B1"
    wards: dict[str, str] = field(default_factory=dict)  # ward id -> name
    beds: list[DemoBed] = field(default_factory=list)
    env_sensors: dict[str, str] = field(default_factory=dict)  # sensor id -> room id
    staff: list[str] = field(default_factory=list)


# (ward id, name, floor, rooms, beds per room)
LAYOUT = (
    ("ICU", "Intensive Care Unit", "F2", 8, 1),
    ("MED", "Acute Medical Ward", "F1", 4, 4),
)
# Deteriorations shown by the demo: (bed index, scenario name)
DETERIORATING = {1: "sepsis", 5: "haemorrhage", 10: "haemorrhage", 18: "respiratory_failure"}


def seed(registry: Registry, *, seed_value: int = 7) -> DemoHospital:
    rnd = random.Random(seed_value)
    h = DemoHospital()
    put = registry.put
    put(Twin("B1", TwinKind.BUILDING, "medtwin General Hospital", {"address_city": "Demo City"}))
    floors = {fl for _w, _n, fl, _r, _b in LAYOUT}
    for i, fl in enumerate(sorted(floors)):
        put(Twin(fl, TwinKind.FLOOR, f"Floor {i + 1}", {"level": i + 1}))
        registry.relate(fl, RelType.PART_OF, "B1")
    bed_index = 0
    for ward, name, floor, rooms, beds_per_room in LAYOUT:
        put(Twin(ward, TwinKind.WARD, name, {"specialty": "critical care" if ward == "ICU" else "medicine"}))
        registry.relate(ward, RelType.PART_OF, floor)
        h.wards[ward] = name
        for role, n in (("nurse", 3), ("charge_nurse", 1), ("physician", 1)):
            for k in range(n):
                sid = f"{ward}-{role.replace('_', '')}-{k + 1}"
                put(
                    Twin(
                        sid,
                        TwinKind.STAFF,
                        f"{role.replace('_', ' ').title()} {ward} {k + 1}",
                        {"role": role},
                    )
                )
                registry.relate(sid, RelType.WORKS_IN, ward)
                h.staff.append(sid)
        for r in range(rooms):
            room = f"{ward}-R{r + 1:02d}"
            put(Twin(room, TwinKind.ROOM, f"{ward} room {r + 1}", {"beds": beds_per_room}))
            registry.relate(room, RelType.PART_OF, ward)
            env = f"ENV-{room}"
            put(Twin(env, TwinKind.DEVICE, f"Environment sensor {room}", {"type": "environment"}))
            registry.relate(env, RelType.LOCATED_IN, room)
            registry.relate(env, RelType.MONITORS, room)
            h.env_sensors[env] = room
            for b in range(beds_per_room):
                bed_index += 1
                bed = f"{room}-B{b + 1}"
                put(Twin(bed, TwinKind.BED, f"Bed {bed_index}", {"number": bed_index}))
                registry.relate(bed, RelType.PART_OF, room)
                pid = f"P{bed_index:03d}"
                given, family = rnd.choice(GIVEN), rnd.choice(FAMILY)
                birth = date(rnd.randint(1935, 2000), rnd.randint(1, 12), rnd.randint(1, 28))
                put(
                    Twin(
                        pid,
                        TwinKind.PATIENT,
                        f"{given} {family}",
                        attributes={
                            "sex": rnd.choice(("female", "male")),
                            "age": 2026 - birth.year,
                            "condition": rnd.choice(CONDITIONS),
                            "synthetic": True,
                        },
                        identity={
                            "name": f"{given} {family}",
                            "mrn": f"DEMO{100000 + bed_index}",
                            "birth_date": birth.isoformat(),
                        },
                    )
                )
                registry.relate(pid, RelType.LOCATED_IN, bed)
                nurse = f"{ward}-nurse-{(bed_index % 3) + 1}"
                registry.relate(pid, RelType.CARED_FOR_BY, nurse)
                registry.relate(pid, RelType.CARED_FOR_BY, f"{ward}-physician-1")
                mon = f"MON-{bed_index:03d}"
                put(Twin(mon, TwinKind.DEVICE, f"Bedside monitor {bed_index}", {"type": "bedside_monitor"}))
                registry.relate(mon, RelType.LOCATED_IN, bed)
                registry.relate(mon, RelType.MONITORS, pid)
                h.beds.append(DemoBed(bed, room, ward, pid, mon, DETERIORATING.get(bed_index, "stable")))
    return h
