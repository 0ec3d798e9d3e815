"""What-if scenarios as YAML files, applied to a calibrated :class:`FlowModel`.

Example (every section optional; hours are [from, to) in the log's time zone)::

    name: Lunchtime pharmacist and a payment kiosk
    staff:                       # staff per hour
      - pool: Pharmacy           # a pool, or an activity it serves
        hours: [11, 14]          # default: the hours the pool is open
        weekdays: [mon, tue, wed, thu, fri]   # default: every day
        add: 1                   # or  set: 4
    schedules:                   # opening hours
      - pool: Blood draw
        open: 7
        close: 18
        staff: 3                 # servers in hours that had none (default: the day's maximum)
    room_moves:
      - room: LAB-01             # move a room to new coordinates ...
        to: {floor: F2, x: 60, y: -6}
      - activity: Blood draw     # ... or serve an activity in other existing rooms
        rooms: [LAB-06]
    appointments:                # the day's patients come in evenly spaced slots
      start: 8
      end: 16
      unpunctuality_min: 5
    kiosks:                      # a share of an activity's visits diverted to a new service
      - activity: Payment
        share: 0.4
        servers: 2
        service_min: 1.5
        cv: 0.3
        room: KIOSK-1
        hours: [7, 18]
    demand: {scale: 1.1}         # 10 % more patients
    service:                     # faster or slower service
      - activity: Registration
        scale: 0.8
    delays:                      # extra (non-queue) waiting per visit, minutes
      - activity: Pharmacy
        minutes: 0

Unknown keys, pools, activities, rooms and floors are refused naming the entry. Appointment
slots follow the outpatient scheduling literature (N. T. J. Bailey, "A study of queues and
appointment systems in hospital out-patient departments", JRSS B 14:185-199, 1952; Cayirli &
Veral 2003 on unpunctuality).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from medtwin.core.errors import ValidationError
from medtwin.models.flow.building import Building, BuildingError, Room
from medtwin.models.flow.network import FlowModel, Stage
from medtwin.models.flow.stats import Fit

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SECTIONS = {
    "name",
    "description",
    "staff",
    "schedules",
    "room_moves",
    "appointments",
    "kiosks",
    "demand",
    "service",
    "delays",
}


def load_scenario(path: str | Path | None = None, text: str | None = None) -> dict[str, Any]:
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ValidationError(f"no such file: {p}", field="what_if")
        text = p.read_text(encoding="utf-8")
    try:
        d = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as exc:
        raise ValidationError(f"not valid YAML: {exc}", field="what_if") from None
    if not isinstance(d, dict):
        raise ValidationError("a scenario is a mapping of sections", field="what_if")
    bad = sorted(set(d) - SECTIONS)
    if bad:
        raise ValidationError(
            f"unknown section(s) {', '.join(bad)}; known: {', '.join(sorted(SECTIONS))}", field=bad[0]
        )
    d.setdefault("name", Path(path).stem if path else "what-if")
    return d


def _keys(entry: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValidationError("must be a mapping", field=where)
    bad = sorted(set(entry) - allowed)
    if bad:
        raise ValidationError(
            f"unknown key(s) {', '.join(bad)}; allowed: {', '.join(sorted(allowed))}", field=where
        )
    return entry


def _hours(v: Any, where: str) -> tuple[int, int]:
    try:
        h0, h1 = (int(x) for x in (v or [0, 24]))
    except (TypeError, ValueError):
        raise ValidationError("must be [from_hour, to_hour]", field=where) from None
    if not 0 <= h0 < h1 <= 24:
        raise ValidationError(f"{[h0, h1]}: need 0 <= from < to <= 24", field=where)
    return h0, h1


def _weekdays(v: Any, where: str) -> list[int]:
    if v is None:
        return list(range(7))
    out = []
    for x in v:
        k = str(x).lower()[:3]
        if k not in WEEKDAYS:
            raise ValidationError(f"{x!r} is not a weekday (mon..sun)", field=where)
        out.append(WEEKDAYS.index(k))
    return out


def _pool(m: FlowModel, name: Any, where: str) -> str:
    if name in m.rosters:
        return str(name)
    st = m.stages.get(str(name))
    if st is not None and st.pool:
        return st.pool
    raise ValidationError(f"unknown pool {name!r}; pools: {', '.join(sorted(m.rosters))}", field=where)


def _activity(m: FlowModel, name: Any, where: str) -> Stage:
    st = m.stages.get(str(name))
    if st is None:
        raise ValidationError(
            f"unknown activity {name!r}; activities: {', '.join(sorted(m.stages))}", field=where
        )
    return st


def _num(e: dict[str, Any], key: str, where: str, default: float | None = None, lo: float = 0.0) -> float:
    v = e.get(key, default)
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(f"must be a number, got {v!r}", field=f"{where}.{key}") from None
    if not math.isfinite(f) or f < lo:
        raise ValidationError(f"must be >= {lo}", field=f"{where}.{key}")
    return f


def apply(model: FlowModel, sc: dict[str, Any], building: Building | None) -> FlowModel:
    """A new model with the scenario applied (the baseline is not changed)."""
    m = copy.deepcopy(model)
    for i, e in enumerate(sc.get("staff") or []):
        w = f"staff[{i}]"
        _keys(e, w, {"pool", "hours", "weekdays", "add", "set"})
        pool = _pool(m, e.get("pool"), w + ".pool")
        h0, h1 = _hours(e.get("hours"), w + ".hours")
        if ("add" in e) == ("set" in e):
            raise ValidationError("give exactly one of add or set", field=w)
        for wd in _weekdays(e.get("weekdays"), w + ".weekdays"):
            row = m.rosters[pool][wd]
            for h in range(h0, h1):
                if "hours" not in e and row[h] == 0:
                    continue  # without explicit hours a change applies while the pool is open
                row[h] = int(e["set"]) if "set" in e else max(0, row[h] + int(e["add"]))
    for i, e in enumerate(sc.get("schedules") or []):
        w = f"schedules[{i}]"
        _keys(e, w, {"pool", "open", "close", "staff", "weekdays"})
        pool = _pool(m, e.get("pool"), w + ".pool")
        h0, h1 = _hours([e.get("open", 0), e.get("close", 24)], w)
        for wd in _weekdays(e.get("weekdays"), w + ".weekdays"):
            row = m.rosters[pool][wd]
            fill = int(e.get("staff", max(row) or 1))
            m.rosters[pool][wd] = [(row[h] or fill) if h0 <= h < h1 else 0 for h in range(24)]
    building = _room_moves(m, sc.get("room_moves") or [], building)
    if building is not None and sc.get("room_moves"):
        ids, wm, ws, _ = building.matrices()
        m.rooms, m.walk_m, m.walk_s = list(ids), wm.round(2).tolist(), ws.round(2).tolist()
    if sc.get("appointments") is not None:
        e = _keys(sc["appointments"], "appointments", {"start", "end", "unpunctuality_min"})
        h0, h1 = _hours([e.get("start", 8), e.get("end", 16)], "appointments")
        m.appointments = {
            "start_h": h0,
            "end_h": h1,
            "unpunctuality_min": _num(e, "unpunctuality_min", "appointments", 5.0),
        }
    for i, e in enumerate(sc.get("kiosks") or []):
        _kiosk(m, e, f"kiosks[{i}]")
    if sc.get("demand") is not None:
        e = _keys(sc["demand"], "demand", {"scale"})
        f = _num(e, "scale", "demand", 1.0)
        m.arrivals = [[x * f for x in row] for row in m.arrivals]
    for i, e in enumerate(sc.get("service") or []):
        w = f"service[{i}]"
        _keys(e, w, {"activity", "scale"})
        st = _activity(m, e.get("activity"), w + ".activity")
        f = _num(e, "scale", w, 1.0)
        st.service = {k: v.scaled(f) for k, v in st.service.items()}
    for i, e in enumerate(sc.get("delays") or []):
        w = f"delays[{i}]"
        _keys(e, w, {"activity", "minutes"})
        _activity(m, e.get("activity"), w + ".activity").delay_s = _num(e, "minutes", w) * 60
    return m


def _room_moves(m: FlowModel, moves: list[Any], b: Building | None) -> Building | None:
    for i, e in enumerate(moves):
        w = f"room_moves[{i}]"
        _keys(e, w, {"room", "to", "activity", "rooms"})
        if b is None:
            raise ValidationError("room moves need the building model", field=w)
        if "room" in e:
            to = _keys(e.get("to"), w + ".to", {"floor", "x", "y"})
            try:
                b = b.with_room(
                    Room(str(e["room"]), str(to["floor"]), float(to["x"]), float(to["y"]), str(e["room"]))
                )
            except (KeyError, TypeError, ValueError, BuildingError) as exc:
                raise ValidationError(f"needs floor, x and y ({exc})", field=w + ".to") from None
        else:
            st = _activity(m, e.get("activity"), w + ".activity")
            rooms = [str(r) for r in e.get("rooms") or []]
            missing = [r for r in rooms if r not in b.rooms]
            if not rooms or missing:
                raise ValidationError(f"unknown or no rooms: {missing or rooms}", field=w + ".rooms")
            st.rooms = [(r, 1.0 / len(rooms)) for r in rooms]
    return b


def _kiosk(m: FlowModel, e: Any, w: str) -> None:
    _keys(e, w, {"activity", "share", "servers", "service_min", "cv", "room", "hours", "name"})
    base = _activity(m, e.get("activity"), w + ".activity")
    share = _num(e, "share", w, 0.5)
    if share > 1:
        raise ValidationError("must be between 0 and 1", field=w + ".share")
    mean_s = _num(e, "service_min", w, 1.5, lo=1e-3) * 60
    cv = _num(e, "cv", w, 0.3, lo=1e-3)
    s2 = math.log(1 + cv * cv)
    fit = Fit("lognormal", {"mu": math.log(mean_s) - s2 / 2, "sigma": math.sqrt(s2)}, mean_s, cv)
    name = str(e.get("name") or f"{base.activity} (kiosk)")
    room = e.get("room")
    if room is not None and room not in m.rooms:
        raise ValidationError(f"unknown room {room!r}", field=w + ".room")
    pool = f"{name} pool"
    h0, h1 = _hours(e.get("hours", [7, 18]), w + ".hours")
    servers = int(_num(e, "servers", w, 1, lo=1))
    m.stages[name] = Stage(name, pool, {"*": fit}, [(room, 1.0)] if room else list(base.rooms))
    m.rosters[pool] = [[servers if h0 <= h < h1 else 0 for h in range(24)] for _ in range(7)]
    m.kiosks.append({"activity": base.activity, "share": share, "stage": name})
