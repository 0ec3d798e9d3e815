"""The safety service: buildings on the twin, the live census, evacuation runs and comparisons.

One per runtime (``rt.services["safety"]``). Runs are CPU-bound; at most ``max_parallel`` run at
once (further requests wait). Patients appear in scenarios, reports and replays by pseudonym,
bed, room and mobility class only.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.core.model import TwinKind
from medtwin.models.evacuation import plan, results
from medtwin.models.evacuation.building import Building, BuildingError
from medtwin.models.evacuation.scenario import Occupant, ScenarioError, parse
from medtwin.runtime import Runtime
from medtwin.services.safety import demo, variants
from medtwin.services.safety.glb import building_glb
from medtwin.services.safety.occupants import census, occupant_json
from medtwin.services.safety.store import SafetyStore

MAX_PEOPLE = 5000
MAX_HORIZON_S = 7200.0


def _verr(exc: BuildingError) -> ValidationError:
    return ValidationError(exc.reason, field=exc.field)


class SafetyService:
    def __init__(self, rt: Runtime, *, max_parallel: int = 1) -> None:
        self.rt = rt
        self.store = SafetyStore(rt.store, Path(rt.settings.data_dir) / "evacuation")
        self._slots = threading.BoundedSemaphore(max_parallel)

    # ------------------------------------------------------------------ buildings
    def building(self, bid: str) -> Building:
        b = self.store.building(bid)
        if b is None and bid == demo.demo_building().id and self._is_demo_hospital():
            b = self.install_demo()
        if b is None:
            raise NotFoundError(f"no building geometry for {bid!r}: import a plan first", field="building")
        return b

    def _is_demo_hospital(self) -> bool:
        t = self.rt.store.get_twin("B1")
        return t is not None and t.kind is TwinKind.BUILDING and self.rt.store.get_twin("MED-R01") is not None

    def install_demo(self, actor: str = "system:demo") -> Building:
        """Store the demo geometry for B1 and give demo patients without one a mobility class."""
        b = demo.demo_building()
        self.store.put_building(b, actor)
        for pid, cls in demo.DEMO_MOBILITY.items():
            t = self.rt.store.get_twin(pid)
            if t is not None and t.attributes.get("synthetic") and "mobility" not in t.attributes:
                self.rt.registry.put(replace(t, attributes={**t.attributes, "mobility": cls}))
        return b

    def put_building(self, b: Building, actor: str = "") -> dict[str, Any]:
        try:
            b.validate()
        except BuildingError as exc:
            raise _verr(exc) from None
        self.store.put_building(b, actor)
        return self.describe(b)

    @staticmethod
    def describe(b: Building) -> dict[str, Any]:
        return {"id": b.id, "name": b.name, "source": b.source, "floors": list(b.floors),
                "compartments": len(b.compartments), "spaces": len(b.spaces), "doors": len(b.doors),
                "exits": len(b.exits), "beds": len(b.beds),
                "walkable_m2": {f: round(b.walkable(f).area, 1) for f in b.floors}}  # fmt: skip

    # ------------------------------------------------------------------ occupants
    def occupants(
        self, bid: str, when: str, pseudonym: Callable[[str], str], visitors: float = 0.5
    ) -> dict[str, Any]:
        b = self.building(bid)
        occ, info = census(self.rt.registry, b, when=when, pseudonym=pseudonym, visitors_per_patient=visitors)
        by_class: dict[str, int] = {}
        for o in occ:
            by_class[o.cls.value] = by_class.get(o.cls.value, 0) + 1
        return {"building": bid, **info, "by_class": by_class, "occupants": [occupant_json(o) for o in occ]}

    def glb(self, bid: str, pseudonym: Callable[[str], str], when: str = "night") -> bytes:
        b = self.building(bid)
        occ, _ = census(self.rt.registry, b, when=when, pseudonym=pseudonym, visitors_per_patient=0.0)
        counts: dict[str, int] = {}
        for o in occ:
            counts[o.space] = counts.get(o.space, 0) + 1
        return building_glb(b, occupancy=counts, beds={o.bed: o.cls.value for o in occ if o.bed})

    # ------------------------------------------------------------------ runs
    def _resolve(self, doc: dict[str, Any], pseudonym: Callable[[str], str],
                 changes: dict[str, Any] | None = None) -> tuple[Building, Any, dict[str, Any]]:  # fmt: skip
        if not isinstance(doc, dict):
            raise ValidationError("must be a JSON object", field="scenario")
        doc = variants.apply_doc(doc, changes) if changes else doc
        b0 = self.building(str(doc["building"])) if doc.get("building") else None
        if b0 is not None and changes:
            b0 = variants.apply_building(b0, changes)
        try:
            b, sc = parse(doc, b0)
        except ScenarioError as exc:
            raise _verr(exc) from None
        info: dict[str, Any] = {}
        if sc.census:
            if b0 is None:
                raise ValidationError("a census needs a stored building", field="census")
            occ, info = census(self.rt.registry, b, when=sc.census, pseudonym=pseudonym,
                               visitors_per_patient=float(doc.get("visitors_per_patient", 0.5)))  # fmt: skip
            sc.occupants = occ + sc.occupants
        if changes:
            sc.occupants = variants.apply_occupants(sc.occupants, b, changes)
        if len(sc.occupants) > MAX_PEOPLE:
            raise ValidationError(f"at most {MAX_PEOPLE} people per run", field="agents")
        if sc.hazard_horizon_s > MAX_HORIZON_S:
            raise ValidationError(f"at most {MAX_HORIZON_S:g} s", field="hazard_horizon_s")
        return b, sc, info

    def simulate(self, doc: dict[str, Any], pseudonym: Callable[[str], str] = lambda x: x,
                 changes: dict[str, Any] | None = None, *, record: bool = True) -> tuple[Building, dict[str, Any], dict[str, Any] | None, list[Occupant]]:  # fmt: skip
        b, sc, info = self._resolve(doc, pseudonym, changes)
        with self._slots:
            try:
                data = plan.run(b, sc, record_frames=record)
            except ScenarioError as exc:
                raise _verr(exc) from None
        rep = results.report(data)
        rep["building"] = b.id
        if info:
            rep["census"] = info
            if info.get("defaulted_mobility"):
                rep["assumptions"].append(
                    f"{info['defaulted_mobility']} patients had no recorded mobility: critical in critical care, "
                    "bed-bound elsewhere (docs/evacuation.md)")  # fmt: skip
        return b, rep, results.replay(data) if record else None, sc.occupants

    def run(
        self, doc: dict[str, Any], *, actor: str = "", pseudonym: Callable[[str], str] = lambda x: x
    ) -> dict[str, Any]:
        b, rep, rp, occ = self.simulate(doc, pseudonym)
        stored = {k: v for k, v in doc.items() if k != "agents"} | {"agents": [occupant_json(o) for o in occ]}
        rep["id"] = self.store.save_run(b.id, "run", stored, rep, rp, actor)
        return rep

    def compare(self, base: dict[str, Any], options: list[dict[str, Any]], *, actor: str = "",
                pseudonym: Callable[[str], str] = lambda x: x) -> dict[str, Any]:  # fmt: skip
        if not isinstance(options, list) or not 1 <= len(options) <= 6:
            raise ValidationError("1 to 6 variants", field="variants")
        rows = []
        _b, rep0, _rp, _o = self.simulate(copy.deepcopy(base), pseudonym, record=False)
        rows.append({"name": "base", **_metrics(rep0)})
        for i, v in enumerate(options):
            if not isinstance(v, dict) or not isinstance(v.get("changes"), dict):
                raise ValidationError("each variant needs a name and changes", field=f"variants[{i}]")
            _b, rep, _rp, _o = self.simulate(copy.deepcopy(base), pseudonym, v["changes"], record=False)
            rows.append(
                {"name": str(v.get("name") or f"variant {i + 1}"), "changes": v["changes"], **_metrics(rep)}
            )
        for r in rows[1:]:
            r["delta_rset_s"] = _delta(r["rset_s"], rows[0]["rset_s"])
            r["delta_at_risk"] = r["at_risk"] - rows[0]["at_risk"]
        out: dict[str, Any] = {"name": str(base.get("name", "comparison")), "building": str(base.get("building", "")),
               "rows": rows, "summary": {"variants": len(rows) - 1, "best": _best(rows)}}  # fmt: skip
        out["id"] = self.store.save_run(
            out["building"] or "scenario", "compare", {"base": base, "variants": options}, out, None, actor
        )
        return out


def _metrics(rep: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": rep["status"], "rset_s": rep["rset_s"], "aset_s": rep["aset_s"], "margin_s": rep["margin_s"],
        "at_risk": len(rep["at_risk"]), "patients_at_risk": sum(a["role"] == "patient" for a in rep["at_risk"]),
        "fed_over_0_3": len(rep["fed_over_0_3"]), "stranded": rep["stuck"],
        "staff_max_busy_s": max((s["busy_s"] or 0 for s in rep["staff"]), default=0),
        "compartments": {c["id"]: c["clear_s"] for c in rep["compartments"]},
    }  # fmt: skip


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


def _best(rows: list[dict[str, Any]]) -> str:
    """Fewest people left behind, then fewest patients at risk, then the shortest RSET, then fewest
    people at risk (an extra nurse who is exposed herself still counts, but after the patients)."""

    def key(r: dict[str, Any]) -> tuple[float, float, float, float]:
        rset = r["rset_s"] if r["rset_s"] is not None else math.inf
        return (r["stranded"], r["patients_at_risk"], rset, r["at_risk"])

    return str(min(rows, key=key)["name"])


def safety_for(rt: Runtime) -> SafetyService:
    svc = rt.services.get("safety")
    if not isinstance(svc, SafetyService):
        svc = rt.services["safety"] = SafetyService(rt)
    return svc
