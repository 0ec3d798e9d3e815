"""When zones become untenable, and the dose people collect moving through them.

A zone is *untenable* from the first time that either (sources in :mod:`.fed`):

* smoke is thicker than people familiar with the building tolerate, extinction coefficient
  ``K > 1.2 1/m`` (Jin's allowable range 0.4-1.2 1/m for familiar occupants; visibility below
  2.5 m for reflecting signs), or
* a person staying in it since the start would have collected an asphyxiant FED of 0.3 or a
  convective-heat dose of 0.3 (ISO 13571:2012's design threshold).

People's doses are integrated along their paths: FED += rate(zone, t) dt, using the zone they are
in at each sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from medtwin.models.hazards import fed as FED
from medtwin.models.hazards.zones import HazardField


def fed_rates(h: HazardField) -> np.ndarray:
    """Asphyxiant FED per minute, (times x zones), vectorised Purser (see :mod:`.fed`)."""
    co = np.maximum(h.co_ppm, 0.0)
    rate = 2.7641667e-5 * np.where(co > 0, co, 0.0) ** 1.036
    if h.gas == "CO" and h.gas_ppm.size:
        g = np.maximum(h.gas_ppm, 0.0)
        rate = 2.7641667e-5 * (co + g) ** 1.036
    co2 = h.co2_pct + (h.gas_ppm / 1e4 if h.gas == "CO2" and h.gas_ppm.size else 0.0)
    hv = np.where(co2 > 0, np.exp(0.1903 * co2 + 2.0004) / 7.1, 1.0)
    o2 = h.o2_pct
    r_o2 = np.where(o2 < FED.O2_AMBIENT_PCT, 1.0 / np.exp(8.13 - 0.54 * (FED.O2_AMBIENT_PCT - o2)), 0.0)
    return rate * hv + r_o2


def heat_rates(h: HazardField) -> np.ndarray:
    t = np.maximum(h.temp_c, 1.0)
    rates: np.ndarray = 1.0 / (5.0e7 * t**-3.4)
    return rates


def speed_factors(k_ext: np.ndarray) -> np.ndarray:
    """FDS+Evac walking-speed fraction in smoke, vectorised :func:`.fed.smoke_speed_factor`."""
    f = 1.0 + FED.SMOKE_SPEED_BETA * np.maximum(k_ext, 0.0) / FED.SMOKE_SPEED_ALPHA
    out: np.ndarray = np.maximum(FED.SMOKE_SPEED_MIN_FRACTION, f)
    return out


@dataclass
class Tenability:
    field: HazardField
    fed_rate: np.ndarray  # per minute
    heat_rate: np.ndarray  # per minute
    untenable_s: dict[str, float]
    reason: dict[str, str]

    @staticmethod
    def of(
        h: HazardField, k_max: float = FED.K_FAMILIAR_MAX, fed_max: float = FED.FED_DESIGN_THRESHOLD
    ) -> Tenability:
        fr, hr = fed_rates(h), heat_rates(h)
        dt_min = np.diff(h.times, prepend=h.times[0]) / 60.0
        cum_fed = np.cumsum(fr * dt_min[:, None], axis=0)
        cum_heat = np.cumsum(hr * dt_min[:, None], axis=0)
        out: dict[str, float] = {}
        why: dict[str, str] = {}
        for j, z in enumerate(h.zones):
            cands = []
            for name, series, limit in (
                ("visibility", h.k_ext[:, j], k_max), ("toxic gases (FED)", cum_fed[:, j], fed_max),
                ("heat", cum_heat[:, j], fed_max),
            ):  # fmt: skip
                hit = np.nonzero(series > limit)[0]
                if len(hit):
                    cands.append((float(h.times[hit[0]]), name))
            t, r = min(cands) if cands else (math.inf, "")
            out[z], why[z] = t, r
        return Tenability(h, fr, hr, out, why)

    def untenable_at(self, t: float) -> frozenset[str]:
        return frozenset(z for z, u in self.untenable_s.items() if u <= t)

    def dose(self, zone_cols: np.ndarray, t: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """FED and heat dose collected over ``dt`` seconds at time ``t`` in zones ``zone_cols``
        (-1: no zone, no dose)."""
        r = self.field.row(t)
        ok = zone_cols >= 0
        cols = np.where(ok, zone_cols, 0)
        fed = np.where(ok, self.fed_rate[r, cols], 0.0) * dt / 60.0
        heat = np.where(ok, self.heat_rate[r, cols], 0.0) * dt / 60.0
        return fed, heat

    def k_at(self, zone_cols: np.ndarray, t: float) -> np.ndarray:
        r = self.field.row(t)
        return np.where(zone_cols >= 0, self.field.k_ext[r, np.where(zone_cols >= 0, zone_cols, 0)], 0.0)
