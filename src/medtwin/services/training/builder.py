"""Case builder: a real patient twin -> a de-identified training case.

Every datum comes through the security module's de-identified export (:class:`medtwin.security.
deid.Exporter`, HIPAA Safe Harbor, purpose ``training``: pseudonymous subject, age in years or
"90+", sex, weight and height; readings and medications with their offsets from the first reading,
never dates, device ids, source ids, performers or free text). On top of it:

* times become minutes from *presentation*: the first 5-min window whose NEWS2 (``rcp_news2``)
  reaches 5, the RCP's urgent-response threshold (or the educator's choice); the timeline keeps
  5-min means of the vital signs and the laboratory values;
* the patient's baseline is the median of the vital signs in the first hour of the record, when the
  record starts at least an hour before presentation;
* the virtual patient is calibrated to the real presentation: the severity (0-1) whose simulated
  presentation vitals are closest to the real ones (squared error scaled by HR 10 /min, SBP 10 mmHg,
  RR 3 /min, SpO2 2 %, temperature 0.5 degC: scaling choices), with its residuals and a warning
  when the condition's model cannot reproduce the presentation;
* the real treatment is mapped onto the virtual patient's actions by drug name (replayed later to
  compare the trainee's course with the real team's in the same model); the real outcome is the
  last part of the real record;
* imaging studies become modality, description and time (no UIDs; a description is kept only
  when it is imaging vocabulary, :mod:`.imaging_text`);
* the identifier guard (:mod:`.guard`) checks the finished case against every identifier of the
  source twin and refuses it if one slipped through.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import text

from medtwin.core.codes import BY_REF
from medtwin.core.errors import ValidationError
from medtwin.core.model import RelType
from medtwin.models.scores.news2 import score_news2
from medtwin.models.virtual_patient.conditions import CONDITIONS, get_condition
from medtwin.models.virtual_patient.engine import PatientSpec, VirtualPatient
from medtwin.security.deid import Exporter, Options
from medtwin.services.training import guard, imaging_text
from medtwin.services.training.codes import parse_code
from medtwin.services.training.investigations import ANALYTES
from medtwin.store.sql import SqlStore

VITALS = ("hr", "rr", "spo2", "sbp", "dbp", "map", "temp")
BUCKET_MIN = 5
SCALE = {"hr": 10.0, "sbp": 10.0, "rr": 3.0, "spo2": 2.0, "temp": 0.5}
# a residual beyond 2 scale units flags the fit (a display choice for the educator, not a clinical threshold)
MISFIT_SCALES = 2.0
_DRUGS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("piperacillin", "tazobactam", "meropenem", "ceftriaxone", "amoxicillin", "co-amoxiclav", "clarithromycin",
      "gentamicin", "vancomycin", "cefuroxime", "doxycycline", "metronidazole"), "antibiotics"),
    (("tranexamic",), "tranexamic_acid"), (("naloxone",), "naloxone"), (("insulin",), "insulin"),
    (("glucose", "dextrose"), "glucose_iv"), (("furosemide", "frusemide"), "furosemide"),
    (("norepinephrine", "noradrenaline"), "vasopressor"), (("trinitrate", "nitroglycerin", "gtn"), "nitrate"),
    (("sodium chloride", "hartmann", "ringer", "plasma-lyte", "crystalloid"), "fluids"),
    (("red cell", "red blood", "packed"), "transfusion"),
)  # fmt: skip
_CONDITION_WORDS = (
    (("septic", "sepsis", "urosepsis"), "sepsis"), (("bleed", "haemorrh", "hemorrh", "melaena"), "haemorrhage"),
    (("hypoglyc",), "hypoglycaemia"), (("opioid", "overdose", "heroin", "fentanyl"), "opioid_overdose"),
    (("heart failure", "pulmonary oedema", "pulmonary edema"), "acute_heart_failure"),
    (("pneumonia", "respiratory failure"), "respiratory_failure"),
)  # fmt: skip


def infer_condition(attrs: dict[str, Any]) -> str | None:
    words = f"{attrs.get('condition', '')} {attrs.get('diagnosis', '')}".lower()
    for keys, cond in _CONDITION_WORDS:
        if any(k in words for k in keys):
            return cond
    return None


def _buckets(rows: list[dict[str, Any]]) -> dict[int, dict[str, list[float]]]:
    out: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        info = BY_REF.get(r["code"])
        if info is None or r.get("value") is None or "t_rel_s" not in r:
            continue
        out[int(r["t_rel_s"] // (BUCKET_MIN * 60))][info.key].append(float(r["value"]))
    return out


def _row(t: float, vals: dict[str, float], acvpu: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"t": t, **vals}
    if "map" not in row and "sbp" in row and "dbp" in row:
        row["map"] = round(row["dbp"] + (row["sbp"] - row["dbp"]) / 3)
    if acvpu:
        row["acvpu"] = acvpu
    n = score_news2(
        rr=vals.get("rr"), spo2=vals.get("spo2"), sbp=vals.get("sbp"), hr=vals.get("hr"),
        temp=vals.get("temp"), consciousness=acvpu or "A", on_oxygen=False,
    )  # fmt: skip
    row["news2"], row["news2_band"] = n.score, getattr(n.band, "value", str(n.band))
    return row


def timeline(subject_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """5-min means of the vital signs (t in minutes from the first reading) with NEWS2."""
    acvpu_at: dict[int, str] = {}
    for r in subject_rows:
        info = BY_REF.get(r["code"])
        if info is not None and info.key == "acvpu" and r.get("value_text") and "t_rel_s" in r:
            acvpu_at[int(r["t_rel_s"] // (BUCKET_MIN * 60))] = r["value_text"][0]
    out, last_acvpu = [], None
    for b, series in sorted(_buckets(subject_rows).items()):
        last_acvpu = acvpu_at.get(b, last_acvpu)
        vals = {
            k: round(statistics.fmean(series[k]), 1 if k == "temp" else 0) for k in VITALS if series.get(k)
        }
        if vals:
            out.append(_row(float(b * BUCKET_MIN), vals, last_acvpu))
    return out


def presentation(tl: list[dict[str, Any]], at_min: float | None) -> float:
    """Minutes (from the first reading) of the presentation: the educator's choice, else the first
    full 5-min window with NEWS2 >= 5 (``rcp_news2`` urgent response), else the last window."""
    if at_min is not None:
        return float(at_min)
    for r in tl:
        if r.get("news2", 0) >= 5 and not {"rr", "spo2", "sbp", "hr"} - set(r):
            return float(r["t"])
    return float(tl[-1]["t"]) if tl else 0.0


def calibrate(spec: PatientSpec, target: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The severity whose simulated presentation is closest to ``target``, and the fit: the scaled
    squared error, each vital's residual (simulated - real) and, when a residual exceeds
    ``MISFIT_SCALES`` scale units, a warning that the record does not look like the condition."""
    keys = [k for k in SCALE if target.get(k) is not None]
    if not keys or spec.condition == "hypoglycaemia":
        return spec.severity, {"error": None}
    best, best_err, best_res = spec.severity, float("inf"), {}
    for i in range(1, 21):
        sev = i / 20.0
        v = VirtualPatient(
            PatientSpec(spec.condition, sev, spec.seed, spec.weight_kg, spec.baseline, spec.params)
        )
        res = {k: float(v.latest[k]) - float(target[k]) for k in keys}
        err = sum((r / SCALE[k]) ** 2 for k, r in res.items())
        if err < best_err:
            best, best_err, best_res = sev, err, res
    fit: dict[str, Any] = {
        "error": round(best_err, 3),
        "residuals": {k: round(r, 1) for k, r in best_res.items()},
    }
    off = [k for k, r in best_res.items() if abs(r) > MISFIT_SCALES * SCALE[k]]
    if off:
        fit["warning"] = (
            f"the {spec.condition.replace('_', ' ')} model does not reproduce this presentation "
            f"({', '.join(f'{k} {best_res[k]:+.0f}' for k in off)}): check the condition and the "
            "presentation minute"
        )
    return best, fit


