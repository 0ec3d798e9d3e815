"""Home-care triage rules (pure, no I/O): three tiers with reasons citing rule and guideline.

``triage_once(payload)`` (the CLI/API one-shot), ``assess(PatientData, RuleSet)`` (full, with
history), ``RuleSet`` (rules as data; hospital and per-patient overrides). See docs/remote-care.md.
"""

from medtwin.models.triage.assess import PatientData, TriageInputError, assess, default_schedule, triage_once
from medtwin.models.triage.model import CONDITIONS, Decision, Reason, Tier, most_urgent
from medtwin.models.triage.rules import DEFAULT_RULES, RuleError, RuleSet

__all__ = [
    "CONDITIONS",
    "DEFAULT_RULES",
    "Decision",
    "PatientData",
    "Reason",
    "RuleError",
    "RuleSet",
    "Tier",
    "TriageInputError",
    "assess",
    "default_schedule",
    "most_urgent",
    "triage_once",
]
