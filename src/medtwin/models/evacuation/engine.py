"""One floor in JuPedSim (collision-free speed model), guarded.

The engine takes a walkable polygon, target polygons (exits, refuges, stair entries: reaching one
removes the person) and walkers (position, desired speed, radius, start time, target index), and
steps JuPedSim 1.4 (pinned; :class:`jupedsim.CollisionFreeSpeedModel`, the model that did not
raise "outside of accessible area" at door corners in our trials: docs/adr/0010). Time step
0.05 s: against 0.01 s the 200-person, 1.2 m door case evacuates 2-7 % later (146.5 vs 143.4 s in
``benchmarks/evacuation.py --validation``; 145.4 vs 136.0 s in a first check with other speeds:
conservative) at a fifth of the cost; at 0.1 s it is 25 % slower, so dt above 0.1 s is refused.

Guards (the result says what went wrong instead of giving a wrong time):

* engine errors (JuPedSim raises) end the run with ``status = "engine_error"`` and the message;
* *stuck*: when nobody on the floor has moved more than ``stuck_move_m`` over the last
  ``stuck_window_s`` while people remain, the run ends with ``status = "stuck"`` (CFSM jams at
  doors of 1 m and less, research note §3.2); a partial jam (some people still moving) runs into
  ``max_time_s`` (three times the hydraulic estimate, :mod:`.hydraulic`) and ends as ``timeout``.

Every ``sample_s`` the engine reads positions, counts door crossings (a step crossing the door's
line), adds to the density heat map (person-seconds per cell), records replay frames every
``frame_s`` and calls the hooks (hazard exposure, speed in smoke, closing untenable spaces).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import jupedsim as jps
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

DT = 0.05


@dataclass
class Walker:
    position: tuple[float, float]
    speed: float
    target: int
    radius: float = 0.2
    start_s: float = 0.0


@dataclass
class FloorRun:
    geometry: Polygon | MultiPolygon
    targets: list[Polygon]
    walkers: list[Walker]
    doors: list[LineString] = field(default_factory=list)
    dt: float = DT
    sample_s: float = 1.0
    frame_s: float = 1.0
    max_time_s: float = 3600.0
    stuck_window_s: float = 120.0
    stuck_move_m: float = 0.5
    heat_cell_m: float = 0.5
    record_frames: bool = True


@dataclass
class Outcome:
    status: str  # ok | stuck | timeout | engine_error
    exit_time: np.ndarray  # per walker, nan when not out
    target_reached: np.ndarray  # per walker, -1 when not out
    stuck: list[int]
    error: str | None
    door_times: list[list[float]]
    frames: list[tuple[float, np.ndarray, np.ndarray]]
    heat: np.ndarray
    heat_origin: tuple[float, float]
    heat_cell: float
    elapsed_s: float
    jps_wall_s: float
    wall_s: float

    @property
    def evacuation_time_s(self) -> float | None:
        if self.status != "ok" or len(self.exit_time) == 0:
            return None if self.status != "ok" else 0.0
        return float(np.nanmax(self.exit_time))


class Hooks(Protocol):
    interval_s: float

    def update(self, ctl: Engine) -> None: ...


class Engine:
    """Runs one :class:`FloorRun`; hooks get the engine itself to read and steer (see methods)."""

    def __init__(self, run: FloorRun, hooks: Hooks | None = None) -> None:
        self.run = run
        self.hooks = hooks
        self.sim = jps.Simulation(model=jps.CollisionFreeSpeedModel(), geometry=run.geometry, dt=run.dt)
        self.stages = [self.sim.add_exit_stage(t) for t in run.targets]
        self.journeys = [self.sim.add_journey(jps.JourneyDescription([s])) for s in self.stages]
        n = len(run.walkers)
        self.exit_time = np.full(n, np.nan)
        self.reached = np.full(n, -1, dtype=np.int32)
        self.target = np.array([w.target for w in run.walkers], dtype=np.int32)
        self.base_speed = np.array([w.speed for w in run.walkers], dtype=float)
        self.factor = np.ones(n)
        self.jid: dict[int, int] = {}  # jupedsim id -> walker index
        self.kid: dict[int, int] = {}  # walker index -> jupedsim id
        self.pending = sorted(range(n), key=lambda k: run.walkers[k].start_s)
        self.t = 0.0
        self.keys = np.zeros(0, dtype=np.int64)
        self.xy = np.zeros((0, 2))

    # ------------------------------------------------------------------ steering (for hooks)
    def set_speed_factors(self, keys: np.ndarray, factors: np.ndarray) -> None:
        for k, f in zip(keys.tolist(), factors.tolist(), strict=True):
            if abs(self.factor[k] - f) > 1e-3 and k in self.kid:
                self.factor[k] = f
                self.sim.agent(self.kid[k]).model.desired_speed = float(self.base_speed[k] * f)

    def retarget(self, k: int, target: int) -> None:
        if self.target[k] != target:
            self.target[k] = target
            if k in self.kid:
                self.sim.switch_agent_journey(self.kid[k], self.journeys[target], self.stages[target])

    def switch_geometry(self, geometry: Polygon | MultiPolygon) -> None:
        self.sim.switch_geometry(geometry)

    # ------------------------------------------------------------------ the loop
    def _spawn(self) -> None:
        while self.pending and self.run.walkers[self.pending[0]].start_s <= self.t + 1e-9:
            k = self.pending[0]
            w = self.run.walkers[k]
            if w.start_s > 0 and any(True for _ in self.sim.agents_in_range(w.position, 2 * w.radius)):
                return  # the spot is taken (people arriving later, e.g. from a stair): try next step
            self.pending.pop(0)
            aid = self.sim.add_agent(
                jps.CollisionFreeSpeedModelAgentParameters(
                    position=w.position, radius=w.radius, desired_speed=w.speed * self.factor[k],
                    journey_id=self.journeys[self.target[k]], stage_id=self.stages[self.target[k]],
                )
            )  # fmt: skip
            self.jid[aid] = k
            self.kid[k] = aid

    def _read(self) -> None:
        keys, xy = [], []
        jid = self.jid
        for a in self.sim.agents():
            k = jid.get(a.id)
            if k is not None:  # agents reported removed stay listed until the next step
                keys.append(k)
                xy.append(a.position)
        self.keys = np.asarray(keys, dtype=np.int64)
        self.xy = np.asarray(xy, dtype=float).reshape(-1, 2)

    def go(self) -> Outcome:
        run = self.run
        t_wall = time.perf_counter()
        jps_wall = 0.0
        n = len(run.walkers)
        x0, y0, x1, y1 = shapely.bounds(run.geometry)
        hx, hy = int((x1 - x0) / run.heat_cell_m) + 1, int((y1 - y0) / run.heat_cell_m) + 1
        heat = np.zeros(hy * hx)
        doors = np.array([[*d.coords[0], *d.coords[-1]] for d in run.doors], dtype=float).reshape(-1, 4)
        door_times: list[list[float]] = [[] for _ in run.doors]
        frames: list[tuple[float, np.ndarray, np.ndarray]] = []
        sample_s = min(run.sample_s, 0.5) if run.doors else run.sample_s  # door lines: no corner cut
        sample_s = min(sample_s, self.hooks.interval_s) if self.hooks else sample_s
        sample_every = max(1, round(sample_s / run.dt))
        frame_every = max(1, round(run.frame_s / run.dt))
        hook_every = max(1, round(self.hooks.interval_s / run.dt)) if self.hooks else 0
        window = max(1, round(run.stuck_window_s / sample_s))
        history: list[tuple[np.ndarray, np.ndarray]] = []
        status, error, stuck = "ok", None, []
        prev = np.full((n, 2), np.nan)  # position at the last sample, per walker (door crossings)
        centres = np.array([[t.centroid.x, t.centroid.y] for t in run.targets], dtype=float).reshape(-1, 2)
        step = 0
        try:
            self._spawn()
            while True:
                if self.sim.agent_count() == 0 and not self.pending:
                    break
                if self.t >= run.max_time_s:
                    status = "timeout"
                    break
                t0 = time.perf_counter()
                self.sim.iterate()
                jps_wall += time.perf_counter() - t0
                step += 1
                self.t = step * run.dt
                gone = [self.jid.pop(aid) for aid in self.sim.removed_agents()]
                if gone:
                    ks = np.asarray(gone, dtype=np.int64)
                    for k in gone:
                        self.kid.pop(k, None)
                    self.exit_time[ks] = self.t
                    self.reached[ks] = self.target[ks]
                    if len(doors):  # the step into the exit crosses its door
                        self._cross(prev[ks], centres[self.target[ks]], doors, door_times)
                        prev[ks] = np.nan
                if self.pending:
                    self._spawn()
                if step % sample_every:
                    continue
                self._read()
                if len(doors) and len(self.keys):
                    self._cross(prev[self.keys], self.xy, doors, door_times)
                    prev[self.keys] = self.xy
                if len(self.keys):
                    hi = np.clip(((self.xy[:, 1] - y0) / run.heat_cell_m).astype(int), 0, hy - 1)
                    hj = np.clip(((self.xy[:, 0] - x0) / run.heat_cell_m).astype(int), 0, hx - 1)
                    np.add.at(heat, hi * hx + hj, sample_s)
                if run.record_frames and step % frame_every == 0:
                    frames.append((self.t, self.keys.copy(), self.xy.astype(np.float32)))
                if hook_every and step % hook_every == 0:
                    self.hooks.update(self)  # type: ignore[union-attr]
                history.append((self.keys.copy(), self.xy.copy()))
                if len(history) > window:
                    history.pop(0)
                    stuck = self._stuck(history[0])
                if stuck and len(stuck) == len(self.keys):
                    status = "stuck"
                    break
        except RuntimeError as exc:  # JuPedSim reports model and geometry failures as RuntimeError
            status, error = "engine_error", str(exc)
        if status == "ok" and (np.isnan(self.exit_time).any() if n else False):
            status = "stuck"
        if status != "ok":
            self._read()
            stuck = sorted(set(stuck) | {int(k) for k in self.keys} | set(self.pending))
        return Outcome(
            status, self.exit_time, self.reached, stuck, error, door_times, frames, heat.reshape(hy, hx),
            (x0, y0), run.heat_cell_m, self.t, jps_wall, time.perf_counter() - t_wall,
        )  # fmt: skip

    def _stuck(self, old: tuple[np.ndarray, np.ndarray]) -> list[int]:
        """People who moved less than ``stuck_move_m`` over the window, unless others moved."""
        okeys, oxy = old
        where = {int(k): i for i, k in enumerate(okeys)}
        idx = [(i, where[int(k)]) for i, k in enumerate(self.keys) if int(k) in where]
        if not idx:
            return []
        a = np.array([i for i, _ in idx])
        b = np.array([j for _, j in idx])
        moved = np.hypot(*(self.xy[a] - oxy[b]).T)
        still = moved < self.run.stuck_move_m
        if still.all():  # nobody at all moves: everyone left on the floor is stuck
            return [int(self.keys[i]) for i in a]
        return []

    def _cross(self, p: np.ndarray, q: np.ndarray, doors: np.ndarray, out: list[list[float]]) -> None:
        """Count a crossing at ``self.t`` for every step p -> q (rows) that crosses a door line."""
        ok = ~np.isnan(p[:, 0])
        if not ok.any():
            return
        hit = _segments_cross(p[ok][:, None, :], q[ok][:, None, :], doors[None, :, :2], doors[None, :, 2:])
        for j in np.nonzero(hit)[1]:
            out[int(j)].append(self.t)


def _segments_cross(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    def orient(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        s: np.ndarray = np.sign(
            (v[..., 0] - u[..., 0]) * (w[..., 1] - u[..., 1])
            - (v[..., 1] - u[..., 1]) * (w[..., 0] - u[..., 0])
        )
        return s

    cross: np.ndarray = (orient(p, q, a) * orient(p, q, b) < 0) & (orient(a, b, p) * orient(a, b, q) < 0)
    return cross


def simulate(run: FloorRun, hooks: Hooks | None = None) -> Outcome:
    """Run guarded: a geometry JuPedSim refuses (e.g. not connected) is an engine error too."""
    try:
        eng = Engine(run, hooks)
    except (RuntimeError, ValueError) as exc:
        n = len(run.walkers)
        return Outcome("engine_error", np.full(n, np.nan), np.full(n, -1, dtype=np.int32), list(range(n)), str(exc),
                       [[] for _ in run.doors], [], np.zeros((1, 1)), (0.0, 0.0), run.heat_cell_m, 0.0, 0.0, 0.0)  # fmt: skip
    return eng.go()
