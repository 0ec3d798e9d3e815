"""De-identified export: seeded identifiers of all 18 Safe Harbor classes never leave; ages 90+,
restricted ZIP3, dates (year only, or shifted consistently per patient), pseudonymous subjects."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from medtwin.core.model import (
    MedicationAdministration,
    Method,
    Observation,
    Relationship,
    RelType,
    Twin,
    TwinKind,
)
from medtwin.security import deid
from medtwin.security.deid_rules import restricted_zip3, zip3
from medtwin.store.sql import SqlStore

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
T0 = datetime(2026, 3, 14, 10, 20, tzinfo=UTC)
N = 16  # patients; ages 90..105 for the first half


def _seed(i: int) -> tuple[Twin, list[str]]:
    """A patient carrying one seeded identifier of every class; returns it and the secrets."""
    old = i < N // 2
    # ages on AS_OF: 90, 92, ..., 105 for the old half
    birth = f"{1936 - (15 * i) // 7}-03-{10 + i:02d}" if old else f"19{60 + i}-07-{10 + i:02d}"
    zip5 = "03601" if i % 2 == 0 else "62704"
    s = {
        "A": [f"Zebulon{i:02d}", f"Quixworth{i:02d}"],
        "B": [f"{700 + i} Evergreen Terrace", f"Springfield{i:02d}", f"Shelby{i:02d} County", zip5],
        "C": [birth],
        "D": [f"+1-555-0100-{i:03d}"], "E": [f"+1-555-0199-{i:03d}"], "F": [f"zq{i:03d}@example.org"],
        "G": [f"123-45-{6000 + i}"], "H": [f"MRN-SEED-{i:03d}"], "I": [f"HP-77{i:03d}"], "J": [f"ACCT-88{i:03d}"],
        "K": [f"DL-99{i:03d}"], "L": [f"1HGCM82633A{i:06d}"], "M": [f"SN-IMPLANT-{i:03d}", f"MON-SERIAL-XJ{i:03d}"],
        "N": [f"https://zq{i:03d}.example.org"], "O": [f"203.0.113.{i + 10}"], "P": [f"FPR-HASH-{i:08X}"],
        "Q": [f"photo-face-{i:03d}.jpg"], "R": [f"P{i:03d}", f"ICU-R{i:02d}", f"BEDLABEL{i:02d}"],
    }  # fmt: skip
    ident = {
        "names": [{"use": "official", "given": [s["A"][0]], "family": s["A"][1]}],
        "address": [{"line": [s["B"][0]], "city": s["B"][1], "district": s["B"][2], "state": "IL", "postalCode": zip5}],
        "birth_date": birth,
        "telecom": [
            {"system": "phone", "value": s["D"][0]}, {"system": "fax", "value": s["E"][0]},
            {"system": "email", "value": s["F"][0]}, {"system": "url", "value": s["N"][0]},
        ],
        "identifiers": [
            {"type": {"coding": [{"code": c}]}, "value": v}
            for c, v in (("SS", s["G"][0]), ("MR", s["H"][0]), ("MB", s["I"][0]), ("AN", s["J"][0]), ("DL", s["K"][0]))
        ],
        "vehicle": s["L"][0], "device_serial": s["M"][0], "ip_address": s["O"][0], "biometric": s["P"][0],
        "photo": s["Q"][0],
    }  # fmt: skip
    attrs = {"sex": "female", "age": 999, "room": s["R"][1], "bed_label": s["R"][2], "condition": "sepsis"}
    return Twin(s["R"][0], TwinKind.PATIENT, " ".join(s["A"]), attrs, ident), [
        v for vs in s.values() for v in vs
    ]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[SqlStore, list[str]]:
    store = SqlStore(str(tmp_path_factory.mktemp("deid") / "s.db"))
    secrets: list[str] = []
    for i in range(N):
        twin, sec = _seed(i)
        secrets += sec
        store.put_twin(twin)
        bed = f"ICU-R{i:02d}"
        store.put_twin(Twin(bed, TwinKind.BED, f"BEDLABEL{i:02d}"))
        store.relate(Relationship(twin.id, RelType.LOCATED_IN, bed))
        obs = []
        for k in range(5):
            t = T0 + timedelta(minutes=7 * k)
            obs.append(Observation(twin.id, "8867-4", t, t, f"MON-SERIAL-XJ{i:03d}", f"{i}-{k}", value=80.0 + k,
                                   unit="/min", meta={"device_serial": f"SN-IMPLANT-{i:03d}"}))  # fmt: skip
        note = f"Seen {' '.join(sec[:2])}, {sec[4]}, call {sec[7]} or {sec[9]}; {sec[-2]}"
        obs.append(Observation(twin.id, "medtwin|note", T0, T0, f"user:nurse{i}", f"n{i}", value_text=note,
                               method=Method.MANUAL))  # fmt: skip
        obs.append(Observation(twin.id, "snomed|1104441000000107", T0, T0, f"user:nurse{i}", f"a{i}",
                               value_text="A", method=Method.MANUAL))  # fmt: skip
        med = MedicationAdministration(twin.id, "paracetamol", 1.0, "g", "oral", T0, f"user:nurse{i}", f"m{i}",
                                       performer=f"Nurse Ratched{i:02d}", note=f"per Dr Who{i:02d}")  # fmt: skip
        store.write(obs, [med])
        secrets += [f"Nurse Ratched{i:02d}", f"Dr Who{i:02d}", f"user:nurse{i}"]
    return store, secrets


def _violations(files: list[Path], secrets: list[str]) -> list[str]:
    text = "\n".join(f.read_text() for f in files)
    low = text.lower()
    return [s for s in secrets if s.lower() in low]


@pytest.mark.parametrize("fmt", ["fhir", "csv"])
def test_safe_harbor_year_only_has_no_violations(
    seeded: tuple[SqlStore, list[str]], tmp_path: Path, fmt: str
) -> None:
    store, secrets = seeded
    rep, files = deid.export(store, deid.Options(purpose="study-1", as_of=AS_OF), tmp_path, fmt)
    assert rep.patients == N and rep.observations == N * 7 and rep.medications == N
    assert _violations(files, secrets) == []
    text = "\n".join(f.read_text() for f in files)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # no date element but the year
    assert not re.search(r"\b(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b", text)
    assert set(rep.removed) >= set("ADEFGHIJKLMNOPQR") and {"B", "C"} <= set(rep.generalised)


def test_ages_90_plus_restricted_zip3_and_subjects(seeded: tuple[SqlStore, list[str]]) -> None:
    store, _ = seeded
    bundle, _rep = deid.export_bundle(store, deid.Options(purpose="study-1", as_of=AS_OF))
    pats = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(pats) == N
    ages = [(next(x["valueString"] for x in p["extension"] if x["url"].endswith(":age")), p) for p in pats]
    old = [p for a, p in ages if a == "90+"]
    assert len(old) == N // 2  # 90..105 all aggregated
    assert all(a != "90+" and int(a) < 90 for a, _p in ages if a != "90+")
    assert all("birthDate" not in p for p in old)
    young = [p for a, p in ages if a != "90+"]
    assert all(re.fullmatch(r"\d{4}", p["birthDate"]) for p in young)
    zips = {p["address"][0]["postalCode"] for p in pats}
    assert zips == {"000", "627"}  # 036 is restricted
    assert all(re.fullmatch(r"S[0-9a-f]{32}", p["id"]) for p in pats)
    other, _ = deid.export_bundle(store, deid.Options(purpose="study-2", as_of=AS_OF))
    assert not {p["id"] for p in pats} & {e["resource"]["id"] for e in other["entry"]}  # unlinkable
    again, _ = deid.export_bundle(store, deid.Options(purpose="study-1", as_of=AS_OF))
    assert [e["resource"]["id"] for e in again["entry"]] == [e["resource"]["id"] for e in bundle["entry"]]
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert {o.get("valueString") for o in obs} == {None, "A"}  # coded answer kept, note dropped
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)


def test_date_shift_is_consistent_per_patient(seeded: tuple[SqlStore, list[str]], tmp_path: Path) -> None:
    store, secrets = seeded
    _rep, files = deid.export(
        store, deid.Options(purpose="study-1", mode="shift", as_of=AS_OF), tmp_path, "fhir"
    )
    assert _violations(files, [s for s in secrets if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)]) == []
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    shifts: dict[str, set[timedelta]] = {}
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "8867-4":
            t = datetime.fromisoformat(r["effectiveDateTime"].replace("Z", "+00:00"))
            k = round(r["valueQuantity"]["value"] - 80.0)
            shifts.setdefault(r["subject"]["reference"], set()).add(t - (T0 + timedelta(minutes=7 * k)))
    assert len(shifts) == N
    assert all(len(v) == 1 and next(iter(v)) != timedelta(0) for v in shifts.values())
    assert abs(next(iter(next(iter(shifts.values()))))) <= timedelta(days=365)
    assert "not Safe Harbor" in json.loads((tmp_path / "report.json").read_text())["method"]


def test_zip3_rule_uses_the_shipped_census_list() -> None:
    assert len(restricted_zip3()) == 17 and "036" in restricted_zip3() and "893" in restricted_zip3()
    assert zip3("03601") == "000" and zip3("89301-1234") == "000" and zip3("62704") == "627"
    assert zip3("12") is None


def test_cli_export_deid(seeded: tuple[SqlStore, list[str]], tmp_path: Path) -> None:
    from medtwin.cli.security_cmd import security_commands

    store, secrets = seeded
    app = typer.Typer()
    security_commands(app)
    res = CliRunner().invoke(
        app, ["export", "deid", "--db", store.path or "", "--out", str(tmp_path / "x"), "--format", "csv",
              "--patients", "P000,P009", "--purpose", "training"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    files = sorted((tmp_path / "x").iterdir())
    assert [f.name for f in files] == ["medications.csv", "observations.csv", "patients.csv", "report.json"]
    assert _violations(files, secrets) == []
    assert len((tmp_path / "x" / "patients.csv").read_text().splitlines()) == 3
