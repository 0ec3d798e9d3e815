"""Training cases for the demo hospital.

From the demo's deteriorating patients (``medtwin.demo.hospital.DETERIORATING``: sepsis in bed 1,
haemorrhage in beds 5 and 10, respiratory failure in bed 18) through the real case builder and
its de-identified export, once their record reaches the presentation rule (NEWS2 >= 5; the
haemorrhages of beds 5 and 10 usually develop only while the demo runs, so their cases are built by
a later call, which adds what is missing).
The demo has no patient with hypoglycaemia, opioid overdose or acute heart failure: those cases
are synthetic, from the condition templates. All are published.
"""

from __future__ import annotations

from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.demo.hospital import DETERIORATING
from medtwin.services.training import cases as C
from medtwin.services.training.builder import timeline
from medtwin.services.training.service import TrainingService

# condition of the demo scenario -> (case condition, ICD-10, codes accepted as equivalent)
_FROM_SCENARIO = {
    "sepsis": ("sepsis", "A41.9", ["R57.2"]),
    "haemorrhage": ("haemorrhage", "K92.2", ["K92.0", "K92.1"]),
    "respiratory_failure": ("respiratory_failure", "J96.0", ["J18.9"]),
}
SYNTHETIC = ("hypoglycaemia", "opioid_overdose", "acute_heart_failure")


def seed_demo_cases(svc: TrainingService, actor: str = "system:demo") -> list[dict[str, Any]]:
    """Build (or keep) the demo's cases; returns ``[{"id", "title", "source", "skipped"?}]``."""
    out: list[dict[str, Any]] = []
    existing = svc.repo.cases()
    have_templates = {c["condition"] for c in existing if c.get("source", {}).get("kind") == "template"}
    for bed, scenario in sorted(DETERIORATING.items()):
        pid = f"P{bed:03d}"
        cond, icd, accepted = _FROM_SCENARIO[scenario]
        if svc.store.get_twin(pid) is None:
            continue
        from medtwin.security.deid import Exporter, Options

        ex = Exporter(svc.store, Options(purpose="training", patients=[pid], as_of=svc.now()))
        subj = ex.subjects()
        if not subj or not any(r.get("news2", 0) >= 5 for r in timeline(subj[0].rows)):
            out.append({"twin": pid, "skipped": "no deterioration recorded yet"})
            continue
        if svc.repo.case_by_source(subj[0].sid):
            out.append({"twin": pid, "skipped": "case exists"})
            continue
        try:
            case = C.from_twin(svc.store, pid, condition=cond, diagnosis=icd, accepted=accepted, as_of=svc.now(),
                               tags=[cond.replace("_", " "), "demo", "real record"])  # fmt: skip
        except ValidationError as exc:
            out.append({"twin": pid, "skipped": str(exc)})
            continue
        case["status"] = "published"
        row = svc.repo.add_case(case, actor=actor, when=svc.now())
        out.append({"id": row["id"], "title": row["title"], "source": "twin"})
    for cond in SYNTHETIC:
        if cond in have_templates:
            continue
        case = C.from_template(cond, tags=[cond.replace("_", " "), "demo", "synthetic"])
        case["status"] = "published"
        row = svc.repo.add_case(case, actor=actor, when=svc.now())
        out.append({"id": row["id"], "title": row["title"], "source": "template"})
    return out
