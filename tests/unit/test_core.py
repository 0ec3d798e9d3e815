"""Kernel: codes, units, validation, clock, bus."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medtwin.core import codes, units
from medtwin.core.bus import Bus
from medtwin.core.clock import ManualClock, from_us, to_us
from medtwin.core.errors import ValidationError
from medtwin.core.events import Context, Generic, ObservationsRecorded
from medtwin.core.model import Method, ObsStatus
from medtwin.core.validate import build_observation, parse_time

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def obs(raw: dict, **kw):  # type: ignore[no-untyped-def]
    return build_observation(raw, twin_id="P1", source="dev", source_id="1", received=NOW, **kw)


def test_code_table_has_the_seed_codes() -> None:
    for loinc in ("8867-4", "9279-1", "2708-6", "59408-5", "8480-6", "8462-4", "8310-5", "29463-7"):
        assert codes.lookup(loinc, "loinc") is not None, loinc
    assert codes.lookup("59408-5", "http://loinc.org") is codes.BY_KEY["spo2"]  # alias -> canonical
    assert codes.lookup("147842", "mdc") is codes.BY_KEY["hr"]
    assert codes.lookup("150456^MDC_PULS_OXIM_SAT_O2^MDC", "mdc") is codes.BY_KEY["spo2"]
    assert codes.lookup("hr") is codes.BY_KEY["hr"]
    assert codes.lookup("nonsense", "loinc") is None


@pytest.mark.parametrize(
    ("value", "unit", "canonical", "expected"),
    [
        (98.6, "[degF]", "Cel", 37.0),
        (212, "degF", "Cel", 100.0),
        (10, "kPa", "mm[Hg]", 75.00616827),
        (5.5, "mmol/L", "mg/dL", 99.0858),
        (220.462262, "lb", "kg", 100.0),
        (120, "mmHg", "mm[Hg]", 120.0),
        (72, "bpm", "/min", 72.0),
    ],
)
def test_unit_conversions(value: float, unit: str, canonical: str, expected: float) -> None:
    assert units.to_canonical(value, unit, canonical) == pytest.approx(expected, rel=1e-6)


def test_impossible_unit_is_named() -> None:
    with pytest.raises(ValidationError) as e:
        units.to_canonical(80, "mg/dL", "/min")
    assert e.value.field == "unit"
    with pytest.raises(ValidationError):
        units.normalise_unit("furlongs")


def test_build_observation_converts_and_names_fields() -> None:
    o = obs({"code": "8310-5", "value": 98.6, "unit": "degF", "time": "2026-11-28T09:00:00+01:00"})
    assert o.code == "8310-5" and o.unit == "Cel" and o.value == pytest.approx(37.0)
    assert o.effective == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    cases = [
        ({"value": 1, "time": 0}, "code"),
        ({"code": "xyz", "value": 1, "time": 0}, "code"),
        ({"code": "hr", "value": "abc", "time": 0}, "value"),
        ({"code": "hr", "value": True, "time": 0}, "value"),
        ({"code": "hr", "value": float("nan"), "time": 0}, "value"),
        ({"code": "hr", "value": 900, "time": 0}, "value"),
        ({"code": "hr", "value": 80, "unit": "kg", "time": 0}, "unit"),
        ({"code": "hr", "value": 80, "time": "yesterday"}, "time"),
        ({"code": "hr", "value": 80, "time": "2026-11-28T10:00:00"}, "time"),  # naive
        ({"code": "hr", "value": 80, "time": "2030-01-01T00:00:00Z"}, "time"),  # future
        ({"code": "hr", "value": 80, "time": 0, "status": "bogus"}, "status"),
        ({"code": "acvpu", "value": "X", "time": 0}, "value"),
    ]
    for raw, field in cases:
        with pytest.raises(ValidationError) as e:
            obs(raw)
        assert e.value.field == field, raw


def test_coded_and_manual() -> None:
    o = obs({"code": "acvpu", "value": "c"}, default_method=Method.MANUAL)
    assert o.value_text == "C" and o.value is None and o.effective == NOW and o.method is Method.MANUAL
    o2 = obs({"code": "hr", "value": 80, "time": 0, "status": "entered-in-error"})
    assert o2.status is ObsStatus.ENTERED_IN_ERROR


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.text(max_size=30),
        st.booleans(),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )
)
def test_parse_time_never_crashes(value: object) -> None:
    try:
        t = parse_time(value)
    except ValidationError:
        return
    assert t.tzinfo is not None


@given(
    st.dictionaries(
        st.sampled_from(["code", "value", "unit", "time", "status", "method", "system", "x"]),
        st.one_of(
            st.none(),
            st.integers(-(10**6), 10**6),
            st.floats(allow_nan=True),
            st.text(max_size=12),
            st.booleans(),
            st.sampled_from(["hr", "8867-4", "bpm", "2026-11-28T10:00:00Z"]),
        ),
    )
)
def test_build_observation_only_raises_validation_errors(raw: dict) -> None:
    try:
        o = obs(raw)
    except ValidationError as e:
        assert e.field and e.reason
        return
    assert o.value is None or math.isfinite(o.value)


def test_clock_and_time_columns() -> None:
    c = ManualClock(NOW)
    c.advance(1.5)
    assert c.now() - NOW == timedelta(seconds=1.5)
    assert from_us(to_us(NOW)) == NOW
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose


def test_bus_isolates_failing_handlers() -> None:
    bus = Bus()
    seen: list[str] = []

    def bad(_e: object) -> None:
        raise RuntimeError("boom")

    bus.subscribe(ObservationsRecorded, bad)
    unsub = bus.subscribe(ObservationsRecorded, lambda e: seen.append("obs"))
    bus.subscribe(Generic, lambda e: seen.append(e.type))
    bus.publish(ObservationsRecorded(time=NOW, context=Context()))
    bus.publish(Generic(time=NOW, context=Context(), type="alarm"))
    unsub()
    bus.publish(ObservationsRecorded(time=NOW, context=Context()))
    assert seen == ["obs", "alarm"] and bus.errors == 2


def test_context_chain() -> None:
    root = Context(actor="user:n1")
    child = root.child("rule:news2")
    assert child.parent_id == root.id and child.actor == "rule:news2" and child.id != root.id
