"""The report of a run: RSET against ASET, times per compartment and exit, door flows, doses,
staff workload, heat map, and the replay (frames and staff-assisted moves).

* **RSET** (required safe escape time) is the time the last person who had to move reached safety
  (exit, refuge compartment or, for staff, the end of their last move); ``None`` when anybody could
  not (engine stopped, stuck, stranded): a wrong time is worse than none.
* **ASET** (available safe escape time) of a compartment is the first time one of its spaces turns
  untenable (:mod:`medtwin.models.hazards.tenability`), the room of origin of a fire or leak apart
  (it turns untenable within a minute or two of any fire; it is reported on its own, as
  ``origin_untenable_s``, and its occupants are judged by their dose); margin = ASET - clearance.
* Door flows: crossings per door; peak flow over a 10 s window, and as specific flow per metre of
  clear width next to the SFPE maximum of 1.3 p/(s m) of *effective* width (:mod:`.hydraulic`).
* People at risk: FED above 0.3 (ISO 13571), or a heat dose above 0.3, or not safe before their
  compartment's ASET, or stranded.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from medtwin.models.evacuation import hydraulic as H
from medtwin.models.evacuation.plan import RunData
from medtwin.models.hazards.fed import FED_DESIGN_THRESHOLD

FLOW_WINDOW_S = 10.0


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def report(d: RunData) -> dict[str, Any]:
    b, sc, ten = d.building, d.scenario, d.tenability
    movers = [p for p in d.people if p.mode in ("walk", "assisted", "helper", "stranded")]
    failed = [p for p in movers if p.mode == "stranded" or math.isnan(p.safe_s)]
    engine_status = {f: o.status for f, o in d.outcomes.items()}
    bad_engine = {f: s for f, s in engine_status.items() if s != "ok"}
    status = (
        "ok"
        if not failed and not bad_engine
        else (next(iter(bad_engine.values())) if bad_engine else "incomplete")
    )
    rset = None if failed or bad_engine else max((p.safe_s for p in movers), default=0.0)
    aset_c: dict[str, float] = {}
    why_c: dict[str, str] = {}
    origin = ({sc.fire.space} if sc.fire else set()) | {g.space for g in sc.leaks}
    aset_all = math.inf  # over every space, also on plans without compartments (scans)
    if ten is not None:
        for s in b.spaces.values():
            if s.id in origin:  # the room of origin is reported on its own
                continue
            t = ten.untenable_s.get(s.id, math.inf)
            aset_all = min(aset_all, t)
            if s.compartment and t < aset_c.get(s.compartment, math.inf):
                aset_c[s.compartment], why_c[s.compartment] = t, f"{s.id}: {ten.reason[s.id]}"
    comps = []
    for cid, c in b.compartments.items():
        occ = [p for p in d.people if p.comp == cid]
        if not occ:
            continue
        moving = [p for p in occ if p.mode != "stays"]
        clear = (
            max((p.left_comp_s if not math.isnan(p.left_comp_s) else p.safe_s for p in moving), default=0.0)
            if moving
            else None
        )
        aset = aset_c.get(cid, math.inf)
        comps.append({
            "id": cid, "floor": c.floor, "occupants": len(occ), "moving": len(moving),
            "clear_s": _r(clear) if moving and not any(p.mode == "stranded" for p in moving) else None,
            "aset_s": _r(aset), "untenable": why_c.get(cid, ""),
            "margin_s": _r(aset - clear) if moving and clear is not None and math.isfinite(aset) and math.isfinite(clear) else None,
        })  # fmt: skip
    exits: dict[str, list[float]] = {}
    for p in movers:
        if p.target and not math.isnan(p.safe_s):
            exits.setdefault(p.target, []).append(p.safe_s)
    agents = []
    for p in d.people:
        at_risk = []
        if p.fed > FED_DESIGN_THRESHOLD:
            at_risk.append("FED > 0.3")
        if p.heat > FED_DESIGN_THRESHOLD:
            at_risk.append("heat dose > 0.3")
        if p.mode == "stranded":
            at_risk.append(f"not evacuated: {p.note}")
        elif (
            p.comp in aset_c and p.mode != "stays" and not math.isnan(p.safe_s) and p.safe_s > aset_c[p.comp]
        ):
            at_risk.append("safe after the compartment became untenable")
        agents.append({
            "id": p.key, "class": p.cls.value, "role": p.role, "floor": p.floor, "space": p.space,
            "compartment": p.comp, "mode": p.mode, "start_s": _r(p.start_s), "exit_time_s": _r(p.safe_s),
            "target": p.target, "fed": round(p.fed, 4), "heat_dose": round(p.heat, 4), "at_risk": at_risk,
        })  # fmt: skip
    doors = _doors(d)
    staff = []
    if d.plan is not None:
        for h in d.plan.helpers:
            staff.append({"id": h.key, "floor": h.floor, "moves": h.moves, "busy_s": _r(h.busy_s),
                          "walked_m": _r(h.walked_m), "finish_s": _r(h.free_s if h.moves else None),
                          "fed": round(h.fed, 4)})  # fmt: skip
    heat = {}
    for f, o in d.outcomes.items():
        v = o.heat / (o.heat_cell**2)
        heat[f] = {"origin": [round(o.heat_origin[0], 3), round(o.heat_origin[1], 3)], "cell_m": o.heat_cell,
                   "person_s_per_m2": np.round(v, 1).tolist(), "max": round(float(v.max()), 1) if v.size else 0.0}  # fmt: skip
    out: dict[str, Any] = {
        "name": sc.name, "strategy": sc.strategy, "status": status,
        "evacuation_time_s": _r(rset), "rset_s": _r(rset), "aset_s": _r(aset_all),
        "margin_s": _r(aset_all - rset) if rset is not None and math.isfinite(aset_all) else None,
        "stuck": len(failed), "agents": agents,
        "compartments": comps,
        "exits": [{"id": k, "people": len(v), "first_s": _r(min(v)), "last_s": _r(max(v))} for k, v in sorted(exits.items())],
        "doors": doors, "staff": staff,
        "at_risk": [a for a in agents if a["at_risk"]],
        "fed_over_0_3": [p.key for p in d.people if p.fed > FED_DESIGN_THRESHOLD],
        "moves": [{"patient": m.patient, "staff": m.staff, "device": m.device, "arrive_s": _r(m.arrive_s),
                   "start_s": _r(m.start_s), "end_s": _r(m.end_s), "target": m.target, "metres": _r(m.metres),
                   "stair_metres": _r(m.stair_metres)} for m in (d.plan.moves if d.plan else [])],
        "heatmap": heat,
        "engine": {
            "jupedsim": _jps_version(), "model": "CollisionFreeSpeedModel", "dt": sc.dt,
            "floors": {f: {"status": o.status, "error": o.error, "stuck": len(o.stuck), "simulated_s": _r(o.elapsed_s),
                           "wall_s": round(o.wall_s, 3), "jupedsim_wall_s": round(o.jps_wall_s, 3)}
                       for f, o in d.outcomes.items()},
        },
        "notes": d.notes,
        "assumptions": _assumptions(d),
    }  # fmt: skip
    if ten is not None:
        out["origin_untenable_s"] = {z: _r(ten.untenable_s.get(z, math.inf)) for z in sorted(origin)}
        out["hazard"] = {
            "untenable_s": {z: _r(t) for z, t in ten.untenable_s.items()},
            "reason": {z: r for z, r in ten.reason.items() if r},
            "limitations": "well-mixed zones (no layering), walls as a lumped heat sink: rank scenarios, do not approve designs",
        }
    return out


def _doors(d: RunData) -> list[dict[str, Any]]:
    """Crossings per door: people walking (JuPedSim, with the peak flow against SFPE) and beds or
    evacuation chairs moved by staff (``device_crossings``, timed by the assisted layer)."""
    walked: dict[str, list[float]] = {}
    for f, o in d.outcomes.items():
        for did, times in zip(d.door_ids[f], o.door_times, strict=True):
            walked.setdefault(did, []).extend(times)
    out = []
    for did in sorted(set(walked) | set(d.device_doors), key=lambda x: (d.building.doors[x].floor, x)):
        w, ts = d.building.doors[did].width_m, np.sort(np.asarray(walked.get(did, []), dtype=float))
        dev = sorted(d.device_doors.get(did, []))
        if not len(ts) and not dev:
            continue
        peak = (max(int(np.searchsorted(ts, t + FLOW_WINDOW_S) - i) for i, t in enumerate(ts)) / FLOW_WINDOW_S
                if len(ts) else 0.0)  # fmt: skip
        every = [*ts.tolist(), *dev]
        out.append({
            "id": did, "floor": d.building.doors[did].floor, "width_m": w, "crossings": len(ts),
            "device_crossings": len(dev), "first_s": _r(min(every)), "last_s": _r(max(every)),
            "peak_flow_p_s": round(peak, 3), "peak_specific_flow_p_ms": round(peak / w, 3),
            "sfpe_max_flow_p_s": round(H.door_flow(w), 3),
        })  # fmt: skip
    return out


def _assumptions(d: RunData) -> list[str]:
    out = []
    if any(p.mode in ("assisted",) for p in d.people):
        out.append("preparation times of assisted patients are placeholders (bed-bound 60 s, critical 300 s, "
                   "evacuation chair 30 s): replace them with drill measurements")  # fmt: skip
        out.append(
            "bed speed 0.6 m/s (low end of Hunt et al. 2020's device speeds; Kwak et al. 2021: beds slow at corners)"
        )
    if d.tenability is not None:
        out.append("hazards from medtwin's well-mixed multi-zone model (CFAST/FDS not available)")
    lifted = {m.patient for m in (d.plan.moves if d.plan else []) if m.device.endswith("+lift")}
    if lifted:
        cars = {
            s.id: s.attrs for s in d.building.spaces.values() if s.kind == "lift" and "speed_m_s" in s.attrs
        }
        out.append("evacuation lifts from the plan (" + ", ".join(
            f"{k}: {a['speed_m_s']} m/s, {a.get('door_s')} s per stop" for k, a in sorted(cars.items()))
            + "): one bed per trip, acceleration left out; waiting at the lift is dosed in its lobby")  # fmt: skip
    if any(s.kind == "stair" for s in d.building.spaces.values()) and len(d.building.floors) > 1:
        out.append("stairs: walked at the SFPE speed (0.92 m/s along the flight), entered at most at SFPE's "
                   "1.01 p/(s m) of effective width; beds in evacuation chairs are not counted in that flow")  # fmt: skip
    return out


def _jps_version() -> str:
    import jupedsim

    return str(jupedsim.__version__)


def replay(d: RunData, *, max_frames: int = 2000) -> dict[str, Any]:
    """Frames per floor (time, [[person index, x, y], ...]) and the assisted moves as timed paths."""
    floors: dict[str, Any] = {}
    for f, o in d.outcomes.items():
        order = np.asarray(d.walker_of.get(f, []), dtype=np.int64)
        frames = o.frames[:: max(1, len(o.frames) // max_frames)]
        floors[f] = [[round(t, 2), [[i, x, y] for i, (x, y) in zip(order[keys].tolist(), np.round(xy.astype(float), 2).tolist(), strict=True)]]
                     for t, keys, xy in frames]  # fmt: skip
    moves = []
    by_key = {p.key: p.idx for p in d.people}
    for m in d.plan.moves if d.plan else []:
        moves.append({"person": by_key[m.patient], "staff": [by_key[s] for s in m.staff], "start_s": round(m.start_s, 1),
                      "end_s": round(m.end_s, 1), "arrive_s": round(m.arrive_s, 1),
                      "path": [[fl, round(x, 2), round(y, 2)] for fl, x, y in m.points]})  # fmt: skip
    people = [{"i": p.idx, "id": p.key, "class": p.cls.value, "role": p.role, "floor": p.floor if p.mode != "walk" else d.scenario.occupants[p.idx].floor,
               "x": round(p.xy[0], 2), "y": round(p.xy[1], 2), "mode": p.mode} for p in d.people]  # fmt: skip
    hazard = None
    if d.tenability is not None:
        fld = d.tenability.field
        step = max(1, len(fld.times) // 200)
        hazard = {"times": fld.times[::step].tolist(), "zones": fld.zones,
                  "k_ext": np.round(fld.k_ext[::step], 3).tolist(), "temp_c": np.round(fld.temp_c[::step], 1).tolist(),
                  "untenable_s": {z: _r(t) for z, t in d.tenability.untenable_s.items()}}  # fmt: skip
    return {"floors": floors, "moves": moves, "people": people, "hazard": hazard}
