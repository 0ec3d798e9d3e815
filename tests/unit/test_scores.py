"""Early-warning scores checked against their published tables.

Sources: RCP 2017 NEWS2 report, Charts 1, 2 and 4; Seymour et al., JAMA 2016;315(8):762-774
(qSOFA); Subbe et al., QJM 2001;94:521-526, Table 1 (MEWS), with the boundary conventions
documented in medtwin.models.scores.mews.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from medtwin.cli.score import score_app
from medtwin.core.errors import ValidationError
from medtwin.models.scores import (
    Band,
    Consciousness,
    MewsBoundaries,
    clinical_response,
    round_half_up,
)
from medtwin.models.scores import news2 as news2_mod
from medtwin.models.scores import score_mews as mews
from medtwin.models.scores import score_news2 as news2
from medtwin.models.scores import score_qsofa as qsofa

# A full set of readings that scores 0 on every NEWS2 parameter (RCP 2017, Chart 1).
NORMAL: dict[str, Any] = {
    "rr": 16,
    "spo2": 98,
    "on_oxygen": False,
    "sbp": 120,
    "hr": 70,
    "consciousness": "A",
    "temp": 37.0,
}
# The worst value of every NEWS2 parameter (RCP 2017, Chart 1): 3+3+2+3+3+3+3 = 20.
WORST: dict[str, Any] = {
    "rr": 5,
    "spo2": 80,
    "on_oxygen": True,
    "sbp": 80,
    "hr": 150,
    "consciousness": "U",
    "temp": 34.0,
}
# A full set of readings that scores 0 on every MEWS parameter (Subbe 2001, Table 1).
MEWS_NORMAL: dict[str, Any] = {"sbp": 120, "hr": 70, "rr": 12, "temp": 37.0, "avpu": "A"}


def with_(base: dict[str, Any], **change: Any) -> dict[str, Any]:
    return {**base, **change}


# --- rounding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (38.05, 1, 38.1),
        (38.04, 1, 38.0),
        (38.15, 1, 38.2),  # binary 38.149999..., still half-up on the decimal as written
        (35.05, 1, 35.1),
        (36.049, 1, 36.0),
        (20.5, 0, 21.0),
        (20.49, 0, 20.0),
        (2.5, 0, 3.0),  # round() would give 2 (half to even)
        (0.5, 0, 1.0),
        (97, 0, 97.0),
    ],
)
def test_round_half_up(value: float, places: int, expected: float) -> None:
    """Rounding to chart resolution is half-up on the decimal value (convention, docs/scores.md;
    RCP 2017 Chart 1 resolution: 0.1 degC, whole numbers otherwise)."""
    assert round_half_up(value, places) == expected


# --- NEWS2 Chart 1, each parameter on both sides of each boundary --------------------------------


@pytest.mark.parametrize(
    ("rr", "points"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3),
     (8.4, 3), (8.5, 1), (20.4, 0), (20.5, 2), (24.5, 3)],
)  # fmt: skip
def test_news2_respiration_rate(rr: float, points: int) -> None:
    """RCP 2017 Chart 1: RR <=8 -> 3, 9-11 -> 1, 12-20 -> 0, 21-24 -> 2, >=25 -> 3."""
    result = news2(**with_(NORMAL, rr=rr))
    assert result.subscores["rr"] == points
    assert result.score == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [
        (50, 3),
        (91, 3),
        (92, 2),
        (93, 2),
        (94, 1),
        (95, 1),
        (96, 0),
        (100, 0),
        (91.4, 3),
        (91.5, 2),
        (95.5, 0),
    ],
)
def test_news2_spo2_scale1(spo2: float, points: int) -> None:
    """RCP 2017 Chart 1, SpO2 scale 1: <=91 -> 3, 92-93 -> 2, 94-95 -> 1, >=96 -> 0."""
    assert news2(**with_(NORMAL, spo2=spo2)).subscores["spo2"] == points
    # Scale 1 does not depend on air or oxygen (oxygen adds its own 2 points).
    assert news2(**with_(NORMAL, spo2=spo2, on_oxygen=True)).subscores["spo2"] == points


@pytest.mark.parametrize(
    ("spo2", "on_air", "on_oxygen"),
    [
        (70, 3, 3),
        (83, 3, 3),
        (84, 2, 2),
        (85, 2, 2),
        (86, 1, 1),
        (87, 1, 1),
        (88, 0, 0),
        (92, 0, 0),
        (93, 0, 1),
        (94, 0, 1),
        (95, 0, 2),
        (96, 0, 2),
        (97, 0, 3),
        (100, 0, 3),
    ],
)
def test_news2_spo2_scale2(spo2: int, on_air: int, on_oxygen: int) -> None:
    """RCP 2017 Chart 1, SpO2 scale 2: <=83 -> 3, 84-85 -> 2, 86-87 -> 1, 88-92 -> 0,
    >=93 on air -> 0, 93-94 on O2 -> 1, 95-96 on O2 -> 2, >=97 on O2 -> 3."""
    air = news2(**with_(NORMAL, spo2=spo2, on_oxygen=False), scale=2)
    oxy = news2(**with_(NORMAL, spo2=spo2, on_oxygen=True), scale=2)
    assert (air.subscores["spo2"], oxy.subscores["spo2"]) == (on_air, on_oxygen)
    assert air.score == on_air
    assert oxy.score == on_oxygen + 2
    assert air.scale == oxy.scale == 2


def test_news2_air_or_oxygen() -> None:
    """RCP 2017 Chart 1: air -> 0, oxygen -> 2."""
    assert news2(**NORMAL).subscores["air_or_oxygen"] == 0
    oxy = news2(**with_(NORMAL, on_oxygen=True))
    assert oxy.subscores["air_or_oxygen"] == 2
    assert oxy.score == 2


@pytest.mark.parametrize(
    ("sbp", "points"),
    [(40, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (300, 3),
     (90.5, 2), (219.5, 3)],
)  # fmt: skip
def test_news2_systolic_bp(sbp: float, points: int) -> None:
    """RCP 2017 Chart 1: SBP <=90 -> 3, 91-100 -> 2, 101-110 -> 1, 111-219 -> 0, >=220 -> 3."""
    assert news2(**with_(NORMAL, sbp=sbp)).subscores["sbp"] == points


@pytest.mark.parametrize(
    ("hr", "points"),
    [(20, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2),
     (131, 3), (200, 3), (40.5, 1), (90.5, 1), (130.49, 2)],
)  # fmt: skip
def test_news2_pulse(hr: float, points: int) -> None:
    """RCP 2017 Chart 1: pulse <=40 -> 3, 41-50 -> 1, 51-90 -> 0, 91-110 -> 1, 111-130 -> 2, >=131 -> 3."""
    assert news2(**with_(NORMAL, hr=hr)).subscores["hr"] == points


@pytest.mark.parametrize(
    ("level", "points"),
    [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3), ("a", 0), ("c", 3), ("alert", 0), ("confusion", 3),
     ("pain", 3), (Consciousness.UNRESPONSIVE, 3)],
)  # fmt: skip
def test_news2_consciousness(level: str, points: int) -> None:
    """RCP 2017 Chart 1: Alert -> 0; new Confusion, Voice, Pain, Unresponsive -> 3."""
    assert news2(**with_(NORMAL, consciousness=level)).subscores["consciousness"] == points


@pytest.mark.parametrize(
    ("temp", "points"),
    [(30.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2),
     (42.0, 2), (38.04, 0), (38.05, 1), (35.04, 3), (35.05, 1), (36.04, 1), (36.05, 0), (39.04, 1),
     (39.05, 2), (34.96, 3), (38.049999, 0)],
)  # fmt: skip
def test_news2_temperature(temp: float, points: int) -> None:
    """RCP 2017 Chart 1: temp <=35.0 -> 3, 35.1-36.0 -> 1, 36.1-38.0 -> 0, 38.1-39.0 -> 1, >=39.1 -> 2,
    after rounding half-up to 0.1 degC (so 38.04 -> 38.0 scores 0, 38.05 -> 38.1 scores 1)."""
    assert news2(**with_(NORMAL, temp=temp)).subscores["temp"] == points


# --- NEWS2 totals, Chart 2 bands and Chart 4 responses -------------------------------------------


def test_news2_total_range_all_normal_and_all_worst() -> None:
    """RCP 2017 Chart 1: the total ranges 0-20; the worst value of every parameter gives 20."""
    best = news2(**NORMAL)
    assert (best.score, best.band, best.partial, best.missing) == (0, Band.LOW, False, ())
    worst = news2(**WORST)
    assert worst.score == 20 == news2_mod.MAX_SCORE
    assert worst.subscores == {
        "rr": 3, "spo2": 3, "air_or_oxygen": 2, "sbp": 3, "hr": 3, "consciousness": 3, "temp": 3,
    }  # fmt: skip
    assert worst.band is Band.HIGH
    assert worst.single_parameter_3
    assert news2(**with_(WORST, spo2=99), scale=2).score == 20  # scale 2: >=97 on O2 is also 3


@pytest.mark.parametrize(
    ("change", "score", "band", "single_3", "frequency"),
    [
        ({}, 0, Band.LOW, False, "minimum 12-hourly"),
        ({"hr": 95}, 1, Band.LOW, False, "minimum 4-6-hourly"),
        ({"rr": 21, "hr": 95, "temp": 38.5}, 4, Band.LOW, False, "minimum 4-6-hourly"),
        ({"consciousness": "V"}, 3, Band.LOW_MEDIUM, True, "minimum 1-hourly"),
        ({"consciousness": "C", "hr": 95}, 4, Band.LOW_MEDIUM, True, "minimum 1-hourly"),
        ({"temp": 35.0}, 3, Band.LOW_MEDIUM, True, "minimum 1-hourly"),
        ({"rr": 21, "spo2": 94, "on_oxygen": False, "hr": 105, "temp": 38.5}, 5, Band.MEDIUM, False,
         "minimum 1-hourly"),
        ({"consciousness": "V", "rr": 22}, 5, Band.MEDIUM, True, "minimum 1-hourly"),
        ({"on_oxygen": True, "spo2": 94, "hr": 115, "temp": 38.5}, 6, Band.MEDIUM, False, "minimum 1-hourly"),
        ({"on_oxygen": True, "spo2": 92, "rr": 22, "temp": 38.5}, 7, Band.HIGH, False,
         "continuous monitoring of vital signs"),
        ({"consciousness": "U", "sbp": 85, "hr": 135}, 9, Band.HIGH, True, "continuous monitoring of vital signs"),
    ],
)  # fmt: skip
def test_news2_bands(change: dict[str, Any], score: int, band: Band, single_3: bool, frequency: str) -> None:
    """RCP 2017 Chart 2 (0-4 low; a 3 in a single parameter low-medium; 5-6 medium; >=7 high) and
    Chart 4 (minimum monitoring 12-hourly at 0, 4-6-hourly at 1-4, 1-hourly for a single 3 and
    5-6, continuous at 7 or more)."""
    result = news2(**with_(NORMAL, **change))
    assert (result.score, result.band, result.single_parameter_3) == (score, band, single_3)
    assert result.monitoring_frequency == frequency


def test_news2_clinical_response_rows() -> None:
    """RCP 2017 Chart 4: each row's clinical response."""
    assert "routine NEWS monitoring" in clinical_response(0, False).response
    assert "registered nurse, who must assess" in clinical_response(4, False).response
    assert "medical team caring for the patient, who will review" in clinical_response(3, True).response
    assert clinical_response(3, True).band is Band.LOW_MEDIUM
    assert "Urgent response" in clinical_response(5, False).response
    assert clinical_response(6, True).band is Band.MEDIUM
    high = clinical_response(7, False)
    assert "Emergency response" in high.response
    assert "critical care competencies" in high.response
    assert high.monitoring_frequency.startswith("continuous")
    assert clinical_response(20, True).band is Band.HIGH


