"""Live early-warning scores: NEWS2, qSOFA and MEWS recomputed as readings arrive.

Sources of the scores (the pure functions in :mod:`medtwin.models.scores`, used unchanged):
Royal College of Physicians, *National Early Warning Score (NEWS) 2*, London: RCP, 2017
(Charts 1, 2 and 4); Seymour CW et al., JAMA 2016;315(8):762-774 (qSOFA); Subbe CP et al.,
QJM 2001;94(10):521-526 (MEWS). Which readings count and for how long: :mod:`.stale`.

Pipeline. The service subscribes to :class:`~medtwin.core.events.ObservationsRecorded`. The
handler runs in the writer's thread, so it only notes which patients got a new *input* reading
(rr, spo2, sbp, hr, temp, acvpu, gcs, o2_device, o2_flow, fio2; never a derived observation, so
the service does not react to its own scores) and wakes the service's own thread. That thread
takes every patient noted since its last round (several readings of one patient coalesce into
one computation), reads their latest state with one query of the store's ``latest`` table
(restricted to the input codes), picks the fresh
inputs, scores, and stores each score through ``runtime.writer`` as a derived observation:

* code ``snomed|1104051000000101`` (NEWS2), ``medtwin|qsofa``, ``medtwin|mews``; unit ``{score}``;
  method ``derived``; source ``medtwin:scores``; effective time = the assessment time (the newest
  input's time);
* ``source_id = "<patient>/<score>/<hash>"`` where the hash covers the score, the NEWS2 scale
  and the ids of the input readings (plus which inputs were stale or invalid): computing again
  from the same readings gives the same key, which the store's idempotency index drops;
* ``meta`` = provenance and interpretation: ``band``, ``partial``, ``missing``, ``stale``,
  ``subscores``, ``derived_from`` (the input observation ids), ``inputs`` (parameter -> id), and
  for NEWS2 ``single_parameter_3``, ``monitoring_frequency``, ``response`` (Chart 4) and
  ``scale``; qSOFA adds ``positive`` and ``criteria``, MEWS ``higher_risk``.

After the commit it publishes ``Generic(type="score", data={"twin", "score", "value", "band",
"previous_band", "partial", "missing", "stale", "single_parameter_3", "obs_id", "time",
"derived_from"})`` for each stored score.

NEWS2 SpO2 scale: the patient twin's ``attributes["news2_scale"]`` (1 or 2, set by a clinician
through ``PUT /api/twins/{id}/monitoring-settings``); 1 when absent. Consciousness: the latest
ACVPU (NEWS2, qSOFA; MEWS uses AVPU, on which "C" has no score, so it is then missing). qSOFA
mentation: GCS and/or ACVPU.

Rate limit. A score whose clinical content changed (value, band, single-parameter-3 flag,
partial/missing/stale set or scale) is stored at once. When only the input readings changed
(a new heart rate in the same band) the score is stored at most once per ``min_interval_s`` per
patient and score (default 5 s), so 1,000 patients at 1 Hz cost at most 600 score rows/s; the
newest inputs are stored when the interval ends, even if no reading arrives meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from medtwin.core.clock import from_us
from medtwin.core.errors import ValidationError
from medtwin.core.events import Context, Generic, ObservationsRecorded, TwinChanged
from medtwin.core.model import Method, Observation, TwinKind
from medtwin.services.monitoring.compute import (
    ACTOR,
    SCORE_REFS,
    SCORES,
    SOURCE,
    ScoreOutcome,
    ScoringConfig,
    compute_mews,
    compute_news2,
    compute_qsofa,
    compute_scores,
    scale_of,
)
from medtwin.services.monitoring.stale import INPUT_REFS
from medtwin.store.sql import SqlStore

__all__ = [
    "ACTOR",
    "CORRECTION_EVENT",
    "SCORES",
    "SCORE_REFS",
    "SOURCE",
    "ScoreOutcome",
    "ScoringConfig",
    "ScoringService",
    "compute_mews",
    "compute_news2",
    "compute_qsofa",
    "compute_scores",
    "scale_of",
    "start_scoring",
]

log = logging.getLogger(__name__)
_METHODS = {m.value: m for m in Method}


def latest_inputs(store: SqlStore, twin_ids: Sequence[str]) -> dict[str, dict[str, Observation]]:
    """The latest state of these twins, score inputs only: twin -> code ref -> observation.

    The store's ``latest`` table joined to the observation's method, without the rows a score
    does not read (its own earlier scores with their large meta, activity, notes...). The
    observations carry what scoring reads: id, code, time, value, method."""
    out: dict[str, dict[str, Observation]] = {t: {} for t in twin_ids}
    if not twin_ids:
        return out
    ph = store.ph
    codes = list(INPUT_REFS)
    sql = (
        "SELECT l.twin_id, l.code, l.obs_id, l.t_us, l.value, l.value_text, l.unit, o.method, o.source "
        "FROM latest l JOIN observations o ON o.id = l.obs_id "
        f"WHERE l.twin_id IN ({', '.join([ph] * len(twin_ids))}) AND l.code IN ({', '.join([ph] * len(codes))})"
    )
    with store.engine.connect() as c:
        rows = c.exec_driver_sql(sql, (*twin_ids, *codes)).fetchall()
    for twin, code, oid, t_us, value, text_, unit, method, source in rows:
        when = from_us(int(t_us))
        out[twin][code] = Observation(
            twin_id=twin,
            code=code,
            effective=when,
            received=when,
            source=source,
            source_id="",
            value=value,
            value_text=text_,
            unit=unit,
            method=_METHODS.get(method, Method.DEVICE),
            id=int(oid),
        )
    return out


CORRECTION_EVENT = "observation_corrected"  # Generic type the charting service publishes after a correction


# ---------------------------------------------------------------------------------- the service
@dataclass(slots=True)
class _Inflight:
    future: Future[Any]
    pending: list[ScoreOutcome]
    previous: list[_Last | None]
    now: datetime
    context: Context


@dataclass(slots=True)
class _Last:
    key: str
    signature: tuple[Any, ...]
    band: str
    stored_at: datetime


class ScoringService:
    """Recompute scores per patient on new readings, in a thread of its own.

    ``ScoringService(config).attach(runtime).start()``; ``stop()`` drains what is pending.
    """

    def __init__(self, config: ScoringConfig | None = None) -> None:
        self.config = config or ScoringConfig()
        self.rt: Any = None
        self._relevant = frozenset(INPUT_REFS)
        self._cv = threading.Condition()
        # patient -> trigger: None for new readings; a text for a correction or a settings change,
        # which forces a new assessment (stored even if rate-limited or equal to an earlier one)
        self._dirty: dict[str, str | None] = {}
        self._due: dict[str, datetime] = {}  # patient -> when rate-limited work becomes due
        self._busy = False
        self._inflight: _Inflight | None = None  # the round whose commit is awaited
        self._stop = False
        self._thread: threading.Thread | None = None
        self._unsubs: list[Callable[[], None]] = []
        self._proc_lock = threading.Lock()
        self._last: dict[tuple[str, str], _Last] = {}
        self._scales: dict[str, tuple[int, str | None]] = {}
        self._not_patients: set[str] = set()  # rooms and homes can hold readings too: never scored
        # metrics
        self.computed = 0
        self.stored = 0
        self.rounds = 0
        self.errors = 0

    # ------------------------------------------------------------------ lifecycle
    def attach(self, runtime: Any) -> ScoringService:
        """Bind to a :class:`~medtwin.runtime.Runtime`: subscribe to its bus, register as a service."""
        if self.rt is not None:
            return self
        self.rt = runtime
        if "scoring" in runtime.settings.extra and self.config == ScoringConfig():
            self.config = ScoringConfig.from_mapping(runtime.settings.extra["scoring"])
        bus = runtime.bus
        self._unsubs = [
            bus.subscribe(ObservationsRecorded, self._on_observations),
            bus.subscribe(TwinChanged, self._on_twin),
            bus.subscribe(Generic, self._on_generic),
        ]
        runtime.services["scoring"] = self
        runtime.add_stopper(self.stop)
        return self

    def start(self) -> ScoringService:
        if self.rt is None:
            raise RuntimeError("attach(runtime) first")
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="medtwin-scoring", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        for u in self._unsubs:
            u()
        self._unsubs = []
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is pending (deferred work that is not yet due does not count)."""
        stop_at = time.monotonic() + timeout
        with self._cv:
            while self._dirty or self._busy or self._inflight is not None or self._ready_due():
                left = stop_at - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
        return True

    # ------------------------------------------------------------------ bus handlers (publisher's thread)
    def _on_observations(self, event: ObservationsRecorded) -> None:
        rel = self._relevant
        derived = Method.DERIVED
        ids = {o.twin_id for o in event.observations if o.code in rel and o.method is not derived}
        if ids:
            self._mark(ids)

    def _on_twin(self, event: TwinChanged) -> None:
        new = event.new
        if new is None:
            if event.old is not None:
                self._scales.pop(event.old.id, None)
            return
        if new.kind is not TwinKind.PATIENT:
            self._scales.pop(new.id, None)
            self._not_patients.add(new.id)
            return
        self._not_patients.discard(new.id)
        scale = scale_of(new)
        previous = self._scales.get(new.id)
        if previous is None and event.old is not None:
            previous = scale_of(event.old)
        self._scales[new.id] = scale
        if previous is not None and previous != scale:
            self._mark({new.id}, trigger=f"news2_scale {scale[0]} at {event.time.isoformat()}")

    def _on_generic(self, event: Generic) -> None:
        if event.type == CORRECTION_EVENT:
            twin = event.data.get("twin")
            if isinstance(twin, str):
                self._mark({twin}, trigger=f"{event.data.get('action')} {event.data.get('obs_id')}")

    def _mark(self, patients: Iterable[str], *, trigger: str | None = None) -> None:
        with self._cv:
            d = self._dirty
            for p in patients:
                old = d.get(p)
                d[p] = (
                    trigger
                    if old is None
                    else old
                    if trigger is None or trigger == old
                    else f"{old}; {trigger}"
                )
            self._cv.notify_all()

    def _ready_due(self) -> list[str]:
        if not self._due or self.rt is None:
            return []
        now = self.rt.clock.now()
        return [p for p, t in self._due.items() if t <= now]

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while True:
            with self._cv:
                ready: list[str] = []
                while not self._dirty and self._inflight is None:
                    ready = self._ready_due()
                    if ready or self._stop:
                        break
                    self._cv.wait(self.config.poll_s)
                if not self._dirty and not ready and self._inflight is None and self._stop:
                    return
                batch, self._dirty = self._dirty, {}
                for p in ready:
                    batch.setdefault(p, None)
                    self._due.pop(p, None)
                self._busy = True
            try:
                with self._proc_lock:
                    pending, now = self._decide(batch, None) if batch else ([], self.rt.clock.now())
                    # At most one commit in flight: this round was computed while the previous
                    # round's scores were being committed; announce those, then submit these.
                    if self._inflight is not None:
                        inflight, self._inflight = self._inflight, None
                        self._finish(inflight)
                    if pending:
                        self._inflight = self._submit(pending, now)
            except Exception:
                self.errors += 1
                log.exception("scoring round failed (%d patients)", len(batch))
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def process(
        self, patients: Mapping[str, str | None] | Iterable[str], *, trigger: str | None = None
    ) -> list[Observation]:
        """Compute, store and announce the scores of these patients now; returns what was stored.

        ``trigger`` (or a patient's value in a mapping) names why the inputs' meaning changed (a
        correction, a scale change): the scores are then stored as a new assessment even when
        rate-limited or identical to an earlier one, with ``meta["trigger"]``."""
        if not isinstance(patients, Mapping):
            patients = dict.fromkeys(patients, trigger)
        with self._proc_lock:
            pending, now = self._decide(patients, trigger)
            return self._finish(self._submit(pending, now)) if pending else []

    def _scale(self, patient: str) -> tuple[int, str | None] | None:
        """The NEWS2 scale of a patient twin (cached); None for a twin that is not a patient."""
        if patient in self._not_patients:
            return None
        hit = self._scales.get(patient)
        if hit is None:
            twin = self.rt.store.get_twin(patient)
            if twin is None or twin.kind is not TwinKind.PATIENT:
                self._not_patients.add(patient)
                return None
            hit = self._scales[patient] = scale_of(twin)
        return hit

    def _decide(
        self, patients: Mapping[str, str | None], trigger: str | None
    ) -> tuple[list[ScoreOutcome], datetime]:
        """Compute the scores of these patients; return those to store now (the rest is deferred)."""
        self.rounds += 1
        rt = self.rt
        now: datetime = rt.clock.now()
        interval = timedelta(seconds=self.config.min_interval_s)
        pending: list[ScoreOutcome] = []
        ids = list(patients)
        n = max(1, self.config.batch_patients)
        for i in range(0, len(ids), n):
            chunk = ids[i : i + n]
            latest = latest_inputs(rt.store, chunk)
            for p in chunk:
                state = latest.get(p)
                if not state:
                    continue
                patient_scale = self._scale(p)
                if patient_scale is None:
                    continue
                scale, note = patient_scale
                why = patients[p] or trigger
                try:
                    outcomes = compute_scores(
                        p, state, now=now, config=self.config, scale=scale, scale_note=note, trigger=why
                    )
                except ValidationError:
                    self.errors += 1
                    log.warning("a patient's scores could not be computed (invalid input)")
                    continue
                self.computed += len(outcomes)
                for oc in outcomes:
                    last = self._last.get((p, oc.score))
                    if last is not None and last.key == oc.key:
                        continue
                    if (
                        last is None
                        or why
                        or last.signature != oc.signature
                        or now - last.stored_at >= interval
                    ):
                        pending.append(oc)
                    else:
                        due = last.stored_at + interval
                        with self._cv:
                            if p not in self._due or self._due[p] > due:
                                self._due[p] = due
        return pending, now

    def _submit(self, pending: list[ScoreOutcome], now: datetime) -> _Inflight:
        """Hand the scores to the writer. The in-memory last score is updated at once (so the next
        round's rate limit sees it) and put back if the commit fails."""
        previous: list[_Last | None] = []
        for oc in pending:
            k = (oc.observation.twin_id, oc.score)
            previous.append(self._last.get(k))
            self._last[k] = _Last(oc.key, oc.signature, oc.band, now)
        ctx = Context(actor=ACTOR)
        fut = self.rt.writer.submit([oc.observation for oc in pending], context=ctx)
        return _Inflight(fut, pending, previous, now, ctx)

    def _finish(self, inf: _Inflight) -> list[Observation]:
        """Wait for the commit, then announce each newly stored score on the bus."""
        try:
            ack = inf.future.result(self.config.commit_timeout_s)
        except Exception:
            self.errors += 1
            log.warning("storing %d scores failed; they will be recomputed", len(inf.pending))
            for oc, prev in zip(inf.pending, inf.previous, strict=True):
                k = (oc.observation.twin_id, oc.score)
                cur = self._last.get(k)
                if cur is not None and cur.key == oc.key:
                    if prev is None:
                        self._last.pop(k, None)
                    else:
                        self._last[k] = prev
            self._mark({oc.observation.twin_id for oc in inf.pending})
            return []
        accepted = {o.source_id: o for o in ack.accepted}
        events: list[Generic] = []
        for oc, prev in zip(inf.pending, inf.previous, strict=True):
            stored = accepted.get(oc.key)
            if stored is None:  # already in the store (same inputs computed before a restart)
                continue
            meta = stored.meta or {}
            events.append(
                Generic(
                    time=inf.now,
                    context=inf.context,
                    type="score",
                    data={
                        "twin": stored.twin_id,
                        "score": oc.score,
                        "value": oc.value,
                        "band": oc.band,
                        "previous_band": prev.band if prev else None,
                        "partial": meta.get("partial", False),
                        "missing": meta.get("missing", []),
                        "stale": meta.get("stale", []),
                        "single_parameter_3": meta.get("single_parameter_3"),
                        "obs_id": stored.id,
                        "code": stored.code,
                        "time": stored.effective.isoformat().replace("+00:00", "Z"),
                        "derived_from": meta.get("derived_from", []),
                    },
                )
            )
        self.stored += len(accepted)
        for ev in events:
            with contextlib.suppress(Exception):
                self.rt.bus.publish(ev)
        return list(accepted.values())

    def last_scores(self, patient: str) -> dict[str, str]:
        """The band last stored for each score of a patient (in memory; for dashboards and tests)."""
        return {s: last.band for (p, s), last in list(self._last.items()) if p == patient}


def start_scoring(runtime: Any, _loop: Any = None) -> None:
    """Start hook for :func:`medtwin.api.app.create_app` (``on_start``) and workers: attach the
    scoring service to the runtime (once) and start its thread."""
    svc = runtime.services.get("scoring")
    if not isinstance(svc, ScoringService):
        svc = ScoringService().attach(runtime)
    svc.start()  # returns None: create_app awaits a hook result that is not None
