"""Enrolment in remote care: validation and the twin graph it creates.

Body (``PUT /api/homecare/patients/{id}/enrolment``, ``medtwin homecare enrol``)::

    {"conditions": ["hypertension"], "medications": ["amlodipine 5 mg daily"],
     "targets": {"bp": {"sbp": 130, "dbp": 80}},          # personal targets set by the doctor
     "thresholds": {"spo2_copd": {"bands": [...]}},       # per-patient rule overrides (rules.py format)
     "schedule": {"sbp": 12, "weight": 24},               # hours between expected readings
     "care_team": ["RC-nurse-1", "GP-1"],                 # staff twins: patient cared_for_by them
     "caregivers": [{"name": "...", "relation": "daughter", "phone": "...", "email": "...",
                     "notify": ["emergency", "activity"]}],
     "home": "HOME-H1", "timezone": "Europe/Amsterdam"}

The care team gets ``cared_for_by`` relationships (their care scope then covers the patient); the
patient ``lives_in`` the home (created as a HOME twin when new). Caregiver contacts are stored
sealed (personal data of third parties) and never logged.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from medtwin.core.errors import ValidationError
from medtwin.core.ids import valid_id
from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.models.triage import RuleError, RuleSet, TriageInputError, default_schedule
from medtwin.models.triage.assess import check_conditions

KNOWN = ("conditions", "medications", "targets", "thresholds", "schedule", "care_team", "caregivers", "home",
         "timezone", "by")  # fmt: skip
NOTIFY = ("emergency", "primary", "activity", "adherence", "device")


def validate(body: dict[str, Any], rules: RuleSet) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(record, caregivers) or ValidationError naming the field."""
    if not isinstance(body, dict):
        raise ValidationError("expected a JSON object", field="body")
    extra = [k for k in body if k not in KNOWN]
    if extra:
        raise ValidationError(f"unknown field {extra[0]!r}", field=extra[0])
    try:
        conditions = sorted(check_conditions(body.get("conditions", [])))
    except TriageInputError as exc:
        raise ValidationError(exc.reason, field=exc.field) from None
    meds = body.get("medications", [])
    if not isinstance(meds, list) or not all(isinstance(m, str) and m.strip() for m in meds):
        raise ValidationError("a list of medication names", field="medications")
    for key in ("targets", "thresholds", "schedule"):
        if not isinstance(body.get(key, {}), dict):
            raise ValidationError("a JSON object", field=key)
    try:
        rules.for_patient(body.get("thresholds") or {})
    except RuleError as exc:
        raise ValidationError(exc.reason, field=f"thresholds.{exc.field}") from None
    schedule = {**default_schedule(set(conditions)), **(body.get("schedule") or {})}
    for m, h in schedule.items():
        if isinstance(h, bool) or not isinstance(h, int | float) or h < 0:
            raise ValidationError("hours between readings (>= 0; 0 = not expected)", field=f"schedule.{m}")
    tz = body.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {tz!r}", field="timezone") from None
    team = body.get("care_team", [])
    if not isinstance(team, list) or not all(isinstance(s, str) and valid_id(s) for s in team):
        raise ValidationError("a list of staff twin ids", field="care_team")
    home = body.get("home")
    if home is not None and (not isinstance(home, str) or not valid_id(home)):
        raise ValidationError("a twin id", field="home")
    caregivers = body.get("caregivers", [])
    if not isinstance(caregivers, list):
        raise ValidationError("a list of contacts", field="caregivers")
    clean = []
    for i, cg in enumerate(caregivers):
        if not isinstance(cg, dict) or not str(cg.get("name", "")).strip():
            raise ValidationError("each caregiver needs a name", field=f"caregivers[{i}].name")
        notify = cg.get("notify", ["emergency", "activity"])
        bad = [n for n in notify if n not in NOTIFY] if isinstance(notify, list) else ["?"]
        if bad:
            raise ValidationError(f"notify: a list of {', '.join(NOTIFY)}", field=f"caregivers[{i}].notify")
        clean.append({k: str(cg[k])[:200] for k in ("name", "relation", "phone", "email", "user") if cg.get(k)}
                     | {"notify": notify})  # fmt: skip
    record = {
        "conditions": conditions,
        "medications": [m.strip()[:200] for m in meds],
        "targets": body.get("targets") or {},
        "thresholds": body.get("thresholds") or {},
        "schedule": {k: float(v) for k, v in schedule.items()},
        "care_team": team,
        "home": home,
        "timezone": str(tz),
    }
    return record, clean


def link(registry: Any, twin_id: str, record: dict[str, Any]) -> None:
    """cared_for_by the care team (which must exist as staff twins), lives_in the home."""
    store = registry.store
    p = store.get_twin(twin_id)
    if p is None or p.kind is not TwinKind.PATIENT:
        raise ValidationError(f"{twin_id!r} is not a patient twin", field="twin_id")
    for s in record["care_team"]:
        t = store.get_twin(s)
        if t is None or t.kind is not TwinKind.STAFF:
            raise ValidationError(f"{s!r} is not a staff twin", field="care_team")
    for s in record["care_team"]:
        registry.relate(twin_id, RelType.CARED_FOR_BY, s)
    home = record.get("home")
    if home:
        h = store.get_twin(home)
        if h is None:
            registry.put(Twin(home, TwinKind.HOME, "", {"timezone": record["timezone"]}))
        elif h.kind is not TwinKind.HOME:
            raise ValidationError(f"{home!r} is a {h.kind}, not a home", field="home")
        registry.relate(twin_id, RelType.LIVES_IN, home)
