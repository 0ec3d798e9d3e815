"""The twin data model (FHIR-aligned): Twin, Relationship, Observation, MedicationAdministration.

Plain frozen dataclasses: no I/O, no validation against the store. Ingest adapters build them
through :mod:`medtwin.core.validate`, which checks every field and names the bad one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TwinKind(StrEnum):
    PATIENT = "patient"
    DEVICE = "device"
    BED = "bed"
    ROOM = "room"
    WARD = "ward"
    FLOOR = "floor"
    BUILDING = "building"
    HOME = "home"
    STAFF = "staff"


class RelType(StrEnum):
    LOCATED_IN = "located_in"  # patient -> bed, bed -> room, device -> bed/home
    PART_OF = "part_of"  # room -> ward, ward -> floor, floor -> building
    MONITORS = "monitors"  # device -> patient
    CARED_FOR_BY = "cared_for_by"  # patient -> staff
    WORKS_IN = "works_in"  # staff -> ward
    LIVES_IN = "lives_in"  # patient -> home


class ObsStatus(StrEnum):
    """FHIR R4 ObservationStatus, restricted to the values medtwin writes."""

    PRELIMINARY = "preliminary"
    FINAL = "final"
    AMENDED = "amended"
    CORRECTED = "corrected"
    ENTERED_IN_ERROR = "entered-in-error"


class Method(StrEnum):
    DEVICE = "device"
    MANUAL = "manual"
    DERIVED = "derived"  # computed by medtwin (scores), with provenance in ``meta``


@dataclass(frozen=True, slots=True)
class Twin:
    id: str
    kind: TwinKind
    name: str = ""  # display label; for patients this is personal data
    attributes: dict[str, Any] = field(default_factory=dict)  # non-identifying profile
    identity: dict[str, Any] = field(default_factory=dict)  # personal identifiers (encrypted at rest)
    active: bool = True


@dataclass(frozen=True, slots=True)
class Relationship:
    src: str
    type: RelType
    dst: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Observation:
    """One reading. ``code`` is the canonical code ref (LOINC code, or ``system|code``).

    Treat as immutable: only the store sets ``id``, once, when it commits the reading. (Not a
    frozen dataclass because construction sits on the hot ingest path and frozen construction
    costs about a microsecond more per reading.)

    ``effective`` is the device's (or the charting person's) time of the reading; ``received`` is
    when medtwin got it. The idempotency key is ``(source, source_id)``.
    """

    twin_id: str
    code: str
    effective: datetime
    received: datetime
    source: str
    source_id: str
    value: float | None = None
    value_text: str | None = None
    unit: str = ""
    method: Method = Method.DEVICE
    status: ObsStatus = ObsStatus.FINAL
    meta: dict[str, Any] | None = None
    id: int | None = None  # assigned by the store

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.source_id)


@dataclass(frozen=True, slots=True)
class MedicationAdministration:
    """A dose given (FHIR MedicationAdministration): drug, dose, route, time, who."""

    twin_id: str
    drug: str
    dose: float
    dose_unit: str
    route: str
    effective: datetime
    source: str
    source_id: str
    performer: str = ""
    status: str = "completed"
    note: str = ""
    id: int | None = None