def test_news2_worked_example_ig_trap() -> None:
    """RCP 2017 Chart 1: RR 21 (2), HR 95 (1), SpO2 93 scale 1 on air (2), temp 37.5 (0), SBP 120 (0),
    Alert (0) = 5, medium (Chart 2). The SynaneticsLtd ED FHIR IG example scores temp 1 and 6: wrong."""
    result = news2(rr=21, hr=95, spo2=93, on_oxygen=False, temp=37.5, sbp=120, consciousness="A")
    assert result.subscores == {
        "rr": 2, "spo2": 2, "air_or_oxygen": 0, "sbp": 0, "hr": 1, "consciousness": 0, "temp": 0,
    }  # fmt: skip
    assert result.score == 5
    assert result.band is Band.MEDIUM
    assert not result.single_parameter_3
    assert not result.partial


def test_news2_worked_example_scale2_copd_on_target() -> None:
    """RCP 2017 Chart 1, scale 2: a hypercapnic patient at target (SpO2 90 on oxygen) scores 0 for
    SpO2 and 2 for oxygen; on scale 1 the same reading scores 3 more (SpO2 <=91)."""
    readings = with_(NORMAL, spo2=90, on_oxygen=True)
    assert news2(**readings, scale=2).score == 2
    assert news2(**readings, scale=1).score == 5
    assert news2(**readings, scale=1).band is Band.MEDIUM


