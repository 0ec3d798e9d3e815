"""Evacuation lifts for patients who cannot be carried down the stairs (critical, ventilated).

HTM 05-02 (Firecode, 2015, §2 "evacuation strategies" and §4 "evacuation lifts") and NFPA 101
(§18/19.2.2 and §7.2.13, "elevators for occupant-controlled evacuation") expect patients in beds
above the ground floor to leave a floor vertically only by a lift, after progressive horizontal
evacuation; this module moves them with the building's lifts, one bed per car trip.

A lift is a ``lift`` space on each floor it serves (the spaces of one shaft overlap in plan). Its
numbers come from the plan, never from here: ``speed_m_s`` (the car's rated speed) and ``door_s``
(doors opening and closing plus wheeling a bed in or out, per stop: time it in a drill). A lift
without them is not used and the report says so. The car is a resource: a bed that reaches the
lift waits for the car (first come, first served), the car travels from where it is to the bed's
floor, stops (``door_s``), travels down to the exit floor at ``speed_m_s`` over the difference in
floor elevations, stops again (``door_s``), and is free there. Acceleration and deceleration are
left out (each trip a few seconds quicker than a real car): the time is a kinematic lower bound
plus the site's own door and transfer time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medtwin.models.evacuation.building import Building, Space


@dataclass
class Car:
    shaft: tuple[str, ...]  # lift space ids of the shaft, one per floor
    speed_m_s: float
    door_s: float
    elevation_m: float  # where the car waits
    free_s: float = 0.0
    trips: list[tuple[float, float, str, str]] = field(default_factory=list)  # (start, end, from, to)


def usable(s: Space) -> bool:
    """A lift can be used when the plan gives its rated speed and its time per stop."""
    v, d = s.attrs.get("speed_m_s"), s.attrs.get("door_s")
    return isinstance(v, int | float) and v > 0 and isinstance(d, int | float) and d >= 0


def shaft_of(b: Building, lift: str) -> tuple[str, ...]:
    """The lift spaces on every floor that overlap ``lift`` in plan (one shaft), sorted."""
    s = b.spaces[lift]
    return tuple(sorted(o.id for o in b.spaces.values() if o.kind == "lift"
                        and o.polygon.intersection(s.polygon).area > 0.25 * min(o.polygon.area, s.polygon.area)))  # fmt: skip


class Lifts:
    """The building's lift cars; :meth:`ride` books one trip."""

    def __init__(self, b: Building) -> None:
        self.b = b
        self.cars: dict[tuple[str, ...], Car] = {}
        for s in b.spaces.values():
            if s.kind == "lift" and usable(s):
                sh = shaft_of(b, s.id)
                if sh not in self.cars:
                    low = min(sh, key=lambda x: b.floors[b.spaces[x].floor].elevation_m)
                    self.cars[sh] = Car(sh, float(s.attrs["speed_m_s"]), float(s.attrs["door_s"]),
                                        b.floors[b.spaces[low].floor].elevation_m)  # fmt: skip

    def down_to(self, lift: str, floor: str) -> str | None:
        """The shaft's lift space on ``floor``, if the lift is usable and serves it."""
        car = self.car(lift)
        return next((x for x in car.shaft if self.b.spaces[x].floor == floor), None) if car else None

    def car(self, lift: str) -> Car | None:
        return next((c for sh, c in self.cars.items() if lift in sh), None)

    def ride(self, lift: str, dest: str, t: float) -> tuple[float, float]:
        """A bed at ``lift`` from time ``t`` to the shaft's space ``dest``: when it boards (the car
        has come) and when it is out of the car on ``dest``'s floor."""
        car = self.car(lift)
        assert car is not None
        z0 = self.b.floors[self.b.spaces[lift].floor].elevation_m
        z1 = self.b.floors[self.b.spaces[dest].floor].elevation_m
        start = max(t, car.free_s + abs(car.elevation_m - z0) / car.speed_m_s)
        end = start + car.door_s + abs(z1 - z0) / car.speed_m_s + car.door_s
        car.free_s, car.elevation_m = end, z1
        car.trips.append((start, end, lift, dest))
        return start, end
