"""TreatmentService: the twin's drug model evolves as levels arrive.

The service subscribes to :class:`~medtwin.core.events.ObservationsRecorded`. The handler runs in
the writer's thread, so it only notes which (patient, drug) pairs got a new measured level (a
LOINC code of a library drug's levels) or a new serum creatinine (which changes the renal
covariate of every drug the patient already has a fit for), and wakes the service's thread. That
thread refits each pair once per round (several levels of one patient coalesce), stores the fit
with provenance (trigger = the observation ids) and publishes
``Generic(type="treatment_fit", data={"twin", "drug", "fit_id", "model", "confidence",
"n_levels", "trigger"})``. A failing fit is logged and published as ``treatment_fit_failed`` with
the reason (e.g. a missing covariate), never retried in a loop.

It lives in ``runtime.services["treatment"]`` and also exposes the repository for the API.
"""

from __future__ import annotations

import logging
from typing import Any

from medtwin.core.codes import BY_KEY
from medtwin.core.errors import MedtwinError
from medtwin.core.events import Context, Generic, ObservationsRecorded
from medtwin.models.pharmacology.library import drug_for_code
from medtwin.services.background import BusWorker
from medtwin.services.treatment.pk import fit_twin
from medtwin.services.treatment.repository import TreatmentRepository

log = logging.getLogger(__name__)
ACTOR = "service:treatment"
CREATININE = BY_KEY["creatinine"].ref


class TreatmentService(BusWorker):
    key = "treatment"
    thread_name = "medtwin-treatment"
    stop_timeout = 30.0

    def __init__(self, runtime: Any) -> None:
        super().__init__(runtime)
        self.repo = TreatmentRepository(runtime.store)
        self._pending: dict[tuple[str, str], set[int]] = {}
        self._creatinine: dict[str, set[int]] = {}
        self.fits_done = 0
        self.failures = 0

    # ------------------------------------------------------------------ bus handler (writer thread)
    def _on_observations(self, ev: ObservationsRecorded) -> None:
        levels = [(o, d) for o in ev.observations if (d := drug_for_code(o.code)) is not None]
        creat = [o for o in ev.observations if o.code == CREATININE]
        if not levels and not creat:
            return
        with self._cv:
            for o, d in levels:
                self._pending.setdefault((o.twin_id, d.name), set()).add(int(o.id or 0))
            for o in creat:
                self._creatinine.setdefault(o.twin_id, set()).add(int(o.id or 0))
            self._cv.notify_all()

    # ------------------------------------------------------------------ worker thread
    def _take(self) -> dict[tuple[str, str], set[int]]:
        with self._cv:
            while not self._stop and not self._pending and not self._creatinine:
                self._cv.wait(1.0)
            work, self._pending = self._pending, {}
            creat, self._creatinine = self._creatinine, {}
        for twin, ids in creat.items():
            try:
                drugs = self.repo.drugs_with_fits(twin)
            except Exception:
                log.exception("treatment: cannot list fits of a twin")
                continue
            for d in drugs:
                if d != "insulin":
                    work.setdefault((twin, d), set()).update(ids)
        return work

    def _run(self) -> None:
        while not self._stop:
            work = self._take()
            for (twin, drug), ids in work.items():
                if self._stop:
                    return
                self.refit(twin, drug, trigger="observations " + ",".join(str(i) for i in sorted(ids)))

    def refit(self, twin: str, drug: str, *, trigger: str) -> dict[str, Any] | None:
        now = self.rt.clock.now()
        ctx = Context(actor=ACTOR)
        try:
            row = fit_twin(self.rt.store, self.repo, twin, drug, now=now, trigger=trigger, actor=ACTOR)
        except MedtwinError as exc:
            self.failures += 1
            log.info("treatment fit of %s for %s not possible: %s", drug, twin, exc)
            self.rt.bus.publish(
                Generic(time=now, context=ctx, type="treatment_fit_failed",
                        data={"twin": twin, "drug": drug, "reason": str(exc), "trigger": trigger})
            )  # fmt: skip
            return None
        except Exception:
            self.failures += 1
            log.exception("treatment fit failed")
            return None
        self.fits_done += 1
        self.rt.bus.publish(
            Generic(
                time=now,
                context=ctx,
                type="treatment_fit",
                data={
                    "twin": twin,
                    "drug": drug,
                    "fit_id": row["id"],
                    "model": row["model"],
                    "confidence": row["confidence"],
                    "n_levels": row["fit"]["n_levels"],
                    "trigger": trigger,
                },
            )
        )
        return row


def service_of(runtime: Any) -> TreatmentService | None:
    svc = runtime.services.get("treatment")
    return svc if isinstance(svc, TreatmentService) else None