# --- NEWS2 partial results ----------------------------------------------------------------------


def test_news2_partial_never_scores_missing_as_zero() -> None:
    """RCP 2017 Chart 1 scores seven parameters; a missing one is unscored (None) and listed, not 0."""
    result = news2(rr=25, hr=140, sbp=85)
    assert result.partial
    assert result.missing == ("spo2", "air_or_oxygen", "consciousness", "temp")
    assert result.subscores["spo2"] is None
    assert result.subscores["temp"] is None
    assert result.score == 9
    assert result.band is Band.HIGH  # computed on what is present, flagged partial


def test_news2_nothing_measured() -> None:
    """RCP 2017 Chart 1: with no readings nothing is scored; the result says so."""
    result = news2()
    assert result.partial
    assert result.missing == news2_mod.PARAMETERS
    assert all(v is None for v in result.subscores.values())
    assert result.score == 0


def test_news2_scale2_needs_air_or_oxygen_at_93_or_more() -> None:
    """RCP 2017 Chart 1, scale 2: >=93 scores 0 on air and 1-3 on oxygen, so without air/oxygen
    it is unscored; below 93 it does not depend on air/oxygen."""
    high = news2(spo2=95, scale=2)
    assert high.subscores["spo2"] is None
    assert high.partial
    assert "air_or_oxygen" in high.missing
    assert "spo2" not in high.missing
    low = news2(spo2=85, scale=2)
    assert low.subscores["spo2"] == 2


