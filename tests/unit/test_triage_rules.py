"""Guideline boundary cases for every triage rule (medtwin.models.triage). Each case cites the
guideline it checks; values sit on both sides of each published threshold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from medtwin.models.triage import PatientData, RuleSet, Tier, TriageInputError, assess, triage_once

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
RULES = RuleSet()


def tier(payload: dict[str, Any]) -> str:
    return triage_once(payload).tier.value


def fired(payload: dict[str, Any]) -> set[str]:
    return {r.rule for r in triage_once(payload).reasons}


# --- ACC/AHA 2017 (Whelton, Hypertension 2018;71:e13): categories and crisis > 180 and/or > 120
@pytest.mark.parametrize(
    ("sbp", "dbp", "category", "want"),
    [
        (119, 79, "normal", "self"),
        (120, 79, "elevated", "self"),
        (129, 79, "elevated", "self"),
        (130, 79, "stage 1", "self"),
        (125, 80, "stage 1", "self"),  # DBP 80-89 alone: stage 1 (the higher category counts)
        (139, 89, "stage 1", "self"),
        (140, 70, "stage 2", "self"),
        (120, 90, "stage 2", "self"),
        (180, 120, "stage 2", "self"),  # crisis needs > 180 or > 120: 180/120 is not a crisis
        (181, 100, "crisis", "primary"),  # > 180 alone
        (150, 121, "crisis", "primary"),  # > 120 alone ("and/or")
    ],
)
def test_acc_aha_2017_bp_categories_and_crisis(sbp: int, dbp: int, category: str, want: str) -> None:
    d = triage_once({"sbp": sbp, "dbp": dbp})
    bp = next(r for r in d.reasons if r.rule == "bp_category")
    assert category in bp.detail and d.tier.value == want
    assert "Hypertension 2018" in bp.source


def test_acc_aha_2017_crisis_with_target_organ_symptoms_is_an_emergency() -> None:
    """ACC/AHA 2017 §11.2: crisis + new/worsening target-organ damage = hypertensive emergency."""
    p = PatientData({"hypertension"}, NOW, {"sbp": [(NOW, 190.0)], "dbp": [(NOW, 110.0)]}, symptoms=True)
    assert assess(p, RULES).tier is Tier.EMERGENCY


# --- ADA Standards of Care 2025 §6: level 1 < 70 and >= 54, level 2 < 54, level 3 = assistance
@pytest.mark.parametrize(
    ("glucose", "want", "rule"),
    [
        (70, "self", None),
        (69, "self", "glucose_hypo"),
        (54, "self", "glucose_hypo"),
        (53, "primary", "glucose_hypo"),
    ],
)
def test_ada_hypoglycaemia_levels(glucose: int, want: str, rule: str | None) -> None:
    d = triage_once({"conditions": ["diabetes"], "glucose_mg_dl": glucose})
    assert d.tier.value == want
    hypo = [r for r in d.reasons if r.rule == "glucose_hypo"]
    assert bool(hypo) == (rule is not None)
    if glucose == 54:
        assert "level 1" in hypo[0].detail
    if glucose == 53:
        assert "level 2" in hypo[0].detail and "Standards of Care" in hypo[0].source


def test_ada_level_3_is_an_emergency() -> None:
    """ADA §6 level 3: a severe event needing assistance (no glucose number)."""
    p = PatientData({"diabetes"}, NOW, {"glucose": [(NOW, 80.0)]}, hypo_needs_assistance=True)
    d = assess(p, RULES)
    assert d.tier is Tier.EMERGENCY and any(r.rule == "glucose_hypo_level3" for r in d.reasons)


# --- Hyperglycaemia: Battelino 2019 level 1 > 180, level 2 > 250; Umpierrez 2024 HHS >= 600
@pytest.mark.parametrize(
    ("glucose", "want"),
    [(180, "self"), (181, "self"), (250, "self"), (251, "primary"), (599, "primary"), (600, "emergency")],
)
def test_hyperglycaemia_bands(glucose: int, want: str) -> None:
    assert tier({"glucose_mg_dl": glucose}) == want


# --- NHS Oximetry @home: <= 92 % 999/A&E, 93-94 % GP/111 same day, >= 95 % continue
@pytest.mark.parametrize(
    ("spo2", "want"), [(95, "self"), (94, "primary"), (93, "primary"), (92, "emergency")]
)
def test_nhs_oximetry_at_home_tiers(spo2: int, want: str) -> None:
    assert tier({"spo2": spo2}) == want


# --- COPD: BTS 2017 target 88-92 %; NEWS2 Scale 2 <= 83 % scores 3; NHS tiers do not apply
@pytest.mark.parametrize(
    ("spo2", "want"), [(92, "self"), (88, "self"), (87, "primary"), (84, "primary"), (83, "emergency")]
)
def test_bts_2017_copd_target_range(spo2: int, want: str) -> None:
    d = triage_once({"conditions": ["copd"], "spo2": spo2})
    assert d.tier.value == want and "spo2_home" not in {r.rule for r in d.reasons}


# --- NEWS2 (RCP 2017) pulse: <= 40 or >= 131 score 3, 111-130 score 2
@pytest.mark.parametrize(
    ("hr", "want"),
    [(41, "self"), (40, "emergency"), (110, "self"), (111, "primary"), (130, "primary"), (131, "emergency")],
)
def test_news2_pulse_bands(hr: int, want: str) -> None:
    assert tier({"hr": hr}) == want


# --- NEWS2 temperature: <= 35.0 score 3, >= 39.1 score 2, 38.1-39.0 score 1
@pytest.mark.parametrize(
    ("t", "want"),
    [(35.1, "self"), (35.0, "emergency"), (38.0, "self"), (38.1, "self"), (39.0, "self"), (39.1, "primary")],
)
def test_news2_temperature_bands(t: float, want: str) -> None:
    assert tier({"temp_c": t}) == want
    if t == 38.1:
        assert "temperature" in fired({"temp_c": t})


# --- NEWS2 systolic: <= 90 score 3, 91-100 score 2
@pytest.mark.parametrize(
    ("sbp", "want"), [(101, "self"), (100, "primary"), (91, "primary"), (90, "emergency")]
)
def test_news2_low_systolic(sbp: int, want: str) -> None:
    assert tier({"sbp": sbp}) == want


# --- Revised McGeer (Stone 2012): fever in long-term care = single oral > 37.8 C
@pytest.mark.parametrize(("t", "want"), [(37.8, "self"), (37.9, "primary")])
def test_mcgeer_single_fever_in_older_people(t: float, want: str) -> None:
    assert tier({"conditions": ["nursing_home"], "temp_c": t}) == want
    assert tier({"temp_c": t}) == "self"  # the McGeer rule applies to older people in care only


def _series(
    vals: list[float], end: datetime = NOW, step: timedelta = timedelta(hours=6)
) -> list[tuple[datetime, float]]:
    return [(end - step * (len(vals) - 1 - i), v) for i, v in enumerate(vals)]


def test_mcgeer_repeated_and_baseline_fever() -> None:
    """McGeer 2012: repeated oral > 37.2 C, or > 1.1 C over baseline."""
    rep = PatientData({"elderly_alone"}, NOW, {"temp": _series([36.5, 37.3, 37.3])})
    assert "fever_repeated_ltc" in {r.rule for r in assess(rep, RULES).reasons}
    one = PatientData({"elderly_alone"}, NOW, {"temp": _series([36.5, 36.6, 37.3])})
    assert "fever_repeated_ltc" not in {r.rule for r in assess(one, RULES).reasons}
    base = [*_series([36.2] * 10, NOW - timedelta(days=2), timedelta(hours=12)), (NOW, 37.4)]
    d = assess(PatientData({"nursing_home"}, NOW, {"temp": base}), RULES)
    assert "fever_baseline_ltc" in {r.rule for r in d.reasons}  # 1.2 above a 36.2 baseline
    base[-1] = (NOW, 37.3)  # 1.1 is not "> 1.1"
    d = assess(PatientData({"nursing_home"}, NOW, {"temp": base}), RULES)
    assert "fever_baseline_ltc" not in {r.rule for r in d.reasons}


# --- ESC HFA 2021 self-care (Jaarsma, Eur J Heart Fail 2021;23:157): > 2 kg in 3 days
@pytest.mark.parametrize(("gain", "want"), [(2.0, "self"), (2.1, "primary")])
def test_esc_weight_gain_in_heart_failure(gain: float, want: str) -> None:
    w = [(NOW - timedelta(days=3), 80.0), (NOW - timedelta(days=1), 80.5), (NOW, 80.0 + gain)]
    d = assess(PatientData({"heart_failure"}, NOW, {"weight": w}), RULES)
    assert d.tier.value == want
    if want == "primary":
        assert "Eur J Heart Fail 2021" in next(r for r in d.reasons if r.rule == "weight_gain_hf").source


def test_weight_gain_older_than_the_window_does_not_count() -> None:
    w = [(NOW - timedelta(days=4), 78.0), (NOW - timedelta(days=2), 79.9), (NOW, 80.0)]
    assert assess(PatientData({"heart_failure"}, NOW, {"weight": w}), RULES).tier is Tier.SELF


# --- ACC/AHA 2017 home BP: 135/85 = office 140/90 (uncontrolled); target < 130/80; ESH >= 3 days
def _bp(sbp: float, dbp: float, days: int) -> dict[str, list[tuple[datetime, float]]]:
    ts = [NOW - timedelta(hours=12 * i) for i in range(days * 2)][::-1]
    return {"sbp": [(t, sbp) for t in ts], "dbp": [(t, dbp) for t in ts]}


@pytest.mark.parametrize(
    ("sbp", "dbp", "days", "want", "word"),
    [
        (128, 78, 7, "self", "at target"),
        (130, 78, 7, "primary", "above the target"),
        (134, 84, 7, "primary", "above the target"),
        (135, 80, 7, "primary", "uncontrolled"),
        (125, 85, 7, "primary", "uncontrolled"),
        (150, 95, 2, "self", None),
    ],
)
def test_home_bp_mean_against_target(sbp: float, dbp: float, days: int, want: str, word: str | None) -> None:
    d = assess(PatientData({"hypertension"}, NOW, _bp(sbp, dbp, days)), RULES)
    trend = [r for r in d.reasons if r.rule == "bp_home_mean"]
    if word is None:
        assert not trend  # fewer than 3 days of readings: no average yet (ESH 2021)
    else:
        assert trend[0].tier.value == want and word in trend[0].detail


def test_personal_bp_target_set_by_the_doctor() -> None:
    p = PatientData({"hypertension"}, NOW, _bp(136, 70, 7), targets={"bp": {"sbp": 140, "dbp": 90}})
    rs = RULES.for_patient({"bp_home_mean": {"uncontrolled_sbp": 150, "uncontrolled_dbp": 95}})
    assert assess(p, rs).tier is Tier.SELF


# --- Battelino 2019 CGM targets over 14 days with >= 70 % data; events >= 15 min
def _cgm(values: list[float], minutes: int = 5, end: datetime = NOW) -> list[tuple[datetime, float]]:
    return [(end - timedelta(minutes=minutes * (len(values) - 1 - i)), v) for i, v in enumerate(values)]


def test_cgm_time_in_range_targets() -> None:
    n = 14 * 288
    good = [120.0] * n
    assert next(r for r in assess(PatientData({"diabetes"}, NOW, {"cgm": _cgm(good)}), RULES).reasons
                if r.rule == "cgm_metrics").tier is Tier.SELF  # fmt: skip
    low = [120.0] * n
    for i in range(0, int(n * 0.05), 1):  # 5 % below 70 (> 4 %)
        low[i * 19 % n] = 65.0
    d = assess(PatientData({"diabetes"}, NOW, {"cgm": _cgm(low)}), RULES)
    assert "tbr70" in next(r for r in d.reasons if r.rule == "cgm_metrics").detail
    sparse = _cgm([120.0] * int(n * 0.69))  # < 70 % of 14 days: no verdict
    assert "cgm_metrics" not in {
        r.rule for r in assess(PatientData({"diabetes"}, NOW, {"cgm": sparse}), RULES).reasons
    }


def test_cgm_older_targets_accept_tir_above_50_percent() -> None:
    vals = [200.0 if i % 5 in (0, 1) else 120.0 for i in range(4032)]  # TIR 60 %, > 180 40 %, > 250 0 %
    young = assess(PatientData({"diabetes"}, NOW, {"cgm": _cgm(vals)}), RULES)
    old = assess(PatientData({"diabetes", "elderly_alone"}, NOW, {"cgm": _cgm(vals)}), RULES)
    assert next(r for r in young.reasons if r.rule == "cgm_metrics").tier is Tier.PRIMARY
    assert next(r for r in old.reasons if r.rule == "cgm_metrics").tier is Tier.SELF


def test_cgm_hypoglycaemia_counts_after_15_minutes_only() -> None:
    """Battelino 2019: a CGM event lasts >= 15 consecutive minutes."""
    short = _cgm([110, 110, 50, 50, 50])  # 10 min below 54
    long_ = _cgm([110, 50, 50, 50, 50])  # 15 min below 54
    assert assess(PatientData({"diabetes"}, NOW, {"cgm": short}), RULES).tier is Tier.SELF
    d = assess(PatientData({"diabetes"}, NOW, {"cgm": long_}), RULES)
    assert d.tier is Tier.PRIMARY and "sustained 15 min" in next(
        r.detail for r in d.reasons if r.rule == "glucose_hypo"
    )


# --- Shewhart limits (mean +/- 3 SD, >= 20 baseline points) on the patient's own baseline
def test_baseline_deviation_three_sd() -> None:
    base = [(NOW - timedelta(days=2, hours=i), 70.0 + (i % 5 - 2)) for i in range(40)]  # sd ~1.43
    ok = assess(PatientData(set(), NOW, {"hr": [*sorted(base), (NOW, 74.0)]}), RULES)
    assert not any(r.rule.startswith("baseline_deviation") for r in ok.reasons)
    hi = assess(PatientData(set(), NOW, {"hr": [*sorted(base), (NOW, 76.0)]}), RULES)
    assert "baseline_deviation.hr" in {r.rule for r in hi.reasons}
    few = assess(PatientData(set(), NOW, {"hr": [*sorted(base)[:19], (NOW, 90.0)]}), RULES)
    assert not any(r.rule.startswith("baseline_deviation") for r in few.reasons)


# --- Urine glucose: glycosuria without diabetes -> check glucose (ADA §2); expected on SGLT2i (label)
def test_urine_glucose() -> None:
    h = {"urine_glucose": [(NOW, 100.0)]}
    assert assess(PatientData(set(), NOW, h), RULES).tier is Tier.PRIMARY
    assert assess(PatientData({"diabetes"}, NOW, h), RULES).tier is Tier.SELF
    d = assess(PatientData({"heart_failure"}, NOW, h, medications=["Empagliflozin"]), RULES)
    assert d.tier is Tier.SELF and "expected on empagliflozin" in d.reasons[0].detail
    assert assess(PatientData(set(), NOW, {"urine_glucose": [(NOW, 0.0)]}), RULES).reasons == []


# --- Inactivity (Floeck & Litz 2009) and night long lie (Fleming & Brayne, BMJ 2008: >= 1 hour)
def _act(start: datetime, end: datetime, moving: bool) -> list[tuple[datetime, float]]:
    n = int((end - start).total_seconds() // 60)
    return [(start + timedelta(minutes=i), 30.0 if moving else 2.0) for i in range(n)]


def test_day_inactivity_against_the_care_team_limit_and_the_personal_profile() -> None:
    day0 = NOW.replace(hour=7)
    still = _act(day0, NOW - timedelta(hours=3), True) + _act(NOW - timedelta(hours=3), NOW, False)
    rs = RULES.for_patient({"inactivity_day": {"hours": 2.5}})
    d = assess(PatientData({"elderly_alone"}, NOW, {"activity": still}), rs)
    assert d.tier is Tier.PRIMARY and "limit 2.5 h" in d.reasons[0].detail
    assert assess(PatientData({"elderly_alone"}, NOW, {"activity": still}), RULES.for_patient(
        {"inactivity_day": {"hours": 3.5}})).tier is Tier.SELF  # fmt: skip
    # no limit set: the person's own 7-day daytime maximum (here 2 h of stillness every day)
    hist: list[tuple[datetime, float]] = []
    for back in range(7, 0, -1):
        d0 = (NOW - timedelta(days=back)).replace(hour=7)
        hist += _act(d0, d0 + timedelta(hours=5), True) + _act(
            d0 + timedelta(hours=5), d0 + timedelta(hours=7), False
        )
        hist += _act(d0 + timedelta(hours=7), d0 + timedelta(hours=15), True)
    d = assess(PatientData({"elderly_alone"}, NOW, {"activity": hist + still}), RULES)
    assert d.tier is Tier.PRIMARY and "own 7-day maximum" in d.reasons[0].detail


def test_night_out_of_bed_and_still_for_an_hour_suggests_a_fall() -> None:
    night = NOW.replace(hour=3, minute=0) + timedelta(days=1)
    t_out = night - timedelta(minutes=70)
    bed = [(night - timedelta(hours=5), 1.0), (t_out, 0.0)]
    walk = _act(t_out, t_out + timedelta(minutes=3), True)
    for still_min, want in ((59, Tier.SELF), (60, Tier.EMERGENCY)):
        now = t_out + timedelta(minutes=2 + still_min)  # the last moving epoch starts at minute 2
        act = walk + _act(t_out + timedelta(minutes=3), now, False)
        d = assess(PatientData({"elderly_alone"}, now, {"in_bed": bed, "activity": act}), RULES)
        assert d.tier is want, (still_min, d.as_dict())
    back = [*bed, (t_out + timedelta(minutes=10), 1.0)]  # went back to bed: nothing
    assert (
        assess(PatientData({"elderly_alone"}, night, {"in_bed": back, "activity": walk}), RULES).tier
        is Tier.SELF
    )


# --- Adherence: a gap is at least one whole expected interval without a reading; batteries
def test_reading_gaps_and_battery() -> None:
    sched = {"sbp": 12.0}
    on_time = PatientData(
        {"hypertension"}, NOW, {"sbp": [(NOW - timedelta(hours=23), 130.0)]}, schedule=sched
    )
    assert not any(r.kind == "adherence" for r in assess(on_time, RULES).reasons)
    late = PatientData({"hypertension"}, NOW, {"sbp": [(NOW - timedelta(hours=24), 130.0)]}, schedule=sched)
    gap = next(r for r in assess(late, RULES).reasons if r.kind == "adherence")
    assert gap.tier is Tier.PRIMARY and "1 measurement(s) missed" in gap.detail
    bat = PatientData(
        set(),
        NOW,
        batteries={"CUFF-1": (NOW, 19.0, False), "SCALE-1": (NOW, 80.0, True), "W": (NOW, 21.0, False)},
    )
    got = {r.rule for r in assess(bat, RULES).reasons}
    assert got == {"device_battery.CUFF-1", "device_battery.SCALE-1"}


# --- rules are data: tuning, validation; one-shot input checks; the CLI
def test_hospital_tuning_and_rule_validation() -> None:
    tuned = RuleSet(
        {"spo2_home": {"bands": [["<=", 90, "emergency", "tuned"], ["<=", 93, "primary", "tuned"]]}}
    )
    assert triage_once({"spo2": 92}, tuned).tier is Tier.PRIMARY
    off = RuleSet({"heart_rate": {"enabled": False}})
    assert triage_once({"hr": 150}, off).tier is Tier.SELF
    from medtwin.models.triage import RuleError

    with pytest.raises(RuleError, match="source"):
        RuleSet({"mine": {"kind": "band", "measure": "hr", "bands": []}})  # no source: refused
    with pytest.raises(RuleError, match=r"bands\[0\]"):
        RuleSet({"heart_rate": {"bands": [["=", 1, "self", "x"]]}})


def test_one_shot_input_errors_name_the_field() -> None:
    for payload, field in (({"conditions": ["diabetis"]}, "conditions"), ({"spo": 90}, "spo"),
                           ({"hr": "fast"}, "hr"), ({"spo2": 101}, "spo2")):  # fmt: skip
        with pytest.raises(TriageInputError) as e:
            triage_once(payload)
        assert e.value.field == field


def test_cli_triage_prints_the_documented_shape_and_refuses_unknown_conditions() -> None:
    from medtwin.cli.main import app

    r = CliRunner().invoke(app, ["triage", "--json", json.dumps({"conditions": ["hypertension"], "sbp": 150, "dbp": 95,
                           "hr": 80, "spo2": 97, "temp_c": 36.8, "glucose_mg_dl": 110})])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["tier"] == "self" and set(out) == {"tier", "reasons"}
    assert all(set(x) == {"rule", "source", "detail"} for x in out["reasons"])
    r = CliRunner().invoke(app, ["triage", "--json", '{"spo2": 86, "conditions": ["copd"]}'])
    assert json.loads(r.stdout)["tier"] == "primary"
    r = CliRunner().invoke(app, ["triage", "--json", '{"conditions": ["gout"]}'])
    assert r.exit_code == 2 and "gout" in r.output
