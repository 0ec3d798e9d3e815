"""Triage vocabulary: the three tiers, a reason (rule + source + detail), a decision.

Tiers, most urgent first (the published three-tier remote-monitoring model of NHS England's
COVID Oximetry @home: red = 999 / emergency department, amber = GP or NHS 111 the same day,
green = continue self-monitoring):

* ``emergency``: tertiary hospital now;
* ``primary``: primary clinic or same-day contact by the remote-care team;
* ``self``: the current medication and self-care suffice.

Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Tier(StrEnum):
    EMERGENCY = "emergency"
    PRIMARY = "primary"
    SELF = "self"

    @property
    def rank(self) -> int:
        """0 = most urgent."""
        return _RANK[self]


_RANK = {Tier.EMERGENCY: 0, Tier.PRIMARY: 1, Tier.SELF: 2}

CONDITIONS = (
    "hypertension",
    "diabetes",
    "copd",
    "heart_failure",
    "rare_disease",
    "elderly_alone",
    "nursing_home",
)


def most_urgent(tiers: Iterable[Tier]) -> Tier:
    out = Tier.SELF
    for t in tiers:
        if t.rank < out.rank:
            out = t
    return out


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a tier was chosen: the rule (its id in the rule set), its source, and what was seen."""

    rule: str
    source: str
    detail: str
    tier: Tier = Tier.SELF
    measure: str | None = None
    value: float | None = None
    kind: str = "clinical"  # clinical | trend | baseline | adherence | activity | device

    def as_dict(self, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "source": self.source, "detail": self.detail}
        if full:
            out.update(tier=self.tier.value, kind=self.kind)
            if self.measure is not None:
                out["measure"] = self.measure
            if self.value is not None:
                out["value"] = self.value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reason:
        return cls(
            rule=str(d["rule"]),
            source=str(d.get("source", "")),
            detail=str(d.get("detail", "")),
            tier=Tier(d.get("tier", "self")),
            measure=d.get("measure"),
            value=d.get("value"),
            kind=str(d.get("kind", "clinical")),
        )


@dataclass(slots=True)
class Decision:
    tier: Tier
    reasons: list[Reason] = field(default_factory=list)

    @classmethod
    def of(cls, reasons: Iterable[Reason]) -> Decision:
        rs = sorted(reasons, key=lambda r: (r.tier.rank, r.rule))
        return cls(most_urgent(r.tier for r in rs), rs)

    def as_dict(self, full: bool = True) -> dict[str, Any]:
        return {"tier": self.tier.value, "reasons": [r.as_dict(full) for r in self.reasons]}

    @property
    def signature(self) -> tuple[str, tuple[str, ...]]:
        """What makes two decisions 'the same' (tier and the rules that raised it above self)."""
        return self.tier.value, tuple(sorted(r.rule for r in self.reasons if r.tier is not Tier.SELF))