def test_news2_partial_band_with_single_3() -> None:
    """RCP 2017 Chart 2: a red score (3) in the parameters present gives low-medium, flagged partial."""
    result = news2(consciousness="P")
    assert (result.score, result.band, result.partial) == (3, Band.LOW_MEDIUM, True)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rr": -1}, "rr"),
        ({"rr": math.nan}, "rr"),
        ({"hr": math.inf}, "hr"),
        ({"spo2": 101}, "spo2"),
        ({"sbp": 400}, "sbp"),
        ({"temp": 98.6}, "temp"),  # degF is refused, not scored as 98.6 degC
        ({"rr": True}, "rr"),
        ({"hr": "90"}, "hr"),
        ({"consciousness": "X"}, "consciousness"),
        ({"on_oxygen": "yes"}, "air_or_oxygen"),
    ],
)
def test_news2_invalid_input_names_the_field(change: dict[str, Any], field: str) -> None:
    """A value that is not a reading is refused with the field named (DESIGN.md conventions);
    RCP 2017 Chart 1 is only defined for real readings."""
    with pytest.raises(ValidationError) as info:
        news2(**with_(NORMAL, **change))
    assert info.value.field == field


@pytest.mark.parametrize("scale", [0, 3, True])
def test_news2_scale_must_be_1_or_2(scale: int) -> None:
    """RCP 2017 Chart 1 has SpO2 scales 1 and 2 only."""
    with pytest.raises(ValidationError) as info:
        news2(**NORMAL, scale=scale)
    assert info.value.field == "scale"


