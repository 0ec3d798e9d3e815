"""Live scores: recomputed on new readings, partial and stale inputs, NEWS2 scale 2 from the twin,
air/oxygen detection, provenance, idempotency, rate limit, no feedback loop.

Expected totals are worked from the published tables: RCP 2017 NEWS2 Chart 1 (and the RCP/
Synanetics worked case RR 21, HR 95, SpO2 93 on air, 37.5 degC, SBP 120, Alert = 5, medium),
Seymour 2016 (qSOFA) and Subbe 2001 Table 1 (MEWS).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from medtwin.config import Settings
from medtwin.core.clock import ManualClock
from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ValidationError
from medtwin.core.events import Generic
from medtwin.core.model import Method, Observation, ObsStatus, Twin, TwinKind
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime
from medtwin.services.monitoring.scoring import (
    SCORE_REFS,
    SOURCE,
    ScoringConfig,
    ScoringService,
    compute_scores,
)
from medtwin.services.monitoring.stale import DEFAULT_MAX_AGE_S, gather

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
NEWS2 = SCORE_REFS["news2"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def rt(tmp_path: Path, clock: ManualClock) -> Iterator[Runtime]:
    r = Runtime(Settings.load(db=str(tmp_path / "s.db"), mqtt_enabled=False), clock=clock)
    r.registry.put(Twin("P1", TwinKind.PATIENT, "Synthetic P1"))
    r.registry.put(Twin("P2", TwinKind.PATIENT, "Synthetic P2", {"news2_scale": 2}))
    r.start()
    yield r
    r.stop()


@pytest.fixture
def svc(rt: Runtime) -> ScoringService:
    return ScoringService(ScoringConfig(min_interval_s=5.0)).attach(rt).start()


_seq = [0]


def chart(
    rt: Runtime, patient: str, when: datetime, method: Method = Method.DEVICE, **values: Any
) -> list[Observation]:
    _seq[0] += 1
    readings = [{"code": k, "value": v, "time": when.isoformat()} for k, v in values.items()]
    res = rt.ingestor.ingest(
        ReadingBatch(source="MON-T", msg_id=str(_seq[0]), readings=readings, subject=patient, method=method)
    ).result(10)
    assert not res.rejected, res.rejected
    return res.observations


def scores(rt: Runtime, patient: str, score: str = "news2") -> list[Observation]:
    return rt.store.history(patient, SCORE_REFS[score], T0 - timedelta(days=2), T0 + timedelta(days=2))


FULL = {"rr": 21, "hr": 95, "spo2": 93, "o2_device": "air", "temp": 37.5, "sbp": 120, "acvpu": "A"}


def test_scores_recomputed_on_new_readings_with_provenance(rt: Runtime, svc: ScoringService) -> None:
    events: list[Generic] = []
    rt.bus.subscribe(Generic, lambda e: events.append(e) if e.type == "score" else None)
    inputs = chart(rt, "P1", T0, **FULL)
    assert svc.wait_idle()
    (n,) = scores(rt, "P1")
    assert n.value == 5 and n.unit == "{score}" and n.method is Method.DERIVED and n.source == SOURCE
    assert n.code == "snomed|1104051000000101" and n.effective == T0
    m = n.meta or {}
    assert m["band"] == "medium" and m["partial"] is False and m["missing"] == [] and m["stale"] == []
    assert m["subscores"] == {
        "rr": 2,
        "spo2": 2,
        "air_or_oxygen": 0,
        "sbp": 0,
        "hr": 1,
        "consciousness": 0,
        "temp": 0,
    }
    assert (
        m["single_parameter_3"] is False
        and m["scale"] == 1
        and m["monitoring_frequency"] == "minimum 1-hourly"
    )
    assert m["response"].startswith("Urgent response")
    assert m["derived_from"] == sorted(o.id for o in inputs)  # every input went in, nothing else
    assert n.source_id.startswith("P1/news2/")
    # qSOFA: RR 21 < 22, SBP 120 > 100, alert -> 0, negative. MEWS: RR 21 -> 2, rest 0.
    (q,) = scores(rt, "P1", "qsofa")
    assert q.value == 0 and q.meta and q.meta["band"] == "negative" and q.meta["partial"] is False
    (w,) = scores(rt, "P1", "mews")
    assert w.value == 2 and w.meta and w.meta["subscores"]["rr"] == 2 and w.meta["band"] == "lower-risk"
    assert {e.data["score"] for e in events} == {"news2", "qsofa", "mews"}
    # a pulse of 135 scores 3 (>= 131): 2+2+0+0+3+0+0 = 7, high, stored at once (band changed)
    rt.clock.advance(1)  # type: ignore[attr-defined]
    (hr,) = chart(rt, "P1", T0 + timedelta(seconds=1), hr=135)
    assert svc.wait_idle()
    latest = scores(rt, "P1")[-1]
    assert latest.value == 7 and latest.meta and latest.meta["band"] == "high"
    assert latest.meta["single_parameter_3"] is True and hr.id in latest.meta["derived_from"]
    ev = [e for e in events if e.data["score"] == "news2"][-1]
    assert (
        ev.data["previous_band"] == "medium" and ev.data["band"] == "high" and ev.data["obs_id"] == latest.id
    )
    assert rt.store.latest("P1")[NEWS2].value == 7  # latest state follows


def test_partial_is_never_zero(rt: Runtime, svc: ScoringService) -> None:
    chart(rt, "P1", T0, hr=135, rr=16)
    assert svc.wait_idle()
    (n,) = scores(rt, "P1")
    m = n.meta or {}
    assert m["partial"] is True and n.value == 3
    assert set(m["missing"]) == {"spo2", "air_or_oxygen", "sbp", "consciousness", "temp"}
    assert m["subscores"]["spo2"] is None and m["stale"] == []
    (q,) = scores(rt, "P1", "qsofa")
    assert q.meta and q.meta["partial"] is True and q.meta["missing"] == ["sbp", "mentation"]


def test_stale_inputs_count_as_missing(rt: Runtime, svc: ScoringService, clock: ManualClock) -> None:
    chart(rt, "P1", T0, **FULL)
    assert svc.wait_idle()
    # 12 h 1 s later only the pulse is re-measured: everything else is older than 12 h (RCP Chart 4)
    later = clock.advance(12 * 3600 + 1)
    (hr,) = chart(rt, "P1", later, hr=95)
    assert svc.wait_idle()
    n = scores(rt, "P1")[-1]
    m = n.meta or {}
    assert n.effective == later and m["partial"] is True and m["derived_from"] == [hr.id]
    assert set(m["stale"]) == {"rr", "spo2", "air_or_oxygen", "sbp", "consciousness", "temp"}
    assert n.value == 1  # only HR 95 (1 point); stale readings are not carried forward


def test_max_age_is_configurable_per_parameter() -> None:
    ages = dict(DEFAULT_MAX_AGE_S, spo2=60.0)
    spo2 = _o("spo2", 88, T0)
    hr = _o("hr", 70, T0 + timedelta(seconds=61))
    inp = gather({spo2.code: spo2, hr.code: hr}, now=T0 + timedelta(hours=1), max_age_s=ages)
    assert inp.ref_time == hr.effective and set(inp.fresh) == {"hr"} and set(inp.stale) == {"spo2"}
    inp = gather(
        {spo2.code: spo2, hr.code: hr},
        now=T0 + timedelta(hours=1),
        max_age_s=DEFAULT_MAX_AGE_S,
        device_max_age_s=30,
    )
    assert set(inp.stale) == {"spo2"}  # device readings capped at 30 s
    # backfill: ages are judged from the newest input, not from today
    inp = gather({spo2.code: spo2}, now=T0 + timedelta(days=30), max_age_s=DEFAULT_MAX_AGE_S)
    assert set(inp.fresh) == {"spo2"} and inp.ref_time == T0


def test_scale_2_from_twin_attributes(rt: Runtime, svc: ScoringService) -> None:
    # SpO2 90 % on air: scale 1 -> 3 points; scale 2 (88-92) -> 0 points
    chart(rt, "P1", T0, spo2=90, o2_device="air")
    chart(rt, "P2", T0, spo2=90, o2_device="air")
    assert svc.wait_idle()
    assert scores(rt, "P1")[-1].meta["subscores"]["spo2"] == 3  # type: ignore[index]
    p2 = scores(rt, "P2")[-1]
    assert p2.meta and p2.meta["scale"] == 2 and p2.meta["subscores"]["spo2"] == 0
    # a clinician moves P1 to scale 2: recomputed at once from the same readings, new key
    before = scores(rt, "P1")[-1]
    t = rt.registry.get("P1")
    rt.registry.put(replace(t, attributes={**t.attributes, "news2_scale": 2}))
    assert svc.wait_idle()
    after = scores(rt, "P1")[-1]
    assert after.id != before.id and after.meta and after.meta["scale"] == 2
    assert after.meta["subscores"]["spo2"] == 0 and after.source_id != before.source_id
    # on scale 2, SpO2 97 % on oxygen scores 3 (plus 2 for oxygen)
    rt.clock.advance(1)  # type: ignore[attr-defined]
    chart(rt, "P2", T0 + timedelta(seconds=1), spo2=97, o2_flow=2)
    assert svc.wait_idle()
    m = scores(rt, "P2")[-1].meta or {}
    assert m["subscores"]["spo2"] == 3 and m["subscores"]["air_or_oxygen"] == 2


@pytest.mark.parametrize(
    ("readings", "oxygen"),
    [
        ({"o2_device": "oxygen"}, True),
        ({"o2_device": "air"}, False),
        ({"o2_flow": 2}, True),
        ({"o2_flow": 0}, False),
        ({"fio2": 28}, True),
        ({"fio2": 21}, False),
        ({}, None),
    ],
)
def test_oxygen_detection(readings: dict[str, Any], oxygen: bool | None) -> None:
    latest = {o.code: o for o in (_o(k, v, T0) for k, v in {"spo2": 95, **readings}.items())}
    (n, *_rest) = compute_scores("P1", latest, now=T0, config=ScoringConfig())
    assert n.observation.meta and n.observation.meta["subscores"]["air_or_oxygen"] == (
        None if oxygen is None else 2 * oxygen
    )


def test_newest_oxygen_reading_decides() -> None:
    flow = _o("o2_flow", 2, T0)
    air = _o("o2_device", "air", T0 + timedelta(minutes=5))
    (n, *_r) = compute_scores(
        "P1", {flow.code: flow, air.code: air}, now=T0 + timedelta(minutes=5), config=ScoringConfig()
    )
    m = n.observation.meta or {}
    assert m["subscores"]["air_or_oxygen"] == 0 and m["inputs"]["air_or_oxygen"] == air.id
    same_time = _o("o2_device", "air", T0)
    (n, *_r) = compute_scores(
        "P1", {flow.code: flow, same_time.code: same_time}, now=T0, config=ScoringConfig()
    )
    assert (n.observation.meta or {})["subscores"]["air_or_oxygen"] == 2  # a tie: oxygen wins


def test_idempotent_and_no_loop(rt: Runtime, svc: ScoringService) -> None:
    chart(rt, "P1", T0, **FULL)
    assert svc.wait_idle()
    rows = rt.store.count_observations("P1")
    rounds = svc.rounds
    time.sleep(0.3)  # the service's own derived observations must not wake it again
    assert svc.rounds == rounds and rt.store.count_observations("P1") == rows
    # recomputation from the same readings stores nothing new: skipped in memory, and after a
    # restart (memory lost) refused by the store's idempotency key
    assert svc.process(["P1"]) == []
    svc._last.clear()
    assert svc.process(["P1"]) == []
    assert rt.store.count_observations("P1") == rows
    # a deliberate re-assessment (after a correction or a scale change) is stored, with its trigger
    again = svc.process(["P1"], trigger="entered-in-error 42")
    assert len(again) == 3 and all((o.meta or {})["trigger"] == "entered-in-error 42" for o in again)
    # and the pure computation is deterministic
    latest = rt.store.latest("P1")
    a = compute_scores("P1", latest, now=T0, config=ScoringConfig())
    b = compute_scores("P1", latest, now=T0 + timedelta(seconds=3), config=ScoringConfig())
    assert [x.key for x in a] == [y.key for y in b]
    assert {x.key for x in a} < {o.source_id for c in ("news2", "qsofa", "mews") for o in scores(rt, "P1", c)}


def test_rate_limit_defers_but_never_drops(rt: Runtime, svc: ScoringService, clock: ManualClock) -> None:
    chart(rt, "P1", T0, **FULL)
    assert svc.wait_idle()
    assert len(scores(rt, "P1")) == 1
    clock.advance(1)
    (hr,) = chart(rt, "P1", T0 + timedelta(seconds=1), hr=96)  # same band, same total: rate-limited
    assert svc.wait_idle()
    assert len(scores(rt, "P1")) == 1
    clock.advance(2)
    chart(rt, "P1", T0 + timedelta(seconds=3), hr=140)  # total changes: stored at once
    assert svc.wait_idle()
    assert [s.value for s in scores(rt, "P1")] == [5, 7]
    clock.advance(1)
    (hr2,) = chart(rt, "P1", T0 + timedelta(seconds=4), hr=141)  # same total again: deferred
    assert svc.wait_idle()
    assert len(scores(rt, "P1")) == 2
    clock.advance(5)  # the interval ends: the newest inputs are stored without a new reading
    deadline = time.monotonic() + 5
    while len(scores(rt, "P1")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    last = scores(rt, "P1")[-1]
    assert (
        last.value == 7
        and last.meta
        and hr2.id in last.meta["derived_from"]
        and hr.id not in last.meta["derived_from"]
    )


def test_qsofa_mentation_and_mews_confusion(rt: Runtime, svc: ScoringService) -> None:
    chart(rt, "P1", T0, Method.MANUAL, rr=22, sbp=100, gcs=14, acvpu="C", hr=80, temp=37.0)
    assert svc.wait_idle()
    q = scores(rt, "P1", "qsofa")[-1]
    assert q.value == 3 and q.meta and q.meta["band"] == "positive" and q.meta["partial"] is False
    assert set(q.meta["inputs"]) == {"rr", "sbp", "mentation.gcs", "mentation.acvpu"}
    w = scores(rt, "P1", "mews")[-1]
    m = w.meta or {}
    assert m["partial"] is True and "avpu" in m["missing"] and "avpu" in m["invalid"]
    # MEWS: SBP 100 -> 1, HR 80 -> 0, RR 22 -> 2, 37.0 -> 0 = 3
    assert w.value == 3
    n = scores(rt, "P1")[-1]
    assert n.meta and n.meta["subscores"]["consciousness"] == 3  # new confusion scores 3 on NEWS2


def test_invalid_input_is_dropped_not_guessed() -> None:
    gcs = _o("gcs", 14.5, T0)  # inside the technical bounds, but a GCS is a whole number
    rr = _o("rr", 25, T0)
    out = {
        o.score: o for o in compute_scores("P1", {gcs.code: gcs, rr.code: rr}, now=T0, config=ScoringConfig())
    }
    m = out["qsofa"].observation.meta or {}
    assert "gcs" in m["invalid"] and m["criteria"]["mentation"] is None and m["partial"] is True
    assert m["derived_from"] == [rr.id]


def test_entered_in_error_reading_is_not_an_input() -> None:
    hr = _o("hr", 150, T0)
    assert compute_scores("P1", {}, now=T0, config=ScoringConfig()) == []
    derived = replace(_o("news2", 5, T0), method=Method.DERIVED)
    assert compute_scores("P1", {derived.code: derived}, now=T0, config=ScoringConfig()) == []
    assert compute_scores("P1", {hr.code: hr}, now=T0, config=ScoringConfig())[0].value == 3


def test_config_validation_and_from_mapping() -> None:
    c = ScoringConfig.from_mapping({"max_age_s": {"hr": 300}, "min_interval_s": 10, "scores": ["news2"]})
    assert c.max_age_s["hr"] == 300 and c.max_age_s["rr"] == 12 * 3600 and c.scores == ("news2",)
    with pytest.raises(Exception, match="unknown score"):
        ScoringConfig(scores=("pews",))
    with pytest.raises(ValidationError) as e:
        ScoringConfig.from_mapping({"min_intervall_s": 3})
    assert e.value.field == "scoring.min_intervall_s"
    m = ScoringConfig.from_mapping({"mews_boundaries": {"hr_3_from": 131}, "device_max_age_s": 300})
    assert m.mews_boundaries.hr_3_from == 131 and m.device_max_age_s == 300


_ids = [1000]


def _o(key: str, value: Any, when: datetime) -> Observation:
    info = BY_KEY[key]
    _ids[0] += 1
    num = value if not isinstance(value, str) else None
    return Observation(
        twin_id="P1",
        code=info.ref,
        effective=when,
        received=when,
        source="test",
        source_id=str(_ids[0]),
        value=None if num is None else float(num),
        value_text=value if isinstance(value, str) else None,
        unit=info.unit,
        status=ObsStatus.FINAL,
        id=_ids[0],
    )


def test_only_patients_are_scored(rt: Runtime, svc: ScoringService) -> None:
    rt.registry.put(Twin("R1", TwinKind.ROOM, "Room 1"))
    # a place can hold readings (environment sensors; the Ingestor may refuse vital signs for it)
    readings = [{"code": k, "value": v, "time": T0.isoformat()} for k, v in (("hr", 140), ("rr", 30))]
    rt.ingestor.ingest(ReadingBatch(source="MON-R", msg_id="r1", readings=readings, subject="R1")).result(10)
    chart(rt, "P1", T0, hr=140)
    assert svc.wait_idle()
    assert scores(rt, "R1") == [] and len(scores(rt, "P1")) == 1
