"""Simulated bedside monitor: 1 Hz numerics (HR, RR, SpO2, temperature), cycled NIBP, optional
arterial line, nurse-charted ACVPU; vectorised over many monitors by :class:`MonitorBank`.

What a reading looks like (the documented raw shape, see :mod:`medtwin.core.validate`)::

    {"code": "hr", "value": 72, "unit": "/min", "time": "2026-01-01T10:00:00Z"}

plus, only where they apply: ``"channel": "nibp" | "art"`` on blood pressures, ``"method":
"manual"`` on nurse-charted ACVPU, and ``"flag"``: ``"lead-off"`` (ECG electrodes: HR and RR
lost), ``"sensor-off"`` (SpO2 probe, temperature probe, NIBP cuff) or, only when
``annotate_artifacts`` is set, ``"artifact"`` (a real monitor cannot tell; the ground truth
always lists artefacts). A sensor-off reading carries the sentinel (default -999, as Mindray
gateways send; see docs/devices.md) or ``None``, or is omitted, per ``sensor_off_mode``: flagged
readings are the only ones medtwin's validation rejects, on purpose.

Monitor-like measurement: values are rounded to display resolution (integers; 0.1 degC) after
white measurement noise (HR sd 1/min, RR 0.8/min, SpO2 0.5 %, temperature 0.03 degC). NIBP is
oscillometric: a per-patient cuff bias plus per-reading error (sd 4 systolic, 3 diastolic), within
ISO 81060-2 (mean error <= 5, sd <= 8 mm[Hg]); a cycle that falls in a motion artefact has 4x
the error. Each cycle's time is the patient's own phase into the interval (monitors in a ward are
not synchronised).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from medtwin.core.clock import Clock
from medtwin.core.codes import BY_KEY
from medtwin.devices.artifacts import (
    SENSOR_FLAG,
    SENSORS,
    Fault,
    artifact_state,
    sensor_off_state,
)
from medtwin.devices.base import epoch, iso
from medtwin.devices.patient import PatientProfile, sample_profile
from medtwin.devices.physiology import Cohort, acvpu_at, true_state
from medtwin.devices.rng import normals, stream_id, uniforms
from medtwin.devices.scenarios import ACVPU_LETTERS, Scenario

F64 = NDArray[np.float64]
SENSOR_OFF_MODES = ("sentinel", "null", "omit")
_S_NOISE, _S_NIBP, _S_PHASE = stream_id("noise"), stream_id("nibp"), stream_id("phase")
_U = {k: BY_KEY[k].unit for k in ("hr", "rr", "spo2", "temp", "sbp")}


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    nibp_interval_s: float | None = 900.0  # None: no cuff cycling
    arterial: bool = False  # continuous invasive pressure at 1 Hz
    temp_interval_s: float = 1.0
    artifact_rate_per_h: float = 3.0  # up to 12/h (one per 5-min slot)
    lead_off_per_h: float = 0.05
    spo2_off_per_h: float = 0.08
    temp_off_per_h: float = 0.02
    cuff_off_per_h: float = 0.02
    sensor_off_mode: str = "sentinel"
    sentinel: float = -999.0
    acvpu_interval_s: float | None = 4 * 3600.0  # routine nurse charting
    acvpu_response_s: float = 600.0  # a new change in consciousness is charted this long after it
    annotate_artifacts: bool = False
    noise_scale: float = 1.0
    faults: tuple[Fault, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.sensor_off_mode not in SENSOR_OFF_MODES:
            raise ValueError(f"sensor_off_mode must be one of {SENSOR_OFF_MODES}")
        if not 0 <= self.artifact_rate_per_h <= 12:
            raise ValueError("artifact_rate_per_h must be 0-12")
        for v in (self.nibp_interval_s, self.acvpu_interval_s, self.temp_interval_s):
            if v is not None and v <= 0:
                raise ValueError("intervals must be > 0")

    def off_rates(self) -> dict[str, float]:
        return {
            "ecg": self.lead_off_per_h,
            "spo2": self.spo2_off_per_h,
            "temp": self.temp_off_per_h,
            "nibp": self.cuff_off_per_h,
        }


def _due(last: float, now: float, origin: F64, interval: F64) -> tuple[NDArray[np.bool_], F64]:
    """Whether a multiple of ``interval`` after ``origin`` falls in (last, now], and that instant."""
    with np.errstate(invalid="ignore", divide="ignore"):
        k_now = np.floor((now - origin) / interval)
        k_last = np.floor((last - origin) / interval)
    due = np.isfinite(interval) & (k_now > k_last) & (k_now >= 0)
    return due, np.where(
        due, origin + np.nan_to_num(k_now) * np.where(np.isfinite(interval), interval, 0), now
    )


class MonitorBank:
    """Many monitors stepped together with numpy; results identical to stepping each alone."""

    def __init__(self, monitors: Sequence[BedsideMonitor]) -> None:
        self.monitors = list(monitors)
        ms, cfg = self.monitors, [m.config for m in self.monitors]
        self.cohort = Cohort.build([m.profile for m in ms], [m.scenario for m in ms], [m.start for m in ms])
        c = self.cohort

        def arr(vals: Sequence[float | None]) -> F64:
            return np.array([np.inf if v is None else v for v in vals], dtype=np.float64)

        self.nibp_int = arr([x.nibp_interval_s for x in cfg])
        u = uniforms(c.keys, 0, _S_PHASE, 2)
        self.nibp_origin = c.start + np.floor(
            u[:, 0] * np.where(np.isfinite(self.nibp_int), self.nibp_int, 0)
        )
        self.acvpu_int = arr([x.acvpu_interval_s for x in cfg])
        self.acvpu_origin = c.start + np.floor(
            u[:, 1] * np.where(np.isfinite(self.acvpu_int), self.acvpu_int, 0)
        )
        self.acvpu_resp = arr([x.acvpu_response_s for x in cfg])
        self.temp_int = arr([x.temp_interval_s for x in cfg])
        self.arterial = np.array([x.arterial for x in cfg], dtype=bool)
        self.art_rate = arr([x.artifact_rate_per_h for x in cfg])
        self.off_rates = np.array([[x.off_rates()[s] for s in SENSORS] for x in cfg], dtype=np.float64)
        self.mode = [x.sensor_off_mode for x in cfg]
        self.sentinel: list[float | int | None] = [
            None
            if x.sensor_off_mode == "null"
            else (int(x.sentinel) if float(x.sentinel).is_integer() else x.sentinel)
            for x in cfg
        ]
        self.annotate = np.array([x.annotate_artifacts for x in cfg], dtype=bool)
        self.noise = arr([x.noise_scale for x in cfg])
        self.faults = [
            (i, SENSORS.index(f.sensor), c.start[i] + f.start_s, c.start[i] + f.start_s + f.duration_s)
            for i, x in enumerate(cfg)
            for f in x.faults
        ]
        self.any_scenario = bool((c.sc_severity > 0).any())
        self.last: float | None = None

    def __len__(self) -> int:
        return len(self.monitors)

    def _state_at(self, idx: NDArray[np.intp], times: F64, now: float, v: dict[str, Any]) -> dict[str, F64]:
        """True state of monitors ``idx`` each at its own time (reuses ``v`` when times == now)."""
        if np.all(times == now):
            return {k: v[k][idx] for k in ("sbp", "dbp", "map")}
        s = true_state(self.cohort.take(idx), times)
        return {k: np.diagonal(s[k]).copy() for k in ("sbp", "dbp", "map")}

    def step(self, t: datetime) -> list[list[dict[str, Any]]]:
        """Readings of every monitor at ``t`` (one list per monitor, in order)."""
        ts = epoch(t)
        last = self.last if self.last is not None and self.last < ts else ts - 1.0
        self.last = ts
        c, n = self.cohort, len(self.monitors)
        started = c.start <= ts
        v = {k: a[0] for k, a in true_state(c, np.array([ts])).items()}
        z = normals(c.keys, round(ts * 1000), _S_NOISE, 8) * self.noise[:, None]
        hr = v["hr"] + 1.0 * z[:, 0]
        rr = v["rr"] + 0.8 * z[:, 1]
        spo2 = v["spo2"] + 0.5 * z[:, 2]
        temp = v["temp"] + 0.03 * z[:, 3]
        art = [v[k] + s * z[:, 4 + j] for j, (k, s) in enumerate((("sbp", 1.5), ("dbp", 1.0), ("map", 1.0)))]
        # artefacts
        active, kind, mag = artifact_state(c.keys, self.art_rate, self.arterial, ts)
        a0, a1 = mag[:, 0], mag[:, 1]
        motion, drop, ecg, flush = (active & (kind == k) for k in range(4))
        hr = np.where(motion, hr + 25 + 45 * a0 + 6 * z[:, 7], hr)
        rr = np.where(motion, rr + 8 + 20 * a1, rr)
        spo2 = np.where(motion, spo2 - 3 - 15 * a1, np.where(drop, spo2 - 8 - 20 * a0, spo2))
        hr = np.where(ecg, np.where(a0 < 0.5, hr * 1.9, 25 + 15 * a1), hr)
        art = [np.where(flush, 250 + 40 * a0, x) for x in art]
        # sensors off (random episodes and scheduled faults)
        off = sensor_off_state(c.keys, self.off_rates, ts)
        for i, j, t0, t1 in self.faults:
            if t0 <= ts < t1:
                off[i, j] = True
        # display resolution
        q = {
            "hr": np.clip(np.rint(hr), 0, 300).astype(np.int64).tolist(),
            "rr": np.clip(np.rint(rr), 0, 150).astype(np.int64).tolist(),
            "spo2": np.clip(np.rint(spo2), 0, 100).astype(np.int64).tolist(),
            "temp": (np.rint(np.clip(temp, 15, 45) * 10) / 10).tolist(),
        }
        stamp = iso(ts)
        rows: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        temp_due = (self.temp_int <= 1.0) | _due(last, ts, c.start, self.temp_int)[0]
        ann_hr = self.annotate & active & (motion | ecg)
        ann_sp = self.annotate & active & (motion | drop)
        for key, sensor, emit, ann in (
            ("hr", 0, started, ann_hr),
            ("rr", 0, started, self.annotate & motion),
            ("spo2", 1, started, ann_sp),
            ("temp", 2, started & temp_due, None),
        ):
            self._emit(
                rows,
                key,
                q[key],
                _U[key],
                stamp,
                emit,
                (off[:, sensor], SENSOR_FLAG[SENSORS[sensor]]),
                ann,
                None,
            )
        if self.arterial.any():
            for k, x in zip(("sbp", "dbp", "map"), art, strict=True):
                vals = np.clip(np.rint(x), 0, 300).astype(np.int64).tolist()
                self._emit(
                    rows,
                    k,
                    vals,
                    _U["sbp"],
                    stamp,
                    started & self.arterial,
                    None,
                    self.annotate & flush,
                    "art",
                )
        due, when = _due(last, ts, self.nibp_origin, self.nibp_int)
        if due.any():
            self._nibp(rows, np.flatnonzero(due), when, ts, v, off[:, 3], active & (kind == 0))
        if self.acvpu_int.size:
            self._acvpu(rows, last, ts, stamp, started, v["acvpu"])
        return rows

    def _emit(
        self,
        rows: list[list[dict[str, Any]]],
        code: str,
        values: list[Any],
        unit: str,
        stamp: str,
        emit: NDArray[np.bool_],
        off: tuple[NDArray[np.bool_], str] | None,
        ann: NDArray[np.bool_] | None,
        channel: str | None,
    ) -> None:
        flags: dict[int, str] = {}
        if ann is not None:
            flags.update((int(i), "artifact") for i in np.flatnonzero(ann & emit))
        if off is not None:
            for i in np.flatnonzero(off[0] & emit).tolist():
                flags[i] = off[1]
                values[i] = self.sentinel[i]
        for i in np.flatnonzero(emit).tolist():
            flag = flags.get(i)
            if flag is not None and flag != "artifact" and self.mode[i] == "omit":
                continue
            r: dict[str, Any] = {"code": code, "value": values[i], "unit": unit, "time": stamp}
            if channel is not None:
                r["channel"] = channel
            if flag is not None:
                r["flag"] = flag
            rows[i].append(r)

    def _nibp(
        self,
        rows: list[list[dict[str, Any]]],
        idx: NDArray[np.intp],
        when: F64,
        ts: float,
        v: dict[str, Any],
        cuff_off: NDArray[np.bool_],
        motion: NDArray[np.bool_],
    ) -> None:
        c, times = self.cohort, when[idx]
        true = self._state_at(idx, times, ts, v)
        k = np.floor((times - self.nibp_origin[idx]) / self.nibp_int[idx]).astype(np.int64)
        z = (
            normals(c.keys[idx], k, _S_NIBP, 3)
            * np.where(motion[idx], 4.0, 1.0)[:, None]
            * self.noise[idx, None]
        )
        prof = [self.monitors[i].profile for i in idx]
        sbp = np.rint(true["sbp"] + [p.cuff_bias_sys for p in prof] + 4.0 * z[:, 0])
        dbp = np.rint(np.minimum(true["dbp"] + [p.cuff_bias_dia for p in prof] + 3.0 * z[:, 1], sbp - 8))
        mean = np.rint(np.clip(true["map"] + 2.0 * z[:, 2], dbp + 1, sbp - 1))
        for j, i in enumerate(idx.tolist()):
            stamp = iso(float(times[j]))
            vals = (int(np.clip(sbp[j], 0, 300)), int(np.clip(dbp[j], 0, 290)), int(np.clip(mean[j], 0, 295)))
            for code, val in zip(("sbp", "dbp", "map"), vals, strict=True):
                r: dict[str, Any] = {
                    "code": code,
                    "value": val,
                    "unit": _U["sbp"],
                    "time": stamp,
                    "channel": "nibp",
                }
                if cuff_off[i]:
                    if self.mode[i] == "omit":
                        continue
                    r["value"], r["flag"] = self.sentinel[i], "sensor-off"
                rows[i].append(r)

    def _acvpu(
        self,
        rows: list[list[dict[str, Any]]],
        last: float,
        ts: float,
        stamp: str,
        started: NDArray[np.bool_],
        level: NDArray[np.int8],
    ) -> None:
        due, _ = _due(last, ts, self.acvpu_origin, self.acvpu_int)
        if self.any_scenario:
            resp = self.acvpu_resp
            changed = np.zeros(len(self.monitors), dtype=bool)
            for r in np.unique(resp):
                then = acvpu_at(self.cohort, np.array([ts - r, last - r]))
                changed |= (resp == r) & (then[0] != then[1])
            due |= changed
        for i in np.flatnonzero(due & started).tolist():
            rows[i].append(
                {"code": "acvpu", "value": ACVPU_LETTERS[int(level[i])], "time": stamp, "method": "manual"}
            )


class BedsideMonitor:
    """One simulated monitor attached to one synthetic patient.

    ``step(t)`` returns the readings at ``t`` (call it once per simulated second for 1 Hz);
    without ``t`` it uses the injected ``clock``. The output is a pure function of
    ``patient_seed``, the scenario, the config and ``t``.
    """

    kind: ClassVar[str] = "obs"

    def __init__(
        self,
        device_id: str,
        patient_seed: int,
        scenario: Scenario | None = None,
        start: datetime | None = None,
        *,
        patient_id: str | None = None,
        config: MonitorConfig | None = None,
        profile: PatientProfile | None = None,
        clock: Clock | None = None,
    ) -> None:
        if start is None:
            if clock is None:
                raise ValueError("give a start time or a clock")
            start = clock.now()
        epoch(start)
        self.device_id = device_id
        self.patient_seed = patient_seed
        self.profile = profile or sample_profile(patient_seed)
        self.patient_id = patient_id
        self.scenario = scenario or Scenario.stable()
        self.start = start
        self.config = config or MonitorConfig()
        self.clock = clock
        self._bank: MonitorBank | None = None

    def step(self, t: datetime | None = None) -> list[dict[str, Any]]:
        if t is None:
            if self.clock is None:
                raise ValueError("no time given and no clock injected")
            t = self.clock.now()
        if self._bank is None:
            self._bank = MonitorBank([self])
        return self._bank.step(t)[0]

    def run(self, end: datetime, step_s: float = 1.0) -> Iterator[tuple[datetime, list[dict[str, Any]]]]:
        """Yield ``(t, readings)`` every ``step_s`` from start up to and including ``end``."""
        t = self.start
        while t <= end:
            yield t, self.step(t)
            t += timedelta(seconds=step_s)

    def true_values(self, t: datetime) -> dict[str, float]:
        """The noise-free physiology at ``t`` (for tests, plots and teaching)."""
        s = true_state(Cohort.build([self.profile], [self.scenario], [self.start]), np.array([epoch(t)]))
        return {k: float(a[0, 0]) for k, a in s.items()}

    def ground_truth(self, end: datetime, resolution_s: float = 1.0) -> Any:
        """What really happened up to ``end``: see :class:`medtwin.devices.truth.GroundTruth`."""
        from medtwin.devices.truth import monitor_truth

        return monitor_truth(self, end, resolution_s)
