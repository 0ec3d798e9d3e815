"""Training cases: assembled from a real twin (:mod:`.builder`) or from a condition template, edited
by educators, and shown to trainees without the answers.

A case holds: title, specialty, difficulty, tags, status (draft / published / archived); the staged
narrative (presenting complaint, history, examination: the MedBiquitous data-availability model,
``medbiq_vp``); the de-identified patient (sex, age, weight, height), vital-sign and laboratory
timeline (minutes from presentation), imaging, laboratory values and reports; the real coded
diagnosis (ICD-10 or SNOMED CT) with codes the educator accepts as equivalent; the real treatment
and outcome; teaching points; the virtual patient's specification; the scoring policy.

Trainees see published cases only, and of them only what the session discloses stage by stage;
the diagnosis, the real treatment and outcome, the physiology and the scoring policy appear in the
feedback after the trainee submits a diagnosis.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.models.virtual_patient.actions import describe
from medtwin.models.virtual_patient.choices import CHOICES
from medtwin.models.virtual_patient.conditions import get_condition
from medtwin.models.virtual_patient.engine import PatientSpec
from medtwin.models.virtual_patient.outcome import DANGER_KEYS
from medtwin.models.virtual_patient.sources import SOURCES
from medtwin.services.training import guard
from medtwin.services.training.builder import build_from_twin
from medtwin.services.training.checklists import checklist
from medtwin.services.training.codes import parse_code
from medtwin.services.training.templates import template
from medtwin.store.sql import SqlStore

STATUSES = ("draft", "published", "archived")
DIFFICULTIES = ("introductory", "intermediate", "advanced")
STAGES = ("presenting", "history", "examination")
SCORING = {
    "weights": {"diagnosis": 30.0, "management": 50.0, "outcome": 20.0},
    "diagnosis_credit": {"exact": 100.0, "category": 60.0, "differential": [40.0, 30.0, 20.0, 10.0, 5.0]},
    "horizon_min": 30.0,
}  # the default scoring policy (weights are educational choices, editable per case)
TEXT_MAX = 4000


def _base(condition: str, *, title: str | None, specialty: str | None, difficulty: str | None,
          tags: list[str] | None, seed: int) -> dict[str, Any]:  # fmt: skip
    c, tpl = get_condition(condition), template(condition)
    items = checklist(condition)
    return {
        "title": title or tpl["title"],
        "condition": condition,
        "specialty": specialty or tpl["specialty"],
        "difficulty": difficulty or tpl["difficulty"],
        "tags": list(tags or [tpl["specialty"], tpl["difficulty"]]),
        "status": "draft",
        "max_minutes": 180.0,
        "stages": {k: tpl[k] for k in STAGES},
        "patient": {},
        "timeline": {"vitals": [], "labs": []},
        "imaging": [],
        "labs": dict(tpl["labs"]),
        "reports": dict(tpl["reports"]),
        "diagnosis": {
            **parse_code(c.icd10).as_dict(),
            "display": c.icd10_display,
            "source": "condition default",
        },
        "accepted": [],
        "real": {"treatment": [], "observed": [], "outcome_text": tpl["outcome"]},
        "teaching": [{"text": t, "source": s, "citation": SOURCES[s]} for t, s in tpl["teaching"]],
        "physiology": PatientSpec(condition, c.default_severity, seed).as_dict(),
        "scoring": {**copy.deepcopy(SCORING), "items": items["items"], "penalties": items["penalties"]},
        "sources": sorted(set(c.sources) | {s for _t, s in tpl["teaching"]} | {"medbiq_vp", "rcp_news2"}),
    }


def from_template(condition: str, *, title: str | None = None, specialty: str | None = None,
                  difficulty: str | None = None, tags: list[str] | None = None, seed: int = 0,
                  severity: float | None = None) -> dict[str, Any]:  # fmt: skip
    """A synthetic case: the template's narrative and typical treatment, default physiology."""
    case = _base(condition, title=title, specialty=specialty, difficulty=difficulty, tags=tags, seed=seed)
    if severity is not None:
        case["physiology"]["severity"] = float(severity)
        PatientSpec.from_dict(case["physiology"])  # validates
    case["real"]["treatment"] = [
        {"t": float(t), "kind": k, "params": p, "label": describe(k, p), "replayed": True}
        for t, k, p in template(condition)["real_treatment"]
    ]
    case["source"] = {"kind": "template", "synthetic": True}
    case["guard"] = []
    return case


