"""SFPE hydraulic hand calculations: effective width, door flow, a bound for the engine's guard.

* Effective width: the clear width less a boundary layer of 0.15 m on each side of a door
  (SFPE Handbook of Fire Protection Engineering, 5th ed., ch. 59, Gwynne & Rosenbaum, Table 59.1).
* Maximum specific flow through doors and corridors: 1.3 persons per second per metre of
  effective width (same chapter, Table 59.3; the guide value the issue compares door flows with).
* Guard: a run that has not finished by three times the hydraulic estimate (travel at the
  slowest desired speed plus queueing at the maximum flow) is stopped as *timeout* rather than
  reported (research note, hospital_ops §7 item 6: "every agent exits by 3x the hydraulic
  estimate").
"""

from __future__ import annotations

BOUNDARY_LAYER_DOOR_M = 0.15
SFPE_MAX_SPECIFIC_FLOW = 1.3  # p/(s m effective width)
GUARD_FACTOR = 3.0


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
