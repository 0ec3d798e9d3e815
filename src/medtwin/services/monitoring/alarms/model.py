"""The alarm record and its vocabulary, modelled on IEC 60601-1-8 and IEEE 11073-10207 (BICEPS).

Sources:

* IEC 60601-1-8:2006+A1:2012+A2:2020, *General requirements, tests and guidance for alarm
  systems*: priority assignment (§6.1.2, Table 1: the result of failure to respond to the cause
  of the alarm condition x its onset), alarm signal inactivation states (§6.8: ACKNOWLEDGED,
  AUDIO PAUSED; inactivating one condition must not affect another), latching (§6.10, chosen by
  the responsible organisation), the alarm system log (§6.12). Wording as quoted in the
  medicalopenworld/IncuNest normative analysis and checked against Dräger Infinity and Mindray
  instructions for use (see /work/shared/research/monitoring.md §2.1).
* IEEE 11073-10207 (BICEPS), as implemented by the ``sdc11073`` package: AlertConditionKind
  {Phy, Tec, Oth}, AlertConditionPriority {None, Lo, Me, Hi}, AlertSignalPresence
  {On, Off, Latch, Ack}, AlertActivation {On, Off, Psd}, CanEscalate / CanDeEscalate.

Mapping of medtwin's states onto BICEPS (:func:`biceps_presence`): ``active`` is presence On,
``acknowledged`` is Ack, ``paused`` is activation Psd (audio paused, the visual signal stays),
an alarm whose condition ended but which is latched is Latch, ``resolved`` is Off. medtwin has
two condition kinds, physiological and technical (environment alarms are technical: they are
about the equipment and the room, not the patient's physiology).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from medtwin.core.clock import from_us, to_us


class Kind(StrEnum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Priority.LOW: 1, Priority.MEDIUM: 2, Priority.HIGH: 3}


class State(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    PAUSED = "paused"  # IEC AUDIO PAUSED for a disclosed duration
    RESOLVED = "resolved"


class Consequence(StrEnum):
    """IEC 60601-1-8 Table 1 rows: the potential result of failure to respond."""

    DEATH = "death or irreversible injury"
    REVERSIBLE = "reversible injury"
    MINOR = "minor injury or discomfort"


class Onset(StrEnum):
    """IEC 60601-1-8 Table 1 columns: how soon the harm can happen.

    Immediate: not usually enough time for manual corrective action; prompt: usually enough
    time; delayed: longer than prompt."""

    IMMEDIATE = "immediate"
    PROMPT = "prompt"
    DELAYED = "delayed"


# IEC 60601-1-8 §6.1.2 Table 1. The bottom-right cell allows "low or no alarm signal / information
# signal"; medtwin uses LOW there (it never drops a condition silently).
TABLE_1: dict[tuple[Consequence, Onset], Priority] = {
    (Consequence.DEATH, Onset.IMMEDIATE): Priority.HIGH,
    (Consequence.DEATH, Onset.PROMPT): Priority.HIGH,
    (Consequence.DEATH, Onset.DELAYED): Priority.MEDIUM,
    (Consequence.REVERSIBLE, Onset.IMMEDIATE): Priority.HIGH,
    (Consequence.REVERSIBLE, Onset.PROMPT): Priority.MEDIUM,
    (Consequence.REVERSIBLE, Onset.DELAYED): Priority.LOW,
    (Consequence.MINOR, Onset.IMMEDIATE): Priority.MEDIUM,
    (Consequence.MINOR, Onset.PROMPT): Priority.LOW,
    (Consequence.MINOR, Onset.DELAYED): Priority.LOW,
}


def derive_priority(consequence: Consequence, onset: Onset) -> Priority:
    """The priority IEC 60601-1-8 Table 1 assigns to a (consequence, onset) pair."""
    return TABLE_1[(consequence, onset)]


@dataclass(frozen=True, slots=True)
class Derivation:
    """Why a condition (at one severity tier) has its priority: the risk-file entry."""

    consequence: Consequence
    onset: Onset
    rationale: str

    @property
    def priority(self) -> Priority:
        return derive_priority(self.consequence, self.onset)

    def as_dict(self) -> dict[str, str]:
        return {
            "consequence": self.consequence.value,
            "onset": self.onset.value,
            "priority": self.priority.value,
            "rationale": self.rationale,
        }


def iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def iso_t(t: float) -> str | None:
    """Epoch seconds as ISO 8601 UTC."""
    return iso(from_us(round(t * 1_000_000)))


def _dt(value: Any) -> datetime | None:
    return None if value is None else from_us(int(value))


def _us(when: datetime | None) -> int | None:
    return None if when is None else to_us(when)


@dataclass(slots=True)
class Alarm:
    """One alarm: a condition on one twin from raise to resolution (one open alarm per condition).

    ``latched`` says whether this alarm latches (the responsible organisation's setting for its
    priority); ``condition_active`` whether the condition still holds. A latched alarm whose
    condition ended stays (state unchanged, ``condition_active`` false) until acknowledged.
    ``escalated_to`` lists everyone notified so far, level by level (level 0: the primary nurse).
    """

    id: str
    twin: str
    condition: str
    kind: Kind
    priority: Priority
    message: str
    started: datetime
    updated: datetime
    state: State = State.ACTIVE
    latched: bool = False
    condition_active: bool = True
    escalation_level: int = 0
    escalated_to: list[str] = field(default_factory=list)
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    paused_until: datetime | None = None
    paused_by: str | None = None
    resolved_at: datetime | None = None
    condition_ended: datetime | None = None
    level_since: datetime | None = None  # start of the current escalation timeout
    bed: str | None = None
    ward: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    tier: int = 1  # severity tier of the condition (1 alert, 2 critical)

    @property
    def open(self) -> bool:
        return self.state is not State.RESOLVED

    def to_json(self) -> dict[str, Any]:
        """The API shape (the dashboard's contract)."""
        return {
            "id": self.id,
            "twin": self.twin,
            "bed": self.bed,
            "ward": self.ward,
            "condition": self.condition,
            "message": self.message,
            "kind": self.kind.value,
            "priority": self.priority.value,
            "state": self.state.value,
            "latched": self.latched,
            "condition_active": self.condition_active,
            "escalation_level": self.escalation_level,
            "escalated_to": list(self.escalated_to),
            "started": iso(self.started),
            "updated": iso(self.updated),
            "acknowledged_by": self.acknowledged_by,
            "paused_until": iso(self.paused_until),
            "evidence": dict(self.evidence),
        }

    def to_record(self) -> dict[str, Any]:
        """Everything needed to restore the alarm after a restart (JSON-ready)."""
        return {
            "id": self.id,
            "twin": self.twin,
            "condition": self.condition,
            "kind": self.kind.value,
            "priority": self.priority.value,
            "message": self.message,
            "started_us": to_us(self.started),
            "updated_us": to_us(self.updated),
            "state": self.state.value,
            "latched": self.latched,
            "condition_active": self.condition_active,
            "escalation_level": self.escalation_level,
            "escalated_to": list(self.escalated_to),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_us": _us(self.acknowledged_at),
            "paused_until_us": _us(self.paused_until),
            "paused_by": self.paused_by,
            "resolved_us": _us(self.resolved_at),
            "condition_ended_us": _us(self.condition_ended),
            "level_since_us": _us(self.level_since),
            "bed": self.bed,
            "ward": self.ward,
            "evidence": self.evidence,
            "tier": self.tier,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Alarm:
        return cls(
            id=r["id"],
            twin=r["twin"],
            condition=r["condition"],
            kind=Kind(r["kind"]),
            priority=Priority(r["priority"]),
            message=r["message"],
            started=from_us(int(r["started_us"])),
            updated=from_us(int(r["updated_us"])),
            state=State(r["state"]),
            latched=bool(r["latched"]),
            condition_active=bool(r["condition_active"]),
            escalation_level=int(r["escalation_level"]),
            escalated_to=list(r.get("escalated_to") or []),
            acknowledged_by=r.get("acknowledged_by"),
            acknowledged_at=_dt(r.get("acknowledged_us")),
            paused_until=_dt(r.get("paused_until_us")),
            paused_by=r.get("paused_by"),
            resolved_at=_dt(r.get("resolved_us")),
            condition_ended=_dt(r.get("condition_ended_us")),
            level_since=_dt(r.get("level_since_us")),
            bed=r.get("bed"),
            ward=r.get("ward"),
            evidence=dict(r.get("evidence") or {}),
            tier=int(r.get("tier", 1)),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of one alarm: what the bus, the store and the notifiers hear about.

    Types: ``raised``, ``priority_escalated``, ``priority_deescalated``, ``condition_ended``,
    ``condition_returned``, ``updated`` (evidence or message changed, e.g. a NEWS2 band change
    within a tier), ``acknowledged``, ``paused``, ``pause_expired``, ``escalated`` (next level of
    the chain), ``stand_down`` (people up the chain released after acknowledgement or
    resolution), ``resolved``, ``relocated``.
    """

    type: str
    time: datetime
    actor: str = "system"
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "time": iso(self.time), "actor": self.actor, **self.data}


# Transitions that reach people (the rest only update dashboards and the log).
NOTIFY = frozenset(
    {"raised", "priority_escalated", "escalated", "pause_expired", "condition_returned", "stand_down"}
)


def biceps_presence(alarm: Alarm) -> str:
    """IEEE 11073-10207 AlertSignalPresence (or AlertActivation Psd) of an alarm."""
    if alarm.state is State.RESOLVED:
        return "Off"
    if alarm.state is State.ACKNOWLEDGED:
        return "Ack"
    if alarm.state is State.PAUSED:
        return "Psd"
    return "On" if alarm.condition_active else "Latch"


def sort_key(alarm: Alarm) -> tuple[int, int]:
    """Priority (high first), then age (oldest first)."""
    return (-alarm.priority.rank, to_us(alarm.started))