def from_twin(store: SqlStore, twin_id: str, *, condition: str | None = None, diagnosis: Any = None,
              title: str | None = None, specialty: str | None = None, difficulty: str | None = None,
              tags: list[str] | None = None, presentation_min: float | None = None, seed: int = 0,
              accepted: list[Any] | None = None, as_of: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """A case from a real twin, through the de-identified export; refused if an identifier remains."""
    built, sealed = build_from_twin(
        store, twin_id, condition=condition, diagnosis=diagnosis, presentation_min=presentation_min,
        seed=seed, as_of=as_of,
    )  # fmt: skip
    case = _base(
        built["condition"], title=title, specialty=specialty, difficulty=difficulty, tags=tags, seed=seed
    )
    for k in ("patient", "timeline", "imaging", "diagnosis", "physiology", "source"):
        case[k] = built[k]
    case["labs"].update(built["labs"])
    case["real"].update(built["real"])
    case["real"]["outcome_text"] = "See the observed course after presentation."
    before = [a for a in case["real"]["treatment"] if a["t"] < 0]
    if before:
        case["stages"]["history"] += (
            " Treatment before presentation: "
            + "; ".join(f"{a['label']} ({-a['t']:.0f} min earlier)" for a in before)
            + "."
        )
    case["accepted"] = [parse_code(a, "accepted").as_dict() for a in accepted or []]
    guard.check(case, sealed)
    case["guard"] = sealed
    return case


def apply_edit(case: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``case`` with the educator's ``patch`` applied and validated (fields named)."""
    out = copy.deepcopy(case)
    allowed = {"title", "specialty", "difficulty", "tags", "status", "stages", "labs", "reports", "diagnosis",
               "accepted", "outcome_text", "teaching", "severity", "seed", "params", "max_minutes", "scoring"}  # fmt: skip
    unknown = set(patch) - allowed
    if unknown:
        raise ValidationError(f"cannot edit {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    for k in ("title", "specialty"):
        if k in patch:
            out[k] = _text(patch[k], k, 200)
    if "difficulty" in patch:
        out["difficulty"] = _choice(patch["difficulty"], DIFFICULTIES, "difficulty")
    if "status" in patch:
        out["status"] = _choice(patch["status"], STATUSES, "status")
    if "tags" in patch:
        if not isinstance(patch["tags"], list) or len(patch["tags"]) > 20:
            raise ValidationError("tags is a list of up to 20 words", field="tags")
        out["tags"] = [_text(t, "tags", 40) for t in patch["tags"]]
    if "stages" in patch:
        if not isinstance(patch["stages"], dict) or set(patch["stages"]) - set(STAGES):
            raise ValidationError(f"stages has {', '.join(STAGES)}", field="stages")
        for k, v in patch["stages"].items():
            out["stages"][k] = _text(v, f"stages.{k}", TEXT_MAX)
    if "labs" in patch:
        from medtwin.services.training.investigations import ANALYTES

        if not isinstance(patch["labs"], dict) or set(patch["labs"]) - set(ANALYTES):
            raise ValidationError(f"labs keys are {', '.join(ANALYTES)}", field="labs")
        for k, v in patch["labs"].items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValidationError("must be a number", field=f"labs.{k}")
            out["labs"][k] = float(v)
    if "reports" in patch:
        if not isinstance(patch["reports"], dict):
            raise ValidationError("reports maps an investigation to its report text", field="reports")
        out["reports"].update({k: _text(v, f"reports.{k}", TEXT_MAX) for k, v in patch["reports"].items()})
    if "diagnosis" in patch:
        out["diagnosis"] = {**parse_code(patch["diagnosis"], "diagnosis").as_dict(), "source": "educator"}
    if "accepted" in patch:
        out["accepted"] = [parse_code(a, "accepted").as_dict() for a in list(patch["accepted"] or [])[:20]]
    if "outcome_text" in patch:
        out["real"]["outcome_text"] = _text(patch["outcome_text"], "outcome_text", TEXT_MAX)
    if "teaching" in patch:
        out["teaching"] = [
            {"text": _text(t, "teaching", 500), "source": ""} for t in list(patch["teaching"])[:20]
        ]
    if "severity" in patch or "seed" in patch or "params" in patch:
        phys = dict(out["physiology"])
        phys.update({k: patch[k] for k in ("severity", "seed") if k in patch})
        if "params" in patch:
            if not isinstance(patch["params"], dict):
                raise ValidationError(
                    "params maps a choice (GET /api/training/catalogue) to a value", field="params"
                )
            unknown_p = set(patch["params"]) - set(CHOICES) - set(phys.get("params") or {})
            if unknown_p:
                raise ValidationError(f"no parameter {sorted(unknown_p)[0]!r}", field="params")
            phys["params"] = {**(phys.get("params") or {}), **patch["params"]}
        try:
            out["physiology"] = {
                **PatientSpec.from_dict(phys).as_dict(),
                "calibration": phys.get("calibration"),
            }
        except (TypeError, ValueError) as exc:
            raise ValidationError(str(exc), field="severity") from None
    if "max_minutes" in patch:
        v = patch["max_minutes"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 10 <= v <= 720:
            raise ValidationError("must be within 10-720 minutes", field="max_minutes")
        out["max_minutes"] = float(v)
    if "scoring" in patch:
        out["scoring"] = _scoring(out["scoring"], patch["scoring"])
    guard.check({k: patch[k] for k in patch}, case.get("guard", []), field="")
    return out


def _scoring(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise ValidationError("scoring is an object", field="scoring")
    out = copy.deepcopy(current)
    if "weights" in patch:
        w = patch["weights"]
        if not isinstance(w, dict) or set(w) != {"diagnosis", "management", "outcome"} or any(
            isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in w.values()
        ) or sum(w.values()) <= 0:  # fmt: skip
            raise ValidationError(
                "weights: diagnosis, management, outcome (numbers >= 0)", field="scoring.weights"
            )
        out["weights"] = {k: float(v) for k, v in w.items()}
    if "danger" in patch:
        d = patch["danger"]
        if not isinstance(d, dict) or set(d) - set(DANGER_KEYS) or any(
            isinstance(v, bool) or not isinstance(v, int | float) for v in d.values()
        ):  # fmt: skip
            raise ValidationError(
                f"danger maps {', '.join(DANGER_KEYS)} to a threshold", field="scoring.danger"
            )
        out["danger"] = {k: float(v) for k, v in d.items()}
    for key in ("items", "penalties"):
        if key in patch:
            if not isinstance(patch[key], list) or not all(
                isinstance(i, dict) and "id" in i for i in patch[key]
            ):
                raise ValidationError(
                    f"{key} is a list of checklist entries with an id", field=f"scoring.{key}"
                )
            out[key] = patch[key]
    return out


def _text(v: Any, field: str, n: int) -> str:
    if not isinstance(v, str) or len(v) > n:
        raise ValidationError(f"must be text of at most {n} characters", field=field)
    return v.strip()


def _choice(v: Any, options: tuple[str, ...], field: str) -> str:
    if v not in options:
        raise ValidationError(f"must be one of {', '.join(options)}", field=field)
    return str(v)


def validate_imported(case: dict[str, Any]) -> None:
    """An imported case must have the shape the player needs (fields named when it does not)."""
    for k in ("title", "specialty"):
        _text(case.get(k), k, 200)
    _choice(case.get("difficulty"), DIFFICULTIES, "difficulty")
    if not isinstance(case.get("stages"), dict):
        raise ValidationError("stages is an object", field="stages")
    for k in STAGES:
        _text(case["stages"].get(k), f"stages.{k}", TEXT_MAX)
    try:
        PatientSpec.from_dict(case.get("physiology") or {})
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(str(exc), field="physiology") from None
    _scoring(case.get("scoring") or {}, {"weights": (case.get("scoring") or {}).get("weights")})


def educator_view(case: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in case.items() if k != "guard"}


def trainee_summary(case: dict[str, Any]) -> dict[str, Any]:
    """What a trainee sees in the library: no diagnosis, condition, physiology or real course."""
    return {
        "id": case["id"], "title": case["title"], "specialty": case.get("specialty", ""),
        "difficulty": case.get("difficulty", ""), "tags": case.get("tags", []),
        "patient": {k: case.get("patient", {}).get(k) for k in ("sex", "age")},
        "presenting": case["stages"]["presenting"], "max_minutes": case.get("max_minutes", 180.0),
    }  # fmt: skip
