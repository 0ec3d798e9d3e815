"""Events on the bus and the causal context every event carries.

A :class:`Context` says who or what caused something (a user, a device, a rule) and which event
it came from; the audit log and provenance reuse it (the pattern of Home Assistant's Context).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medtwin.core.ids import new_id
from medtwin.core.model import Observation, Twin


@dataclass(frozen=True, slots=True)
class Context:
    actor: str = "system"  # "user:<id>", "device:<id>", "rule:news2", "system"
    id: str = field(default_factory=new_id)
    parent_id: str | None = None

    def child(self, actor: str | None = None) -> Context:
        return Context(actor=actor or self.actor, parent_id=self.id)


@dataclass(frozen=True, slots=True)
class Event:
    time: datetime
    context: Context


@dataclass(frozen=True, slots=True)
class ObservationsRecorded(Event):
    """A committed batch of *new* observations (duplicates are not re-announced)."""

    observations: tuple[Observation, ...] = ()


@dataclass(frozen=True, slots=True)
class TwinChanged(Event):
    old: Twin | None = None
    new: Twin | None = None


@dataclass(frozen=True, slots=True)
class RelationshipChanged(Event):
    src: str = ""
    type: str = ""
    dst: str = ""
    removed: bool = False


@dataclass(frozen=True, slots=True)
class Generic(Event):
    """Events of later services (score computed, alarm raised...) until they get their own class."""

    type: str = ""
    data: dict[str, Any] = field(default_factory=dict)
