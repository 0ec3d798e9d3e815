"""HIPAA Safe Harbor rules used by :mod:`medtwin.security.deid`: the 18 identifier classes, how the
identity fields medtwin stores map onto them, ZIP3 and age generalisation, per-patient date shift.

45 CFR 164.514(b)(2)(i), classes (A)-(R): names; geographic subdivisions smaller than a state
(ZIP3 kept only outside the restricted list); all elements of dates except year, and ages over 89
(aggregated as "90+"); telephone; fax; e-mail; SSN; medical record numbers; health plan beneficiary
numbers; account numbers; certificate/licence numbers; vehicle identifiers; device identifiers and
serial numbers; URLs; IP addresses; biometric identifiers; full-face photographs; any other unique
identifying number, characteristic or code.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from medtwin.security.crypto import derive

CLASSES = {
    "A": "names",
    "B": "geographic subdivisions smaller than a state",
    "C": "dates (except year) and ages over 89",
    "D": "telephone numbers",
    "E": "fax numbers",
    "F": "e-mail addresses",
    "G": "social security numbers",
    "H": "medical record numbers",
    "I": "health plan beneficiary numbers",
    "J": "account numbers",
    "K": "certificate/licence numbers",
    "L": "vehicle identifiers and serial numbers",
    "M": "device identifiers and serial numbers",
    "N": "web URLs",
    "O": "IP addresses",
    "P": "biometric identifiers",
    "Q": "full-face photographs",
    "R": "other unique identifying numbers, characteristics or codes (incl. free text, bed/room ids)",
}

# identity keys (snake_case or FHIR) -> class
KEY_CLASS = {
    "name": "A", "names": "A", "given": "A", "family": "A", "maiden_name": "A", "mother_maiden_name": "A",
    "address": "B", "addresses": "B", "city": "B", "street": "B", "zip": "B", "postal_code": "B", "county": "B",
    "birth_date": "C", "birthdate": "C", "birthDate": "C", "deceased_date": "C", "admission_date": "C",
    "phone": "D", "mobile": "D", "telephone": "D", "fax": "E", "email": "F", "e_mail": "F",
    "ssn": "G", "social_security_number": "G", "mrn": "H", "medical_record_number": "H",
    "health_plan": "I", "health_plan_id": "I", "insurance_number": "I", "member_id": "I",
    "account": "J", "account_number": "J", "licence": "K", "license": "K", "licence_number": "K",
    "license_number": "K", "certificate": "K", "vehicle": "L", "licence_plate": "L", "license_plate": "L",
    "vin": "L", "device": "M", "device_serial": "M", "serial": "M", "udi": "M", "implant_serial": "M",
    "url": "N", "website": "N", "ip": "O", "ip_address": "O", "biometric": "P", "fingerprint": "P",
    "voiceprint": "P", "photo": "Q", "photograph": "Q", "telecom": "D", "identifiers": "R",
}  # fmt: skip
# FHIR ContactPoint.system -> class
TELECOM_CLASS = {"phone": "D", "sms": "D", "pager": "D", "fax": "E", "email": "F", "url": "N", "other": "R"}
# HL7 v2-0203 identifier type -> class
IDENTIFIER_TYPE_CLASS = {
    "SS": "G", "SB": "G", "MR": "H", "MRT": "H", "MB": "I", "SN": "I", "MA": "I", "MC": "I", "AN": "J",
    "AM": "J", "DL": "K", "PPN": "K", "DR": "K", "LN": "K", "MD": "K", "NPI": "K", "UDI": "M", "SR": "M",
}  # fmt: skip
# twin attributes that may be exported (non-identifying; everything else is dropped)
ATTRIBUTES_KEPT = ("sex", "condition", "diagnosis", "weight_kg", "height_cm")


@lru_cache(maxsize=1)
def restricted_zip3() -> frozenset[str]:
    path = Path(__file__).with_name("data") / "restricted_zip3.csv"
    with path.open() as f:
        rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))]
    return frozenset(r[0].strip() for r in rows[1:] if r and r[0].strip())


def zip3(postal_code: object) -> str | None:
    """The Safe Harbor ZIP3: first three digits, or "000" for a restricted (or malformed) prefix."""
    digits = "".join(ch for ch in str(postal_code or "") if ch.isdigit())
    if len(digits) < 3:
        return None
    z = digits[:3]
    return "000" if z in restricted_zip3() else z


def age_years(birth: date, at: date) -> int:
    return at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))


def age_label(age: int | None) -> str | None:
    if age is None:
        return None
    return "90+" if age >= 90 else str(max(age, 0))


def parse_date(value: object) -> date | None:
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        if len(value) == 4:
            return date(int(value), 7, 1)  # year only: mid-year
        if len(value) == 7:
            return date(int(value[:4]), int(value[5:7]), 15)
        return datetime.fromisoformat(value[:10]).date()
    except ValueError:
        return None


def shift_days(purpose: str, twin_id: str, max_days: int = 365, *, root: bytes | None = None) -> int:
    """A per-patient, per-purpose date shift in [-max_days, max_days] \\ {0}, from a keyed HMAC."""
    k = derive("medtwin/deid-shift/1|" + purpose, root)
    n = int.from_bytes(hmac.new(k, twin_id.encode(), hashlib.sha256).digest()[:8], "big")
    d = n % (2 * max_days) - max_days
    return d if d < 0 else d + 1


def classify_identity(identity: dict[str, Any]) -> dict[str, int]:
    """Count the identifier values an identity holds, per Safe Harbor class."""
    out: dict[str, int] = {}

    def add(cls: str, n: int = 1) -> None:
        out[cls] = out.get(cls, 0) + n

    for key, value in identity.items():
        if key == "telecom" and isinstance(value, list):
            for t in value:
                add(TELECOM_CLASS.get(str(t.get("system", "other")) if isinstance(t, dict) else "other", "R"))
        elif key == "identifiers" and isinstance(value, list):
            for it in value:
                code = ""
                if isinstance(it, dict):
                    for c in (it.get("type") or {}).get("coding", []) or []:
                        code = str(c.get("code", "")) or code
                add(IDENTIFIER_TYPE_CLASS.get(code, "R"))
        elif value not in (None, "", [], {}):
            add(
                KEY_CLASS.get(key, KEY_CLASS.get(key.lower(), "R")),
                len(value) if isinstance(value, list) else 1,
            )
    return out


def address_parts(identity: dict[str, Any]) -> tuple[str | None, str | None]:
    """(state, postal code) of the first address, from the FHIR or the simple shape."""
    addr = identity.get("address")
    if isinstance(addr, list):
        addr = addr[0] if addr else None
    if isinstance(addr, dict):
        return (
            addr.get("state") or identity.get("state"),
            addr.get("postalCode") or addr.get("postal_code") or addr.get("zip") or identity.get("zip"),
        )
    return identity.get("state"), identity.get("zip") or identity.get("postal_code")


def birth_date_of(identity: dict[str, Any]) -> date | None:
    for k in ("birth_date", "birthDate", "birthdate"):
        d = parse_date(identity.get(k))
        if d is not None:
            return d
    return None


def gender_of(twin_attrs: dict[str, Any], identity: dict[str, Any]) -> str | None:
    g = twin_attrs.get("sex") or identity.get("gender") or identity.get("sex")
    return str(g) if g in ("male", "female", "other", "unknown") else None