def test_news2_result_is_frozen() -> None:
    """Results are immutable records (RCP 2017 Chart 1 score + Chart 2 band)."""
    result = news2(**NORMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.score = 3  # type: ignore[misc]


# --- NEWS2 properties ---------------------------------------------------------------------------

rr_s = st.floats(0, 150)
spo2_s = st.floats(0, 100)
sbp_s = st.floats(0, 350)
hr_s = st.floats(0, 350)
temp_s = st.floats(10, 50)
level_s = st.sampled_from("ACVPU")
readings = st.fixed_dictionaries(
    {},
    optional={
        "rr": rr_s,
        "spo2": spo2_s,
        "on_oxygen": st.booleans(),
        "sbp": sbp_s,
        "hr": hr_s,
        "consciousness": level_s,
        "temp": temp_s,
    },
)


@given(readings, st.sampled_from([1, 2]))
def test_news2_total_is_sum_of_subscores(values: dict[str, Any], scale: int) -> None:
    """RCP 2017 Chart 1: the NEWS2 is the sum of the parameter scores, 0-20; Chart 2 band follows."""
    result = news2(**values, scale=scale)
    present = [p for p in result.subscores.values() if p is not None]
    assert result.score == sum(present)
    assert 0 <= result.score <= 20
    assert result.single_parameter_3 == any(p == 3 for p in present)
    assert result.band is clinical_response(result.score, result.single_parameter_3).band
    assert result.partial == (len(values) < 7 or None in result.subscores.values())
    for key in result.missing:
        assert result.subscores[key] is None


@given(readings, st.sampled_from([1, 2]), st.sampled_from(news2_mod.PARAMETERS))
def test_news2_missing_parameter_never_raises_score(values: dict[str, Any], scale: int, drop: str) -> None:
    """RCP 2017 Chart 1 points are >= 0, so a partial total is a lower bound of the full total."""
    key = "on_oxygen" if drop == "air_or_oxygen" else drop
    fewer = {k: v for k, v in values.items() if k != key}
    assert news2(**fewer, scale=scale).score <= news2(**values, scale=scale).score


# Normal (0-point) range of each parameter on RCP 2017 Chart 1.
NEWS2_NORMAL_RANGE = {"rr": (12, 20), "sbp": (111, 219), "hr": (51, 90), "temp": (36.1, 38.0)}
NEWS2_STRATEGY = {"rr": rr_s, "sbp": sbp_s, "hr": hr_s, "temp": temp_s}


@pytest.mark.parametrize("param", sorted(NEWS2_NORMAL_RANGE))
@given(data=st.data())
def test_news2_monotonic_in_distance_from_normal(param: str, data: st.DataObject) -> None:
    """RCP 2017 Chart 1: points never fall as a reading moves further from the 0-point range."""
    x = data.draw(NEWS2_STRATEGY[param])
    y = data.draw(NEWS2_STRATEGY[param])
    low, high = NEWS2_NORMAL_RANGE[param]

    def points(v: float) -> int:
        p = news2(**{param: v}).subscores[param]
        assert p is not None
        return p

    if low <= round_half_up(x, 1) <= high:
        assert points(x) == 0
    if y <= x <= low or high <= x <= y:
        assert points(y) >= points(x)


@given(spo2_s, spo2_s, st.booleans())
def test_news2_spo2_monotonic(x: float, y: float, on_oxygen: bool) -> None:
    """RCP 2017 Chart 1: on scale 1 and on scale 2 below 88 %, lower SpO2 never scores less; on
    scale 2 with oxygen, SpO2 above 92 % never scores less as it rises."""
    lo, hi = min(x, y), max(x, y)

    def points(v: float, scale: int) -> int:
        p = news2(spo2=v, on_oxygen=on_oxygen, scale=scale).subscores["spo2"]
        assert p is not None
        return p

    assert points(lo, 1) >= points(hi, 1)
    if hi <= 88:
        assert points(lo, 2) >= points(hi, 2)
    if lo >= 92:
        assert (points(hi, 2) >= points(lo, 2)) if on_oxygen else points(hi, 2) == points(lo, 2) == 0


@given(temp_s)
def test_news2_scores_the_rounded_reading(temp: float) -> None:
    """RCP 2017 Chart 1 resolution is 0.1 degC: a reading scores as its rounded value."""
    assert news2(temp=temp).score == news2(temp=round_half_up(temp, 1)).score


# --- qSOFA (Seymour et al., JAMA 2016) -----------------------------------------------------------


@pytest.mark.parametrize(("rr", "met"), [(21, False), (22, True), (40, True), (21.4, False), (21.5, True)])
def test_qsofa_respiratory_rate(rr: float, met: bool) -> None:
    """Seymour et al., JAMA 2016;315(8):762-774: one point for respiratory rate >= 22/min."""
    assert qsofa(rr=rr, sbp=120, gcs=15).criteria["rr"] is met


@pytest.mark.parametrize(
    ("sbp", "met"), [(60, True), (100, True), (101, False), (100.4, True), (100.5, False)]
)
def test_qsofa_systolic_bp(sbp: float, met: bool) -> None:
    """Seymour et al., JAMA 2016;315(8):762-774: one point for systolic BP <= 100 mmHg."""
    assert qsofa(rr=16, sbp=sbp, gcs=15).criteria["sbp"] is met


@pytest.mark.parametrize(("gcs", "met"), [(3, True), (14, True), (15, False)])
def test_qsofa_mentation_gcs(gcs: int, met: bool) -> None:
    """Seymour et al., JAMA 2016;315(8):762-774: one point for altered mentation, GCS < 15."""
    assert qsofa(rr=16, sbp=120, gcs=gcs).criteria["mentation"] is met


@pytest.mark.parametrize(
    ("gcs", "level", "met"),
    [(None, "A", False), (None, "C", True), (None, "V", True), (None, "U", True), (15, "C", True),
     (14, "A", True), (15, "A", False)],
)  # fmt: skip
def test_qsofa_mentation_acvpu(gcs: int | None, level: str, met: bool) -> None:
    """Seymour et al. 2016 (altered mentation = any GCS < 15): medtwin counts ACVPU other than A
    as altered (documented convention); either source of evidence suffices."""
    assert qsofa(gcs=gcs, consciousness=level).criteria["mentation"] is met


@pytest.mark.parametrize(
    ("rr", "sbp", "gcs", "score", "positive"),
    [(16, 120, 15, 0, False), (22, 120, 15, 1, False), (22, 100, 15, 2, True), (16, 100, 14, 2, True),
     (30, 90, 10, 3, True)],
)  # fmt: skip
def test_qsofa_positive_at_two(rr: int, sbp: int, gcs: int, score: int, positive: bool) -> None:
    """Seymour et al., JAMA 2016;315(8):762-774: qSOFA 0-3, positive at >= 2."""
    result = qsofa(rr=rr, sbp=sbp, gcs=gcs)
    assert (result.score, result.positive, result.partial) == (score, positive, False)


def test_qsofa_partial() -> None:
    """Seymour et al. 2016 score three criteria; a missing one is None and listed, not 'not met'."""
    result = qsofa(rr=25)
    assert result.criteria == {"rr": True, "sbp": None, "mentation": None}
    assert (result.score, result.positive, result.partial) == (1, False, True)
    assert result.missing == ("sbp", "mentation")
    definite = qsofa(rr=25, sbp=90)
    assert definite.positive and definite.partial and definite.missing == ("mentation",)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"gcs": 14.5}, "gcs"), ({"gcs": 2}, "gcs"), ({"gcs": 16}, "gcs"), ({"rr": -3}, "rr"),
     ({"sbp": math.nan}, "sbp"), ({"consciousness": "Z"}, "consciousness")],
)  # fmt: skip
def test_qsofa_invalid_input(kwargs: dict[str, Any], field: str) -> None:
    """GCS is a whole number 3-15 (Teasdale & Jennett); qSOFA (Seymour 2016) needs real readings."""
    with pytest.raises(ValidationError) as info:
        qsofa(**kwargs)
    assert info.value.field == field