def _kind(drug: str) -> str | None:
    d = drug.lower()
    return next((k for names, k in _DRUGS if any(n in d for n in names)), None)


_TO_MG = {"g": 1000.0, "mg": 1.0, "mcg": 1e-3, "ug": 1e-3, "\u00b5g": 1e-3, "ng": 1e-6}


def _mg(dose: Any, unit: str) -> float | None:
    """A dose in mg from a medication's dose and UCUM-ish unit (None: not a mass)."""
    if isinstance(dose, bool) or not isinstance(dose, int | float):
        return None
    factor = _TO_MG.get(unit.replace("[", "").replace("]", ""))
    return float(dose) * factor if factor is not None else None


def real_actions(meds: list[dict[str, Any]], anchor_min: float) -> list[dict[str, Any]]:
    """The real medications as virtual-patient actions (minutes from presentation)."""
    out = []
    for m in meds:
        t = round(m.get("t_rel_s", 0.0) / 60.0 - anchor_min, 1)
        drug = str(m.get("drug", "")).lower()
        kind = _kind(drug)
        params: dict[str, Any] = {}
        dose, unit = m.get("dose"), str(m.get("unit", "")).lower()
        mg = _mg(dose, unit)
        if kind == "antibiotics":
            params = {"drug": "piperacillin-tazobactam" if "piperacillin" in drug else "meropenem"}
        elif kind in ("naloxone", "furosemide") and mg is not None:
            params = {"dose": mg}
        elif kind == "insulin" and isinstance(dose, int | float):
            params = {"units": float(dose)}
        elif kind == "glucose_iv" and mg is not None:
            params = {"grams": mg / 1000.0, "minutes": 10}
        elif kind == "fluids" and isinstance(dose, int | float):
            params = {"volume": float(dose) * (1000.0 if unit == "l" else 1.0), "minutes": 30}
        elif kind == "transfusion":
            params = {"units": 1}
        elif kind == "vasopressor" and isinstance(dose, int | float) and "kg" in unit:
            params = {"rate": float(dose)}
        out.append({"t": t, "kind": kind, "params": params, "label": f"{m.get('drug')} {dose} {m.get('unit')} "
                    f"{m.get('route', '')}".strip(), "replayed": kind is not None and t >= 0})  # fmt: skip
    return out


