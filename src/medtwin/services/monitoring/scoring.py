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
one computation), reads their latest state with one ``store.latest_many`` query, picks the fresh
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
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ValidationError
from medtwin.core.events import Context, Generic, ObservationsRecorded, TwinChanged
from medtwin.core.model import Method, Observation, ObsStatus, Twin, TwinKind
from medtwin.models.scores import SUBBE_2001, MewsBoundaries, score_mews, score_news2, score_qsofa
from medtwin.services.monitoring.stale import DEFAULT_MAX_AGE_S, INPUT_REFS, OXYGEN_KEYS, Inputs, gather

log = logging.getLogger(__name__)

SOURCE = "medtwin:scores"
ACTOR = "service:scoring"
SCORES: tuple[str, ...] = ("news2", "qsofa", "mews")
SCORE_REFS: dict[str, str] = {s: BY_KEY[s].ref for s in SCORES}
SCORE_UNIT = "{score}"
CORRECTION_EVENT = "observation_corrected"  # Generic type published by the charting service

# score parameter -> the code keys (medtwin.core.codes) that can supply it
NEWS2_PARAMS: dict[str, tuple[str, ...]] = {
    "rr": ("rr",),
    "spo2": ("spo2",),
    "air_or_oxygen": OXYGEN_KEYS,
    "sbp": ("sbp",),
    "hr": ("hr",),
    "consciousness": ("acvpu",),
    "temp": ("temp",),
}
QSOFA_PARAMS: dict[str, tuple[str, ...]] = {"rr": ("rr",), "sbp": ("sbp",), "mentation": ("gcs", "acvpu")}
MEWS_PARAMS: dict[str, tuple[str, ...]] = {
    "sbp": ("sbp",),
    "hr": ("hr",),
    "rr": ("rr",),
    "temp": ("temp",),
    "avpu": ("acvpu",),
}
# score function argument -> (parameter name in provenance, code key supplying it)
NEWS2_ARGS: dict[str, tuple[str, str]] = {
    "rr": ("rr", "rr"),
    "spo2": ("spo2", "spo2"),
    "on_oxygen": ("air_or_oxygen", "oxygen"),
    "sbp": ("sbp", "sbp"),
    "hr": ("hr", "hr"),
    "consciousness": ("consciousness", "acvpu"),
    "temp": ("temp", "temp"),
}
QSOFA_ARGS: dict[str, tuple[str, str]] = {
    "rr": ("rr", "rr"),
    "sbp": ("sbp", "sbp"),
    "gcs": ("mentation.gcs", "gcs"),
    "consciousness": ("mentation.acvpu", "acvpu"),
}
MEWS_ARGS: dict[str, tuple[str, str]] = {
    "sbp": ("sbp", "sbp"),
    "hr": ("hr", "hr"),
    "rr": ("rr", "rr"),
    "temp": ("temp", "temp"),
    "avpu": ("avpu", "acvpu"),
}
MEWS_HIGHER_RISK, MEWS_LOWER_RISK = "higher-risk", "lower-risk"
QSOFA_POSITIVE, QSOFA_NEGATIVE = "positive", "negative"


@dataclass
class ScoringConfig:
    """Settings of the live scores (``settings.extra["scoring"]`` may override any field)."""

    max_age_s: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MAX_AGE_S))
    device_max_age_s: float | None = None  # also cap device readings' age (None: per-parameter only)
    min_interval_s: float = 5.0  # per patient and score, when nothing clinically relevant changed
    scores: tuple[str, ...] = SCORES
    mews_boundaries: MewsBoundaries = SUBBE_2001
    batch_patients: int = 500  # patients per latest-state query
    poll_s: float = 0.2  # how often the thread checks deferred (rate-limited) work
    commit_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        unknown = [s for s in self.scores if s not in SCORES]
        if unknown:
            raise ValidationError(
                f"unknown score {unknown[0]!r} (known: {', '.join(SCORES)})", field="scores"
            )
        if self.min_interval_s < 0:
            raise ValidationError("must be >= 0", field="min_interval_s")
        for k, v in self.max_age_s.items():
            if not v > 0:
                raise ValidationError(f"maximum age of {k} must be > 0 s", field="max_age_s")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> ScoringConfig:
        raw = dict(raw or {})
        ages = dict(DEFAULT_MAX_AGE_S)
        ages.update({str(k): float(v) for k, v in dict(raw.pop("max_age_s", {}) or {}).items()})
        if "scores" in raw:
            raw["scores"] = tuple(raw["scores"])
        return cls(max_age_s=ages, **raw)


@dataclass(frozen=True, slots=True)
class ScoreOutcome:
    """One computed score, ready to store."""

    score: str
    value: int
    band: str
    signature: tuple[Any, ...]  # what makes a change clinically relevant
    observation: Observation

    @property
    def key(self) -> str:
        return self.observation.source_id


