"""Which readings go into a live early-warning score: the latest of each input, unless too old.

The scoring service reads a patient's latest state (the store's ``latest`` table) and keeps,
for each input of NEWS2, qSOFA and MEWS, the newest reading if it is *fresh*. A reading older
than its parameter's maximum age is *stale*: it is left out of the score, which makes the score
partial (the score functions never score a missing input as 0, see docs/scores.md), and it is
listed under ``stale`` in the score's provenance.

Age is measured from the *assessment time*: the effective time of the newest input reading,
never later than the clock's now. In live monitoring that is "now"; when readings are
back-filled (a CSV upload of yesterday's chart) the inputs are judged against each other, not
against today.

Default maximum age: 12 hours for every input. Basis: the longest interval between full sets
of observations that the Royal College of Physicians' NEWS2 chart allows for any patient is
"minimum 12-hourly" (RCP 2017, Chart 4, total score 0). A reading older than that is older than
any chart-compliant observation schedule would leave it, so it cannot stand for the patient's
current state. This is a ceiling, not a clinical threshold: a unit with continuous monitoring
should shorten the age of its continuously measured parameters (for example 300 s for ``hr``,
``spo2`` and ``rr``), and ``device_max_age_s`` shortens it for device readings only, so that a
monitor that stopped sending does not keep feeding a score while a nurse's spot check of the
same parameter still counts for 12 hours. Stale-data *alarms* are the alarm engine's job.

Air or oxygen (NEWS2): from the newest fresh reading among ``o2_device`` ("air"/"oxygen"),
``o2_flow`` (oxygen when the flow is above 0 L/min) and ``fio2`` (oxygen above 21 %, the
oxygen fraction of room air). When two are charted at the same time and disagree, oxygen wins
(the higher score; the chart counts any supplemental oxygen).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from medtwin.core.codes import BY_KEY
from medtwin.core.model import Method, Observation

#: Code keys (medtwin.core.codes) that feed NEWS2, qSOFA or MEWS.
INPUT_KEYS: tuple[str, ...] = (
    "rr",
    "spo2",
    "sbp",
    "hr",
    "temp",
    "acvpu",
    "gcs",
    "o2_device",
    "o2_flow",
    "fio2",
)
#: Stored code ref -> code key, for the inputs.
INPUT_REFS: dict[str, str] = {BY_KEY[k].ref: k for k in INPUT_KEYS}
OXYGEN_KEYS: tuple[str, ...] = ("o2_device", "o2_flow", "fio2")
ROOM_AIR_FIO2 = 21.0  # % oxygen in room air (the code table's lower bound for fio2)
TWELVE_HOURS_S = 12 * 3600.0  # RCP 2017 Chart 4: minimum 12-hourly monitoring (score 0)
DEFAULT_MAX_AGE_S: dict[str, float] = {k: TWELVE_HOURS_S for k in INPUT_KEYS}


@dataclass(frozen=True, slots=True)
class Inputs:
    """The readings chosen for one assessment of one patient."""

    ref_time: datetime | None  # assessment time (None: no input reading at all)
    fresh: dict[str, Observation]  # code key -> the reading used
    stale: dict[str, Observation]  # code key -> the newest reading, too old to use
    on_oxygen: bool | None  # NEWS2 air (False) or oxygen (True); None when unknown
    oxygen_from: Observation | None  # the reading that decided air/oxygen

    def value(self, key: str) -> float | None:
        o = self.fresh.get(key)
        return None if o is None else o.value

    def text(self, key: str) -> str | None:
        o = self.fresh.get(key)
        return None if o is None else o.value_text

    @property
    def oxygen_stale(self) -> bool:
        """Air/oxygen is unknown only because its readings are too old."""
        return self.on_oxygen is None and any(k in self.stale for k in OXYGEN_KEYS)


def oxygen_state(key: str, obs: Observation) -> bool | None:
    """True (oxygen), False (air) or None (cannot tell) from one oxygen-related reading."""
    if key == "o2_device":
        if obs.value_text == "oxygen":
            return True
        if obs.value_text == "air":
            return False
        return None
    if obs.value is None:
        return None
    if key == "o2_flow":
        return obs.value > 0
    if key == "fio2":
        return obs.value > ROOM_AIR_FIO2
    return None


def gather(
    latest: Mapping[str, Observation],
    *,
    now: datetime,
    max_age_s: Mapping[str, float],
    device_max_age_s: float | None = None,
) -> Inputs:
    """Pick the fresh inputs from a twin's latest state (code ref -> newest observation)."""
    candidates: dict[str, Observation] = {}
    for ref, obs in latest.items():
        key = INPUT_REFS.get(ref)
        if key is not None and obs.method is not Method.DERIVED:
            candidates[key] = obs
    if not candidates:
        return Inputs(None, {}, {}, None, None)
    ref_time = min(now, max(o.effective for o in candidates.values()))
    fresh: dict[str, Observation] = {}
    stale: dict[str, Observation] = {}
    for key, obs in candidates.items():
        age = (ref_time - obs.effective).total_seconds()
        limit = max_age_s.get(key, TWELVE_HOURS_S)
        if device_max_age_s is not None and obs.method is Method.DEVICE:
            limit = min(limit, device_max_age_s)
        (stale if age > limit else fresh)[key] = obs
    on_oxygen: bool | None = None
    decided_by: Observation | None = None
    best: tuple[datetime, bool] | None = None
    for key in OXYGEN_KEYS:
        o2 = fresh.get(key)
        if o2 is None:
            continue
        state = oxygen_state(key, o2)
        if state is None:
            continue
        rank = (o2.effective, state)  # newest first; on a tie oxygen (True) wins
        if best is None or rank > best:
            best, on_oxygen, decided_by = rank, state, o2
    return Inputs(ref_time, fresh, stale, on_oxygen, decided_by)