def _labs(rows: list[dict[str, Any]], anchor_min: float) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        info = BY_REF.get(r["code"])
        if info is not None and info.category == "laboratory" and r.get("value") is not None:
            out.append({"t": round(r.get("t_rel_s", 0.0) / 60.0 - anchor_min, 1), "key": info.key,
                        "code": r["code"], "display": r["display"], "value": r["value"], "unit": r["unit"]})  # fmt: skip
    return out


def _identifiers(store: SqlStore, twin_id: str, twin: Any) -> set[str]:
    extra = {twin_id}
    for rel in store.relationships(twin_id, direction="out"):
        if rel.type is RelType.LOCATED_IN:
            extra.add(rel.dst)  # bed (and the chain above it is not patient-level)
    for rel in store.relationships(twin_id, type_=RelType.MONITORS, direction="in"):
        extra.add(rel.src)
    with store.engine.connect() as c:  # the devices and users that sent this patient's readings
        extra.update(r[0] for r in c.execute(text("SELECT DISTINCT source FROM observations WHERE twin_id = :t"),
                                             {"t": twin_id}))  # fmt: skip
    for m in store.medications(twin_id):
        extra.update(x for x in (m.source, m.performer) if x)
    return guard.identifier_tokens(twin.identity or {}, twin.name or "", extra)


