"""The default rule set, as data. A hospital tunes it with a TOML/JSON file (settings
``[medtwin.homecare] rules = {...}``, deep-merged over these defaults), and a doctor tunes it for
one patient at enrolment (``thresholds``, merged the same way). Every rule names its ``source``
(:data:`medtwin.models.triage.sources.SOURCES`).

Band rules compare one measure with a list of ``[op, value, tier, label]`` bands (op one of
``<``, ``<=``, ``>``, ``>=``); every band that matches gives a reason, the most urgent wins.
``only`` limits a rule to patients with one of the named conditions, ``unless`` skips it for them.
The other rule kinds (``bp_category``, trends, activity, adherence) have their own documented
fields; see docs/remote-care.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from medtwin.models.triage.model import CONDITIONS, Tier
from medtwin.models.triage.sources import SOURCES

VERSION = "2026.1"
OPS = ("<", "<=", ">", ">=")

DEFAULT_RULES: dict[str, Any] = {
    # ---------------------------------------------------------------- single readings
    "bp_category": {
        "kind": "bp",
        "source": "acc_aha_2017",
        "crisis_sbp_above": 180,
        "crisis_dbp_above": 120,
        # without reported target-organ symptoms a crisis is an urgency (same-day contact);
        # with them, a hypertensive emergency
        "crisis_tier": "primary",
        "crisis_with_symptoms_tier": "emergency",
        "stage2_sbp": 140,
        "stage2_dbp": 90,
        "stage1_sbp": 130,
        "stage1_dbp": 80,
        "elevated_sbp": 120,
    },
    "sbp_low": {
        "kind": "band",
        "measure": "sbp",
        "source": "news2",
        "bands": [
            ["<=", 90, "emergency", "NEWS2 systolic score 3"],
            ["<=", 100, "primary", "NEWS2 systolic score 2"],
        ],
    },
    "glucose_hypo": {
        "kind": "band",
        "measure": "glucose",
        "source": "ada_2025_s6",
        "bands": [
            ["<", 54, "primary", "level 2 hypoglycaemia (< 54 mg/dL): treat now; regimen review"],
            ["<", 70, "self", "level 1 hypoglycaemia (< 70 mg/dL): treat with fast carbohydrate and recheck"],
        ],
    },
    "glucose_hyper": {
        "kind": "band",
        "measure": "glucose",
        "source": "battelino_2019",
        "bands": [
            [">", 250, "primary", "level 2 hyperglycaemia (> 250 mg/dL)"],
            [">", 180, "self", "above the target range (> 180 mg/dL)"],
        ],
    },
    "glucose_hhs": {
        "kind": "band",
        "measure": "glucose",
        "source": "umpierrez_2024",
        "bands": [[">=", 600, "emergency", "glucose >= 600 mg/dL: hyperosmolar hyperglycaemic state range"]],
    },
    "spo2_home": {
        "kind": "band",
        "measure": "spo2",
        "source": "nhs_oximetry_home",
        "unless": ["copd"],
        "bands": [
            ["<=", 92, "emergency", "SpO2 <= 92 %: emergency department"],
            ["<=", 94, "primary", "SpO2 93-94 %: same-day review"],
            [">=", 95, "self", "SpO2 >= 95 %: continue monitoring"],
        ],
    },
    "spo2_copd": {
        "kind": "band",
        "measure": "spo2",
        "source": "bts_2017",
        "only": ["copd"],
        "bands": [
            ["<=", 83, "emergency", "SpO2 <= 83 % (NEWS2 Scale 2 score 3)"],
            ["<", 88, "primary", "below the 88-92 % target range"],
        ],
    },
    "heart_rate": {
        "kind": "band",
        "measure": "hr",
        "source": "news2",
        "bands": [
            ["<=", 40, "emergency", "pulse <= 40/min (NEWS2 score 3)"],
            [">=", 131, "emergency", "pulse >= 131/min (NEWS2 score 3)"],
            [">=", 111, "primary", "pulse 111-130/min (NEWS2 score 2)"],
        ],
    },
    "temperature": {
        "kind": "band",
        "measure": "temp",
        "source": "news2",
        "bands": [
            ["<=", 35.0, "emergency", "temperature <= 35.0 C (NEWS2 score 3)"],
            [">=", 39.1, "primary", "fever >= 39.1 C (NEWS2 score 2)"],
            [">=", 38.1, "self", "fever 38.1-39.0 C (NEWS2 score 1)"],
        ],
    },
    "fever_ltc": {
        "kind": "band",
        "measure": "temp",
        "source": "mcgeer_2012",
        "only": ["elderly_alone", "nursing_home"],
        "bands": [[">", 37.8, "primary", "fever in an older person (single oral > 37.8 C)"]],
    },
    "urine_glucose": {
        "kind": "urine_glucose",
        "source": "ada_2025_s2",
        "detect_above": 0,
        "tier": "primary",
        "expected_with": [
            "empagliflozin",
            "dapagliflozin",
            "canagliflozin",
            "ertugliflozin",
            "sotagliflozin",
        ],
    },
    # ---------------------------------------------------------------- trends and baselines
    "bp_home_mean": {
        "kind": "bp_trend",
        "source": "acc_aha_2017",
        "days": 7,
        "min_days": 3,
        "uncontrolled_sbp": 135,
        "uncontrolled_dbp": 85,
        "target_sbp": 130,
        "target_dbp": 80,
        "tier": "primary",
        "only": ["hypertension"],
    },
    "weight_gain_hf": {
        "kind": "weight_gain",
        "source": "esc_hfa_2021",
        "only": ["heart_failure"],
        "windows": [{"kg": 2.0, "days": 3}],
        "tier": "primary",
    },
    "cgm_metrics": {
        "kind": "cgm",
        "source": "battelino_2019",
        "only": ["diabetes"],
        "days": 14,
        "min_coverage": 0.70,
        "tier": "primary",
        "reading_interval_min": 5,
        "targets": {"tir_min": 70, "tbr70_max": 4, "tbr54_max": 1, "tar180_max": 25, "tar250_max": 5},
        "older_targets": {
            "tir_min": 50,
            "tbr70_max": 1,
            "tbr54_max": None,
            "tar180_max": None,
            "tar250_max": 10,
        },
        "older_if": ["elderly_alone", "nursing_home"],
    },
    "cgm_sustained": {"kind": "cgm_event", "source": "battelino_2019", "min_minutes": 15},
    "fever_repeated_ltc": {
        "kind": "repeated",
        "measure": "temp",
        "source": "mcgeer_2012",
        "only": ["elderly_alone", "nursing_home"],
        "above": 37.2,
        "count": 2,
        "hours": 48,
        "tier": "primary",
    },
    "fever_baseline_ltc": {
        "kind": "baseline_delta",
        "measure": "temp",
        "source": "mcgeer_2012",
        "only": ["elderly_alone", "nursing_home"],
        "delta_above": 1.1,
        "baseline_days": 14,
        "min_points": 3,
        "tier": "primary",
    },
    "baseline_deviation": {
        "kind": "baseline_sd",
        "source": "shewhart_spc",
        "k_sd": 3.0,
        "baseline_days": 14,
        "min_points": 20,
        "measures": ["hr", "sbp", "dbp", "spo2", "weight", "skin_temp"],
        "tier": "primary",
    },
    # ---------------------------------------------------------------- activity (elderly living alone)
    "inactivity_day": {
        "kind": "inactivity",
        "source": "floeck_2009",
        "only": ["elderly_alone"],
        "hours": None,  # set per person at enrolment, else the person's own profile is used
        "day_start_h": 7,
        "day_end_h": 22,  # configuration: the person's routine
        "movement_index_min": 12,  # the activity sensor's own awake level (medtwin.devices.activity)
        "profile_days": 7,
        "tier": "primary",
    },
    "night_fall_pattern": {
        "kind": "night_fall",
        "source": "fleming_2008",
        "only": ["elderly_alone"],
        "minutes": 60,
        "night_start_h": 22,
        "night_end_h": 7,
        "movement_index_min": 12,
        "tier": "emergency",
    },
    # ---------------------------------------------------------------- adherence and devices
    "reading_gap": {"kind": "gap", "source": "schedule", "missed_intervals": 1, "tier": "primary"},
    "device_battery": {"kind": "battery", "source": "device_battery", "low_pct": 20, "tier": "self"},
}

# Default measurement schedules by condition (hours between expected readings); see "schedule".
DEFAULT_SCHEDULES: dict[str, dict[str, float]] = {
    "hypertension": {"sbp": 12.0},
    "heart_failure": {"weight": 24.0},
}


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge (dicts recursively; lists and scalars replaced)."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class RuleError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def check(rules: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
    """Raise :class:`RuleError` naming the first bad field."""
    known = {**SOURCES, **(sources or {})}
    for rid, r in rules.items():
        if rid in ("version", "sources"):
            continue
        if not isinstance(r, Mapping):
            raise RuleError(rid, "a rule is a table")
        if r.get("enabled", True) is False:
            continue
        src = r.get("source")
        if src not in known:
            raise RuleError(f"{rid}.source", f"unknown source {src!r}: every rule cites one")
        for key in ("only", "unless"):
            for c in r.get(key, []) or []:
                if c not in CONDITIONS:
                    raise RuleError(f"{rid}.{key}", f"unknown condition {c!r}")
        for key in ("tier", "crisis_tier", "crisis_with_symptoms_tier"):
            if key in r and r[key] not in [t.value for t in Tier]:
                raise RuleError(f"{rid}.{key}", "tier must be one of emergency, primary, self")
        for i, b in enumerate(r.get("bands", []) or []):
            if (
                not isinstance(b, list | tuple)
                or len(b) != 4
                or b[0] not in OPS
                or isinstance(b[1], bool)
                or not isinstance(b[1], int | float)
                or b[2] not in [t.value for t in Tier]
            ):
                raise RuleError(f"{rid}.bands[{i}]", "a band is [op, number, tier, label]")


class RuleSet:
    """Rules (data) with their sources; ``for_patient`` applies a doctor's per-patient overrides."""

    def __init__(self, rules: Mapping[str, Any] | None = None) -> None:
        merged = merge(DEFAULT_RULES, rules or {})
        self.sources: dict[str, str] = {**SOURCES, **merged.pop("sources", {})}
        merged.pop("version", None)
        check(merged, self.sources)
        self.rules = merged
        body = json.dumps(self.rules, sort_keys=True, default=str).encode()
        self.version = f"{VERSION}+{hashlib.sha256(body).hexdigest()[:10]}"

    def for_patient(self, overrides: Mapping[str, Any] | None) -> RuleSet:
        if not overrides:
            return self
        return RuleSet({**merge(self.rules, overrides), "sources": self.sources})

    def get(self, rule_id: str) -> dict[str, Any] | None:
        r: dict[str, Any] | None = self.rules.get(rule_id)
        if r is None or r.get("enabled", True) is False:
            return None
        return r

    def applies(self, rule_id: str, conditions: set[str]) -> dict[str, Any] | None:
        r = self.get(rule_id)
        if r is None:
            return None
        only, unless = r.get("only"), r.get("unless") or []
        if only and not conditions & set(only):
            return None
        if conditions & set(unless):
            return None
        return r

    def cite(self, rule: Mapping[str, Any]) -> str:
        return self.sources.get(str(rule.get("source")), str(rule.get("source")))

    def of_kind(self, kind: str) -> list[str]:
        return [rid for rid, r in self.rules.items() if r.get("kind") == kind]
