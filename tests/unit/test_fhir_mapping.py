"""FHIR R4 mapping: Observation/Patient/MedicationAdministration -> medtwin, Bundles, export, fuzz."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medtwin.core.errors import ValidationError
from medtwin.core.model import Method, Observation, ObsStatus, Twin, TwinKind
from medtwin.ingest.fhir import batches_from_fhir_json, parse_bundle
from medtwin.ingest.fhir_common import FhirInvalid, Issue
from medtwin.ingest.fhir_export import (
    bp_panel_to_fhir,
    capability_statement,
    medication_to_fhir,
    observation_to_fhir,
    operation_outcome,
    patient_to_fhir,
    searchset,
)
from medtwin.ingest.fhir_map import map_observation, to_observations
from medtwin.ingest.fhir_records import map_medication, map_patient, to_medication

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UCUM = "http://unitsofmeasure.org"


def hr(**over: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:dev", "value": "msg-1"}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/P1"},
        "effectiveDateTime": "2026-03-01T11:59:00Z",
        "valueQuantity": {"value": 72, "unit": "beats/minute", "system": UCUM, "code": "/min"},
        "device": {"reference": "Device/MON-7"},
    }
    res.update(over)
    return res


def bp(sys_: float = 128, dia: float = 82, **over: Any) -> dict[str, Any]:
    def comp(code: str, v: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": v, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        }

    res = hr(
        code={"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        component=[comp("8480-6", sys_), comp("8462-4", dia)],
    )
    del res["valueQuantity"]
    res.update(over)
    return res


def issues_of(res: Any) -> list[Issue]:
    with pytest.raises(FhirInvalid) as info:
        to_observations(map_observation(res), received=NOW)
    return info.value.issues


def where(res: Any) -> list[str | None]:
    return [i.expression for i in issues_of(res)]


# ------------------------------------------------------------------------------------------ Observation
def test_heart_rate_maps_to_one_reading() -> None:
    m = map_observation(hr())
    assert (m.subject, m.source, m.device, m.method, m.msg_id) == (
        "P1",
        "MON-7",
        "MON-7",
        Method.DEVICE,
        "msg-1",
    )
    assert m.readings == [
        {
            "code": "8867-4",
            "system": "http://loinc.org",
            "value": 72,
            "unit": "/min",
            "time": "2026-03-01T11:59:00Z",
            "status": "final",
            "method": "device",
            "id": "msg-1",
        }
    ]
    [o] = to_observations(m, received=NOW)
    assert (o.twin_id, o.code, o.value, o.unit, o.source, o.source_id) == (
        "P1",
        "8867-4",
        72.0,
        "/min",
        "MON-7",
        "msg-1",
    )
    assert o.effective == datetime(2026, 3, 1, 11, 59, tzinfo=UTC)
    assert o.received == NOW


def test_alias_codes_and_unit_conversion_reach_the_canonical_series() -> None:
    spo2 = hr(
        code={"coding": [{"system": "http://loinc.org", "code": "59408-5"}]},
        valueQuantity={"value": 97, "system": UCUM, "code": "%"},
    )
    [o] = to_observations(map_observation(spo2), received=NOW)
    assert (o.code, o.value) == ("2708-6", 97.0)
    temp = hr(
        code={
            "coding": [{"system": "urn:other", "code": "x"}, {"system": "http://loinc.org", "code": "8310-5"}]
        },
        valueQuantity={"value": 98.6, "system": UCUM, "code": "[degF]"},
    )
    [t] = to_observations(map_observation(temp), received=NOW)
    assert (t.code, t.unit) == ("8310-5", "Cel")
    assert t.value == pytest.approx(37.0)


def test_blood_pressure_panel_is_split_into_systolic_and_diastolic() -> None:
    m = map_observation(bp(131, 79))
    assert m.panel
    assert [r["code"] for r in m.readings] == ["8480-6", "8462-4"]
    assert [r["id"] for r in m.readings] == ["msg-1/8480-6", "msg-1/8462-4"]
    obs = to_observations(m, received=NOW)
    assert [(o.code, o.value, o.unit) for o in obs] == [
        ("8480-6", 131.0, "mm[Hg]"),
        ("8462-4", 79.0, "mm[Hg]"),
    ]
    assert len({o.key for o in obs}) == 2


def test_blood_pressure_panel_errors_name_the_component() -> None:
    res = bp()
    res["component"] = res["component"][:1]
    [issue] = issues_of(res)
    assert issue.expression == "Observation.component"
    assert "diastolic" in issue.diagnostics and "8462-4" in issue.diagnostics
    bad = bp()
    bad["component"][1]["valueQuantity"]["code"] = "kg"
    assert where(bad) == ["Observation.component[1].valueQuantity.code"]
    high = bp(sys_=900)
    [i] = issues_of(high)
    assert i.expression == "Observation.component[0].valueQuantity.value"
    assert "plausible range" in i.diagnostics


@pytest.mark.parametrize("status", ["preliminary", "final", "amended", "corrected", "entered-in-error"])
def test_accepted_statuses(status: str) -> None:
    [o] = to_observations(map_observation(hr(status=status)), received=NOW)
    assert o.status == ObsStatus(status)


@pytest.mark.parametrize(
    ("status", "words", "code"),
    [
        ("bogus", "not an R4 ObservationStatus", "code-invalid"),
        ("FINAL", "not an R4 ObservationStatus", "code-invalid"),
        ("registered", "no result yet", "business-rule"),
        ("cancelled", "never completed", "business-rule"),
        ("unknown", "does not say", "business-rule"),
    ],
)
def test_refused_statuses_have_a_clear_reason(status: str, words: str, code: str) -> None:
    [issue] = issues_of(hr(status=status))
    assert issue.expression == "Observation.status"
    assert words in issue.diagnostics and issue.code == code


def test_missing_status_is_named() -> None:
    res = hr()
    del res["status"]
    assert "Observation.status" in where(res)


def test_subject_rules() -> None:
    res = hr()
    del res["subject"]
    [issue] = issues_of(res)
    assert (issue.expression, issue.code) == ("Observation.subject", "required")
    assert where(hr(subject={"reference": "Group/G1"})) == ["Observation.subject.reference"]
    assert where(hr(subject={"reference": "Patient/not valid!"})) != []
    m = map_observation(hr(subject={"reference": "https://ehr.example/fhir/Patient/P9/_history/3"}))
    assert m.subject == "P9"
    m2 = map_observation(hr(subject={"reference": "urn:uuid:abc"}), refs={"urn:uuid:abc": "Patient/P5"})
    assert m2.subject == "P5"


def test_unknown_code_and_value_errors_name_the_element() -> None:
    [issue] = issues_of(hr(code={"coding": [{"system": "http://loinc.org", "code": "0000-0"}]}))
    assert (issue.expression, issue.code) == ("Observation.code.coding", "code-invalid")
    assert "0000-0" in issue.diagnostics
    assert where(hr(valueQuantity={"value": 72, "system": UCUM, "code": "kg"})) == [
        "Observation.valueQuantity.code"
    ]
    assert where(hr(valueQuantity={"value": 72, "unit": "furlongs"})) == ["Observation.valueQuantity.unit"]
    assert where(hr(valueQuantity={"value": 72, "system": "urn:x", "code": "/min"})) == [
        "Observation.valueQuantity.system"
    ]
    assert where(hr(valueQuantity={"value": "72", "code": "/min"})) == ["Observation.valueQuantity.value"]
    assert where(hr(valueQuantity={"value": "abc", "code": "/min"})) == ["Observation.valueQuantity.value"]
    assert where(hr(valueQuantity={"value": 72, "comparator": ">", "code": "/min"})) == [
        "Observation.valueQuantity.comparator"
    ]
    assert where(hr(valueQuantity={"value": 720, "code": "/min"})) == ["Observation.valueQuantity.value"]
    assert where(hr(valueQuantity={"value": 72})) == ["Observation.valueQuantity.code"]


def test_time_rules() -> None:
    assert where(hr(effectiveDateTime="2026-03-01")) == ["Observation.effectiveDateTime"]
    assert where(hr(effectiveDateTime="2026-03-01T10:00:00")) == ["Observation.effectiveDateTime"]
    assert where(hr(effectiveDateTime="2027-03-01T10:00:00Z")) == ["Observation.effectiveDateTime"]
    res = hr()
    del res["effectiveDateTime"]
    assert where(res) == ["Observation.effectiveDateTime"]
    res["effectivePeriod"] = {"start": "2026-03-01T10:00:00Z"}
    assert where(res) == ["Observation.effectivePeriod"]
    res = hr()
    del res["effectiveDateTime"]
    res["effectiveInstant"] = "2026-03-01T10:00:00.250+01:00"
    [o] = to_observations(map_observation(res), received=NOW)
    assert o.effective == datetime(2026, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)


def test_structure_errors_come_from_the_r4_model() -> None:
    assert where(hr(colour="red")) == ["Observation.colour"]
    assert where(hr(code={"coding": [{"system": 5, "code": "8867-4"}]})) == [
        "Observation.code.coding[0].system"
    ]
    with pytest.raises(FhirInvalid) as info:
        map_observation({"resourceType": "Patient", "id": "x"})
    assert info.value.status == 400
    assert info.value.issues[0].expression == "Observation.resourceType"
    with pytest.raises(FhirInvalid) as info2:
        map_observation([1, 2])
    assert info2.value.status == 400
    assert isinstance(info2.value, ValidationError)


def test_idempotency_id_and_source() -> None:
    assert map_observation(hr()).msg_id == "msg-1"
    no_ident = hr(id="abc")
    del no_ident["identifier"]
    assert map_observation(no_ident).msg_id == "abc"
    del no_ident["id"]
    a = map_observation(no_ident).msg_id
    assert a.startswith("sha256:") and a == map_observation(copy.deepcopy(no_ident)).msg_id
    assert a != map_observation(dict(no_ident, valueQuantity={"value": 73, "code": "/min"})).msg_id
    manual = hr(performer=[{"reference": "Practitioner/nurse-4"}])
    del manual["device"]
    m = map_observation(manual)
    assert (m.source, m.method, m.device) == ("nurse-4", Method.MANUAL, None)
    meta = hr(meta={"source": "https://lis.example"})
    del meta["device"]
    assert map_observation(meta).source == "https://lis.example"
    del meta["meta"]
    assert map_observation(meta).source == "fhir"


def test_coded_and_text_values() -> None:
    acvpu = hr(
        code={"coding": [{"system": "http://snomed.info/sct", "code": "1104441000000107"}]},
        valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "300202002"}]},
    )
    del acvpu["valueQuantity"]
    [o] = to_observations(map_observation(acvpu), received=NOW)
    assert (o.value, o.value_text) == (None, "V")
    acvpu["valueCodeableConcept"] = {"text": "c"}
    assert to_observations(map_observation(acvpu), received=NOW)[0].value_text == "C"
    acvpu["valueCodeableConcept"] = {"text": "Z"}
    assert where(acvpu) == ["Observation.valueCodeableConcept.text"]
    del acvpu["valueCodeableConcept"]
    acvpu["valueQuantity"] = {"value": 1}
    assert where(acvpu) == ["Observation.valueQuantity"]
    note = hr(code={"coding": [{"system": "urn:medtwin:code", "code": "note"}]}, valueString="slept well")
    del note["valueQuantity"]
    assert to_observations(map_observation(note), received=NOW)[0].value_text == "slept well"


def test_several_issues_are_reported_together() -> None:
    res = hr(status="bogus", valueQuantity={"value": 72, "code": "kg"})
    del res["subject"]
    with pytest.raises(FhirInvalid) as info:
        map_observation(res)
    assert {i.expression for i in info.value.issues} >= {"Observation.status", "Observation.subject"}


# ------------------------------------------------------------------------------------------ Patient, meds
PATIENT = {
    "resourceType": "Patient",
    "id": "P1",
    "identifier": [
        {"system": "urn:ins", "value": "INS-9"},
        {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": "urn:hospital:mrn",
            "value": "MRN-42",
        },
    ],
    "name": [{"use": "official", "family": "Lee", "given": ["Ann", "Marie"]}],
    "gender": "female",
    "birthDate": "1950-02-03",
    "telecom": [{"system": "phone", "value": "+1 555 0100", "use": "home"}],
    "address": [{"line": ["1 Main St"], "city": "Springfield", "postalCode": "12345", "country": "US"}],
}


def test_patient_maps_to_identity_and_back() -> None:
    name, identity, attrs, active = map_patient(PATIENT, twin_id="P1")
    assert name == "Ann Marie Lee" and active
    assert identity["mrn"] == "MRN-42" and identity["birth_date"] == "1950-02-03"
    assert identity["gender"] == "female" and identity["telecom"][0]["value"] == "+1 555 0100"
    assert attrs == {"sex": "female"}
    twin = Twin("P1", TwinKind.PATIENT, name, attrs, identity, active)
    back = patient_to_fhir(twin)
    get_fhir_model_class("Patient").model_validate(back)
    assert map_patient(back, twin_id="P1")[1] == identity
    simple = patient_to_fhir(
        Twin(
            "P2",
            TwinKind.PATIENT,
            "Bo Chen",
            {"sex": "male"},
            {"name": "Bo Chen", "mrn": "D1", "birth_date": "1940-01-01"},
        )
    )
    get_fhir_model_class("Patient").model_validate(simple)
    assert simple["gender"] == "male" and simple["identifier"][0]["value"] == "D1"


def test_patient_errors() -> None:
    with pytest.raises(FhirInvalid) as info:
        map_patient(dict(PATIENT, gender="f"), twin_id="P1")
    assert info.value.issues[0].expression == "Patient.gender"
    with pytest.raises(FhirInvalid) as mismatch:
        map_patient(PATIENT, twin_id="P2")
    assert mismatch.value.status == 400 and mismatch.value.issues[0].expression == "Patient.id"
    with pytest.raises(FhirInvalid):
        map_patient(dict(PATIENT, birthDate="1950-13-45"), twin_id="P1")


MED = {
    "resourceType": "MedicationAdministration",
    "identifier": [{"value": "mar-1"}],
    "status": "completed",
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "161",
                "display": "Acetaminophen",
            }
        ]
    },
    "subject": {"reference": "Patient/P1"},
    "effectiveDateTime": "2026-03-01T08:00:00Z",
    "performer": [{"actor": {"reference": "Practitioner/nurse-2"}}],
    "dosage": {"route": {"text": "oral"}, "dose": {"value": 500, "unit": "mg", "system": UCUM, "code": "mg"}},
}


def test_medication_administration() -> None:
    m = map_medication(MED)
    med = to_medication(m, received=NOW)
    assert (med.drug, med.dose, med.dose_unit, med.route, med.performer, med.source_id) == (
        "Acetaminophen",
        500.0,
        "mg",
        "oral",
        "nurse-2",
        "mar-1",
    )
    back = medication_to_fhir(dataclasses.replace(med, id=3))
    get_fhir_model_class("MedicationAdministration").model_validate(back)
    again = to_medication(map_medication(back), received=NOW)
    assert (again.drug, again.dose, again.dose_unit, again.route, again.effective) == (
        med.drug,
        med.dose,
        med.dose_unit,
        med.route,
        med.effective,
    )
    with pytest.raises(FhirInvalid) as info:
        map_medication(dict(MED, status="not-done"))
    assert info.value.issues[0].expression == "MedicationAdministration.status"
    with pytest.raises(FhirInvalid) as neg:
        to_medication(map_medication(dict(MED, dosage={"dose": {"value": -5, "code": "mg"}})), received=NOW)
    assert neg.value.issues[0].expression == "MedicationAdministration.dosage.dose.value"


# ------------------------------------------------------------------------------------------ export
def stored(**kw: Any) -> Observation:
    base: dict[str, Any] = {
        "twin_id": "P1",
        "code": "8867-4",
        "effective": datetime(2026, 3, 1, 11, 0, 0, 123_000, tzinfo=UTC),
        "received": NOW,
        "source": "MON-7",
        "source_id": "msg-9",
        "value": 72.0,
        "unit": "/min",
        "id": 41,
    }
    base.update(kw)
    return Observation(**base)


ROUND_TRIP = [
    stored(),
    stored(code="8310-5", value=37.25, unit="Cel", status=ObsStatus.AMENDED),
    stored(code="2708-6", value=94.0, unit="%", method=Method.MANUAL, source="nurse-4"),
    stored(code="2339-0", value=101.5, unit="mg/dL", status=ObsStatus.ENTERED_IN_ERROR),
    stored(code="snomed|1104441000000107", value=None, value_text="P", unit=""),
    stored(code="medtwin|sleep-state", value=None, value_text="asleep", unit=""),
    stored(code="medtwin|note", value=None, value_text="Pain 3/10", unit="", method=Method.MANUAL),
    stored(code="medtwin|room-humidity", value=41.0, unit="%"),
]


@pytest.mark.parametrize("o", ROUND_TRIP, ids=lambda o: o.code)
def test_export_round_trip_gives_the_same_reading(o: Observation) -> None:
    res = observation_to_fhir(o)
    get_fhir_model_class("Observation").model_validate(res)
    assert res["subject"] == {"reference": "Patient/P1"}
    assert res["issued"] == "2026-03-01T12:00:00Z"
    if o.value is not None:
        assert res["valueQuantity"]["system"] == UCUM
    [back] = to_observations(map_observation(res), received=NOW + timedelta(hours=1))
    same = (
        "twin_id",
        "code",
        "effective",
        "value",
        "value_text",
        "unit",
        "status",
        "method",
        "source",
        "source_id",
    )
    assert {k: getattr(back, k) for k in same} == {k: getattr(o, k) for k in same}


def test_vital_signs_export_shape() -> None:
    res = observation_to_fhir(stored())
    assert res["category"][0]["coding"][0]["code"] == "vital-signs"
    assert res["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "8867-4",
        "display": "Heart rate",
    }
    assert res["valueQuantity"] == {"value": 72.0, "unit": "/min", "system": UCUM, "code": "/min"}
    assert res["device"] == {"display": "MON-7"} and res["status"] == "final"


def test_bp_panel_export_round_trip() -> None:
    parts = [
        stored(code="8480-6", value=120.0, unit="mm[Hg]", source_id="b1/8480-6", id=7),
        stored(code="8462-4", value=80.0, unit="mm[Hg]", source_id="b1/8462-4", id=8),
    ]
    res = bp_panel_to_fhir(parts)
    get_fhir_model_class("Observation").model_validate(res)
    assert res["id"] == "bp-7-8" and res["identifier"][0]["value"] == "b1"
    back = to_observations(map_observation(res), received=NOW)
    assert [(b.code, b.value, b.source_id) for b in back] == [(p.code, p.value, p.source_id) for p in parts]


def test_outcome_capability_and_searchset_are_valid_r4() -> None:
    oo = operation_outcome(
        [Issue("not a decimal number", "Bundle.entry[3].resource.valueQuantity.value", "value")]
    )
    get_fhir_model_class("OperationOutcome").model_validate(oo)
    assert oo["issue"][0]["expression"] == ["Bundle.entry[3].resource.valueQuantity.value"]
    cap = capability_statement(base="http://x/fhir", version="0.1.0", now=NOW)
    get_fhir_model_class("CapabilityStatement").model_validate(cap)
    assert cap["fhirVersion"] == "4.0.1"
    b = searchset(
        [observation_to_fhir(stored())],
        base="http://x/fhir",
        total=1,
        self_url="http://x/fhir/Observation",
        outcome_=oo,
    )
    get_fhir_model_class("Bundle").model_validate(b)
    assert b["entry"][0]["fullUrl"] == "http://x/fhir/Observation/41"


# ------------------------------------------------------------------------------------------ Bundles
def entry(
    resource: dict[str, Any], method: str = "POST", url: str | None = None, full: str | None = None
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "resource": resource,
        "request": {"method": method, "url": url or resource["resourceType"]},
    }
    if full:
        e["fullUrl"] = full
    return e


def test_parse_bundle_resolves_uuid_references_and_flags_bad_entries() -> None:
    doc = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(hr(subject={"reference": "urn:uuid:p"})),
            entry({"resourceType": "Patient", "name": [{"text": "New"}]}, full="urn:uuid:p"),
            entry(hr(status="bogus")),
            {"resource": hr()},
            entry(hr(), method="GET"),
            entry(hr(), url="Patient"),
            entry({"resourceType": "Device"}),
        ],
    }
    plan = parse_bundle(doc, id_factory=lambda: "NEW1")
    e = plan.entries
    assert e[1].patient is not None and e[1].patient.id == "NEW1"
    assert e[0].obs is not None and e[0].obs.subject == "NEW1"
    assert e[2].issues[0].expression == "Bundle.entry[2].resource.status"
    assert e[3].issues[0].expression == "Bundle.entry[3].request" and e[3].status == 400
    assert e[4].status == 405
    assert e[5].issues[0].expression == "Bundle.entry[5].request.url"
    assert e[6].issues[0].expression == "Bundle.entry[6].resource.resourceType"
    with pytest.raises(FhirInvalid) as info:
        parse_bundle({"resourceType": "Bundle", "type": "collection"})
    assert info.value.status == 400


def test_batches_from_fhir_json() -> None:
    twins, batches, rejects = batches_from_fhir_json(hr())
    assert not twins and not rejects and batches[0].subject == "P1" and batches[0].readings[0]["value"] == 72
    doc = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": PATIENT},
            {"resource": bp()},
            {"resource": hr(valueQuantity={"value": 72, "code": "kg"})},
            {"resource": MED},
            {"resource": {"resourceType": "Device"}},
        ],
    }
    twins, batches, rejects = batches_from_fhir_json(doc)
    assert [t.id for t in twins] == ["P1"]
    assert [(b.index_offset, len(b.readings), len(b.medications)) for b in batches] == [
        (1, 1, 0),
        (1, 1, 0),
        (3, 0, 1),
    ]
    assert [(r["index"], r["field"]) for r in rejects] == [
        (2, "Bundle.entry[2].resource.valueQuantity.code"),
        (4, "Bundle.entry[4].resource.resourceType"),
    ]
    twins, batches, rejects = batches_from_fhir_json([hr(), "junk", {"resourceType": "Patient"}])
    assert len(batches) == 1 and [r["index"] for r in rejects] == [1, 2]
    assert (
        batches_from_fhir_json({"resourceType": "Bundle", "type": "nonsense"})[2][0]["field"] == "Bundle.type"
    )


# ------------------------------------------------------------------------------------------ fuzz
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "resourceType",
        "status",
        "code",
        "subject",
        "effectiveDateTime",
        "valueQuantity",
        "component",
        "identifier",
        "device",
        "performer",
        "valueString",
        "id",
        "meta",
        "category",
    ]
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _only_rejects(doc: Any) -> None:
    for fn in (
        lambda d: to_observations(map_observation(d), received=NOW),
        lambda d: to_medication(map_medication(d), received=NOW),
        lambda d: map_patient(d, twin_id="P1"),
    ):
        with contextlib.suppress(ValidationError):  # FhirInvalid is a ValidationError
            fn(doc)
    _twins, _batches, rejects = batches_from_fhir_json(doc)
    assert all(isinstance(r["reason"], str) and r["reason"] for r in rejects)


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(doc=JSON)
def test_fuzz_random_json_only_rejects(doc: Any) -> None:
    _only_rejects(doc)
    _only_rejects({"resourceType": "Observation", "x": doc})
    batches_from_fhir_json({"resourceType": "Bundle", "type": "batch", "entry": doc})


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), base=st.sampled_from([hr(), bp(), PATIENT, MED]))
def test_fuzz_mutated_observation_only_rejects(data: st.DataObject, base: dict[str, Any]) -> None:
    doc = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        value = data.draw(JSON)
        if not path:
            doc = value
            continue
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
        if isinstance(doc, dict) and data.draw(st.booleans()):
            doc[data.draw(KEYS)] = data.draw(JSON)
    _only_rejects(doc)
    _only_rejects({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": doc}]})
