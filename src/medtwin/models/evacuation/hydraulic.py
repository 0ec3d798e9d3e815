"""SFPE hydraulic hand calculations: effective width, door flow, a bound for the engine's guard.

* Effective width: the clear width less a boundary layer of 0.15 m on each side of a door
  (SFPE Handbook of Fire Protection Engineering, 5th ed., ch. 59, Gwynne & Rosenbaum, Table 59.1).
* Maximum specific flow through doors and corridors: 1.3 persons per second per metre of
  effective width (same chapter, Table 59.3; the guide value the issue compares door flows with).
* Stairs: maximum specific flow 1.01 persons per second per metre of effective width for 178 mm
  risers and 279 mm treads (7/11 in; same table, the stair the stair speed in :mod:`.classes` is
  for), effective width = clear width less 0.15 m per side (stairway walls, Table 59.1). People
  enter a stair at most at this rate, first come first served (:func:`stair_entries`).
* Guard: a run that has not finished by three times the hydraulic estimate (travel at the
  slowest desired speed plus queueing at the maximum flow) is stopped as *timeout* rather than
  reported (research note, hospital_ops §7 item 6: "every agent exits by 3x the hydraulic
  estimate").
"""

from __future__ import annotations

BOUNDARY_LAYER_DOOR_M = 0.15
SFPE_MAX_SPECIFIC_FLOW = 1.3  # p/(s m effective width)
GUARD_FACTOR = 3.0
STAIR_MAX_SPECIFIC_FLOW = 1.01  # p/(s m effective width), 178/279 mm stairs
BOUNDARY_LAYER_STAIR_M = 0.15


def effective_width(clear_m: float, boundary_m: float = BOUNDARY_LAYER_DOOR_M) -> float:
    return max(0.0, clear_m - 2 * boundary_m)


def door_flow(clear_m: float) -> float:
    """SFPE maximum flow (p/s) through a door of clear width ``clear_m``."""
    return SFPE_MAX_SPECIFIC_FLOW * effective_width(clear_m)


def hydraulic_time(people: int, exit_widths_m: list[float], travel_m: float, speed_m_s: float) -> float:
    """Seconds to clear ``people`` through the exits: walk ``travel_m``, then queue at SFPE flow."""
    flow = sum(door_flow(w) for w in exit_widths_m)
    queue = people / flow if flow > 0 else float("inf")
    return travel_m / max(speed_m_s, 0.05) + queue


def guard_time(estimate_s: float, latest_start_s: float = 0.0, floor_s: float = 120.0) -> float:
    return latest_start_s + max(floor_s, GUARD_FACTOR * estimate_s)


def stair_flow(clear_m: float) -> float:
    """SFPE maximum flow (p/s) onto a stair of clear width ``clear_m`` (178/279 mm steps)."""
    return STAIR_MAX_SPECIFIC_FLOW * effective_width(clear_m, BOUNDARY_LAYER_STAIR_M)


def stair_entries(arrivals_s: list[float], flow_p_s: float) -> list[float]:
    """When people who reach a stair at ``arrivals_s`` step onto it: in arrival order, no closer
    together than ``1 / flow_p_s`` (a queue at the stair's capacity); same order as given."""
    if flow_p_s <= 0:
        return [float("inf")] * len(arrivals_s)
    out = [0.0] * len(arrivals_s)
    last = -float("inf")
    for k in sorted(range(len(arrivals_s)), key=lambda k: arrivals_s[k]):
        last = max(arrivals_s[k], last + 1.0 / flow_p_s)
        out[k] = last
    return out
