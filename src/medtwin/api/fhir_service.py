"""What the FHIR endpoints do against the runtime: put patients, store observations after commit,
find the stored copy of a duplicate, and run batch and transaction Bundles.

* **batch**: every entry stands alone. Patients are written first (so Observations in the same
  Bundle can refer to them), then every valid Observation/MedicationAdministration is committed in
  one write; each entry gets its own response status and, when refused, an OperationOutcome.
* **transaction**: all or nothing. Every entry is validated first (structure, codes, units, ranges,
  subjects, including Patients created by the same Bundle); one refused entry refuses the Bundle
  with 400 and an OperationOutcome naming ``Bundle.entry[i]...``, and nothing is written. Then
  Patients are written, then all readings in one commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from medtwin.core.errors import MedtwinError
from medtwin.core.events import Context
from medtwin.core.model import MedicationAdministration, Observation, Twin, TwinKind
from medtwin.ingest.fhir import BundlePlan, Entry, parse_bundle
from medtwin.ingest.fhir_common import FhirInvalid, Issue
from medtwin.ingest.fhir_export import (
    bp_panel_to_fhir,
    medication_to_fhir,
    observation_to_fhir,
    operation_outcome,
    patient_to_fhir,
)
from medtwin.ingest.fhir_map import MappedObservation, to_observations
from medtwin.ingest.fhir_records import to_medication
from medtwin.runtime import Runtime

REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
}


@dataclass
class Stored:
    """The outcome of storing one resource: HTTP status, the resource as stored, its Location."""

    status: int
    resource: dict[str, Any]
    location: str


@dataclass
class _Work:
    """Validated entries waiting for one commit."""

    obs: dict[int, list[Observation]] = field(default_factory=dict)
    meds: dict[int, MedicationAdministration] = field(default_factory=dict)
    subjects: set[str] = field(default_factory=set)
    meds_before: set[int] = field(default_factory=set)  # entries whose dose was already stored


class FhirService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._twins: dict[str, Twin | None] = {}  # per request: one read per subject

    def _twin(self, twin_id: str) -> Twin | None:
        if twin_id not in self._twins:
            self._twins[twin_id] = self.rt.store.get_twin(twin_id)
        return self._twins[twin_id]

    # ------------------------------------------------------------------------------ patients
    def patient_conflict(self, twin_id: str, path: str) -> Issue | None:
        t = self.rt.store.get_twin(twin_id)
        if t is not None and t.kind is not TwinKind.PATIENT:
            return Issue(
                f"twin {twin_id!r} exists and is a {t.kind.value}, not a patient", f"{path}.id", "conflict"
            )
        return None

    def put_patient(self, twin: Twin, path: str = "Patient") -> Stored:
        """Create or update (201 or 200); attributes medtwin keeps beyond FHIR (age, condition...) stay."""
        conflict = self.patient_conflict(twin.id, path)
        if conflict is not None:
            raise FhirInvalid([conflict], 409)
        old = self.rt.store.get_twin(twin.id)
        if old is not None:
            twin = replace(twin, attributes={**old.attributes, **twin.attributes})
        self.rt.registry.put(twin, Context(actor="system:fhir"))
        return Stored(201 if old is None else 200, patient_to_fhir(twin), f"Patient/{twin.id}")

    # ------------------------------------------------------------------------------ subjects
    def subject_issue(self, subject: str, path: str, created: Iterable[str] = ()) -> Issue | None:
        """Why ``subject`` cannot be the Patient of a reading, or None. (The Ingestor also accepts
        rooms and homes as subjects; a FHIR subject ``Patient/ID`` must be an active patient.)"""
        if subject in created:
            return None
        t = self._twin(subject)
        if t is not None and t.kind is TwinKind.PATIENT and t.active:
            return None
        if t is not None and t.kind is not TwinKind.PATIENT:
            return Issue(
                f"subject {subject!r} is a {t.kind.value}, not a patient",
                f"{path}.subject.reference",
                "value",
            )
        if t is not None:
            return Issue(f"patient {subject!r} is inactive", f"{path}.subject.reference", "business-rule")
        if self.rt.settings.auto_register:
            return None
        return Issue(
            f"unknown patient {subject!r}: register it first (PUT /fhir/Patient/{subject})",
            f"{path}.subject.reference",
            "not-found",
        )

    def _auto_register(self, subjects: Iterable[str]) -> None:
        if not self.rt.settings.auto_register:
            return
        for s in sorted(set(subjects)):
            if not self.rt.ingestor.is_subject(s) and self.rt.store.get_twin(s) is None:
                self.rt.registry.put(
                    Twin(s, TwinKind.PATIENT, attributes={"auto_registered": True}),
                    Context(actor="system:fhir"),
                )

    # ------------------------------------------------------------------------------ observations
    def validate_observation(
        self, m: MappedObservation, received: datetime, created: Iterable[str] = ()
    ) -> list[Observation]:
        obs = to_observations(m, received=received, max_future=self.rt.ingestor.max_future)
        issue = self.subject_issue(m.subject, m.path, created)
        if issue is not None:
            raise FhirInvalid([issue])
        return obs

    async def commit(self, work: _Work) -> set[tuple[str, str]]:
        """Write the validated readings in one submission; returns, after the commit, the keys of the
        observations that were new (the others were already stored)."""
        await run_in_threadpool(self._auto_register, work.subjects)
        obs = [o for v in work.obs.values() for o in v]
        meds = list(work.meds.values())
        if not obs and not meds:
            return set()
        work.meds_before = await run_in_threadpool(
            lambda: {i for i, m in work.meds.items() if self.find_medication(m) is not None}
        )
        fut = self.rt.ingestor.submit(obs, meds, [], context=Context(actor="system:fhir"))
        res = await asyncio.wrap_future(fut)
        return {o.key for o in res.observations}

    def find(self, o: Observation) -> Observation | None:
        """The stored observation with ``o``'s idempotency key (source, source id)."""
        return self.rt.store.find_observation(o.source, o.source_id)

    def find_medication(self, m: MedicationAdministration) -> MedicationAdministration | None:
        for s in self.rt.store.medications(m.twin_id):
            if (s.source, s.source_id) == (m.source, m.source_id):
                return s
        return None

    def stored_observation(
        self, submitted: list[Observation], panel: bool, new_keys: set[tuple[str, str]]
    ) -> Stored:
        """After commit: the stored copies (new, or already there from an earlier delivery)."""
        rows = [self.find(o) for o in submitted]
        if any(r is None for r in rows):  # the store refused silently: should not happen after a commit
            raise FhirInvalid([Issue("the observation was not stored", None, "exception")], 500)
        stored = [r for r in rows if r is not None]
        new = any(o.key in new_keys for o in submitted)
        res = bp_panel_to_fhir(stored) if panel else observation_to_fhir(stored[0])
        return Stored(201 if new else 200, res, f"Observation/{res['id']}")

    def stored_medication(self, m: MedicationAdministration, existed: bool) -> Stored:
        s = self.find_medication(m)
        if s is None:
            raise FhirInvalid([Issue("the medication administration was not stored", None, "exception")], 500)
        return Stored(200 if existed else 201, medication_to_fhir(s), f"MedicationAdministration/{s.id}")

    async def create_observation(self, m: MappedObservation) -> Stored:
        received = self.rt.clock.now()
        obs = await run_in_threadpool(self.validate_observation, m, received)
        new_keys = await self.commit(_Work(obs={0: obs}, subjects={m.subject}))
        return await run_in_threadpool(self.stored_observation, obs, m.panel, new_keys)

    # ------------------------------------------------------------------------------ bundles
    def _validate_entries(self, plan: BundlePlan, received: datetime, *, created: set[str]) -> _Work:
        work = _Work()
        for e in plan.entries:
            if e.issues:
                continue
            try:
                if e.obs is not None:
                    work.obs[e.index] = self.validate_observation(e.obs, received, created)
                    work.subjects.add(e.obs.subject)
                elif e.med is not None:
                    issue = self.subject_issue(e.med.subject, e.med.path, created)
                    if issue is not None:
                        raise FhirInvalid([issue])
                    work.meds[e.index] = to_medication(e.med, received=received)
                    work.subjects.add(e.med.subject)
            except FhirInvalid as exc:
                e.refuse(exc)
        return work

    def _patients(self, plan: BundlePlan, results: dict[int, Stored], *, check_only: bool) -> set[str]:
        ok: set[str] = set()
        for e in plan.entries:
            if e.patient is None or e.issues:
                continue
            conflict = self.patient_conflict(e.patient.id, e.path)
            if conflict is not None:
                e.issues.append(conflict)
                e.status = 409
                continue
            if not check_only:
                try:
                    results[e.index] = self.put_patient(e.patient, e.path)
                except FhirInvalid as exc:
                    e.refuse(exc)
                    continue
                except MedtwinError as exc:
                    e.issues.append(Issue(exc.reason, f"{e.path}.id", "invalid"))
                    continue
            ok.add(e.patient.id)
        return ok

    def _finish(
        self, plan: BundlePlan, work: _Work, results: dict[int, Stored], new_keys: set[tuple[str, str]]
    ) -> None:
        for e in plan.entries:
            if e.index in work.obs and e.obs is not None:
                results[e.index] = self.stored_observation(work.obs[e.index], e.obs.panel, new_keys)
            elif e.index in work.meds:
                results[e.index] = self.stored_medication(work.meds[e.index], e.index in work.meds_before)

    async def bundle(self, doc: Any, base: str) -> tuple[int, dict[str, Any]]:
        plan = await run_in_threadpool(parse_bundle, doc)
        received = self.rt.clock.now()
        results: dict[int, Stored] = {}
        if plan.type == "transaction":
            work = await run_in_threadpool(self._check_transaction, plan, received)
            if plan.issues:
                return 400, operation_outcome(plan.issues)
            await run_in_threadpool(self._patients, plan, results, check_only=False)
        else:
            created = await run_in_threadpool(self._patients, plan, results, check_only=False)
            work = await run_in_threadpool(self._validate_entries, plan, received, created=created)
        new_keys = await self.commit(work)
        await run_in_threadpool(self._finish, plan, work, results, new_keys)
        return 200, response_bundle(plan, results, base)

    def _check_transaction(self, plan: BundlePlan, received: datetime) -> _Work:
        created = self._patients(plan, {}, check_only=True)
        return self._validate_entries(plan, received, created=created)


def response_bundle(plan: BundlePlan, results: dict[int, Stored], base: str) -> dict[str, Any]:
    entries = []
    for e in plan.entries:
        entries.append(_entry_response(e, results.get(e.index), base))
    return {"resourceType": "Bundle", "type": f"{plan.type}-response", "entry": entries}


def _entry_response(e: Entry, s: Stored | None, base: str) -> dict[str, Any]:
    if s is None:
        status = e.status if e.issues else 500
        issues = e.issues or [Issue("entry was not processed", e.path, "exception")]
        return {
            "response": {
                "status": f"{status} {REASONS.get(status, '')}".strip(),
                "outcome": operation_outcome(issues),
            }
        }
    return {
        "fullUrl": f"{base}/{s.location}",
        "resource": s.resource,
        "response": {"status": f"{s.status} {REASONS[s.status]}", "location": s.location},
    }