@given(st.none() | rr_s, st.none() | sbp_s, st.none() | st.integers(3, 15), st.none() | level_s, rr_s, sbp_s)
def test_qsofa_properties(
    rr: float | None, sbp: float | None, gcs: int | None, level: str | None, rr2: float, sbp2: float
) -> None:
    """Seymour et al. 2016: the score counts met criteria, positive iff >= 2; a faster RR or a lower
    SBP never lowers it."""
    result = qsofa(rr=rr, sbp=sbp, gcs=gcs, consciousness=level)
    assert result.score == sum(1 for met in result.criteria.values() if met)
    assert result.positive == (result.score >= 2)
    if rr is not None and rr2 >= rr:
        assert qsofa(rr=rr2, sbp=sbp, gcs=gcs, consciousness=level).score >= result.score
    if sbp is not None and sbp2 <= sbp:
        assert qsofa(rr=rr, sbp=sbp2, gcs=gcs, consciousness=level).score >= result.score


# --- MEWS (Subbe et al., QJM 2001, Table 1) ------------------------------------------------------


@pytest.mark.parametrize(
    ("sbp", "points"),
    [
        (50, 3),
        (70, 3),
        (71, 2),
        (80, 2),
        (81, 1),
        (100, 1),
        (101, 0),
        (199, 0),
        (200, 2),
        (250, 2),
        (70.5, 2),
    ],
)
def test_mews_systolic_bp(sbp: float, points: int) -> None:
    """Subbe 2001 Table 1: SBP <=70 -> 3 (convention for 70), 71-80 -> 2, 81-100 -> 1, 101-199 -> 0,
    >=200 -> 2."""
    assert mews(**with_(MEWS_NORMAL, sbp=sbp)).subscores["sbp"] == points


@pytest.mark.parametrize(
    ("hr", "points"),
    [(30, 2), (40, 2), (41, 1), (50, 1), (51, 0), (100, 0), (101, 1), (110, 1), (111, 2), (129, 2),
     (130, 3), (180, 3), (129.5, 3)],
)  # fmt: skip
def test_mews_heart_rate(hr: float, points: int) -> None:
    """Subbe 2001 Table 1: HR <40 -> 2 (40 included by convention), 41-50 -> 1, 51-100 -> 0,
    101-110 -> 1, 111-129 -> 2, >=130 -> 3."""
    assert mews(**with_(MEWS_NORMAL, hr=hr)).subscores["hr"] == points


@pytest.mark.parametrize(
    ("rr", "points"),
    [(4, 2), (8, 2), (9, 0), (14, 0), (15, 1), (20, 1), (21, 2), (29, 2), (30, 3), (50, 3), (8.5, 0)],
)
def test_mews_respiratory_rate(rr: float, points: int) -> None:
    """Subbe 2001 Table 1: RR <9 -> 2, 9-14 -> 0, 15-20 -> 1, 21-29 -> 2, >=30 -> 3."""
    assert mews(**with_(MEWS_NORMAL, rr=rr)).subscores["rr"] == points


@pytest.mark.parametrize(
    ("temp", "points"),
    [(33.0, 2), (34.9, 2), (35.0, 0), (38.4, 0), (38.5, 2), (41.0, 2), (34.94, 2), (34.95, 0), (38.44, 0),
     (38.45, 2)],
)  # fmt: skip
def test_mews_temperature(temp: float, points: int) -> None:
    """Subbe 2001 Table 1: temp <35 -> 2, 35.0-38.4 -> 0, >=38.5 -> 2, after rounding half-up to 0.1."""
    assert mews(**with_(MEWS_NORMAL, temp=temp)).subscores["temp"] == points