# ---------------------------------------------------------------------------------- computing
def _run_dropping_invalid(
    fn: Callable[..., Any], args: dict[str, Any], arg_of_field: Mapping[str, str]
) -> tuple[Any, dict[str, str]]:
    """Call a score function; an input it refuses (ValidationError naming it) is dropped as missing."""
    invalid: dict[str, str] = {}
    for _ in range(len(args) + 1):
        try:
            return fn(**args), invalid
        except ValidationError as exc:
            arg = arg_of_field.get(exc.field or "", exc.field or "")
            if arg not in args or args[arg] is None:
                raise
            invalid[exc.field or arg] = exc.reason
            args[arg] = None
    raise AssertionError("unreachable")  # pragma: no cover


def _used(inputs: Inputs, args: Mapping[str, Any], arg_keys: Mapping[str, tuple[str, str]]) -> dict[str, int]:
    """Parameter -> id of the reading that was scored (after invalid inputs were dropped).

    ``arg_keys`` maps a score function argument to (parameter name, code key); the code key
    ``"oxygen"`` stands for the reading that decided air or oxygen."""
    out: dict[str, int] = {}
    for arg, (param, key) in arg_keys.items():
        if args.get(arg) is None:
            continue
        o = inputs.oxygen_from if key == "oxygen" else inputs.fresh.get(key)
        if o is not None and o.id is not None:
            out[param] = o.id
    return out


def _stale(inputs: Inputs, params: Mapping[str, tuple[str, ...]], missing: Iterable[str]) -> list[str]:
    """Missing parameters whose latest reading exists but is too old."""
    return [p for p in missing if p in params and any(k in inputs.stale for k in params[p])]


def _source_id(patient: str, score: str, used: Mapping[str, int], extra: tuple[Any, ...]) -> str:
    blob = repr((score, sorted(used.items()), extra)).encode()
    return f"{patient}/{score}/{hashlib.blake2b(blob, digest_size=8).hexdigest()}"


def _obs(
    patient: str, score: str, value: int, inputs: Inputs, now: datetime, source_id: str, meta: dict[str, Any]
) -> Observation:
    assert inputs.ref_time is not None
    return Observation(
        twin_id=patient,
        code=SCORE_REFS[score],
        effective=inputs.ref_time,
        received=now,
        source=SOURCE,
        source_id=source_id,
        value=float(value),
        unit=SCORE_UNIT,
        method=Method.DERIVED,
        status=ObsStatus.FINAL,
        meta=meta,
    )


def compute_news2(
    patient: str, inputs: Inputs, *, scale: int, now: datetime, scale_note: str | None = None
) -> ScoreOutcome | None:
    args: dict[str, Any] = {
        "rr": inputs.value("rr"),
        "spo2": inputs.value("spo2"),
        "on_oxygen": inputs.on_oxygen,
        "sbp": inputs.value("sbp"),
        "hr": inputs.value("hr"),
        "consciousness": inputs.text("acvpu"),
        "temp": inputs.value("temp"),
    }
    if all(v is None for v in args.values()):
        return None
    res, invalid = _run_dropping_invalid(
        lambda **a: score_news2(scale=scale, **a), args, {"air_or_oxygen": "on_oxygen"}
    )
    used = _used(inputs, args, NEWS2_ARGS)
    stale = _stale(inputs, NEWS2_PARAMS, res.missing)
    meta: dict[str, Any] = {
        "band": res.band.value,
        "single_parameter_3": res.single_parameter_3,
        "partial": res.partial,
        "missing": list(res.missing),
        "stale": stale,
        "subscores": dict(res.subscores),
        "derived_from": sorted(set(used.values())),
        "inputs": used,
        "monitoring_frequency": res.monitoring_frequency,
        "response": res.response,
        "scale": res.scale,
    }
    if invalid:
        meta["invalid"] = invalid
    if scale_note:
        meta["scale_note"] = scale_note
    sig = (res.score, res.band.value, res.single_parameter_3, res.partial, res.missing, tuple(stale), scale)
    sid = _source_id(patient, "news2", used, (scale, tuple(stale), tuple(sorted(invalid))))
    return ScoreOutcome(
        "news2", res.score, res.band.value, sig, _obs(patient, "news2", res.score, inputs, now, sid, meta)
    )


