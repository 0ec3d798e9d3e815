"""De-identified export (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)) for research and training cases.

What leaves, per patient (rules in :mod:`medtwin.security.deid_rules`):

* subject: a pseudonym ``HMAC-SHA256(k_purpose, twin id)`` (128 bits), one key per ``purpose``, so
  two exports for different purposes cannot be linked; never the twin id, MRN or name;
* sex; age in years at the export date, ``"90+"`` from 90 on (and then no birth year at all);
  state and ZIP3 (``"000"`` for the restricted prefixes of the 2000 Census);
* observations: code, value, unit, status, method; coded text answers (ACVPU, sleep state...) but
  never free text (notes); no source device id, no source message id, no meta (device serials,
  bed ids, provenance); medications: drug, dose, unit, route, status (no performer, no note);
* dates, one of two modes:

  - ``year`` (default, Safe Harbor): every date is reduced to its year; each reading also gets
    its offset in seconds from the patient's first exported time, so series stay usable;
  - ``shift``: every date of a patient moves by one offset in [-365, 365] days (keyed HMAC of the
    purpose and the patient), keeping intervals and weekdays-agnostic timing. Shifted full dates
    are NOT Safe Harbor (HHS counts them as dates): use this mode only under an expert
    determination or a data-use agreement; the report says which mode was used;

* dropped entirely: names, identity (MRN, SSN, phone, fax, e-mail, address lines and city,
  identifiers of any type, URLs, IP addresses, photos...), bed/room/ward ids and relationships,
  twin attributes other than sex/condition/diagnosis/weight/height.

The report counts what was removed or generalised per Safe Harbor class (A-R).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from medtwin.core.codes import BY_REF, ValueKind
from medtwin.core.model import Twin, TwinKind
from medtwin.security import deid_rules as R
from medtwin.security.crypto import pseudonym
from medtwin.store.sql import SqlStore

MODES = ("year", "shift")
FORMATS = ("fhir", "csv")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Report:
    purpose: str
    mode: str
    patients: int = 0
    observations: int = 0
    medications: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    generalised: dict[str, int] = field(default_factory=dict)

    def add(self, table: dict[str, int], cls: str, n: int = 1) -> None:
        if n:
            table[cls] = table.get(cls, 0) + n

    def as_dict(self) -> dict[str, Any]:
        def named(t: dict[str, int]) -> dict[str, dict[str, Any]]:
            return {k: {"class": R.CLASSES[k], "count": v} for k, v in sorted(t.items())}

        return {
            "method": "HIPAA Safe Harbor, 45 CFR 164.514(b)(2)"
            + (" (dates shifted: not Safe Harbor; expert determination needed)" if self.mode == "shift" else ""),
            "purpose": self.purpose, "date_mode": self.mode, "patients": self.patients,
            "observations": self.observations, "medications": self.medications,
            "removed": named(self.removed), "generalised": named(self.generalised),
            "restricted_zip3_source": "HHS OCR de-identification guidance (2012) s3.3; 2000 Census",
        }  # fmt: skip


@dataclass
class Options:
    purpose: str = "research"
    mode: str = "year"
    patients: list[str] | None = None
    as_of: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class Subject:
    twin: Twin
    sid: str
    shift: timedelta
    anchor: datetime | None = None  # first exported time (year mode offsets)
    rows: list[dict[str, Any]] = field(default_factory=list)
    meds: list[dict[str, Any]] = field(default_factory=list)
    patient: dict[str, Any] = field(default_factory=dict)


class Exporter:
    def __init__(self, store: SqlStore, opts: Options) -> None:
        if opts.mode not in MODES:
            raise ValueError(f"date mode must be one of {', '.join(MODES)}")
        self.store, self.o = store, opts
        self.report = Report(opts.purpose, opts.mode)
        self.as_of = (opts.as_of or datetime.now(UTC)).astimezone(UTC)

    def pid(self, value: str) -> str:
        return pseudonym("deid:" + self.o.purpose, value)

    # ---------------------------------------------------------------- gather
    def subjects(self) -> list[Subject]:
        twins = self.store.list_twins(TwinKind.PATIENT, ids=self.o.patients)
        out = []
        for t in twins:
            if not t.active and self.o.patients is None:
                continue
            days = R.shift_days(self.o.purpose, t.id) if self.o.mode == "shift" else 0
            s = Subject(t, "S" + self.pid("subject:" + t.id), timedelta(days=days))
            self._patient(s)
            self._observations(s)
            self._medications(s)
            out.append(s)
        self.report.patients = len(out)
        return out

    def when(self, s: Subject, t: datetime) -> dict[str, Any]:
        """How a time of this patient is exported."""
        if self.o.mode == "shift":
            return {"time": (t + s.shift).astimezone(UTC).isoformat().replace("+00:00", "Z")}
        if s.anchor is None:
            s.anchor = t
        return {"year": t.year, "t_rel_s": round((t - s.anchor).total_seconds(), 3)}

    def _patient(self, s: Subject) -> None:
        t, rep = s.twin, self.report
        ident = t.identity or {}
        for cls, n in R.classify_identity(ident).items():
            rep.add(rep.removed, cls, n)
        if t.name:
            rep.add(rep.removed, "A")
        rep.add(rep.removed, "R")  # the twin id itself
        birth = R.birth_date_of(ident)
        age = R.age_years(birth, self.as_of.date()) if birth else _int(t.attributes.get("age"))
        p: dict[str, Any] = {
            "subject": s.sid,
            "sex": R.gender_of(t.attributes, ident),
            "age": R.age_label(age),
        }
        if age is not None and age >= 90:
            rep.add(rep.generalised, "C")  # age aggregated, no birth year
        elif birth is not None:
            rep.add(rep.generalised, "C")
            p["birth"] = str(birth.year) if self.o.mode == "year" else (birth + s.shift).isoformat()
        state, postal = R.address_parts(ident)
        if postal:
            p["zip3"] = R.zip3(postal)
            rep.add(rep.generalised, "B")
        if isinstance(state, str) and len(state) <= 40:
            p["state"] = state
        for k, v in t.attributes.items():
            if k in R.ATTRIBUTES_KEPT and isinstance(v, str | int | float) and not isinstance(v, bool):
                p[k] = v
            elif k != "age":
                rep.add(rep.removed, "R")
        s.patient = p

    def _observations(self, s: Subject) -> None:
        rows = self.store.history(
            s.twin.id, start=self.o.start or EPOCH, end=self.o.end or self.as_of, limit=10**7
        )
        rep = self.report
        for o in sorted(rows, key=lambda x: (x.effective, x.id or 0)):
            info = BY_REF.get(o.code)
            row: dict[str, Any] = {
                "id": "o" + self.pid(f"obs:{o.id}")[:20], "subject": s.sid, "code": o.code,
                "display": info.display if info else o.code, "value": o.value, "unit": o.unit,
                "status": o.status.value, "method": o.method.value, **self.when(s, o.effective),
            }  # fmt: skip
            rep.add(rep.generalised, "C")
            if o.value_text is not None:
                if info is not None and info.kind is not ValueKind.TEXT and o.value_text in info.answers:
                    row["value_text"] = o.value_text
                else:
                    rep.add(rep.removed, "R")  # free text
            rep.add(rep.removed, "M" if not o.source.startswith("user:") else "R")  # device / user id
            rep.add(rep.removed, "R")  # source message id
            if o.meta:
                rep.add(rep.removed, "R")
            s.rows.append(row)
        rep.observations += len(s.rows)

    def _medications(self, s: Subject) -> None:
        rep = self.report
        for m in self.store.medications(s.twin.id, self.o.start or EPOCH, self.o.end or self.as_of):
            s.meds.append(
                {
                    "id": "m" + self.pid(f"med:{m.id}")[:20],
                    "subject": s.sid,
                    "drug": m.drug,
                    "dose": m.dose,
                    "unit": m.dose_unit,
                    "route": m.route,
                    "status": m.status,
                    **self.when(s, m.effective),
                }
            )
            rep.add(rep.generalised, "C")
            rep.add(rep.removed, "R", 1 + bool(m.performer) + bool(m.note))
        rep.medications += len(s.meds)


def _int(v: object) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


# -------------------------------------------------------------------------------------- output
def _time_fields(row: dict[str, Any]) -> dict[str, Any]:
    if "time" in row:
        return {"effectiveDateTime": row["time"]}
    return {
        "extension": [
            {"url": "urn:medtwin:deid:year", "valueInteger": row["year"]},
            {"url": "urn:medtwin:deid:seconds-from-first", "valueDecimal": row["t_rel_s"]},
        ]
    }


def fhir_bundle(subjects: Iterable[Subject], report: Report) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for s in subjects:
        p = s.patient
        pat: dict[str, Any] = {"resourceType": "Patient", "id": s.sid}
        if p.get("sex"):
            pat["gender"] = p["sex"]
        if p.get("birth"):
            pat["birthDate"] = p["birth"]
        if p.get("zip3") or p.get("state"):
            pat["address"] = [
                {k: v for k, v in (("state", p.get("state")), ("postalCode", p.get("zip3"))) if v}
            ]
        ext = [{"url": "urn:medtwin:deid:age", "valueString": p["age"]}] if p.get("age") else []
        ext += [
            {"url": f"urn:medtwin:deid:{k}", "valueString": str(p[k])}
            for k in R.ATTRIBUTES_KEPT
            if k in p and k != "sex"
        ]
        if ext:
            pat["extension"] = ext
        entries.append({"fullUrl": f"urn:uuid:{s.sid}", "resource": pat})
        for r in s.rows:
            system, _, code = r["code"].rpartition("|")
            obs: dict[str, Any] = {
                "resourceType": "Observation", "id": r["id"], "status": r["status"],
                "code": {"coding": [{"system": _system(system), "code": code, "display": r["display"]}]},
                "subject": {"reference": f"urn:uuid:{s.sid}"}, **_time_fields(r),
            }  # fmt: skip
            if r["value"] is not None:
                obs["valueQuantity"] = {
                    "value": r["value"],
                    "unit": r["unit"],
                    "system": "http://unitsofmeasure.org",
                    "code": r["unit"],
                }
            elif "value_text" in r:
                obs["valueString"] = r["value_text"]
            entries.append({"fullUrl": f"urn:uuid:{r['id']}", "resource": obs})
        for m in s.meds:
            med: dict[str, Any] = {
                "resourceType": "MedicationAdministration", "id": m["id"], "status": m["status"],
                "medicationCodeableConcept": {"text": m["drug"]}, "subject": {"reference": f"urn:uuid:{s.sid}"},
                "dosage": {"route": {"text": m["route"]}, "dose": {"value": m["dose"], "unit": m["unit"]}},
            }  # fmt: skip
            if "time" in m:
                med["effectiveDateTime"] = m["time"]
            else:
                med["effectivePeriod"] = {"start": str(m["year"]), "end": str(m["year"])}
                med["extension"] = _time_fields(m)["extension"][1:]
            entries.append({"fullUrl": f"urn:uuid:{m['id']}", "resource": med})
    return {
        "resourceType": "Bundle", "type": "collection",
        "meta": {"tag": [{"system": "urn:medtwin:deid", "code": report.mode, "display": report.purpose}]},
        "entry": entries,
    }  # fmt: skip


def _system(prefix: str) -> str:
    return {"loinc": "http://loinc.org", "snomed": "http://snomed.info/sct", "": "http://loinc.org"}.get(
        prefix, f"urn:medtwin:code:{prefix}"
    )


def write_csv(subjects: list[Subject], out: Path) -> list[Path]:
    files = []
    tables = {
        "patients.csv": [s.patient for s in subjects],
        "observations.csv": [r for s in subjects for r in s.rows],
        "medications.csv": [m for s in subjects for m in s.meds],
    }
    for name, rows in tables.items():
        cols: list[str] = []
        for r in rows:
            cols += [k for k in r if k not in cols]
        with open(out / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols or ["subject"])
            w.writeheader()
            w.writerows(rows)
        files.append(out / name)
    return files


def export(store: SqlStore, opts: Options, out: Path, fmt: str = "fhir") -> tuple[Report, list[Path]]:
    """Write the de-identified export to the folder ``out``; returns (report, files written)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    ex = Exporter(store, opts)
    subjects = ex.subjects()
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "fhir":
        (out / "bundle.json").write_text(json.dumps(fhir_bundle(subjects, ex.report)))
        files = [out / "bundle.json"]
    else:
        files = write_csv(subjects, out)
    (out / "report.json").write_text(json.dumps(ex.report.as_dict(), indent=1))
    return ex.report, [*files, out / "report.json"]


def export_bundle(store: SqlStore, opts: Options) -> tuple[dict[str, Any], Report]:
    ex = Exporter(store, opts)
    subjects = ex.subjects()
    return fhir_bundle(subjects, ex.report), ex.report


__all__ = ["FORMATS", "MODES", "Options", "Report", "export", "export_bundle"]
