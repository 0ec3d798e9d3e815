"""medtwin's multi-zone smoke and gas model: every room and corridor is one well-mixed zone;
smoke and gas move between zones through doors over time.

CFAST (a two-zone model) is not installable here and FDS is not on PyPI (docs/adr/0010), so
this is our own, simpler model, in the family of multizone contaminant models (NIST CONTAM):

* **Sources.** A fire (:class:`~medtwin.models.hazards.fire.DesignFire`) releases heat and, per kg
  of fuel, soot, CO and CO2, and consumes O2; it pushes the plume's mass flow (NFPA 92) out of its
  room. A gas leak releases a gas at a volume rate and pushes that volume out.
* **Transport.** The pushed flow moves outwards from the source, zone by zone in order of
  distance (doors crossed): each zone passes what it receives to its farther neighbours and to
  the outside (exits), in proportion to the opening areas (a closed door counts its leakage
  area). Each passage is an *exchange*: a mass ``f`` of the zone's mixture goes through, the same
  mass of the neighbour's comes back (mass is conserved in every zone). Through a door, smoke flow
  is capped by buoyant exchange: ``(2/3) C_d rho W sqrt(2 g dT/T) (H/2)^(3/2)`` with C_d 0.7 and
  the neutral plane at mid-height (H. W. Emmons, "Vent flows", SFPE Handbook of Fire Protection
  Engineering, 3rd ed., 2002, ch. 2-3); closed doors leak through their gap (orifice flow
  ``C_d A sqrt(2 rho dp)`` with the stack pressure of half the door height).
* **Walls.** Zones lose heat to thermally thick linings, conductance ``h = sqrt(k rho c / t)``
  (t since ignition; the wall conductance of B. J. McCaffrey, J. G. Quintiere and M. F. Harkleroad,
  "Estimating room temperatures and the likelihood of flashover using fire test data
  correlations", Fire Technology 17, 98-119, 1981) with gypsum plaster k 0.48 W/(m K),
  rho 1440 kg/m3, c 840 J/(kg K) (D. Drysdale, "An Introduction to Fire Dynamics", 3rd ed., 2011,
  Table 2.1).
* **Mixing.** In each zone, species mass fractions and temperature change by the exchanges, the
  sources and mechanical extract ventilation (``ach`` air changes per hour of fresh air; 0, the
  conservative default: fire dampers and air handlers usually stop on a fire alarm).
* **Doors.** ``self_closing`` doors (and every door of a compartment wall, ``barrier``) close when
  the alarm sounds (``alarm_s``); ``closed`` doors are closed throughout.

Limitations, stated in every result: no layering (smoke is mixed over the full height, so
concentrations near the floor come too early and upper-layer values too low), walls only as a
lumped heat sink, no oxygen-limited burning beyond the ventilation limit,
leaks of neutral buoyancy. Use CFAST or FDS for design approval; this model ranks scenarios.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from medtwin.models.hazards import fire as F
from medtwin.models.hazards.fed import K_SOOT_M2_PER_KG, O2_AMBIENT_PCT

G = 9.81
CD = 0.7
M_AIR, M_CO, M_CO2, M_O2 = 28.97, 28.01, 44.01, 32.0
MOLAR_VOLUME = 24.05  # m3/kmol at 20 degC, 1 atm
GASES = {"CO": M_CO, "CO2": M_CO2, "N2": 28.01, "N2O": 44.01}
WALL_KRC = 0.48 * 1440.0 * 840.0  # gypsum plaster, Drysdale 2011 Table 2.1 (W2 s / (m4 K2))
SOOT, CO, CO2, O2DEF, GAS = range(5)


@dataclass(frozen=True)
class Zone:
    id: str
    volume_m3: float
    height_m: float
    floor: str = ""
    compartment: str = ""
    surface_m2: float = 0.0  # walls, floor and ceiling (0: a cube of the volume)

    @property
    def surface(self) -> float:
        return self.surface_m2 or 6 * self.volume_m3 ** (2 / 3)


@dataclass(frozen=True)
class Link:
    a: str
    b: str | None  # None: outside
    width_m: float
    height_m: float = 2.1
    state: str = "open"  # open | closed | self_closing
    barrier: bool = False
    leak_m2: float = 0.02  # gap area of the closed door (3 mm all round a 2.1 m x 1.2 m leaf)

    def is_open(self, t: float, alarm_s: float) -> bool:
        if self.state == "closed":
            return False
        return not ((self.state == "self_closing" or self.barrier) and t >= alarm_s)


@dataclass(frozen=True)
class GasLeak:
    space: str
    rate_m3_s: float
    gas: str = "CO"
    start_s: float = 0.0
    duration_s: float = math.inf

    def __post_init__(self) -> None:
        if self.gas not in GASES:
            raise ValueError(f"gas must be one of {', '.join(GASES)}")


@dataclass
class HazardField:
    """Conditions per zone over time (rows: ``times``; columns: ``zones``)."""

    zones: list[str]
    times: np.ndarray
    temp_c: np.ndarray
    k_ext: np.ndarray
    co_ppm: np.ndarray
    co2_pct: np.ndarray
    o2_pct: np.ndarray
    gas: str = ""
    gas_ppm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    hrr_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def row(self, t: float) -> int:
        k = int(np.searchsorted(self.times, t, side="right")) - 1
        return min(len(self.times) - 1, max(0, k))

    def col(self, zone: str) -> int:
        return self.zones.index(zone)


def _bfs(start: str, nbrs: dict[str, list[tuple[int, str | None]]]) -> dict[str, int]:
    dist = {start: 0}
    q = deque([start])
    while q:
        z = q.popleft()
        for _, other in nbrs.get(z, []):
            if other is not None and other not in dist:
                dist[other] = dist[z] + 1
                q.append(other)
    return dist


def simulate(
    zones: list[Zone],
    links: list[Link],
    *,
    fires: list[F.DesignFire] = (),  # type: ignore[assignment]
    leaks: list[GasLeak] = (),  # type: ignore[assignment]
    duration_s: float = 1800.0,
    alarm_s: float = 0.0,
    ach: dict[str, float] | None = None,
    dt: float = 1.0,
    out_every_s: float = 5.0,
) -> HazardField:
    ids = [z.id for z in zones]
    idx = {z: i for i, z in enumerate(ids)}
    nz = len(ids)
    vol = np.array([z.volume_m3 for z in zones])
    surf = np.array([z.surface for z in zones])
    t_fire = min([f.start_s for f in fires], default=math.inf)
    nbrs: dict[str, list[tuple[int, str | None]]] = {}
    for li, lk in enumerate(links):
        nbrs.setdefault(lk.a, []).append((li, lk.b))
        if lk.b is not None:
            nbrs.setdefault(lk.b, []).append((li, lk.a))
    for s in [f.space for f in fires] + [g.space for g in leaks]:
        if s not in idx:
            raise ValueError(f"no zone {s!r}")
    order = {s: _bfs(s, nbrs) for s in {f.space for f in fires} | {g.space for g in leaks}}
    vent = np.array([(ach or {}).get(z, 0.0) for z in ids]) / 3600.0
    gas = leaks[0].gas if leaks else ""
    m_gas = GASES.get(gas, M_AIR)
    y = np.zeros((nz, 5))
    temp = np.full(nz, F.T_AMBIENT_K)
    n_out = int(duration_s // out_every_s) + 1
    rec = {k: np.zeros((n_out, nz)) for k in ("t", "k", "co", "co2", "o2", "gas")}
    hrr_rec = np.zeros(n_out)
    times = np.arange(n_out) * out_every_s
    limits = {f.space: F.vent_limit_kw([(lk.width_m * lk.height_m, lk.height_m)
                                        for li, _o in nbrs.get(f.space, []) for lk in [links[li]]])
              for f in fires}  # fmt: skip
    t, k_out = 0.0, 0
    while k_out < n_out:
        if t >= times[k_out] - 1e-9:
            rho = 353.0 / temp
            rec["t"][k_out] = temp - 273.15
            rec["k"][k_out] = K_SOOT_M2_PER_KG * y[:, SOOT] * rho
            rec["co"][k_out] = y[:, CO] * M_AIR / M_CO * 1e6
            rec["co2"][k_out] = y[:, CO2] * M_AIR / M_CO2 * 100
            x_gas = y[:, GAS] * M_AIR / m_gas
            rec["gas"][k_out] = x_gas * 1e6
            rec["o2"][k_out] = (O2_AMBIENT_PCT - y[:, O2DEF] * M_AIR / M_O2 * 100) * (1 - x_gas)
            hrr_rec[k_out] = sum(f.hrr_kw(t, limits[f.space]) for f in fires)
            k_out += 1
            if k_out >= n_out:
                break
        mass = 353.0 / temp * vol
        src = np.zeros((nz, 5))
        heat = np.zeros(nz)
        flows: list[tuple[int, int | None, float]] = []
        for f in fires:
            q = f.hrr_kw(t, limits[f.space])
            if q <= 0:
                continue
            i = idx[f.space]
            fuel = q / f.heat_of_combustion_kj_kg
            src[i] += (f.yield_soot * fuel, f.yield_co * fuel, f.yield_co2 * fuel, q / F.O2_HEAT_KJ_KG, 0.0)
            qc = (1 - f.radiative_fraction) * q
            heat[i] += qc
            push = F.plume_mass_flow(qc, max(0.1, zones[i].height_m - f.base_height_m))
            flows += _spread(f.space, push, order[f.space], nbrs, links, temp, idx, t, alarm_s, buoyant=True)
        for g in leaks:
            if g.start_s <= t < g.start_s + g.duration_s:
                i = idx[g.space]
                src[i, GAS] += g.rate_m3_s * m_gas / MOLAR_VOLUME
                push = g.rate_m3_s * M_AIR / MOLAR_VOLUME
                flows += _spread(
                    g.space, push, order[g.space], nbrs, links, temp, idx, t, alarm_s, buoyant=False
                )
        rate = vent * mass + np.bincount([a for a, _b, _f in flows], [f for *_x, f in flows], nz)
        sub = max(1, math.ceil(2 * float(np.max(rate / mass)) * dt)) if nz else 1
        h = dt / sub
        for _ in range(sub):
            dy = src.copy()
            de = heat / F.CP_KJ_KG_K
            if t > t_fire:  # kW/(m2 K): sqrt(k rho c / t) / 1000
                de = (
                    de
                    - math.sqrt(WALL_KRC / max(10.0, t - t_fire))
                    / 1000.0
                    * surf
                    * (temp - F.T_AMBIENT_K)
                    / F.CP_KJ_KG_K
                )
            dy -= vent[:, None] * mass[:, None] * y
            de = de + vent * mass * (F.T_AMBIENT_K - temp)
            for a, b, fl in flows:
                yb = y[b] if b is not None else 0.0
                tb = temp[b] if b is not None else F.T_AMBIENT_K
                dy[a] += fl * (yb - y[a])
                de[a] += fl * (tb - temp[a])
                if b is not None:
                    dy[b] += fl * (y[a] - y[b])
                    de[b] += fl * (temp[a] - temp[b])
            y = np.maximum(0.0, y + h * dy / mass[:, None])
            temp = temp + h * de / mass
        t += dt
    return HazardField(
        ids, times, rec["t"], rec["k"], rec["co"], rec["co2"], np.clip(rec["o2"], 0, O2_AMBIENT_PCT),
        gas, rec["gas"], hrr_rec,
    )  # fmt: skip


def _capacity(lk: Link, open_: bool, dtemp: float, buoyant: bool) -> float:
    if not buoyant:
        return math.inf
    dtemp = max(dtemp, 1.0)
    rho = 353.0 / F.T_AMBIENT_K
    if open_:
        flow: float = (
            (2 / 3)
            * CD
            * rho
            * lk.width_m
            * math.sqrt(2 * G * dtemp / F.T_AMBIENT_K)
            * (lk.height_m / 2) ** 1.5
        )
        return flow
    dp = rho * (dtemp / (F.T_AMBIENT_K + dtemp)) * G * lk.height_m / 2
    return CD * lk.leak_m2 * math.sqrt(2 * rho * dp)


def _spread(
    start: str,
    push: float,
    dist: dict[str, int],
    nbrs: dict[str, list[tuple[int, str | None]]],
    links: list[Link],
    temp: np.ndarray,
    idx: dict[str, int],
    t: float,
    alarm_s: float,
    *,
    buoyant: bool,
) -> list[tuple[int, int | None, float]]:
    """Exchange flows (zone, neighbour or None for outside, kg/s) carrying ``push`` outwards."""
    inflow = {start: push}
    out: list[tuple[int, int | None, float]] = []
    for z in sorted(dist, key=dist.__getitem__):
        f_in = inflow.get(z, 0.0)
        if f_in <= 1e-9:
            continue
        down = []
        for li, other in nbrs.get(z, []):
            if other is None or dist.get(other, -1) > dist[z]:
                lk = links[li]
                op = lk.is_open(t, alarm_s)
                area = lk.width_m * lk.height_m if op else lk.leak_m2
                down.append((other, lk, op, area))
        total = sum(a for *_x, a in down)
        for other, lk, op, area in down:
            share = f_in * area / total
            f = min(share, _capacity(lk, op, temp[idx[z]] - F.T_AMBIENT_K, buoyant))
            out.append((idx[z], None if other is None else idx[other], f))
            if other is not None:
                inflow[other] = inflow.get(other, 0.0) + f
    return out
