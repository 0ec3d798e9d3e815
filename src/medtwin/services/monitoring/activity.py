"""Sleep and wake from movement activity, nightly sleep duration, and the room environment.

Rule (actigraphy). Cole RJ, Kripke DF, Gruen W, Mullaney DJ, Gillin JC. *Automatic sleep/wake
identification from wrist activity.* Sleep 1992;15(5):461-469. For 1-minute epochs Cole et al.
score an epoch asleep when ``D = P * (404 A-4 + 598 A-3 + 326 A-2 + 441 A-1 + 1408 A0 + 508 A+1
+ 350 A+2) < 1`` (A = activity of the epoch at that offset; the published P = 0.00001 belongs
to their device's activity counts). medtwin keeps the window and the weights and states the
threshold on the weighted *mean* activity, which is the same rule: ``D < 1`` is ``weighted mean
< 1 / (P * sum of weights)``, with sum of weights 4035. Because medtwin's ``activity`` code is a
unitless 0-100 movement index and not Cole's counts, the threshold is configuration and must be
calibrated per device type (against polysomnography or a sleep diary). The default, 8 index
units (P = 1 / (8 x 4035) = 3.1e-5), was calibrated on medtwin's simulated movement sensor
(:mod:`medtwin.devices.activity`): over 3 simulated days of 4 patients of mobility 0.17-0.85 it
agreed with the simulator's true sleep state in 97.7-98.4 % of epochs (thresholds 4-12 gave
94-99 %); ``tests/unit/test_activity.py`` re-checks the agreement. Like all actigraphy it
mistakes quiet wakefulness for sleep.

Because the window looks two epochs ahead, an epoch's state is decided once a reading at least
two epochs later has arrived (a 2-minute delay at 1-minute epochs). Missing epochs are left out
of the weighted mean (the remaining weights are renormalised); an epoch with no reading is not
scored at all.

What is stored (derived observations, source ``medtwin:activity``, method ``derived``):

* ``sleep`` ("asleep"/"awake") at each *change* of the derived state, effective at the epoch
  where the new state starts; ``source_id = "<patient>/sleep/<epoch time>"`` (idempotent);
  meta: ``weighted_mean``, ``threshold``, ``previous``, ``derived_from`` (the activity readings
  of the window), ``rule``;
* ``sleep_h`` once per night: hours scored asleep in the night window (default 18:00-12:00
  local time, so afternoon naps are left out), effective at the window's end, stored when the
  first reading after the window has decided its last epoch; meta: ``night_start``,
  ``night_end``, ``epochs`` scored, ``expected_epochs``, ``coverage`` and ``partial`` (coverage
  below ``complete_coverage``; a partial night under-counts sleep).

Devices that report their own sleep state keep doing so under the same ``sleep`` code with
method ``device``: filter on ``method`` to tell them apart.

Environment. Room temperature and humidity sensors are devices that ``monitor`` a room; the
Ingestor files their readings under the room twin (rooms, homes and wards are valid subjects).
:func:`room_environment` finds a patient's (or bed's) room through the location chain and
returns its latest ``room_temp`` and ``room_humidity``. Environment alarms are the alarm
engine's job.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import insort
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ValidationError
from medtwin.core.events import Context, ObservationsRecorded
from medtwin.core.model import Method, Observation, ObsStatus, TwinKind

log = logging.getLogger(__name__)

SOURCE = "medtwin:activity"
ACTOR = "service:activity"
RULE = "cole-kripke-1992-weighted-window"
ACTIVITY = BY_KEY["activity"].ref
SLEEP = BY_KEY["sleep"].ref
SLEEP_H = BY_KEY["sleep_h"].ref
ROOM_TEMP = BY_KEY["room_temp"].ref
ROOM_HUMIDITY = BY_KEY["room_humidity"].ref
#: Cole et al. 1992, 1-minute epochs: weight of the epoch at each offset from the scored one.
COLE_KRIPKE_1MIN: dict[int, float] = {-4: 404, -3: 598, -2: 326, -1: 441, 0: 1408, 1: 508, 2: 350}
ASLEEP, AWAKE = "asleep", "awake"


@dataclass
class ActivityConfig:
    """Settings of the sleep derivation (``settings.extra["activity"]`` may override any field)."""

    epoch_s: float = 60.0
    weights: dict[int, float] = field(default_factory=lambda: dict(COLE_KRIPKE_1MIN))
    threshold: float = 8.0  # weighted mean activity index below which an epoch is asleep
    night_start_h: float = 18.0  # local time the night window opens (previous day)
    night_end_h: float = 12.0  # local time it closes
    timezone: str = "UTC"  # the ward's time zone (IANA name), for the night window
    complete_coverage: float = 0.9  # share of the night's epochs needed for a non-partial sleep_h
    poll_s: float = 0.2

    def __post_init__(self) -> None:
        if not self.epoch_s > 0:
            raise ValidationError("must be > 0", field="epoch_s")
        if 0 not in self.weights or any(w < 0 for w in self.weights.values()):
            raise ValidationError("needs a weight at offset 0 and no negative weights", field="weights")
        if not self.threshold > 0:
            raise ValidationError("must be > 0", field="threshold")
        for name in ("night_start_h", "night_end_h"):
            if not 0 <= getattr(self, name) < 24:
                raise ValidationError("must be an hour 0-24", field=name)
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:
            raise ValidationError(f"unknown time zone {self.timezone!r}", field="timezone") from exc

    @property
    def lookahead(self) -> int:
        return max(0, max(self.weights))

    @property
    def lookback(self) -> int:
        return max(0, -min(self.weights))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> ActivityConfig:
        """Defaults overlaid with a mapping (a ``[medtwin.activity]`` TOML table); unknown keys are refused."""
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        for k in raw:
            if k not in known:
                raise ValidationError(f"unknown activity setting {k!r}", field=f"activity.{k}")
        try:
            if "weights" in raw:
                raw["weights"] = {int(k): float(v) for k, v in dict(raw["weights"]).items()}
            return cls(**raw)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"invalid activity settings: {exc}", field="activity") from exc


# ---------------------------------------------------------------------------------- pure scoring
Epoch = tuple[datetime, float, int]  # (time, activity index, observation id)


def weighted_mean(epochs: Sequence[Epoch], i: int, config: ActivityConfig) -> tuple[float, list[int]]:
    """Cole-Kripke weighted mean activity around ``epochs[i]`` (sorted by time) and the ids used."""
    t0 = epochs[i][0]
    num = den = 0.0
    used: list[int] = []
    lo, hi = -config.lookback, config.lookahead
    j = i
    while j > 0 and (epochs[j - 1][0] - t0).total_seconds() / config.epoch_s >= lo - 0.5:
        j -= 1
    for t, value, oid in epochs[j:]:
        k = round((t - t0).total_seconds() / config.epoch_s)
        if k > hi:
            break
        w = config.weights.get(k)
        if w:
            num += w * value
            den += w
            used.append(oid)
    return (num / den if den else 0.0), used


def score_epochs(epochs: Sequence[Epoch], config: ActivityConfig) -> list[bool]:
    """Asleep (True) or awake for each epoch of a time-sorted series."""
    return [weighted_mean(epochs, i, config)[0] < config.threshold for i in range(len(epochs))]


def night_window(night_of: datetime, config: ActivityConfig) -> tuple[datetime, datetime, str]:
    """(start, end, label) of the night that ends on the local date of ``night_of``; UTC times."""
    tz = ZoneInfo(config.timezone)
    local = night_of.astimezone(tz)
    day = local.date()
    end = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(hours=config.night_end_h)
    start_day = end - timedelta(days=1) if config.night_start_h > config.night_end_h else end
    start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=tz) + timedelta(
        hours=config.night_start_h
    )
    if start >= end:
        start -= timedelta(days=1)
    utc = night_of.tzinfo
    return start.astimezone(utc), end.astimezone(utc), day.isoformat()


# ---------------------------------------------------------------------------------- the service
@dataclass
class _Patient:
    epochs: list[Epoch] = field(default_factory=list)
    decided_until: datetime | None = None
    state: str | None = None
    horizon: datetime | None = None  # epochs up to here are decided (or decidable)


class ActivityService:
    """Derive sleep state changes and nightly sleep duration from ``activity`` readings.

    ``ActivityService(config).attach(runtime).start()``; ``stop()`` drains what is queued.
    """

    def __init__(self, config: ActivityConfig | None = None) -> None:
        self.config = config or ActivityConfig()
        self.rt: Any = None
        self._q: deque[Observation] = deque()
        self._cv = threading.Condition()
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self._unsubs: list[Callable[[], None]] = []
        self._patients: dict[str, _Patient] = {}
        self._lock = threading.Lock()
        self.stored = 0
        self.errors = 0

    def attach(self, runtime: Any) -> ActivityService:
        if self.rt is not None:
            return self
        self.rt = runtime
        if "activity" in runtime.settings.extra and self.config == ActivityConfig():
            self.config = ActivityConfig.from_mapping(runtime.settings.extra["activity"])
        self._unsubs = [runtime.bus.subscribe(ObservationsRecorded, self._on_observations)]
        runtime.services["activity"] = self
        runtime.add_stopper(self.stop)
        return self

    def start(self) -> ActivityService:
        if self.rt is None:
            raise RuntimeError("attach(runtime) first")
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="medtwin-activity", daemon=True)
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
        stop_at = time.monotonic() + timeout
        with self._cv:
            while self._q or self._busy:
                left = stop_at - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
        return True

    # ------------------------------------------------------------------ bus (publisher's thread)
    def _on_observations(self, event: ObservationsRecorded) -> None:
        hits = [
            o
            for o in event.observations
            if o.code == ACTIVITY
            and o.method is not Method.DERIVED
            and o.value is not None
            and o.status is not ObsStatus.ENTERED_IN_ERROR
        ]
        if hits:
            with self._cv:
                self._q.extend(hits)
                self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._stop:
                    self._cv.wait(self.config.poll_s)
                if not self._q and self._stop:
                    return
                batch = list(self._q)
                self._q.clear()
                self._busy = True
            try:
                self.process(batch)
            except Exception:
                self.errors += 1
                log.exception("activity round failed (%d readings)", len(batch))
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    # ------------------------------------------------------------------ processing
    def process(self, readings: Iterable[Observation]) -> list[Observation]:
        """Derive and store what these activity readings decide; returns the stored observations."""
        by_patient: dict[str, list[Observation]] = {}
        for o in readings:
            by_patient.setdefault(o.twin_id, []).append(o)
        out: list[Observation] = []
        with self._lock:
            for p, obs in by_patient.items():
                out.extend(self._patient_readings(p, sorted(obs, key=lambda o: (o.effective, o.id or 0))))
        if not out:
            return []
        ack = self.rt.writer.submit(out, context=Context(actor=ACTOR)).result(60)
        self.stored += len(ack.accepted)
        return list(ack.accepted)

    def _state(self, patient: str, first: datetime) -> _Patient:
        st = self._patients.get(patient)
        if st is not None:
            return st
        st = self._patients[patient] = _Patient()
        cfg = self.config
        store = self.rt.store
        span = timedelta(seconds=cfg.epoch_s * (cfg.lookback + cfg.lookahead + 1))
        for o in store.history(patient, ACTIVITY, first - span, first):
            if o.method is not Method.DERIVED and o.value is not None and o.id is not None:
                st.epochs.append((o.effective, float(o.value), o.id))
        if st.epochs:
            st.horizon = st.epochs[-1][0] - timedelta(seconds=cfg.epoch_s * (cfg.lookahead - 0.5))
        for o in store.history(patient, SLEEP, end=first, limit=500, descending=True):
            if o.source == SOURCE:
                st.state, st.decided_until = o.value_text, o.effective
                break
        return st

    def _patient_readings(self, patient: str, obs: list[Observation]) -> list[Observation]:
        cfg = self.config
        st = self._state(patient, obs[0].effective)
        known = {e[0] for e in st.epochs}
        for o in obs:
            if o.effective not in known and o.id is not None and o.value is not None:
                insort(st.epochs, (o.effective, float(o.value), o.id))
                known.add(o.effective)
        out: list[Observation] = []
        newest = st.epochs[-1][0]
        horizon = newest - timedelta(seconds=cfg.epoch_s * (cfg.lookahead - 0.5))
        for i, (t, _v, _id) in enumerate(st.epochs):
            if (st.decided_until is not None and t <= st.decided_until) or t > horizon:
                continue
            mean, used = weighted_mean(st.epochs, i, cfg)
            state = ASLEEP if mean < cfg.threshold else AWAKE
            if state != st.state:
                out.append(self._sleep_obs(patient, t, state, st.state, mean, used))
                st.state = state
            st.decided_until = t
        previous_horizon, st.horizon = st.horizon, max(horizon, st.horizon or horizon)
        if previous_horizon is not None and horizon > previous_horizon:
            out.extend(self._close_nights(patient, previous_horizon, horizon))
        keep_from = (st.decided_until or newest) - timedelta(seconds=cfg.epoch_s * (cfg.lookback + 1))
        st.epochs = [e for e in st.epochs if e[0] >= keep_from]
        return out

    def _sleep_obs(
        self, patient: str, t: datetime, state: str, previous: str | None, mean: float, used: list[int]
    ) -> Observation:
        return Observation(
            twin_id=patient,
            code=SLEEP,
            effective=t,
            received=self.rt.clock.now(),
            source=SOURCE,
            source_id=f"{patient}/sleep/{t.isoformat()}",
            value_text=state,
            method=Method.DERIVED,
            meta={
                "rule": RULE,
                "weighted_mean": round(mean, 3),
                "threshold": self.config.threshold,
                "previous": previous,
                "derived_from": used,
            },
        )

    def _close_nights(self, patient: str, after: datetime, upto: datetime) -> list[Observation]:
        """sleep_h for every night whose window ended in (after, upto] (decision horizons)."""
        ends: set[datetime] = set()
        for k in range(32):  # at most a month of nights per call (back-fills)
            _s, end, _label = night_window(upto - timedelta(days=k), self.config)
            if end <= after:
                break
            if end <= upto:
                ends.add(end)
        out = []
        for e in sorted(ends):
            o = self.night_summary(patient, e - timedelta(seconds=1))
            if o is not None:
                out.append(o)
        return out

    def night_summary(self, patient: str, night_of: datetime) -> Observation | None:
        """The ``sleep_h`` observation of the night ending on ``night_of``'s local date (not stored)."""
        cfg = self.config
        start, end, label = night_window(night_of, cfg)
        pad_back = timedelta(seconds=cfg.epoch_s * (cfg.lookback + 0.5))
        pad_fwd = timedelta(seconds=cfg.epoch_s * (cfg.lookahead + 0.5))
        rows = self.rt.store.history(patient, ACTIVITY, start - pad_back, end + pad_fwd, limit=1_000_000)
        epochs = [
            (o.effective, float(o.value), o.id)
            for o in rows
            if o.method is not Method.DERIVED and o.value is not None and o.id is not None
        ]
        idx = [i for i, e in enumerate(epochs) if start <= e[0] < end]
        if not idx:
            return None
        asleep = sum(1 for i in idx if weighted_mean(epochs, i, cfg)[0] < cfg.threshold)
        expected = (end - start).total_seconds() / cfg.epoch_s
        coverage = min(1.0, len(idx) / expected)
        return Observation(
            twin_id=patient,
            code=SLEEP_H,
            effective=end,
            received=self.rt.clock.now(),
            source=SOURCE,
            source_id=f"{patient}/sleep_h/{label}",
            value=round(asleep * cfg.epoch_s / 3600.0, 2),
            unit="h",
            method=Method.DERIVED,
            meta={
                "rule": RULE,
                "threshold": cfg.threshold,
                "night": label,
                "night_start": start.isoformat().replace("+00:00", "Z"),
                "night_end": end.isoformat().replace("+00:00", "Z"),
                "epochs": len(idx),
                "asleep_epochs": asleep,
                "expected_epochs": round(expected),
                "coverage": round(coverage, 3),
                "partial": coverage < cfg.complete_coverage,
                "derived_from_range": [epochs[idx[0]][2], epochs[idx[-1]][2]],
            },
        )