def compute_qsofa(patient: str, inputs: Inputs, *, now: datetime) -> ScoreOutcome | None:
    args: dict[str, Any] = {
        "rr": inputs.value("rr"),
        "sbp": inputs.value("sbp"),
        "gcs": inputs.value("gcs"),
        "consciousness": inputs.text("acvpu"),
    }
    if all(v is None for v in args.values()):
        return None
    res, invalid = _run_dropping_invalid(score_qsofa, args, {})
    used = _used(inputs, args, QSOFA_ARGS)
    band = QSOFA_POSITIVE if res.positive else QSOFA_NEGATIVE
    stale = _stale(inputs, QSOFA_PARAMS, res.missing)
    meta: dict[str, Any] = {
        "band": band,
        "positive": res.positive,
        "partial": res.partial,
        "missing": list(res.missing),
        "stale": stale,
        "subscores": {k: (None if v is None else int(v)) for k, v in res.criteria.items()},
        "criteria": dict(res.criteria),
        "derived_from": sorted(set(used.values())),
        "inputs": used,
    }
    if invalid:
        meta["invalid"] = invalid
    sig = (res.score, band, res.partial, res.missing, tuple(stale))
    sid = _source_id(patient, "qsofa", used, (tuple(stale), tuple(sorted(invalid))))
    return ScoreOutcome(
        "qsofa", res.score, band, sig, _obs(patient, "qsofa", res.score, inputs, now, sid, meta)
    )


def compute_mews(
    patient: str, inputs: Inputs, *, now: datetime, boundaries: MewsBoundaries = SUBBE_2001
) -> ScoreOutcome | None:
    avpu = inputs.text("acvpu")
    not_scored: dict[str, str] = {}
    if avpu == "C":  # new confusion is on ACVPU (NEWS2) but has no AVPU score in Subbe 2001
        not_scored["avpu"] = "ACVPU 'C' (new confusion) has no MEWS (AVPU) score"
        avpu = None
    args: dict[str, Any] = {
        "sbp": inputs.value("sbp"),
        "hr": inputs.value("hr"),
        "rr": inputs.value("rr"),
        "temp": inputs.value("temp"),
        "avpu": avpu,
    }
    if all(v is None for v in args.values()):
        return None
    res, invalid = _run_dropping_invalid(lambda **a: score_mews(boundaries=boundaries, **a), args, {})
    used = _used(inputs, args, MEWS_ARGS)
    band = MEWS_HIGHER_RISK if res.higher_risk else MEWS_LOWER_RISK
    stale = _stale(inputs, MEWS_PARAMS, res.missing)
    meta: dict[str, Any] = {
        "band": band,
        "higher_risk": res.higher_risk,
        "partial": res.partial,
        "missing": list(res.missing),
        "stale": stale,
        "subscores": dict(res.subscores),
        "derived_from": sorted(set(used.values())),
        "inputs": used,
    }
    if invalid or not_scored:
        meta["invalid"] = {**invalid, **not_scored}
    sig = (res.score, band, res.partial, res.missing, tuple(stale))
    sid = _source_id(patient, "mews", used, (tuple(stale), tuple(sorted(invalid)), tuple(not_scored)))
    return ScoreOutcome(
        "mews", res.score, band, sig, _obs(patient, "mews", res.score, inputs, now, sid, meta)
    )


def scale_of(twin: Twin | None) -> tuple[int, str | None]:
    """NEWS2 SpO2 scale from ``attributes["news2_scale"]``: (scale, note when the attribute is unusable)."""
    if twin is None:
        return 1, None
    raw = twin.attributes.get("news2_scale")
    if raw is None:
        return 1, None
    if not isinstance(raw, bool) and raw in (1, 2):
        return int(raw), None
    return 1, "news2_scale attribute is not 1 or 2; scale 1 used"


def compute_scores(
    patient: str,
    latest: Mapping[str, Observation],
    *,
    now: datetime,
    config: ScoringConfig,
    scale: int = 1,
    scale_note: str | None = None,
) -> list[ScoreOutcome]:
    """Every configured score of one patient from its latest state (pure: no I/O)."""
    inputs = gather(latest, now=now, max_age_s=config.max_age_s, device_max_age_s=config.device_max_age_s)
    if inputs.ref_time is None or not inputs.fresh:
        return []
    out: list[ScoreOutcome | None] = []
    if "news2" in config.scores:
        out.append(compute_news2(patient, inputs, scale=scale, now=now, scale_note=scale_note))
    if "qsofa" in config.scores:
        out.append(compute_qsofa(patient, inputs, now=now))
    if "mews" in config.scores:
        out.append(compute_mews(patient, inputs, now=now, boundaries=config.mews_boundaries))
    return [o for o in out if o is not None]


