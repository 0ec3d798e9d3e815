"""FHIR R4 Observation -> medtwin raw readings. Pure functions, no I/O.

Each Observation is first checked for structure with the ``fhir.resources.R4B`` models (see
:mod:`medtwin.ingest.fhir_common`), then for the coded values and rules medtwin depends on; every
problem becomes an :class:`Issue` naming the element (``Observation.valueQuantity.code``).

Mapping rules (docs/fhir.md has the full tables):

* ``status`` must be in the R4 ObservationStatus value set; medtwin stores preliminary, final,
  amended, corrected and entered-in-error (registered, cancelled and unknown carry no result).
* ``subject.reference`` ``Patient/ID`` (absolute URLs and ``urn:uuid:`` references to a Patient in the
  same Bundle too) is the twin; it is required.
* ``code.coding``: the first coding medtwin knows (LOINC, SNOMED CT, ``urn:medtwin:code``, MDC) wins;
  aliases map onto the canonical code (59408-5 -> 2708-6). The blood-pressure panel 85354-9 is split
  into one reading per known component (systolic 8480-6, diastolic 8462-4, mean 8478-0).
* ``valueQuantity`` (UCUM ``code``, else ``unit``), ``valueCodeableConcept``, ``valueString``,
  ``valueInteger``; ``effectiveDateTime`` or ``effectiveInstant`` with a time and a UTC offset.
* Idempotency key: source = ``device`` (or ``performer``, or ``meta.source``, else ``fhir``);
  source's id = ``identifier[0].value``, else the resource ``id``, else a hash of the content.
  Panel components get ``<id>/<component code>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from medtwin.core.codes import BY_KEY, LOINC, SNOMED, CodeInfo, ValueKind, lookup
from medtwin.core.errors import MedtwinError
from medtwin.core.model import Method, Observation
from medtwin.core.validate import MAX_FUTURE, build_observation
from medtwin.ingest.fhir_common import (
    MAX_ISSUES,
    FhirInvalid,
    Issue,
    check_structure,
    effective_time,
    field_issue_code,
    source_id_of,
    source_of,
    subject_of,
)

__all__ = ["FhirInvalid", "Issue", "MappedObservation", "map_observation", "status_issue", "to_observations"]

UCUM = "http://unitsofmeasure.org"
BP_PANEL = "85354-9"
OBS_STATUSES = (
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
)
ACCEPTED_STATUSES = ("preliminary", "final", "amended", "corrected", "entered-in-error")
_STATUS_WHY = {
    "registered": "means the observation exists but has no result yet",
    "cancelled": "means the observation was never completed, so there is no result",
    "unknown": "does not say whether the value is a result",
}
# ACVPU answers as SNOMED CT concepts (IHE PCC mPSC value set; research/monitoring.md 3.1).
AVPU_SNOMED = {"248234008": "A", "300202002": "V", "450847001": "P", "422768004": "U"}
MEDTWIN_ANSWER = "urn:medtwin:answer"


def status_issue(status: Any, path: str) -> Issue | None:
    """Check Observation.status against the R4 value set and what medtwin stores."""
    if status not in OBS_STATUSES:
        return Issue(
            f"status {str(status)[:30]!r} is not an R4 ObservationStatus ({'|'.join(OBS_STATUSES)})",
            f"{path}.status",
            "code-invalid",
        )
    if status not in ACCEPTED_STATUSES:
        return Issue(
            f"status {status!r} {_STATUS_WHY[status]}; medtwin stores results only "
            f"({', '.join(ACCEPTED_STATUSES)})",
            f"{path}.status",
            "business-rule",
        )
    return None


# ------------------------------------------------------------------------------------------ Observation
@dataclass
class MappedObservation:
    """One FHIR Observation as medtwin readings (two or three for a blood-pressure panel)."""

    path: str
    subject: str
    source: str
    device: str | None
    method: Method
    msg_id: str
    readings: list[dict[str, Any]] = field(default_factory=list)
    paths: list[dict[str, str]] = field(default_factory=list)  # per reading: raw field -> FHIRPath
    panel: bool = False

    def where(self, i: int | None, field_: str | None) -> str:
        """The FHIRPath of a raw reading field (for rejects raised after mapping)."""
        if field_ == "patient":
            return f"{self.path}.subject"
        if field_ == "source":
            return f"{self.path}.device"
        if i is not None and 0 <= i < len(self.paths) and field_ in self.paths[i]:
            return self.paths[i][field_]
        return self.path


def _coding_info(codeable: Any) -> tuple[CodeInfo | None, int, str]:
    """(info, index of the coding, a text listing the codes seen) for a CodeableConcept."""
    seen: list[str] = []
    codings = codeable.get("coding") if isinstance(codeable, dict) else None
    for i, c in enumerate(codings if isinstance(codings, list) else []):
        if not isinstance(c, dict) or not isinstance(c.get("code"), str):
            continue
        system = c.get("system") if isinstance(c.get("system"), str) else LOINC
        seen.append(f"{system}|{c['code']}"[:80])
        if c["code"] == BP_PANEL and system == LOINC:
            return None, i, "panel"
        info = lookup(c["code"], system)
        if info is not None:
            return info, i, ""
    return None, -1, ", ".join(seen) or "no coding"


def _value(
    info: CodeInfo, holder: dict[str, Any], path: str, issues: list[Issue]
) -> tuple[Any, str | None, dict[str, str]]:
    """(value, unit, paths) of a value[x] for ``info``."""
    q = holder.get("valueQuantity")
    if info.kind is ValueKind.QUANTITY:
        if "valueInteger" in holder:
            return (
                holder["valueInteger"],
                None,
                {"value": f"{path}.valueInteger", "unit": f"{path}.valueInteger"},
            )
        if not isinstance(q, dict):
            other = next((k for k in holder if k.startswith("value")), None)
            what = f"{other} is not a number" if other else "missing valueQuantity"
            if other is None and "dataAbsentReason" in holder:
                what = "no value (dataAbsentReason); medtwin stores measured values only"
            issues.append(
                Issue(
                    f"{what}: {info.display} needs valueQuantity in {info.unit}",
                    f"{path}.{other or 'valueQuantity'}",
                    "required" if other is None else "value",
                )
            )
            return None, None, {}
        qp = f"{path}.valueQuantity"
        v = q.get("value")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            issues.append(Issue("valueQuantity.value must be a finite JSON number", f"{qp}.value", "value"))
        if "comparator" in q:
            issues.append(
                Issue(
                    "valueQuantity.comparator is not supported (medtwin stores exact values)",
                    f"{qp}.comparator",
                    "not-supported",
                )
            )
        system = q.get("system")
        if system is not None and system != UCUM:
            issues.append(Issue(f"unit system must be UCUM ({UCUM})", f"{qp}.system", "value"))
        unit = q.get("code") if isinstance(q.get("code"), str) and q.get("code") else q.get("unit")
        unit_path = f"{qp}.code" if "code" in q else f"{qp}.unit"
        if not isinstance(unit, str) or not unit:
            if not info.unit.startswith("{"):
                issues.append(
                    Issue(f"missing unit: send the UCUM code (e.g. {info.unit!r})", f"{qp}.code", "required")
                )
            unit = None
        return v, unit, {"value": f"{qp}.value", "unit": unit_path}
    if "valueString" in holder:
        return holder["valueString"], None, {"value": f"{path}.valueString"}
    cc = holder.get("valueCodeableConcept")
    if isinstance(cc, dict):
        cp = f"{path}.valueCodeableConcept"
        for c in cc.get("coding") or []:
            if not isinstance(c, dict) or not isinstance(c.get("code"), str):
                continue
            if c.get("system") == SNOMED and c["code"] in AVPU_SNOMED:
                return AVPU_SNOMED[c["code"]], None, {"value": cp}
            if c["code"].lower() in (a.lower() for a in info.answers):
                return c["code"], None, {"value": cp}
        return cc.get("text"), None, {"value": f"{cp}.text" if "text" in cc else cp}
    present = next((k for k in holder if k.startswith("value")), None)
    issues.append(
        Issue(
            f"{info.display} needs valueCodeableConcept or valueString"
            + (f", not {present}" if present else ""),
            f"{path}.{present or 'value[x]'}",
            "value" if present else "required",
        )
    )
    return None, None, {}


def map_observation(
    res: Any, *, path: str = "Observation", refs: Mapping[str, str] | None = None
) -> MappedObservation:
    """Map one R4 Observation to raw readings; raise :class:`FhirInvalid` naming every bad element."""
    check_structure(res, "Observation", path)
    issues: list[Issue] = []
    st = status_issue(res.get("status"), path)
    if st is not None:
        issues.append(st)
    subject = subject_of(res, path, refs, issues)
    when = effective_time(res, path, issues)
    source, device, method = source_of(res)
    base_id = source_id_of(res)
    out = MappedObservation(path, subject, source, device, method, base_id[:200])
    info, ci, seen = _coding_info(res.get("code"))

    def add(info_: CodeInfo, coding_path: str, holder: dict[str, Any], hpath: str, rid: str) -> None:
        value, unit, vpaths = _value(info_, holder, hpath, issues)
        out.readings.append(
            {
                "code": info_.code,
                "system": info_.system,
                "value": value,
                "unit": unit,
                "time": when,
                "status": res.get("status"),
                "method": method.value,
                "id": rid,
            }
        )
        out.paths.append(
            {
                "code": coding_path,
                "system": coding_path,
                "time": f"{path}.effectiveDateTime",
                "status": f"{path}.status",
                "method": f"{path}.device",
                "id": f"{path}.identifier",
                "reading": hpath,
                **vpaths,
            }
        )

    if seen == "panel":
        out.panel = True
        comps = res.get("component")
        found: set[str] = set()
        for k, comp in enumerate(comps if isinstance(comps, list) else []):
            cpath = f"{path}.component[{k}]"
            cinfo, cci, cseen = _coding_info(comp.get("code") if isinstance(comp, dict) else None)
            if cinfo is None or not isinstance(comp, dict):
                issues.append(Issue(f"unknown component code ({cseen})", f"{cpath}.code", "code-invalid"))
                continue
            if cinfo.key in found:
                issues.append(Issue(f"repeated component {cinfo.code}", f"{cpath}.code", "value"))
                continue
            found.add(cinfo.key)
            add(cinfo, f"{cpath}.code.coding[{cci}]", comp, cpath, f"{base_id}/{cinfo.code}"[:200])
        missing = [k for k in ("sbp", "dbp") if k not in found]
        if missing:
            names = " and ".join(f"{BY_KEY[k].display.lower()} ({BY_KEY[k].code})" for k in missing)
            issues.append(
                Issue(
                    f"blood pressure panel {BP_PANEL} without {names} component",
                    f"{path}.component",
                    "required",
                )
            )
    elif info is None:
        issues.append(
            Issue(
                f"unknown code ({seen}): medtwin stores the codes listed in docs/codes.md",
                f"{path}.code.coding",
                "code-invalid",
            )
        )
    else:
        add(info, f"{path}.code.coding[{ci}]", res, path, base_id[:200])
    if issues:
        raise FhirInvalid(issues[:MAX_ISSUES])
    return out


def to_observations(
    m: MappedObservation,
    *,
    received: datetime,
    twin_id: str | None = None,
    max_future: timedelta = MAX_FUTURE,
) -> list[Observation]:
    """Validate the mapped readings (codes, units, ranges, time) into Observations, or raise
    :class:`FhirInvalid` with one issue per bad reading field."""
    out: list[Observation] = []
    issues: list[Issue] = []
    for i, raw in enumerate(m.readings):
        try:
            out.append(
                build_observation(
                    raw,
                    twin_id=twin_id or m.subject,
                    source=m.source,
                    source_id=str(raw["id"]),
                    received=received,
                    default_method=m.method,
                    max_future=max_future,
                )
            )
        except MedtwinError as exc:
            issues.append(Issue(exc.reason, m.where(i, exc.field), field_issue_code(exc.field)))
    if issues:
        raise FhirInvalid(issues)
    return out