@pytest.mark.parametrize(("level", "points"), [("A", 0), ("V", 1), ("P", 2), ("U", 3), ("u", 3)])
def test_mews_avpu(level: str, points: int) -> None:
    """Subbe 2001 Table 1: alert 0, reacting to voice 1, reacting to pain 2, unresponsive 3."""
    assert mews(**with_(MEWS_NORMAL, avpu=level)).subscores["avpu"] == points


def test_mews_refuses_new_confusion() -> None:
    """Subbe 2001 uses AVPU; 'C' (NEWS2 ACVPU) has no MEWS score and is refused, not guessed."""
    with pytest.raises(ValidationError) as info:
        mews(avpu="C")
    assert info.value.field == "avpu"


@pytest.mark.parametrize(
    ("boundaries", "value", "param", "points"),
    [
        (MewsBoundaries(hr_2_at_most=39), 40, "hr", 1),
        (MewsBoundaries(hr_2_at_most=39), 39, "hr", 2),
        (MewsBoundaries(hr_3_from=131), 130, "hr", 2),
        (MewsBoundaries(hr_3_from=131), 131, "hr", 3),
        (MewsBoundaries(sbp_3_at_most=69), 70, "sbp", 2),
        (MewsBoundaries(sbp_3_at_most=69), 69, "sbp", 3),
    ],
)
def test_mews_alternative_boundary_readings(
    boundaries: MewsBoundaries, value: int, param: str, points: int
) -> None:
    """Copies of Subbe 2001 Table 1 differ at HR 40, HR 130 and SBP 70; both readings are selectable."""
    assert mews(**with_(MEWS_NORMAL, **{param: value}), boundaries=boundaries).subscores[param] == points


@pytest.mark.parametrize("kwargs", [{"hr_2_at_most": 45}, {"hr_3_from": 120}, {"sbp_3_at_most": 80}])
def test_mews_boundaries_only_published_readings(kwargs: dict[str, int]) -> None:
    """Only the readings of Subbe 2001 Table 1 found in published copies may be chosen."""
    with pytest.raises(ValidationError):
        MewsBoundaries(**kwargs)


def test_mews_totals_and_higher_risk() -> None:
    """Subbe 2001: total 0-14 (3+3+3+2+3); a score of 5 or more was associated with higher risk."""
    assert mews(**MEWS_NORMAL).score == 0
    worst = mews(sbp=60, hr=140, rr=35, temp=34.0, avpu="U")
    assert worst.score == 14
    assert worst.higher_risk
    four = mews(**with_(MEWS_NORMAL, rr=21, temp=38.5))
    assert (four.score, four.higher_risk) == (4, False)
    five = mews(**with_(MEWS_NORMAL, rr=21, temp=38.5, hr=101))
    assert (five.score, five.higher_risk) == (5, True)


def test_mews_partial() -> None:
    """Subbe 2001 Table 1 has five parameters; missing ones are None and listed, never 0."""
    result = mews(hr=120, avpu="V")
    assert result.partial
    assert result.missing == ("sbp", "rr", "temp")
    assert result.subscores["sbp"] is None
    assert result.score == 3


@given(
    st.none() | sbp_s,
    st.none() | hr_s,
    st.none() | rr_s,
    st.none() | temp_s,
    st.none() | st.sampled_from("AVPU"),
)
def test_mews_total_is_sum_of_subscores(
    sbp: float | None, hr: float | None, rr: float | None, temp: float | None, avpu: str | None
) -> None:
    """Subbe 2001 Table 1: MEWS is the sum of the parameter scores, 0-14."""
    result = mews(sbp=sbp, hr=hr, rr=rr, temp=temp, avpu=avpu)
    assert result.score == sum(p for p in result.subscores.values() if p is not None)
    assert 0 <= result.score <= 14
    assert result.higher_risk == (result.score >= 5)


MEWS_NORMAL_RANGE = {"sbp": (101, 199), "hr": (51, 100), "rr": (9, 14), "temp": (35.0, 38.4)}


@pytest.mark.parametrize("param", sorted(MEWS_NORMAL_RANGE))
@given(data=st.data())
def test_mews_monotonic_in_distance_from_normal(param: str, data: st.DataObject) -> None:
    """Subbe 2001 Table 1: points never fall as a reading moves further from the 0-point range."""
    strategy = {"sbp": sbp_s, "hr": hr_s, "rr": rr_s, "temp": temp_s}[param]
    x, y = data.draw(strategy), data.draw(strategy)
    low, high = MEWS_NORMAL_RANGE[param]

    def points(v: float) -> int:
        p = mews(**{param: v}).subscores[param]
        assert p is not None
        return p

    if y <= x <= low or high <= x <= y:
        assert points(y) >= points(x)


