"""The twin's treatment data from the store: covariates, doses given and measured drug levels.

Covariates (later sources win): the patient twin's ``attributes`` (``age`` in years, ``sex``,
``weight`` kg, ``height`` cm, ``scr`` serum creatinine mg/dL, ``dialysis``), then the latest
observations of body weight (LOINC 29463-7), height (8302-2) and serum creatinine (2160-0), then
explicit overrides given with the request. Each value's source is recorded with the fit.

Doses: the twin's medication administrations whose drug name contains the library drug's name.
Amounts in mg (g and ug/mcg are converted); route ``oral``/``po`` is oral, anything else IV.
The infusion time of an IV dose is read from its note (``duration_min=NN`` or ``over NN min``),
otherwise the drug's default (vancomycin ``max(60, mg/10)`` min, gentamicin 30 min; see the
library). Levels: the observations of the drug's level codes (entered-in-error ones excluded).

Time axis: minutes relative to ``origin`` (normally "now"), so given doses and levels are negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ValidationError
from medtwin.core.model import Twin, TwinKind
from medtwin.models.pharmacology.bayes import Level
from medtwin.models.pharmacology.covariates import Covariates, parse_sex
from medtwin.models.pharmacology.library import Drug, drug_for_medication
from medtwin.models.pharmacology.regimen import Dose
from medtwin.store.sql import SqlStore

_DURATION = re.compile(r"(?:duration_min\s*=\s*|over\s+)(\d+(?:\.\d+)?)\s*min", re.IGNORECASE)
_TO_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
_ORAL = {"oral", "po", "p.o.", "by mouth", "enteral"}
_COV_KEYS = ("age", "weight", "height", "sex", "scr", "dialysis")


def minutes(t: datetime, origin: datetime) -> float:
    return (t - origin).total_seconds() / 60.0


@dataclass
class TdmData:
    drug: Drug
    origin: datetime
    covariates: Covariates
    covariate_sources: dict[str, str]
    doses: list[Dose]
    dose_records: list[dict[str, Any]]
    levels: list[Level]
    level_records: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


def require_patient(store: SqlStore, twin_id: str) -> Twin:
    twin = store.require_twin(twin_id)
    if twin.kind is not TwinKind.PATIENT:
        raise ValidationError(f"{twin_id!r} is a {twin.kind.value}, not a patient", field="twin_id")
    return twin


def known_covariates(store: SqlStore, twin: Twin) -> tuple[dict[str, Any], dict[str, str]]:
    """What the twin's attributes and latest observations say (possibly incomplete), with sources."""
    raw: dict[str, Any] = {}
    src: dict[str, str] = {}
    attrs = twin.attributes or {}
    for k in _COV_KEYS:
        if attrs.get(k) not in (None, ""):
            raw[k], src[k] = attrs[k], "twin attributes"
    if attrs.get("creatinine") not in (None, "") and "scr" not in raw:
        raw["scr"], src["scr"] = attrs["creatinine"], "twin attributes"
    latest = store.latest(twin.id, [BY_KEY[k].ref for k in ("weight", "height", "creatinine")])
    for key, name in (("weight", "weight"), ("height", "height"), ("creatinine", "scr")):
        o = latest.get(BY_KEY[key].ref)
        if o is not None and o.value is not None:
            raw[name], src[name] = float(o.value), f"observation {o.id} ({o.effective.isoformat()})"
    return raw, src


def gather_covariates(
    store: SqlStore, twin: Twin, overrides: dict[str, Any] | None = None
) -> tuple[Covariates, dict[str, str]]:
    raw, src = known_covariates(store, twin)
    for k, v in (overrides or {}).items():
        if k in _COV_KEYS and v not in (None, ""):
            raw[k], src[k] = v, "request"
    for k in ("age", "weight", "height", "sex"):
        if k not in raw:
            raise ValidationError(
                f"the patient's {k} is unknown: set it on the twin (attributes.{k}) or give it with the request",
                field=k,
            )
    try:
        cov = Covariates(
            age=float(raw["age"]),
            weight=float(raw["weight"]),
            height=float(raw["height"]),
            sex=parse_sex(str(raw["sex"])),
            scr=None if raw.get("scr") is None else float(raw["scr"]),
            dialysis=bool(raw.get("dialysis", False)),
        )
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"covariates must be numbers: {exc}", field="covariates") from None
    return cov, src


def _dose_of(drug: Drug, m: Any, origin: datetime) -> tuple[Dose | None, str | None]:
    factor = _TO_MG.get(str(m.dose_unit).strip().lower())
    if factor is None:
        return None, f"dose {m.id}: unit {m.dose_unit!r} is not a mass unit; ignored"
    amount = float(m.dose) * factor
    route = "oral" if str(m.route).strip().lower() in _ORAL else "iv"
    if route == "oral" and "oral" not in drug.models[drug.default_model].routes:
        return None, f"dose {m.id}: oral {drug.name} is not modelled; ignored"
    dur = 0.0
    if route == "iv":
        found = _DURATION.search(m.note or "")
        dur = float(found.group(1)) if found else drug.default_infusion_min(amount)
    return Dose(minutes(m.effective, origin), amount, dur, route), None  # type: ignore[arg-type]


def gather(
    store: SqlStore,
    twin: Twin,
    drug: Drug,
    origin: datetime,
    *,
    overrides: dict[str, Any] | None = None,
    since: datetime | None = None,
) -> TdmData:
    cov, src = gather_covariates(store, twin, overrides)
    doses: list[Dose] = []
    dose_records: list[dict[str, Any]] = []
    warnings: list[str] = []
    for m in store.medications(twin.id, start=since):
        if m.status not in ("completed", "") or drug_for_medication(m.drug) is not drug:
            continue
        if m.effective > origin:
            continue
        d, warn = _dose_of(drug, m, origin)
        if warn:
            warnings.append(warn)
        if d is not None:
            doses.append(d)
            dose_records.append(
                {
                    "id": m.id,
                    "time": m.effective.isoformat(),
                    "dose_mg": d.amount,
                    "duration_min": d.duration,
                    "route": d.route,
                }
            )
    levels: list[Level] = []
    level_records: list[dict[str, Any]] = []
    for code in drug.level_codes:
        for o in store.history(twin.id, code, start=since, end=origin):
            if o.value is None:
                continue
            levels.append(Level(minutes(o.effective, origin), float(o.value)))
            level_records.append(
                {
                    "id": o.id,
                    "code": code,
                    "time": o.effective.isoformat(),
                    "value": float(o.value),
                    "unit": o.unit,
                }
            )
    if levels and not doses:
        warnings.append("levels without any recorded dose of this drug: they cannot be fitted")
        levels, level_records = [], []
    return TdmData(drug, origin, cov, src, doses, dose_records, levels, level_records, warnings)
