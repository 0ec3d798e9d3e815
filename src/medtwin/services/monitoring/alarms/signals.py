"""Per-series signal tracking and artefact rejection (what a reading is worth before any limit).

Each rule is documented here and in docs/alarms.md; its effect is measured by
``benchmarks/alarm_fatigue.py``. Multi-signal artefact detection is the approach of the
PhysioNet/CinC Challenge 2015 (Clifford et al., Physiol Meas 2016;37:1237): a change one signal
shows and the others contradict is probably not the patient.

A1 **Sentinel values** (``limits.SENTINELS``: -999, -100, -99.9, the "no value" numbers of real
   Mindray eGateway messages): the reading is discarded as if absent, so it can feed the
   sensor-off rule but never a physiological alarm. (Ingest already refuses most of them.)
A2 **Impossible values**: above the device's measurement range (``limits.PLAUSIBLE``, e.g. HR
   > 300/min), or a pressure set that contradicts its own definition (systolic <= diastolic, mean
   outside diastolic..systolic, same source and time: what an arterial-line flush shows).
   Discarded for physiology; a technical ``<code>_implausible`` / ``bp_implausible`` alarm (low
   priority) if it persists ``implausible_delay_s`` (30 s). Low values are never "implausible": a
   heart rate of 0 may be asystole.
A3 **Single-sample spikes** never raise: every condition must persist ``delay_s`` on a continuous
   series (:class:`~medtwin.services.monitoring.alarms.conditions.Tracker`).
A4 **Abrupt jumps** (motion, ECG double counting, probe slipping, line flush): a value that differs
   from the series' recent median (``baseline_s`` = 30 s, excluding the last 2 s) by at least
   ``jump[code]`` when the previous sample, at most 3 s earlier, was still near that median. Real
   physiology does not double the heart rate or drop the saturation by 4 % between two 1 Hz
   samples; a monitor's averaged numerics do when the signal is corrupted. The sample and the
   ones after it that stay away from the median are *suspect* for up to ``suspect_hold_s``: a
   condition that begins with a suspect sample must persist ``max(delay_s, suspect_hold_s)``
   instead of ``delay_s``. After the hold the value is believed (a real sudden change is delayed,
   never suppressed). The jump is *not* suspect when another source of the same code (a second
   monitor channel, a wearable) reported a value within half a jump of it in the last 5 s.
A6 **Contradicted jumps**: a jump that another signal of the same device contradicts stays suspect
   up to ``contradicted_hold_s`` (60 s) instead of ``suspect_hold_s``: an abrupt SpO2 fall while
   the device's heart rate holds steady at its median (the heart does not notice the
   "desaturation": probe slipping, poor perfusion), or abrupt jumps of several parameters of one
   device within 3 s (the signature of patient movement, which corrupts ECG, impedance and pleth
   together; physiology does not move them all within a second).
A5 **Loose SpO2 probe**: an SpO2 value below its alert limit while the same device has stopped
   sending the heart rate for >= 5 s is suspect (the pleth has lost the pulse).

Suspect samples are kept out of the medians that later jumps and trends are measured against.
An abrupt heart-rate change is not held longer because SpO2 stays steady (a real arrhythmia leaves
the saturation unchanged at first); the pleth pulse rate that would contradict an ECG artefact
needs its own code (LOINC 8889-8), which core/codes does not have yet.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from statistics import median

BASELINE_S = 30.0
RECENT_S = 2.0
ADJACENT_S = 3.0
CORROBORATE_S = 5.0
PROBE_HR_GAP_S = 5.0


@dataclass(slots=True)
class Series:
    """The recent history of one code of one twin (all sources together)."""

    key: str
    samples: deque[tuple[float, float]] = field(default_factory=deque)  # trusted (t, v), last 60 s
    prev_t: float | None = None
    prev_v: float | None = None
    last_t: float | None = None
    by_source: dict[str, tuple[float, float]] = field(default_factory=dict)
    suspect_ref: float | None = None  # the median a jump departed from
    suspect_since: float | None = None
    suspect_hold: float = 0.0  # how long this suspicion episode lasts at most (A4, A6)
    source: str = ""  # source of the latest sample
    # trend support: closed minute medians (minute index, median) and the open minute
    minutes: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=200))
    cur_minute: int | None = None
    cur_vals: list[float] = field(default_factory=list)
    _ref_cache: tuple[float, float | None] = (float("-inf"), None)

    def baseline(self, t: float) -> float | None:
        """Median of trusted samples in [t - 30 s, t - 2 s] (cached for 5 s)."""
        at, val = self._ref_cache
        if 0.0 <= t - at < 5.0:
            return val
        vals = [v for (ts, v) in self.samples if t - BASELINE_S <= ts <= t - RECENT_S]
        val = median(vals) if len(vals) >= 5 else None
        self._ref_cache = (t, val)
        return val

    def trust(self, t: float, v: float) -> None:
        self.samples.append((t, v))
        while self.samples and self.samples[0][0] < t - 2 * BASELINE_S:
            self.samples.popleft()

    def add_minute(self, t: float, v: float) -> tuple[int, float] | None:
        """Accumulate a trusted value; returns the minute just closed (index, median) if any."""
        m = int(t // 60)
        closed = None
        if self.cur_minute is not None and m != self.cur_minute and self.cur_vals:
            closed = (self.cur_minute, median(self.cur_vals))
            self.minutes.append(closed)
            self.cur_vals = []
        self.cur_minute = m
        self.cur_vals.append(v)
        return closed

    def window_median(self, first_minute: int, last_minute: int) -> tuple[float | None, int]:
        vals = [v for (m, v) in self.minutes if first_minute <= m <= last_minute]
        return (median(vals) if vals else None), len(vals)


def is_sentinel(value: float, sentinels: frozenset[float] | tuple[float, ...]) -> bool:
    return value < 0 and value in sentinels  # every sentinel is negative: one comparison on the hot path


def implausible(key: str, value: float, plausible: dict[str, tuple[float, float]]) -> str | None:
    rng = plausible.get(key)
    if rng is not None and not rng[0] <= value <= rng[1]:
        return f"outside the measurement range {rng[0]:g}-{rng[1]:g}"
    return None


def pressure_contradiction(sbp: float | None, dbp: float | None, mean: float | None) -> str | None:
    """A2 for one blood-pressure set (same source, same time)."""
    if sbp is not None and dbp is not None and sbp <= dbp:
        return "systolic not above diastolic"
    if mean is not None and sbp is not None and dbp is not None and not dbp <= mean <= sbp:
        return "mean outside diastolic..systolic"
    return None


def _corroborated(s: Series, t: float, v: float, source: str, jump: float) -> bool:
    return any(
        src != source and t - ts <= CORROBORATE_S and abs(other - v) < jump / 2
        for src, (ts, other) in s.by_source.items()
    )


def jump_suspect(s: Series, t: float, v: float, source: str, jump: float | None, hold_s: float) -> str:
    """A4 verdict on a sample of a continuous series: ``"suspect"`` (part of an abrupt,
    uncorroborated jump), ``"corroborated"`` (a jump another source confirms), or ``""``."""
    if jump is None:
        return ""
    if s.suspect_since is not None and s.suspect_ref is not None:
        if t - s.suspect_since < s.suspect_hold and abs(v - s.suspect_ref) >= jump / 2:
            if _corroborated(s, t, v, source, jump):
                s.suspect_since = s.suspect_ref = None
                return "corroborated"
            return "suspect"
        s.suspect_since = s.suspect_ref = None  # back near the median, or the hold has passed
        return ""
    if s.prev_t is None or s.prev_v is None or t - s.prev_t > ADJACENT_S or abs(v - s.prev_v) <= jump / 2:
        return ""  # an abrupt jump from a value near the median must differ from it by > jump / 2
    ref = s.baseline(t)
    if ref is None or abs(v - ref) < jump or abs(s.prev_v - ref) >= jump / 2:
        return ""
    if _corroborated(s, t, v, source, jump):
        return "corroborated"  # another source shows the same change: believe it
    s.suspect_ref, s.suspect_since, s.suspect_hold = ref, t, hold_s
    return "suspect"


def steady(s: Series | None, t: float, jump: float | None, source: str) -> bool:
    """Whether a series of the same device is still at its recent median (for A6)."""
    if s is None or jump is None or s.prev_t is None or s.prev_v is None or t - s.prev_t > ADJACENT_S:
        return False
    if s.source != source or s.suspect_since is not None:
        return False
    ref = s.baseline(t)
    return ref is not None and abs(s.prev_v - ref) < jump / 2


def co_jumps(series: dict[str, Series], key: str, t: float, source: str) -> list[Series]:
    """Other series of the same device whose suspicion episode began within 3 s of ``t`` (A6)."""
    return [
        o
        for k, o in series.items()
        if k != key
        and o.source == source
        and o.suspect_since is not None
        and abs(o.suspect_since - t) <= ADJACENT_S
    ]


def loose_probe(spo2_low_limit: float | None, v: float, hr_last_from_source: float | None, t: float) -> bool:
    """A5: a low SpO2 while this device's heart rate has gone missing."""
    if spo2_low_limit is None or v >= spo2_low_limit or hr_last_from_source is None:
        return False
    return t - hr_last_from_source >= PROBE_HR_GAP_S
