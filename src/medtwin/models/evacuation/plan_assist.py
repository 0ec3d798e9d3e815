"""Staff-assisted moves and doses of people who stay, for :class:`medtwin.models.evacuation.plan.Run`.

Routes to safety for a patient (to the refuge compartment, or to the exits, down the stairs floor
by floor, or, for beds that cannot be carried down, by an evacuation lift: :mod:`.lifts`), walking legs for staff, travel times slowed by smoke, and the doses collected on the
way and while waiting (see :mod:`.assisted` for the scheduling)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from medtwin.models.evacuation import assisted as A
from medtwin.models.evacuation.classes import ASSIST, STAIR_SPEED, AssistNeeds
from medtwin.models.evacuation.lifts import Lifts
from medtwin.models.evacuation.routes import Leg, Route
from medtwin.models.hazards.tenability import speed_factors

if TYPE_CHECKING:
    from medtwin.models.evacuation.plan import RunData


class AssistMixin:
    b: Any
    sc: Any
    ten: Any
    router: Any
    lifts: Lifts
    closed: frozenset[str]

    def targets(self, floor: str, comp: str, risk: set[str]) -> list[str]:  # provided by Run
        raise NotImplementedError

    def _below(self, floor: str, stair: str) -> tuple[str, str] | None:  # provided by Run
        raise NotImplementedError

    # ------------------------------------------------------------------ assisted moves
    def _travel(self, legs: list[Leg], t0: float, speed: float) -> tuple[float, float, float]:
        fed = heat = secs = 0.0
        for leg in legs:
            col = self._col(leg.area)
            v = speed
            if self.ten is not None and col >= 0:
                v *= float(speed_factors(self.ten.k_at(np.array([col]), t0 + secs))[0])
            dt = leg.metres / max(v, 0.05)
            if self.ten is not None and col >= 0:
                f, h = self.ten.dose(np.array([col]), t0 + secs, dt)
                fed, heat = fed + float(f[0]), heat + float(h[0])
            secs += dt
        return fed, heat, secs

    def _col(self, area: str) -> int:
        if self.ten is None or area not in self.b.spaces:
            return -1
        col: int = self.ten.field.col(area)
        return col

    def stay_dose(self, space: str, t0: float, t1: float) -> tuple[float, float]:
        """Dose of someone who stays in ``space`` from ``t0`` to ``t1``."""
        col = self._col(space)
        if col < 0 or t1 <= t0 or self.ten is None:
            return 0.0, 0.0
        fld = self.ten.field
        step = float(fld.times[1] - fld.times[0]) if len(fld.times) > 1 else 5.0
        ts = np.arange(t0, t1, step)
        rows = np.array([fld.row(t) for t in ts])
        dts = np.minimum(step, t1 - ts) / 60.0
        return float((self.ten.fed_rate[rows, col] * dts).sum()), float(
            (self.ten.heat_rate[rows, col] * dts).sum()
        )

    def _lift_targets(self, floor: str, targets: list[str]) -> list[str]:
        """For a bed that cannot go down the stairs: the usable lifts instead of the stairs."""
        if not targets or any(t not in self.b.spaces or self.b.spaces[t].kind != "stair" for t in targets):
            return targets
        ground = self.router.ground_floor()
        lifts = [
            s.id for s in self.b.spaces_on(floor) if s.kind == "lift" and self.lifts.down_to(s.id, ground)
        ]
        return lifts or targets

    def _to_safety(self, job: A.Job, risk: set[str], blocked: frozenset[str]) -> Route | None:
        floor, xy, legs, points = job.floor, job.xy, [], []
        needs = ASSIST.get(job.cls)
        by_lift = needs is not None and needs.stairs_device is None
        targets = self.targets(floor, self.b.compartment_of(job.space), risk)
        lift: tuple[str, str] | None = None
        lift_at = 0
        for _ in range(len(self.b.floors) + 1):
            if by_lift and lift is None and self.sc.strategy == "full":
                targets = self._lift_targets(floor, targets)
            r = self.router.route(floor, xy, targets, blocked - {job.space}) or self.router.route(
                floor, xy, targets
            )
            if r is None:
                return None
            legs += r.legs
            points += r.points
            tgt = r.target
            if tgt in self.b.spaces and self.b.spaces[tgt].kind == "lift" and lift is None:
                ground = self.router.ground_floor()
                dest = self.lifts.down_to(tgt, ground)
                if dest is None:
                    return None
                lift, lift_at = (tgt, dest), len(legs)
                floor, xy = ground, self._centre(dest)
                targets = self.targets(floor, self.b.compartment_of(dest), risk)
                continue
            if (
                tgt in self.b.spaces
                and self.b.spaces[tgt].kind == "stair"
                and not self.b.exits_on(floor)
                and self.sc.strategy == "full"
            ):
                below = self._below(floor, tgt)
                if below is None:
                    return None
                fl, partner = below
                legs.append(Leg(floor, tgt, self.router.stair_metres(tgt, floor, fl), stairs=True))
                floor, xy = fl, (r.end_xy if fl == floor else self._centre(partner))
                targets = self.targets(floor, self.b.compartment_of(partner), risk)
                continue
            return Route(tgt, legs, r.end_floor, r.end_xy, points, lift, lift_at)
        return None

    def _ride(self, lift: str, dest: str, t: float) -> tuple[float, float, float]:
        """A bed's lift trip from ``t``: when it is out, and the dose while waiting at the lift."""
        start, end = self.lifts.ride(lift, dest, t)
        fed, heat = self.stay_dose(lift, t, start)
        return end, fed, heat

    def _centre(self, sid: str) -> tuple[float, float]:
        p = self.b.shrunk(sid).representative_point()
        return (p.x, p.y)

    def _assist(self, data: RunData, jobs: dict[str, list[A.Job]], risk: set[str], ready: float) -> None:
        all_moves: list[A.Move] = []
        stranded: list[tuple[str, str]] = []
        helpers_all: list[A.Helper] = []
        blocked = self.closed | (self.ten.untenable_at(ready) if self.ten else frozenset())
        for f, js in jobs.items():
            helpers = [
                A.Helper(p.key, p.floor, p.xy, p.speed)
                for p in data.people
                if p.mode == "helper" and p.floor == f
            ]
            plan = A.schedule(
                js, helpers, lambda j: self._to_safety(j, risk, blocked),
                self._staff_walk, self._travel, ready_s=ready, ride=self._ride,
            )  # fmt: skip
            all_moves += plan.moves
            stranded += plan.stranded
            helpers_all += plan.helpers
        data.plan = A.Plan(all_moves, stranded, helpers_all)
        by_key = {p.key: p for p in data.people}
        for m in all_moves:
            p = by_key[m.patient]
            wf, wh = self.stay_dose(p.space, 0.0, m.start_s)
            p.fed, p.heat = p.fed + wf + m.move_fed, p.heat + wh + m.move_heat
            p.safe_s, p.target = m.end_s, m.target
            p.left_comp_s = m.start_s + sum(leg.metres for leg in self._until_leaving(m.legs, p.comp)) / max(
                0.05, ASSIST[p.cls].device.speed_m_s
            )
            for did, t in self._door_times(m, ASSIST[p.cls]):
                data.device_doors.setdefault(did, []).append(t)
        for key, why in stranded:
            p = by_key[key]
            p.mode, p.note = "stranded", why
        for h in helpers_all:
            p = by_key[h.key]
            p.fed, p.heat = p.fed + h.fed, p.heat + h.heat
            if h.moves:  # safe with their last patient, where that move ended
                last = max((m for m in all_moves if h.key in m.staff), key=lambda m: m.end_s)
                p.safe_s, p.target, p.note = h.free_s, last.target, "with their last patient"
            else:  # not needed for a move: walks to safety (down the stairs if need be) when called
                r = self._to_safety(A.Job(p.key, p.cls, p.floor, p.xy, p.space), risk, blocked)
                if r is None:
                    p.safe_s, p.target = math.nan, ""
                    continue
                f1, h1, s1 = self._travel([x for x in r.legs if not x.stairs], ready, p.speed)
                f2, h2, s2 = self._travel([x for x in r.legs if x.stairs], ready + s1, STAIR_SPEED)
                p.safe_s, p.target = ready + s1 + s2, r.target
                p.fed, p.heat = p.fed + f1 + f2, p.heat + h1 + h2

    def _staff_walk(
        self, fa: str, a: tuple[float, float], fb: str, b: tuple[float, float]
    ) -> list[Leg] | None:
        """Staff walk to a patient; a closed (outbreak) space is entered only to fetch its patient."""
        here = self.b.space_at(fb, *b)
        legs: list[Leg] | None = self.router.walk(
            fa, a, fb, b, self.closed - {here.id} if here else self.closed
        )
        return legs

    def _door_times(self, m: A.Move, needs: AssistNeeds) -> list[tuple[str, float]]:
        """When a bed or chair goes through each door of its route (legs in order, device speeds)."""
        out, t = [], m.start_s
        down = needs.stairs_device.stair_speed_m_s if needs.stairs_device else None
        before, door = "", None  # a door counts when the route goes from one side to the other
        for leg in m.legs:
            speed = (down or needs.device.speed_m_s) if leg.stairs else needs.device.speed_m_s
            secs = self._travel([leg], t, speed)[2]
            if leg.area in self.b.doors:
                door = door or (leg.area, t + secs / 2)
            else:
                if door and before and leg.area != before and leg.area in self.b.doors[door[0]].between:
                    out.append(door)
                before, door = leg.area, None
            t += secs
        return out

    def _until_leaving(self, legs: list[Leg], comp: str) -> list[Leg]:
        out = []
        for leg in legs:
            if leg.area not in self.b.doors and self.b.compartment_of(leg.area) != comp:
                break
            out.append(leg)
        return out

    def _stayers(self, data: RunData) -> None:
        for p in data.people:
            if p.mode in ("stays", "stranded") and self.ten is not None:
                f, h = self.stay_dose(p.space, 0.0, self.sc.hazard_horizon_s)
                p.fed, p.heat = p.fed + f, p.heat + h
