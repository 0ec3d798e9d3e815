"""Care-team and ward scope from the twin graph: which patients and wards a principal covers.

* a user's wards = the wards on the account + the wards its staff twin ``works_in``;
* a user's patients = the patients on the account + those ``cared_for_by`` its staff twin;
* the patients a ``care`` role sees = its patients + every active patient located in its wards;
* a device sees (for writing) the twins its device twins ``monitors``.

Results are cached and dropped on every twin or relationship change announced on the bus (and
after ``ttl`` seconds, for changes made by another process such as the CLI).
"""

from __future__ import annotations

import fnmatch
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from medtwin.core.events import RelationshipChanged, TwinChanged
from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.security.policy import scope_of
from medtwin.security.principal import Principal

if TYPE_CHECKING:
    from medtwin.runtime import Runtime

PLACES = frozenset({TwinKind.BED, TwinKind.ROOM, TwinKind.WARD, TwinKind.FLOOR, TwinKind.BUILDING})


@dataclass(frozen=True)
class Resource:
    """What a request touches: its class (patient, place, staff, device), the twin, the patients
    it concerns and the ward it belongs to (for places)."""

    cls: str
    twin_id: str
    patients: tuple[str, ...] = ()
    ward: str | None = None
    exists: bool = True


class ScopeCache:
    def __init__(self, rt: Runtime, ttl: float = 30.0) -> None:
        self.rt = rt
        self.ttl = ttl
        self._lock = threading.Lock()
        self._version = 0
        self._cache: dict[object, tuple[int, float, object]] = {}
        rt.bus.subscribe(TwinChanged, self._changed)
        rt.bus.subscribe(RelationshipChanged, self._changed)

    def _changed(self, _e: object) -> None:
        with self._lock:
            self._version += 1
            self._cache.clear()

    def invalidate(self) -> None:
        self._changed(None)

    def _memo(self, key: object, fn: object) -> object:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == self._version and now - hit[1] < self.ttl:
                return hit[2]
            version = self._version
        value = fn()  # type: ignore[operator]
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            if version == self._version:
                self._cache[key] = (version, now, value)
        return value

    # ------------------------------------------------------------------ graph look-ups
    def staff_links(self, staff_id: str) -> tuple[frozenset[str], frozenset[str]]:
        """(wards the staff twin works in, patients cared for by it)."""

        def compute() -> tuple[frozenset[str], frozenset[str]]:
            store = self.rt.store
            t = store.get_twin(staff_id)
            if t is None or t.kind is not TwinKind.STAFF:
                return frozenset(), frozenset()
            wards = {r.dst for r in store.relationships(staff_id, type_=RelType.WORKS_IN, direction="out")}
            pats = {r.src for r in store.relationships(staff_id, type_=RelType.CARED_FOR_BY, direction="in")}
            return frozenset(wards), frozenset(pats)

        return self._memo(("staff", staff_id), compute)  # type: ignore[return-value]

    def ward_of(self, twin_id: str) -> str | None:
        def compute() -> str | None:
            t = self.rt.store.get_twin(twin_id)
            if t is not None and t.kind is TwinKind.WARD:
                return t.id
            w = self.rt.registry.ward_of(twin_id)
            return w.id if w is not None else None

        return self._memo(("ward", twin_id), compute)  # type: ignore[return-value]

    def ward_patients(self, ward_id: str) -> frozenset[str]:
        return self._memo(  # type: ignore[return-value]
            ("wardp", ward_id), lambda: frozenset(p.id for p in self.rt.registry.patients_in(ward_id))
        )

    def monitors(self) -> dict[str, str]:
        """device id -> the twin it monitors."""

        def compute() -> dict[str, str]:
            return {r.src: r.dst for r in self.rt.store.relationships(type_=RelType.MONITORS)}

        return self._memo("monitors", compute)  # type: ignore[return-value]

    def residents(self, home_id: str) -> tuple[str, ...]:
        return self._memo(  # type: ignore[return-value]
            ("home", home_id),
            lambda: tuple(
                r.src for r in self.rt.store.relationships(home_id, type_=RelType.LIVES_IN, direction="in")
            ),
        )

    def twin(self, twin_id: str) -> Twin | None:
        return self._memo(("twin", twin_id), lambda: self.rt.store.get_twin(twin_id))  # type: ignore[return-value]

    # ------------------------------------------------------------------ what a principal covers
    def visible_patients(self, p: Principal) -> frozenset[str] | None:
        """The patients ``p`` may see (None = every patient)."""
        scope = scope_of(p.role)
        if scope == "all":
            return None
        if scope == "care":
            key = ("care", p.wards, p.patients)

            def compute() -> frozenset[str]:
                out = set(p.patients)
                for w in p.wards:
                    out |= self.ward_patients(w)
                return frozenset(out)

            return self._memo(key, compute)  # type: ignore[return-value]
        if scope == "self":
            return p.patients
        if scope == "device":
            return frozenset(self.device_targets(p))
        return frozenset()

    def device_targets(self, p: Principal) -> set[str]:
        links = self.monitors()
        return {dst for dev, dst in links.items() if device_allowed(p, dev)}

    def resource(self, twin_id: str) -> Resource:
        """Classify a twin (unknown ids are treated as a patient nobody but ``all`` may see)."""
        t = self.twin(twin_id)
        if t is None:
            return Resource("patient", twin_id, (twin_id,), exists=False)
        if t.kind is TwinKind.PATIENT:
            return Resource("patient", t.id, (t.id,))
        if t.kind is TwinKind.HOME:
            return Resource("patient", t.id, self.residents(t.id))
        if t.kind in PLACES:
            return Resource("place", t.id, (), self.ward_of(t.id))
        return Resource(t.kind.value, t.id)  # staff, device


def device_allowed(p: Principal, device_id: str) -> bool:
    """May this device key send as ``device_id``? (its own id, or a relay's patterns)"""
    if p.device_id == device_id:
        return True
    return any(fnmatch.fnmatchcase(device_id, pat) for pat in p.devices)