def room_environment(runtime: Any, twin_id: str) -> dict[str, Any]:
    """The latest room temperature and humidity of the room (or home) a twin is in.

    ``twin_id`` may be the room itself, or a patient, bed or device located in it. Returns
    ``{"room": id | None, "room_temp": Observation | None, "room_humidity": Observation | None}``.
    """
    twin = runtime.registry.get(twin_id)
    room = twin if twin.kind in (TwinKind.ROOM, TwinKind.HOME) else None
    if room is None:
        room = next(
            (t for t in runtime.registry.location_chain(twin_id) if t.kind in (TwinKind.ROOM, TwinKind.HOME)),
            None,
        )
    if room is None:
        return {"room": None, "room_temp": None, "room_humidity": None}
    latest = runtime.store.latest(room.id, [ROOM_TEMP, ROOM_HUMIDITY])
    return {"room": room.id, "room_temp": latest.get(ROOM_TEMP), "room_humidity": latest.get(ROOM_HUMIDITY)}


def start_activity(runtime: Any, _loop: Any = None) -> None:
    """Start hook for :func:`medtwin.api.app.create_app` (``on_start``) and workers: attach the
    activity service to the runtime (once) and start its thread."""
    svc = runtime.services.get("activity")
    if not isinstance(svc, ActivityService):
        svc = ActivityService().attach(runtime)
    svc.start()  # returns None: create_app awaits a hook result that is not None
