"""Hazard models: design fire, plume, the multi-zone smoke/gas model against hand calculations,
door closing on the alarm, tenability times."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medtwin.models.evacuation.coupling import zones_and_links
from medtwin.models.hazards import fire as Fi
from medtwin.models.hazards.tenability import Tenability, fed_rates
from medtwin.models.hazards.zones import CO, GASES, M_AIR, MOLAR_VOLUME, GasLeak, Link, Zone, simulate
from medtwin.services.safety.demo import demo_building


def test_design_fire_t_squared_and_limits() -> None:
    f = Fi.DesignFire("R", "fast", peak_kw=1000.0, start_s=10.0)
    assert f.hrr_kw(10.0) == 0.0
    assert f.hrr_kw(110.0) == pytest.approx(0.0469 * 100**2)
    assert f.hrr_kw(1000.0) == 1000.0
    assert Fi.vent_limit_kw([(1.2 * 2.1, 2.1)]) == pytest.approx(1500 * 2.52 * math.sqrt(2.1))
    assert Fi.DesignFire("R").hrr_kw(1e4, vent_limit_kw=500.0) == 500.0
    with pytest.raises(ValueError):
        Fi.DesignFire("R", "explosive")


def test_plume_mass_flow_nfpa92() -> None:
    qc = 650.0
    z = 2.5
    assert Fi.plume_mass_flow(qc, z) == pytest.approx(0.071 * qc ** (1 / 3) * z ** (5 / 3) + 0.0018 * qc)
    assert Fi.plume_mass_flow(qc, 1.0) == pytest.approx(0.032 * qc**0.6 * 1.0)  # below the flame height
    assert Fi.plume_mass_flow(0.0, 2.0) == 0.0


def test_gas_leak_in_a_ventilated_room_reaches_the_well_mixed_steady_state() -> None:
    """One ventilated zone, constant CO leak: C -> S / Q (source over extract flow), first order."""
    v, ach, rate = 100.0, 6.0, 0.001  # m3, 1/h, m3/s of CO
    h = simulate(
        [Zone("R", v, 3.0)], [], leaks=[GasLeak("R", rate, "CO")], duration_s=3600, ach={"R": ach}, dt=1.0
    )
    q = ach * v / 3600
    steady_ppm = rate / (q + rate) * 1e6 * GASES["CO"] / GASES["CO"]
    assert h.gas_ppm[-1, 0] == pytest.approx(steady_ppm, rel=0.05)
    tau = 1 / (ach / 3600)
    t = int(np.searchsorted(h.times, tau))
    assert h.gas_ppm[t, 0] == pytest.approx(steady_ppm * (1 - math.exp(-1)), rel=0.1)
    assert fed_rates(h)[-1, 0] > 0  # CO from a leak counts in the FED


def test_smoke_spreads_outwards_and_closed_barriers_hold_it_back() -> None:
    zones = [Zone("R", 4 * 5 * 2.7, 2.7), Zone("C1", 15 * 2.4 * 2.7, 2.7), Zone("C2", 15 * 2.4 * 2.7, 2.7)]
    fire = [Fi.DesignFire("R", "fast", 800.0)]
    open_ = simulate(
        zones,
        [Link("R", "C1", 1.2), Link("C1", "C2", 1.8), Link("C2", None, 1.2)],
        fires=fire,
        duration_s=600,
    )
    shut = simulate(zones, [Link("R", "C1", 1.2), Link("C1", "C2", 1.8, barrier=True), Link("C2", None, 1.2)],
                    fires=fire, duration_s=600, alarm_s=30.0)  # fmt: skip
    r = open_.row(300)
    assert open_.k_ext[r, 0] > open_.k_ext[r, 1] > open_.k_ext[r, 2] > 0  # decreasing away from the fire
    assert open_.temp_c[r, 0] > open_.temp_c[r, 1] > 20.0
    assert open_.o2_pct[r, 0] < 20.9 and open_.co_ppm[r, 0] > open_.co_ppm[r, 1]
    assert shut.k_ext[r, 2] < 0.2 * open_.k_ext[r, 2]  # the closed barrier door only leaks
    assert shut.k_ext[r, 1] >= open_.k_ext[r, 1] * 0.9
    # soot produced = soot in the zones + soot gone outside: nothing made up (open case)
    assert open_.hrr_kw[open_.row(600)] == 800.0


def test_species_mass_balance_in_a_closed_room() -> None:
    """A fire in a sealed zone: all soot and CO made stay in it (yield x fuel burnt)."""
    f = Fi.DesignFire("R", "medium", peak_kw=200.0)
    h = simulate([Zone("R", 200.0, 3.0)], [], fires=[f], duration_s=300, dt=0.5, out_every_s=5)
    fuel = sum(f.hrr_kw(t) * 0.5 for t in np.arange(0, 300, 0.5)) / f.heat_of_combustion_kj_kg
    rho = 353.0 / (h.temp_c[-1, 0] + 273.15)
    co_mass = h.co_ppm[-1, 0] / 1e6 * 28.01 / M_AIR * rho * 200.0
    assert co_mass == pytest.approx(f.yield_co * fuel, rel=0.05)
    assert CO == 1 and pytest.approx(24.05) == MOLAR_VOLUME


def test_tenability_times_on_the_demo_building() -> None:
    b = demo_building()
    zones, links = zones_and_links(b)
    assert len(zones) == len(b.spaces)
    assert any(
        (lk.a == "F1-STAIR-W" and lk.b == "F2-STAIR-W") or (lk.b == "F1-STAIR-W" and lk.a == "F2-STAIR-W")
        for lk in links
    )
    h = simulate(zones, links, fires=[Fi.DesignFire("ICU-R03", "fast", 1000.0)], duration_s=900, alarm_s=60.0)
    ten = Tenability.of(h)
    u = ten.untenable_s
    assert u["ICU-R03"] < u["F2-COR-W"] < math.inf  # the room of origin first, then the corridor
    assert u["F2-COR-W"] < u.get("F2-COR-E", math.inf)  # the barrier door closed at the alarm
    assert u["MED-R01"] == math.inf  # another floor, stair doors shut
    assert ten.reason["ICU-R03"] in ("visibility", "toxic gases (FED)", "heat")
    fed, heat = ten.dose(np.array([h.col("ICU-R03"), -1]), 600.0, 60.0)
    assert fed[0] > 0 and fed[1] == 0.0 and heat[1] == 0.0
