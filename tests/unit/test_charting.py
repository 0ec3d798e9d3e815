"""Charting service and corrections store: amend chains, entered-in-error and the latest state,
derived rows, scores following corrections, fluid balance from the twin's weight, settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from medtwin.config import Settings
from medtwin.core.clock import ManualClock
from medtwin.core.codes import BY_KEY
from medtwin.core.errors import ConflictError, NotFoundError, ValidationError
from medtwin.core.events import Generic, ObservationsRecorded
from medtwin.core.model import Observation, ObsStatus, Twin, TwinKind
from medtwin.runtime import Runtime
from medtwin.services.monitoring.charting import ChartingService
from medtwin.services.monitoring.scoring import SCORE_REFS, ScoringService
from medtwin.store import corrections

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
HR = BY_KEY["hr"].ref
NURSE = "N1"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def rt(tmp_path: Path, clock: ManualClock) -> Iterator[Runtime]:
    r = Runtime(Settings.load(db=str(tmp_path / "c.db"), mqtt_enabled=False), clock=clock)
    r.registry.put(Twin("P1", TwinKind.PATIENT, "Synthetic", {"weight_kg": 80}))
    r.registry.put(Twin(NURSE, TwinKind.STAFF, "Nurse", {"role": "nurse"}))
    r.start()
    yield r
    r.stop()


@pytest.fixture
def svc(rt: Runtime) -> ChartingService:
    return ChartingService(rt)


def chart(svc: ChartingService, when: datetime | None = None, **body: Any) -> list[Observation]:
    body.setdefault("by", NURSE)
    if when is not None:
        body["time"] = when.isoformat()
    res = svc.chart("P1", body).result(10)
    assert not res.rejected, res.rejected
    return res.observations


def test_amend_chain_and_latest(rt: Runtime, svc: ChartingService, clock: ManualClock) -> None:
    (a,) = chart(svc, readings=[{"code": "hr", "value": 180}])
    assert a.id is not None
    clock.advance(60)
    orig, b, corr = svc.amend(a.id, {"by": NURSE, "value": 108, "reason": "typo"})
    assert b.status is ObsStatus.AMENDED and b.effective == a.effective and b.received == clock.now()
    assert orig.status is ObsStatus.ENTERED_IN_ERROR and orig.value == 180 and corr.previous_status == "final"
    assert b.id is not None
    _o, c, _corr = svc.amend(b.id, {"by": NURSE, "value": 80, "reason": "second look: 80"})
    assert c.meta == {"replaces": b.id, "reason": "second look: 80", "by": NURSE}
    assert rt.store.latest("P1")[HR].id == c.id
    stored = {o.id: o for o in rt.store.history("P1", HR, include_errors=True)}
    assert [(stored[i].value, stored[i].status.value) for i in (a.id, b.id, c.id)] == [
        (180, "entered-in-error"),
        (108, "entered-in-error"),
        (80, "amended"),
    ]
    found = corrections.corrections_for(rt.store, [a.id, b.id, c.id])
    assert found[a.id].new_obs_id == b.id and found[b.id].new_obs_id == c.id and c.id not in found
    with pytest.raises(ConflictError):
        svc.amend(a.id, {"by": NURSE, "value": 70, "reason": "late"})


def test_entered_in_error_of_the_only_reading_clears_latest(rt: Runtime, svc: ChartingService) -> None:
    (a,) = chart(svc, readings=[{"code": "hr", "value": 72}])
    assert a.id is not None
    svc.enter_in_error(a.id, {"by": NURSE, "reason": "wrong patient"})
    assert HR not in rt.store.latest("P1")
    assert rt.store.history("P1", HR) == []
    (kept,) = rt.store.history("P1", HR, include_errors=True)
    assert kept.value == 72 and kept.status is ObsStatus.ENTERED_IN_ERROR and kept.source == f"user:{NURSE}"
    corr = corrections.correction_of(rt.store, a.id)
    assert (
        corr is not None
        and corr.action == "entered-in-error"
        and corr.new_obs_id is None
        and corr.by == NURSE
    )


def test_a_newer_reading_stays_latest_after_amending_an_older_one(rt: Runtime, svc: ChartingService) -> None:
    (old,) = chart(svc, T0 - timedelta(hours=1), readings=[{"code": "hr", "value": 150}])
    (new,) = chart(svc, T0, readings=[{"code": "hr", "value": 75}])
    assert old.id is not None
    svc.amend(old.id, {"by": NURSE, "value": 90, "reason": "misread"})
    assert rt.store.latest("P1")[HR].id == new.id
    assert [o.value for o in rt.store.history("P1", HR)] == [90, 75]


def test_text_notes_can_be_amended(svc: ChartingService) -> None:
    (note,) = chart(svc, note="Pt comfortable")
    assert note.id is not None
    _o, new, _c = svc.amend(
        note.id, {"by": NURSE, "value": "Patient comfortable, pain 2/10", "reason": "incomplete"}
    )
    assert new.value_text == "Patient comfortable, pain 2/10" and new.value is None and new.unit == ""


def test_derived_and_missing_observations_cannot_be_corrected(rt: Runtime, svc: ChartingService) -> None:
    scoring = ScoringService().attach(rt).start()
    chart(svc, readings=[{"code": "hr", "value": 135}])
    assert scoring.wait_idle()
    (score,) = rt.store.history("P1", SCORE_REFS["news2"])
    assert score.id is not None
    with pytest.raises(ValidationError) as e:
        svc.enter_in_error(score.id, {"by": NURSE, "reason": "x"})
    assert e.value.field == "obs_id"
    with pytest.raises(NotFoundError):
        svc.enter_in_error(424242, {"by": NURSE, "reason": "x"})


def test_scores_follow_corrections(rt: Runtime, svc: ChartingService, clock: ManualClock) -> None:
    scoring = ScoringService().attach(rt).start()
    events: list[Any] = []
    rt.bus.subscribe(Generic, lambda e: events.append(e.type))
    recorded: list[int] = []
    rt.bus.subscribe(ObservationsRecorded, lambda e: recorded.extend(o.id for o in e.observations))
    obs = chart(svc, readings=[{"code": "hr", "value": 135}, {"code": "rr", "value": 16}])
    hr = next(o for o in obs if o.code == HR)
    assert hr.id is not None and scoring.wait_idle()
    assert rt.store.latest("P1")[SCORE_REFS["news2"]].value == 3  # HR 135 -> 3
    clock.advance(1)
    _o, new, _c = svc.amend(hr.id, {"by": NURSE, "value": 85, "reason": "artefact"})
    assert new.id in recorded and "observation_corrected" in events
    assert scoring.wait_idle()
    n = rt.store.latest("P1")[SCORE_REFS["news2"]]
    assert (
        n.value == 0 and n.meta and new.id in n.meta["derived_from"] and hr.id not in n.meta["derived_from"]
    )
    clock.advance(1)
    assert new.id is not None
    svc.enter_in_error(new.id, {"by": NURSE, "reason": "wrong patient"})
    assert scoring.wait_idle()
    n = rt.store.latest("P1")[SCORE_REFS["news2"]]
    assert n.meta and "hr" in n.meta["missing"] and n.meta["partial"] is True


def test_fluid_balance_uses_twin_weight(rt: Runtime, svc: ChartingService, clock: ManualClock) -> None:
    chart(svc, T0 - timedelta(hours=5), fluid={"intake_ml": 1000, "output_ml": 400})
    chart(svc, T0 - timedelta(hours=13), fluid={"output_ml": 600})
    fb = svc.fluid_balance("P1", 12)
    assert (fb["intake_ml"], fb["output_ml"], fb["balance_ml"]) == (1000, 400, 600)
    assert fb["weight_kg"] == 80 and fb["urine_ml_per_kg_h"] == pytest.approx(400 / 80 / 12, abs=1e-3)
    assert fb["since"] == "2026-11-27T20:00:00Z" and fb["until"] == "2026-11-28T08:00:00Z"
    assert svc.fluid_balance("P1", 24)["output_ml"] == 1000
    with pytest.raises(ValidationError):
        svc.fluid_balance("P1", -1)


def test_medication_rejects_are_numbered_in_their_own_list(svc: ChartingService) -> None:
    _obs, meds, rejects, by = svc.prepare(
        "P1",
        {
            "by": NURSE,
            "readings": [{"code": "hr", "value": 70}],
            "medications": [
                {"drug": "paracetamol", "dose": 1, "unit": "g", "route": "oral"},
                {"drug": "", "dose": 1, "unit": "g"},
                {"drug": "x", "dose": 1, "unit": "g", "time": "yesterday"},
            ],
        },
    )
    assert by == NURSE and len(meds) == 1 and meds[0].performer == NURSE
    assert [(r["index"], r["field"]) for r in rejects] == [
        (1, "medications[1].drug"),
        (2, "medications[2].time"),
    ]


def test_scale_setting_recomputes_news2(rt: Runtime, svc: ChartingService) -> None:
    scoring = ScoringService().attach(rt).start()
    chart(svc, readings=[{"code": "spo2", "value": 89}, {"code": "o2_device", "value": "air"}])
    assert scoring.wait_idle()
    assert rt.store.latest("P1")[SCORE_REFS["news2"]].meta["subscores"]["spo2"] == 3  # type: ignore[index]
    out = svc.set_monitoring_settings("P1", {"news2_scale": 2, "by": NURSE, "reason": "hypercapnic RF"})
    assert out["news2_scale"] == 2 and out["time"] == "2026-11-28T08:00:00Z"
    assert scoring.wait_idle()
    n = rt.store.latest("P1")[SCORE_REFS["news2"]]
    assert n.meta and n.meta["scale"] == 2 and n.meta["subscores"]["spo2"] == 0
    t = rt.registry.get("P1")
    assert t.attributes["weight_kg"] == 80  # other attributes are kept
    rt.registry.put(replace(t, attributes={**t.attributes, "news2_scale": 1}))
    assert scoring.wait_idle()
    assert rt.store.latest("P1")[SCORE_REFS["news2"]].meta["scale"] == 1  # type: ignore[index]