# --- CLI (medtwin score ...) --------------------------------------------------------------------

runner = CliRunner()
TRAP_ARGS = ["--rr", "21", "--hr", "95", "--spo2", "93", "--o2", "air", "--temp", "37.5", "--sbp", "120"]


def test_cli_news2_json() -> None:
    """RCP 2017 Chart 1 worked example through `medtwin score news2 --json`: exactly one JSON object."""
    res = runner.invoke(score_app, ["news2", *TRAP_ARGS, "--acvpu", "A", "--json"])
    assert res.exit_code == 0, res.output
    assert res.stdout.count("\n") == 1
    out = json.loads(res.stdout)
    assert out["score"] == 5
    assert out["band"] == "medium"
    assert out["single_parameter_3"] is False
    assert out["subscores"] == {
        "rr": 2, "spo2": 2, "air_or_oxygen": 0, "sbp": 0, "hr": 1, "consciousness": 0, "temp": 0,
    }  # fmt: skip
    assert out["partial"] is False and out["missing"] == []
    assert out["monitoring_frequency"] == "minimum 1-hourly"


def test_cli_news2_partial_and_scale2() -> None:
    """RCP 2017 Chart 1/2: missing options make the result partial; --scale 2 uses SpO2 scale 2."""
    res = runner.invoke(score_app, ["news2", "--acvpu", "v", "--json"])
    out = json.loads(res.stdout)
    assert (out["score"], out["band"], out["single_parameter_3"], out["partial"]) == (
        3,
        "low-medium",
        True,
        True,
    )
    assert out["subscores"]["rr"] is None
    assert "rr" in out["missing"]
    res = runner.invoke(score_app, ["news2", "--spo2", "97", "--o2", "oxygen", "--scale", "2", "--json"])
    out = json.loads(res.stdout)
    assert out["subscores"]["spo2"] == 3 and out["scale"] == 2


def test_cli_news2_table() -> None:
    """RCP 2017 Chart 1/2 as a rich table when --json is absent."""
    res = runner.invoke(score_app, ["news2", *TRAP_ARGS, "--acvpu", "A"])
    assert res.exit_code == 0
    assert "medium" in res.stdout
    assert "minimum 1-hourly" in res.stdout


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["news2", "--acvpu", "X"], "--acvpu"),
        (["news2", "--o2", "helium"], "--o2"),
        (["news2", "--rr", "-1"], "--rr"),
        (["news2", "--spo2", "101"], "--spo2"),
        (["news2", "--temp", "98.6"], "--temp"),
        (["news2", "--scale", "3"], "--scale"),
        (["news2", "--hr", "fast"], "--hr"),
        (["qsofa", "--gcs", "16"], "--gcs"),
        (["qsofa", "--sbp", "-5"], "--sbp"),
        (["mews", "--avpu", "C"], "--avpu"),
    ],
)
def test_cli_invalid_value_exits_2_naming_option(args: list[str], option: str) -> None:
    """An impossible reading is a usage error (exit 2) naming the option; nothing is scored."""
    res = runner.invoke(score_app, args)
    assert res.exit_code == 2
    assert option in res.output
    assert "{" not in res.stdout


def test_cli_qsofa_json() -> None:
    """Seymour et al., JAMA 2016: RR 22, SBP 100, GCS 15 -> 2 criteria, positive."""
    res = runner.invoke(score_app, ["qsofa", "--rr", "22", "--sbp", "100", "--gcs", "15", "--json"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out == {
        "score": 2,
        "positive": True,
        "criteria": {"rr": True, "sbp": True, "mentation": False},
        "partial": False,
        "missing": [],
    }
    res = runner.invoke(score_app, ["qsofa", "--rr", "21", "--sbp", "101", "--gcs", "14", "--json"])
    assert json.loads(res.stdout)["score"] == 1


def test_cli_mews_json_and_table() -> None:
    """Subbe 2001 Table 1: SBP 70 (3), HR 40 (2), RR 8 (2), temp 34.9 (2), U (3) = 12."""
    args = ["mews", "--sbp", "70", "--hr", "40", "--rr", "8", "--temp", "34.9", "--avpu", "U"]
    out = json.loads(runner.invoke(score_app, [*args, "--json"]).stdout)
    assert out["score"] == 12
    assert out["subscores"] == {"sbp": 3, "hr": 2, "rr": 2, "temp": 2, "avpu": 3}
    assert out["higher_risk"] is True
    table = runner.invoke(score_app, args)
    assert table.exit_code == 0 and "12" in table.stdout
