"""Early-warning scores of one patient from its latest state: pure computation, no I/O.

:func:`compute_scores` turns a twin's latest readings into NEWS2, qSOFA and MEWS derived
observations with provenance. The scoring itself is :mod:`medtwin.models.scores` (RCP 2017
NEWS2 Charts 1, 2 and 4; Seymour et al., JAMA 2016 for qSOFA; Subbe et al., QJM 2001 for MEWS),
used unchanged; which readings count is :mod:`.stale`. The live service that calls this on new
readings is :mod:`.scoring`; the meta keys of each score are listed there and in docs/monitoring.md.

An input a score function refuses (for example a GCS of 14.5: inside the technical bounds but
not a whole number) is dropped and listed under ``meta["invalid"]``, making the score partial;
it is never replaced by a guess.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from typing import Any

from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ValidationError
from medtwin.core.model import Method, Observation, ObsStatus, Twin
from medtwin.models.scores import SUBBE_2001, MewsBoundaries, score_mews, score_news2, score_qsofa
from medtwin.services.monitoring.stale import DEFAULT_MAX_AGE_S, OXYGEN_KEYS, Inputs, gather

SOURCE = "medtwin:scores"
ACTOR = "service:scoring"
SCORES: tuple[str, ...] = ("news2", "qsofa", "mews")
SCORE_REFS: dict[str, str] = {s: BY_KEY[s].ref for s in SCORES}
SCORE_UNIT = "{score}"

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
        """Defaults overlaid with a mapping (a ``[medtwin.scoring]`` TOML table); unknown keys are refused."""
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        for k in raw:
            if k not in known:
                raise ValidationError(f"unknown scoring setting {k!r}", field=f"scoring.{k}")
        try:
            ages = dict(DEFAULT_MAX_AGE_S)
            ages.update({str(k): float(v) for k, v in dict(raw.pop("max_age_s", {}) or {}).items()})
            if "scores" in raw:
                raw["scores"] = tuple(raw["scores"])
            if isinstance(raw.get("mews_boundaries"), Mapping):
                raw["mews_boundaries"] = MewsBoundaries(**raw["mews_boundaries"])
            return cls(max_age_s=ages, **raw)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"invalid scoring settings: {exc}", field="scoring") from exc


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


@lru_cache(maxsize=65_536, typed=True)
def _score_memo(
    kind: str, items: tuple[tuple[str, Any], ...], scale: int, boundaries: MewsBoundaries
) -> tuple[Any, tuple[tuple[str, str], ...], frozenset[str]]:
    """The score of one set of input values: (result, invalid inputs, arguments dropped).

    Pure functions of their arguments, so results are memoised: monitors repeat the same values
    (an NIBP reading stands for many minutes, a ward's patients share typical values), and the
    scoring service recomputes on every new reading to see whether anything changed."""
    args = dict(items)
    if kind == "news2":
        res, invalid = _run_dropping_invalid(
            lambda **a: score_news2(scale=scale, **a), args, {"air_or_oxygen": "on_oxygen"}
        )
    elif kind == "qsofa":
        res, invalid = _run_dropping_invalid(score_qsofa, args, {})
    else:
        res, invalid = _run_dropping_invalid(lambda **a: score_mews(boundaries=boundaries, **a), args, {})
    dropped = frozenset(k for k, v in items if v is not None and args[k] is None)
    return res, tuple(invalid.items()), dropped


def _score(
    kind: str, args: dict[str, Any], scale: int = 1, boundaries: MewsBoundaries = SUBBE_2001
) -> tuple[Any, dict[str, str]]:
    """Score ``args`` (memoised); inputs the score function refused are set to None in ``args``."""
    res, invalid, dropped = _score_memo(kind, tuple(args.items()), scale, boundaries)
    for k in dropped:
        args[k] = None
    return res, dict(invalid)


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
    res, invalid = _score("news2", args, scale)
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
    res, invalid = _score("qsofa", args)
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
    res, invalid = _score("mews", args, boundaries=boundaries)
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
    trigger: str | None = None,
) -> list[ScoreOutcome]:
    """Every configured score of one patient from its latest state (pure: no I/O).

    The same readings give the same ``source_id`` (idempotent). ``trigger`` marks a deliberate
    new assessment of possibly unchanged readings (after a correction or a scale change, when the
    latest state may have gone *back* to readings scored before): it is added to the key and to
    ``meta["trigger"]`` so that the new assessment is stored and becomes the latest score."""
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
    done = [o for o in out if o is not None]
    if trigger:
        tag = hashlib.blake2b(trigger.encode(), digest_size=4).hexdigest()
        for o in done:
            o.observation.source_id = f"{o.observation.source_id}-{tag}"
            if o.observation.meta is not None:
                o.observation.meta["trigger"] = trigger
    return done