def _imaging(
    store: SqlStore, twin_id: str, anchor: datetime | None, t0_min: float, sealed: set[str]
) -> list[dict[str, Any]]:
    """Imaging studies as modality, description and time; a description (free text) is kept only
    when it is imaging vocabulary (:mod:`.imaging_text`) and names no identifier of the patient."""
    try:
        with store.engine.connect() as c:
            rows = c.execute(
                text("SELECT started_us, modalities, description FROM imaging_studies WHERE twin_id = :t"),
                {"t": twin_id},
            ).all()
    except Exception:  # imaging tables absent in an older store
        return []
    out = []
    for started, modalities, desc in rows:
        t = None
        if started is not None and anchor is not None:
            t = round((started / 1e6 - anchor.timestamp()) / 60.0 - t0_min, 1)
        shown, withheld = imaging_text.clean(desc)
        if shown and guard.find(shown, sealed):
            shown, withheld = "", True
        row: dict[str, Any] = {"t": t, "modality": modalities, "description": shown}
        if withheld:
            row["description_withheld"] = True
        out.append(row)
    return out


def build_from_twin(
    store: SqlStore, twin_id: str, *, condition: str | None = None, diagnosis: Any = None,
    presentation_min: float | None = None, seed: int = 0, as_of: datetime | None = None,
) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """(case body, sealed identifier tokens) for the twin ``twin_id``."""
    twin = store.get_twin(twin_id)
    if twin is None or twin.kind.value != "patient":
        raise ValidationError(f"no patient twin {twin_id!r}", field="twin_id")
    ex = Exporter(store, Options(purpose="training", mode="year", patients=[twin_id], as_of=as_of))
    subjects = ex.subjects()
    if not subjects:
        raise ValidationError("nothing to export for this twin", field="twin_id")
    s = subjects[0]
    p = s.patient
    cond = condition or infer_condition(p)
    if cond is None:
        raise ValidationError(
            f"say which condition the case is about (one of {', '.join(CONDITIONS)})", field="condition"
        )
    c = get_condition(cond)
    tl = timeline(s.rows)
    t0 = presentation(tl, presentation_min)
    for r in tl:
        r["t"] = round(r["t"] - t0, 1)
    early = [r for r in tl if r["t"] <= -60 and r["t"] <= tl[0]["t"] + 60] if tl and tl[0]["t"] <= -60 else []
    baseline = {k: float(statistics.median(r[k] for r in early if k in r)) for k in ("hr", "rr", "sbp", "dbp", "temp")
                if any(k in r for r in early)}  # fmt: skip
    weight = float(p.get("weight_kg") or 70.0)
    spec = PatientSpec(cond, c.default_severity, seed, min(max(weight, 30.0), 250.0), baseline)
    target = min(tl, key=lambda r: abs(r["t"])) if tl else {}
    spec.severity, fit = calibrate(spec, target)
    dx = parse_code(diagnosis, "diagnosis") if diagnosis else None
    if dx is None and isinstance(p.get("diagnosis"), str):
        try:
            dx = parse_code(p["diagnosis"], "diagnosis")
        except ValidationError:
            dx = None
    source_dx = "educator" if diagnosis else ("record" if dx else "condition default")
    dx = dx or parse_code({"system": "icd-10", "code": c.icd10, "display": c.icd10_display})
    labs = _labs(s.rows, t0)
    sealed = guard.seal_tokens(_identifiers(store, twin_id, twin))
    case = {
        "condition": cond,
        "patient": {k: p[k] for k in ("sex", "age", "weight_kg", "height_cm") if p.get(k) is not None},
        "timeline": {"vitals": tl, "labs": labs, "presentation_rule": "first 5-min window with NEWS2 >= 5 (rcp_news2)"
                     if presentation_min is None else "chosen by the educator"},
        "imaging": _imaging(store, twin_id, s.anchor, t0, set(sealed)),
        "diagnosis": {**dx.as_dict(), "source": source_dx},
        "real": {"treatment": real_actions(s.meds, t0), "observed": [r for r in tl if r["t"] >= 0]},
        "physiology": {**spec.as_dict(), "calibration": {"target": {k: target.get(k) for k in SCALE},
                                                         **fit, "scales": SCALE}},
        "labs": {r["key"]: r["value"] for r in sorted(labs, key=lambda x: -abs(x["t"])) if r["key"] in ANALYTES},
        "source": {"kind": "twin", "pseudonym": s.sid, "deid": ex.report.as_dict()},
    }  # fmt: skip
    return case, sealed
