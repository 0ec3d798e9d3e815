"""The twin registry: create, change and link twins, and announce it on the bus.

Every change to twins and relationships goes through here so that caches (the Ingestor's
patient and device maps, live dashboards) and the audit trail hear about it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medtwin.core.bus import Bus
from medtwin.core.clock import Clock, WallClock
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.core.events import Context, RelationshipChanged, TwinChanged
from medtwin.core.ids import valid_id
from medtwin.core.model import Relationship, RelType, Twin, TwinKind
from medtwin.store.sql import SqlStore

# Which kinds may be linked by which relationship (src kinds, dst kinds).
ALLOWED: dict[RelType, tuple[set[TwinKind], set[TwinKind]]] = {
    RelType.LOCATED_IN: (
        {TwinKind.PATIENT, TwinKind.DEVICE, TwinKind.BED, TwinKind.STAFF},
        {TwinKind.BED, TwinKind.ROOM, TwinKind.WARD, TwinKind.HOME},
    ),
    RelType.PART_OF: (
        {TwinKind.ROOM, TwinKind.WARD, TwinKind.FLOOR, TwinKind.BED},
        {TwinKind.WARD, TwinKind.FLOOR, TwinKind.BUILDING, TwinKind.ROOM},
    ),
    RelType.MONITORS: ({TwinKind.DEVICE}, {TwinKind.PATIENT, TwinKind.ROOM, TwinKind.HOME}),
    RelType.CARED_FOR_BY: ({TwinKind.PATIENT}, {TwinKind.STAFF}),
    RelType.WORKS_IN: ({TwinKind.STAFF}, {TwinKind.WARD, TwinKind.BUILDING}),
    RelType.LIVES_IN: ({TwinKind.PATIENT}, {TwinKind.HOME}),
}
# Relationship types where a source has a single destination at a time.
EXCLUSIVE = {RelType.LOCATED_IN, RelType.PART_OF, RelType.MONITORS, RelType.LIVES_IN}
# The location chain walked upwards from a patient: bed -> room -> ward -> floor -> building.
UPWARD = (RelType.LOCATED_IN, RelType.PART_OF)


class Registry:
    def __init__(self, store: SqlStore, bus: Bus, clock: Clock | None = None) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock or WallClock()

    def put(self, twin: Twin, context: Context | None = None) -> Twin:
        if not valid_id(twin.id):
            raise ValidationError("id must be 1-64 letters, digits, '.', '_' or '-'", field="id")
        old = self.store.put_twin(twin)
        self.bus.publish(TwinChanged(time=self.clock.now(), context=context or Context(), old=old, new=twin))
        return twin

    def get(self, twin_id: str) -> Twin:
        return self.store.require_twin(twin_id)

    def remove(self, twin_id: str, context: Context | None = None) -> None:
        old = self.store.require_twin(twin_id)
        self.store.delete_twin(twin_id)
        self.bus.publish(TwinChanged(time=self.clock.now(), context=context or Context(), old=old, new=None))

    def relate(
        self,
        src: str,
        type_: RelType,
        dst: str,
        attributes: dict[str, Any] | None = None,
        context: Context | None = None,
    ) -> Relationship:
        a = self.store.get_twin(src)
        b = self.store.get_twin(dst)
        if a is None:
            raise NotFoundError(f"no twin {src!r}", field="src")
        if b is None:
            raise NotFoundError(f"no twin {dst!r}", field="dst")
        src_kinds, dst_kinds = ALLOWED[type_]
        if a.kind not in src_kinds or b.kind not in dst_kinds:
            raise ValidationError(f"a {a.kind} cannot be {type_} a {b.kind}", field="type")
        if src == dst:
            raise ValidationError("a twin cannot relate to itself", field="dst")
        rel = Relationship(src, type_, dst, attributes or {})
        self.store.relate(rel, exclusive=type_ in EXCLUSIVE)
        self.bus.publish(
            RelationshipChanged(
                time=self.clock.now(), context=context or Context(), src=src, type=type_.value, dst=dst
            )
        )
        return rel

    def unrelate(self, src: str, type_: RelType, dst: str, context: Context | None = None) -> None:
        if not self.store.unrelate(src, type_, dst):
            raise NotFoundError(f"no relationship {src} {type_} {dst}", field="relationship")
        self.bus.publish(
            RelationshipChanged(
                time=self.clock.now(),
                context=context or Context(),
                src=src,
                type=type_.value,
                dst=dst,
                removed=True,
            )
        )

    # ------------------------------------------------------------------ graph queries
    def location_chain(self, twin_id: str) -> list[Twin]:
        """The twin's places, nearest first: e.g. bed, room, ward, floor, building."""
        chain: list[Twin] = []
        seen = {twin_id}
        current = twin_id
        while True:
            rels = [r for r in self.store.relationships(current, direction="out") if r.type in UPWARD]
            if not rels:
                return chain
            nxt = rels[0].dst
            if nxt in seen:
                return chain
            seen.add(nxt)
            t = self.store.get_twin(nxt)
            if t is None:
                return chain
            chain.append(t)
            current = nxt

    def descendants(self, twin_id: str) -> list[Twin]:
        """Everything located in or part of this place, recursively (a ward's rooms, beds, patients)."""
        children: dict[str, list[str]] = {}
        for r in self.store.relationships():
            if r.type in UPWARD:
                children.setdefault(r.dst, []).append(r.src)
        ids: list[str] = []
        frontier = [twin_id]
        seen = {twin_id}
        while frontier:
            cur = frontier.pop()
            for child in children.get(cur, []):
                if child not in seen:
                    seen.add(child)
                    ids.append(child)
                    frontier.append(child)
        by_id = {t.id: t for t in self.store.list_twins()}
        return [by_id[i] for i in ids if i in by_id]

    def patients_in(self, place_id: str) -> list[Twin]:
        return [t for t in self.descendants(place_id) if t.kind is TwinKind.PATIENT and t.active]

    def devices_of(self, patient_id: str) -> list[str]:
        return [r.src for r in self.store.relationships(patient_id, type_=RelType.MONITORS, direction="in")]

    def ward_of(self, twin_id: str) -> Twin | None:
        for t in self.location_chain(twin_id):
            if t.kind is TwinKind.WARD:
                return t
        return None

    def put_many(self, twins: Iterable[Twin]) -> None:
        for t in twins:
            self.put(t)