# ---------------------------------------------------------------------------------- the service
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
        self._dirty: dict[str, bool] = {}  # patient -> force (store even if rate-limited)
        self._due: dict[str, datetime] = {}  # patient -> when rate-limited work becomes due
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self._unsubs: list[Callable[[], None]] = []
        self._proc_lock = threading.Lock()
        self._last: dict[tuple[str, str], _Last] = {}
        self._scales: dict[str, tuple[int, str | None]] = {}
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
            while self._dirty or self._busy or self._ready_due():
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
            self._mark(ids, force=False)

    def _on_twin(self, event: TwinChanged) -> None:
        new = event.new
        if new is None:
            if event.old is not None:
                self._scales.pop(event.old.id, None)
            return
        if new.kind is not TwinKind.PATIENT:
            return
        scale = scale_of(new)
        previous = self._scales.get(new.id)
        if previous is None and event.old is not None:
            previous = scale_of(event.old)
        self._scales[new.id] = scale
        if previous is not None and previous != scale:
            self._mark({new.id}, force=True)

    def _on_generic(self, event: Generic) -> None:
        if event.type == CORRECTION_EVENT:
            twin = event.data.get("twin")
            if isinstance(twin, str):
                self._mark({twin}, force=True)

    def _mark(self, patients: Iterable[str], *, force: bool) -> None:
        with self._cv:
            d = self._dirty
            for p in patients:
                d[p] = d.get(p, False) or force
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
                while not self._dirty:
                    ready = self._ready_due()
                    if ready or self._stop:
                        break
                    self._cv.wait(self.config.poll_s)
                if not self._dirty and not ready and self._stop:
                    return
                batch, self._dirty = self._dirty, {}
                for p in ready:
                    batch.setdefault(p, False)
                    self._due.pop(p, None)
                self._busy = True
            try:
                self.process(batch)
            except Exception:
                self.errors += 1
                log.exception("scoring round failed (%d patients)", len(batch))
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def process(
        self, patients: Mapping[str, bool] | Iterable[str], *, force: bool = False
    ) -> list[Observation]:
        """Compute, store and announce the scores of these patients now; returns what was stored."""
        if not isinstance(patients, Mapping):
            patients = dict.fromkeys(patients, force)
        stored: list[Observation] = []
        ids = list(patients)
        n = max(1, self.config.batch_patients)
        with self._proc_lock:
            self.rounds += 1
            for i in range(0, len(ids), n):
                chunk = ids[i : i + n]
                stored.extend(self._process_chunk(chunk, {p: patients[p] or force for p in chunk}))
        return stored

    def _scale(self, patient: str) -> tuple[int, str | None]:
        hit = self._scales.get(patient)
        if hit is None:
            hit = self._scales[patient] = scale_of(self.rt.store.get_twin(patient))
        return hit

    def _process_chunk(self, chunk: list[str], force: Mapping[str, bool]) -> list[Observation]:
        rt = self.rt
        latest = rt.store.latest_many(chunk)
        now: datetime = rt.clock.now()
        interval = timedelta(seconds=self.config.min_interval_s)
        pending: list[ScoreOutcome] = []
        for p in chunk:
            state = latest.get(p)
            if not state:
                continue
            scale, note = self._scale(p)
            try:
                outcomes = compute_scores(p, state, now=now, config=self.config, scale=scale, scale_note=note)
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
                    or force.get(p)
                    or last.signature != oc.signature
                    or now - last.stored_at >= interval
                ):
                    pending.append(oc)
                else:
                    due = last.stored_at + interval
                    with self._cv:
                        if p not in self._due or self._due[p] > due:
                            self._due[p] = due
        if not pending:
            return []
        return self._store(pending, now)

    def _store(self, pending: list[ScoreOutcome], now: datetime) -> list[Observation]:
        rt = self.rt
        ctx = Context(actor=ACTOR)
        fut = rt.writer.submit([oc.observation for oc in pending], context=ctx)
        try:
            ack = fut.result(self.config.commit_timeout_s)
        except Exception:
            self.errors += 1
            log.warning("storing %d scores failed; they will be recomputed", len(pending))
            self._mark({oc.observation.twin_id for oc in pending}, force=True)
            return []
        accepted = {o.source_id: o for o in ack.accepted}
        events: list[Generic] = []
        for oc in pending:
            p = oc.observation.twin_id
            previous = self._last.get((p, oc.score))
            self._last[(p, oc.score)] = _Last(oc.key, oc.signature, oc.band, now)
            stored = accepted.get(oc.key)
            if stored is None:  # already in the store (same inputs computed before a restart)
                continue
            meta = stored.meta or {}
            events.append(
                Generic(
                    time=now,
                    context=ctx.child(),
                    type="score",
                    data={
                        "twin": p,
                        "score": oc.score,
                        "value": oc.value,
                        "band": oc.band,
                        "previous_band": previous.band if previous else None,
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
                rt.bus.publish(ev)
        return list(accepted.values())

    def last_scores(self, patient: str) -> dict[str, str]:
        """The band last stored for each score of a patient (in memory; for dashboards and tests)."""
        return {s: last.band for (p, s), last in list(self._last.items()) if p == patient}
