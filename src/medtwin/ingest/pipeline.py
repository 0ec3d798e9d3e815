"""The Ingestor: the one path every reading takes into the twin.

An adapter decodes its protocol into :class:`ReadingBatch` objects (who the readings are about,
which device or person sent them, the message id, and raw reading dicts in the documented
shape), then calls :meth:`Ingestor.ingest`. The Ingestor validates each reading (naming the
field and reason of every reject), resolves the subject (a patient twin, directly or through the
device's ``monitors`` relationship), refuses readings about unknown patients unless
auto-registration is on, and hands the valid ones to the :class:`BatchWriter`. The returned
future resolves once they are committed: only then may the adapter acknowledge.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from medtwin.core.clock import Clock, WallClock
from medtwin.core.codes import BY_REF
from medtwin.core.errors import MedtwinError, ValidationError
from medtwin.core.events import Context
from medtwin.core.ids import valid_id
from medtwin.core.model import MedicationAdministration, Method, Observation, RelType, Twin, TwinKind
from medtwin.core.validate import build_observation, parse_time
from medtwin.store.sql import SqlStore
from medtwin.store.writer import Ack, BatchWriter

log = logging.getLogger(__name__)
# Twins readings may be about: patients, and places monitored by environment sensors.
SUBJECT_KINDS = frozenset({TwinKind.PATIENT, TwinKind.ROOM, TwinKind.HOME, TwinKind.WARD})
# What a place (room, home, ward) may hold: environment readings and its sensors' device status.
PLACE_CATEGORIES = frozenset({"environment", "device"})


@dataclass
class ReadingBatch:
    """Readings from one message. ``subject`` is a patient twin id (None: use the device's)."""

    source: str  # device id or user id: first half of the idempotency key
    msg_id: str  # the source's own id for this message: readings get "<msg_id>/<i>"
    readings: Sequence[Mapping[str, Any]] = ()
    subject: str | None = None
    device: str | None = None
    method: Method = Method.DEVICE
    medications: Sequence[Mapping[str, Any]] = ()
    index_offset: int = 0  # position of the first reading in the caller's numbering


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}

    def merge(self, other: IngestResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.observations.extend(other.observations)


def reject(index: int | None, field_: str | None, reason: str) -> dict[str, Any]:
    return {"index": index, "field": field_, "reason": reason}


class Ingestor:
    def __init__(
        self,
        store: SqlStore,
        writer: BatchWriter,
        *,
        auto_register: bool = False,
        clock: Clock | None = None,
        max_future_s: float = 86_400.0,
    ) -> None:
        self.store = store
        self.writer = writer
        self.auto_register = auto_register
        self.clock = clock or WallClock()
        self.max_future = timedelta(seconds=max_future_s)
        self._lock = threading.Lock()
        self._patients: set[str] = set()
        self._places: set[str] = set()
        self._device_patient: dict[str, str] = {}
        self._device_unlinked: dict[str, float] = {}  # device -> monotonic time the "no link" answer expires
        # How auto-registered patients are created; the Runtime points this at the Registry so the
        # change is announced on the bus like any other.
        self.register: Callable[[Twin], object] = lambda twin: self.store.put_twin(twin)
        self.refresh()

    # ---------------------------------------------------------------- twin cache
    def refresh(self) -> None:
        """Reload the subject ids and device -> subject links (after twin or relationship changes).

        Subjects are patients, and places a device can monitor (rooms, homes, wards: environment
        sensors report about the room, not about a patient)."""
        twins = [t for t in self.store.list_twins() if t.kind in SUBJECT_KINDS and t.active]
        patients = {t.id for t in twins}
        places = {t.id for t in twins if t.kind is not TwinKind.PATIENT}
        links = {r.src: r.dst for r in self.store.relationships(type_=RelType.MONITORS)}
        with self._lock:
            self._patients = patients
            self._places = places
            self._device_patient = links
            self._device_unlinked = {}

    def is_subject(self, twin_id: str) -> bool:
        """True when readings may be about this twin (a patient, or a monitored place)."""
        with self._lock:
            if twin_id in self._patients:
                return True
        t = self.store.get_twin(twin_id)  # another worker may have created it
        if t is not None and t.kind in SUBJECT_KINDS and t.active:
            with self._lock:
                self._patients.add(twin_id)
                if t.kind is not TwinKind.PATIENT:
                    self._places.add(twin_id)
            return True
        return False

    UNLINKED_TTL_S = 5.0

    def patient_of_device(self, device: str) -> str | None:
        """The twin a device monitors. Links made in this process refresh the cache at once
        (runtime bus); a link made by another worker is seen within :attr:`UNLINKED_TTL_S`."""
        now = time.monotonic()
        with self._lock:
            p = self._device_patient.get(device)
            if p is None and self._device_unlinked.get(device, 0.0) > now:
                return None
        if p is None:
            rels = self.store.relationships(device, type_=RelType.MONITORS, direction="out")
            with self._lock:
                if rels:
                    p = rels[0].dst
                    self._device_patient[device] = p
                else:
                    if len(self._device_unlinked) > 100_000:
                        self._device_unlinked.clear()
                    self._device_unlinked[device] = now + self.UNLINKED_TTL_S
        return p

    def _resolve_subject(self, batch: ReadingBatch) -> tuple[str | None, dict[str, Any] | None]:
        subject = batch.subject
        if subject and batch.device:
            # A device linked to a twin writes about that twin only: a monitor cannot chart for the
            # patient in the next bed. (Devices without a link, e.g. a relayed home device, may name one.)
            linked = self.patient_of_device(batch.device)
            if linked is not None and linked != subject:
                return None, reject(
                    None, "patient", f"device {batch.device!r} monitors {linked!r}, not {str(subject)[:40]!r}"
                )
        if not subject and batch.device:
            subject = self.patient_of_device(batch.device)
            if subject is None:
                return None, reject(
                    None,
                    "patient",
                    f"device {batch.device!r} is not linked to a patient and the message names none",
                )
        if not subject:
            return None, reject(None, "patient", "missing subject (patient id)")
        if not isinstance(subject, str) or not valid_id(subject):
            return None, reject(None, "patient", f"invalid patient id {str(subject)[:40]!r}")
        if self.is_subject(subject):
            return subject, None
        if self.auto_register:
            existing = self.store.get_twin(subject)
            if existing is not None:  # never turn a bed into a patient, nor revive an inactive one
                what = (
                    "inactive" if existing.kind is TwinKind.PATIENT else f"a {existing.kind}, not a patient"
                )
                return None, reject(None, "patient", f"twin {subject!r} is {what}")
            self.register(Twin(id=subject, kind=TwinKind.PATIENT, attributes={"auto_registered": True}))
            with self._lock:
                self._patients.add(subject)
            return subject, None
        return None, reject(
            None,
            "patient",
            f"unknown patient {subject!r} (register it first, e.g. PUT /fhir/Patient/{subject})",
        )

    # ---------------------------------------------------------------- validation
    def prepare(
        self, batch: ReadingBatch, received: datetime | None = None
    ) -> tuple[list[Observation], list[MedicationAdministration], list[dict[str, Any]]]:
        received = received or self.clock.now()
        rejects: list[dict[str, Any]] = []
        n = len(batch.readings) + len(batch.medications)
        if not isinstance(batch.source, str) or not batch.source:
            return (
                [],
                [],
                [reject(batch.index_offset + i, "source", "missing source") for i in range(max(n, 1))],
            )
        subject, err = self._resolve_subject(batch)
        if err is not None:
            return [], [], [dict(err, index=batch.index_offset + i) for i in range(max(n, 1))]
        assert subject is not None
        place = subject in self._places
        obs: list[Observation] = []
        latest_allowed = received + self.max_future
        for i, raw in enumerate(batch.readings):
            idx = batch.index_offset + i
            try:
                rid = raw.get("id") if isinstance(raw, Mapping) else None
                source_id = str(rid) if rid is not None and rid != "" else f"{batch.msg_id}/{i}"
                o = build_observation(
                    raw,
                    twin_id=subject,
                    source=batch.source,
                    source_id=source_id,
                    received=received,
                    default_method=batch.method,
                    latest_allowed=latest_allowed,
                )
                if place and BY_REF[o.code].category not in PLACE_CATEGORIES:
                    raise ValidationError(
                        f"{subject!r} is a place: only environment readings belong to it", field="code"
                    )
                obs.append(o)
            except MedtwinError as exc:
                rejects.append(reject(idx, exc.field, exc.reason))
        meds: list[MedicationAdministration] = []
        for j, raw in enumerate(batch.medications):
            idx = batch.index_offset + len(batch.readings) + j
            if place:
                rejects.append(reject(idx, "patient", f"{subject!r} is a place, not a patient"))
                continue
            try:
                meds.append(
                    build_medication(
                        raw,
                        twin_id=subject,
                        source=batch.source,
                        source_id=f"{batch.msg_id}/m{j}",
                        received=received,
                    )
                )
            except MedtwinError as exc:
                rejects.append(reject(idx, exc.field, exc.reason))
        return obs, meds, rejects

    # ---------------------------------------------------------------- submit
    def ingest(
        self, batch: ReadingBatch, *, context: Context | None = None, received: datetime | None = None
    ) -> Future[IngestResult]:
        """Validate and submit; the future resolves after commit (or fails if the store is down)."""
        obs, meds, rejects = self.prepare(batch, received)
        return self.submit(obs, meds, rejects, context=context)

    def submit(
        self,
        obs: Sequence[Observation],
        meds: Sequence[MedicationAdministration],
        rejects: list[dict[str, Any]],
        *,
        context: Context | None = None,
    ) -> Future[IngestResult]:
        def finish(ack: Ack) -> IngestResult:
            return IngestResult(
                accepted=len(ack.accepted) + len(ack.medications),
                duplicates=ack.duplicates + ack.medication_duplicates,
                rejected=rejects,
                observations=ack.accepted,
            )

        fut: Future[IngestResult] = self.writer.submit(obs, meds, context=context, finish=finish)
        return fut

    def ingest_many(
        self, batches: Sequence[ReadingBatch], *, context: Context | None = None
    ) -> Future[IngestResult]:
        """Validate several batches and commit them together (one future)."""
        all_obs: list[Observation] = []
        all_meds: list[MedicationAdministration] = []
        rejects: list[dict[str, Any]] = []
        now = self.clock.now()
        for b in batches:
            o, m, r = self.prepare(b, now)
            all_obs.extend(o)
            all_meds.extend(m)
            rejects.extend(r)
        return self.submit(all_obs, all_meds, rejects, context=context)


def build_medication(
    raw: Mapping[str, Any], *, twin_id: str, source: str, source_id: str, received: datetime
) -> MedicationAdministration:
    """Validate a medication administration: drug, dose (number > 0), unit, route, time, performer."""
    if not isinstance(raw, Mapping):
        raise ValidationError("expected an object", field="medication")
    drug = raw.get("drug")
    if not isinstance(drug, str) or not drug.strip():
        raise ValidationError("missing drug name", field="drug")
    dose = raw.get("dose")
    if isinstance(dose, bool) or not isinstance(dose, int | float) or not dose > 0 or dose != dose:
        raise ValidationError("dose must be a positive number", field="dose")
    unit = raw.get("unit", raw.get("dose_unit"))
    if not isinstance(unit, str) or not unit.strip():
        raise ValidationError("missing dose unit", field="unit")
    route = raw.get("route", "")
    if not isinstance(route, str):
        raise ValidationError("route must be text", field="route")
    t = raw.get("time", raw.get("t"))
    effective = received if t is None else parse_time(t)
    performer = raw.get("performer", "")
    if not isinstance(performer, str):
        raise ValidationError("performer must be text", field="performer")
    mid = raw.get("id")
    return MedicationAdministration(
        twin_id=twin_id,
        drug=drug.strip()[:200],
        dose=float(dose),
        dose_unit=unit.strip()[:40],
        route=route.strip()[:40],
        effective=effective,
        source=source,
        source_id=str(mid) if mid not in (None, "") else source_id,
        performer=performer[:200],
        note=str(raw.get("note", ""))[:2000],
    )
