"""Mobility classes of occupants and the numbers that move them.

Walking speeds (horizontal, m/s):

* ``ambulant`` and ``staff``: free walking speed N(1.34, 0.26) (U. Weidmann, "Transporttechnik der
  Fussgaenger", ETH Zuerich IVT Schriftenreihe 90, 1993, as used by RiMEA 3.0 §2.3), drawn per
  person and kept inside RiMEA's adult band 0.58-1.61 m/s; with a known age, uniform in RiMEA test
  7's Weidmann bands: under 30 y 0.58-1.61, 30-50 y 1.41-1.54, over 50 y 0.68-1.41 m/s.
* ``walking_aid``: uniform in RiMEA test 7's band for people with limited mobility, 0.46-0.76 m/s;
  it contains the mean of walking-frame users, 0.57 m/s, in K. E. Boyce, T. J. Shields and
  G. W. H. Silcock, "Toward the characterization of building occupancies for fire safety
  engineering: capabilities of disabled people moving horizontally and on an incline", Fire
  Technology 35(1), 35-50, 1999 (crutches 0.94, walking stick 0.81 m/s).
* ``wheelchair``: 0.69 m/s, the mean for manual wheelchairs in Boyce et al. 1999 (electric 0.89).
* ``bed_bound`` and ``critical`` do not walk: staff move them (:mod:`.assisted`).

Stairs (speed along the stair line): SFPE hydraulic model, free-flow speed ``0.85 k`` with
``k = 1.08`` for 178 mm risers and 279 mm treads, i.e. 0.92 m/s (S. M. V. Gwynne and
E. R. Rosenbaum, "Employing the hydraulic model in assessing emergency movement", SFPE Handbook of
Fire Protection Engineering, 5th ed., 2016, ch. 59, Table 59.2). People who cannot walk down
stairs are carried in an evacuation chair.

Devices operated by staff:

* evacuation chair on stairs 0.60 m/s, the lowest of the device descent speeds (averages 0.60-0.84
  m/s) in A. L. E. Hunt, E. R. Galea, P. J. Lawrence, I. R. Frost and S. M. V. Gwynne, "Simulating
  movement devices used in hospital evacuation", Fire Technology 56, 2209-2240, 2020; one handler
  (a single-operator device, A. P. M. Adams and E. R. Galea, "An experimental evaluation of
  movement devices used to assist people with reduced mobility in high-rise building
  evacuations", Pedestrian and Evacuation Dynamics 2010, Springer 2011, 129-138).
* hospital bed on the level: 0.60 m/s by default, again the low end of Hunt et al.'s device
  range: J. Kwak, M. H. Lees, W. Cai, A. R. Pourghaderi and M. E. H. Ong, "Estimating horizontal
  movement performance of patient beds and the impact on emergency evacuation time", Safety
  Science 134, 105038, 2021, show that bed speed drops at corners and over repeated trips, so a
  constant speed is optimistic; set the measured speed of your own drills. Two to four people
  move a hospital bed (A. N. Rabbani, B. Hadisujoto and R. Dhelika, "Motorized hospital bed for
  mobility of patients: a review", J. Eng. Appl. Sci. 71, 2024): medtwin uses 2 for a bed-bound
  patient and 3 for a critical/ventilated one (the ventilator and monitor need a hand).

Body sizes: circle radius 0.2 m for a walking person (JuPedSim's default for the collision-free
speed model); 0.35 m for a wheelchair, half the 700 mm maximum overall width of ISO 7193:1985.

Preparation times (disconnecting, transferring, connecting portable equipment) have no published
table medtwin could cite: the defaults below are placeholders marked as such in every result
(``assumptions``) and must be replaced by the hospital's drill measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Mobility(StrEnum):
    AMBULANT = "ambulant"
    WALKING_AID = "walking_aid"
    WHEELCHAIR = "wheelchair"
    BED_BOUND = "bed_bound"
    CRITICAL = "critical"
    STAFF = "staff"


WALKING = frozenset({Mobility.AMBULANT, Mobility.WALKING_AID, Mobility.WHEELCHAIR, Mobility.STAFF})
ASSISTED = frozenset({Mobility.BED_BOUND, Mobility.CRITICAL})

WEIDMANN_MEAN, WEIDMANN_SD = 1.34, 0.26
ADULT_BAND = (0.58, 1.61)  # RiMEA test 7, under 30 y (the widest adult band)
AGE_BANDS = ((0, 30, 0.58, 1.61), (30, 50, 1.41, 1.54), (50, 200, 0.68, 1.41))  # RiMEA test 7
LIMITED_BAND = (0.46, 0.76)  # RiMEA test 7, limited mobility
WHEELCHAIR_SPEED = 0.69  # Boyce et al. 1999, manual wheelchair
STAIR_SPEED = 0.85 * 1.08  # SFPE, 178/279 mm stairs
RADIUS = {Mobility.WHEELCHAIR: 0.35}
DEFAULT_RADIUS = 0.2


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    speed_m_s: float
    stair_speed_m_s: float | None  # None: cannot use stairs
    staff: int
    width_m: float
    source: str


BED = Device("bed", 0.60, None, 2, 1.0, "Hunt et al. 2020 (low end); Kwak et al. 2021; width: site input")
CRITICAL_BED = Device("bed", 0.60, None, 3, 1.0, "as bed; 3 staff within Rabbani et al. 2024's 2-4")
EVAC_CHAIR = Device("evac_chair", 0.60, 0.60, 1, 0.55, "Hunt et al. 2020; Adams & Galea 2011")


@dataclass(frozen=True, slots=True)
class AssistNeeds:
    device: Device
    stairs_device: Device | None  # how they go down stairs (None: only by lift)
    prep_s: float
    prep_is_placeholder: bool = True


ASSIST = {
    Mobility.BED_BOUND: AssistNeeds(BED, EVAC_CHAIR, 60.0),
    Mobility.CRITICAL: AssistNeeds(CRITICAL_BED, None, 300.0),
    # people who walk on the level but not down stairs: carried down in an evacuation chair
    Mobility.WALKING_AID: AssistNeeds(EVAC_CHAIR, EVAC_CHAIR, 30.0),
    Mobility.WHEELCHAIR: AssistNeeds(EVAC_CHAIR, EVAC_CHAIR, 30.0),
}


def parse_mobility(value: object, field: str = "class") -> Mobility:
    try:
        return Mobility(str(value))
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not one of {', '.join(m.value for m in Mobility)}") from None


def draw_speed(cls: Mobility, rng: np.random.Generator, age: float | None = None) -> float:
    """A desired walking speed (m/s) for one person of class ``cls`` (see the module docstring)."""
    if cls in (Mobility.AMBULANT, Mobility.STAFF):
        if age is not None:
            for lo_age, hi_age, lo, hi in AGE_BANDS:
                if lo_age <= age < hi_age:
                    return float(rng.uniform(lo, hi))
        return float(np.clip(rng.normal(WEIDMANN_MEAN, WEIDMANN_SD), *ADULT_BAND))
    if cls is Mobility.WALKING_AID:
        return float(rng.uniform(*LIMITED_BAND))
    if cls is Mobility.WHEELCHAIR:
        return WHEELCHAIR_SPEED
    raise ValueError(f"{cls} does not walk: staff move them")


def radius(cls: Mobility) -> float:
    return RADIUS.get(cls, DEFAULT_RADIUS)


def stair_speed(cls: Mobility) -> float | None:
    """Speed on stairs of people who walk down themselves; None for those carried."""
    return STAIR_SPEED if cls in (Mobility.AMBULANT, Mobility.STAFF) else None
