"""Validation suite for the evacuation engine (issue 10): RiMEA 3.0 tests 1, 4, 6, 7, 9 (documented
outcome), 10, 11, 12; ISO 20414 tests 11, 18 and 19; door flow against SFPE's 1.3 p/(s m).

Sources of the test set-ups and the published numbers checked here:

* RiMEA e.V., "Richtlinie fuer Mikroskopische Entfluchtungsanalysen / Guideline for Microscopic
  Evacuation Analysis", version 3.0.0, 2016, section 4 (tests 1-15): test 1, a 40 m x 2 m corridor
  walked at 1.33 m/s in 26-34 s; test 4, the fundamental diagram compared with Weidmann's
  speed-density relation (U. Weidmann, "Transporttechnik der Fussgaenger", ETH Zuerich, IVT
  Schriftenreihe 90, 1993: v = 1.34 (1 - exp(-1.913 (1/rho - 1/5.4))) m/s); test 6, 20 people
  round a corner without passing through walls; test 7, walking speeds per age group inside
  Weidmann's bands (under 30 y 0.58-1.61, 30-50 y 1.41-1.54, over 50 y 0.68-1.41, limited mobility
  0.46-0.76 m/s); test 9, 1,000 people in a 30 x 20 m room with four 1 m exits, then two closed:
  the time about doubles (documented, no pass criterion); tests 10-12, assigned exits, the choice of
  the nearest exit, no jam after a bottleneck.
* ISO 20414:2020, "Fire safety engineering - Verification and validation protocol for building
  fire evacuation models": test 11, the maximum flow through an opening; test 18, walking speed in
  smoke compared with a hand calculation using the model's own law (here FDS+Evac's form of
  Frantzich and Nilsson 2003: v = max(0.1 v0, v0 (1 - 0.057 K / 0.706)), T. Korhonen, "Fire
  Dynamics Simulator with Evacuation: FDS+Evac, Technical Reference and User's Guide", VTT, 2018);
  test 19, incapacitation by toxic gases compared with the analytical FED of Purser's equations
  (D. A. Purser, SFPE Handbook of Fire Protection Engineering, 4th ed., 2008, ch. 2-6; ISO 13571) for
  the four gas mixes of the FDS+Evac guide (a: 2 % CO2, 1,000 ppm CO, 15 % O2; b: 12 % O2; c: 1,000
  ppm CO; d: 1,000 ppm CO with 3.43 % CO2, the CO2 factor 2): t(FED = 1) = 981.7, 1666.3, 1692.8
  and 846.5 s; and 1,000 ppm CO for 30 min gives FED 1.063 (pyFDS-Evac's test vector).
* SFPE: S. M. V. Gwynne and E. R. Rosenbaum, "Employing the hydraulic model in assessing emergency
  movement", SFPE Handbook of Fire Protection Engineering, 5th ed., 2016, ch. 59: maximum specific
  flow 1.3 persons/(s m) of effective width (clear width less 0.15 m per side for doors); the
  laboratory upper bound of about 2 persons/(s m) of clear width from A. Seyfried et al., "New
  insights into pedestrian flow through bottlenecks", Transportation Science 43(3), 395-406, 2009.

Reduced sizes where the RiMEA test is large (test 9 with 200 instead of 1,000 people; the full
size is ``benchmarks/evacuation.py --validation``). Every run is deterministic by its seed.
"""

from __future__ import annotations

import itertools
import math

import jupedsim as jps
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from medtwin.models.evacuation.classes import AGE_BANDS, LIMITED_BAND, Mobility, draw_speed
from medtwin.models.evacuation.engine import Engine, FloorRun, Walker, simulate
from medtwin.models.evacuation.hydraulic import SFPE_MAX_SPECIFIC_FLOW, door_flow, effective_width
from medtwin.models.hazards import fed as F


def _crowd(area: shapely.Polygon, n: int, seed: int = 1, gap: float = 0.45) -> list[tuple[float, float]]:
    return [tuple(p) for p in jps.distribute_by_number(polygon=area, number_of_agents=n, distance_to_agents=gap,
                                                        distance_to_polygon=0.3, seed=seed)]  # fmt: skip


def _speeds(n: int, seed: int = 1) -> list[float]:
    rng = np.random.default_rng(seed)
    return [draw_speed(Mobility.AMBULANT, rng) for _ in range(n)]


def test_rimea_1_one_person_keeps_speed_in_a_corridor() -> None:
    """RiMEA 1: 40 m corridor, 2 m wide, 1.33 m/s: 26-34 s (RiMEA 3.0)."""
    geo = box(0, 0, 41, 2)
    o = simulate(FloorRun(geo, [box(40.5, 0, 41, 2)], [Walker((0.5, 1.0), 1.33, 0)]))
    assert o.status == "ok"
    assert 26.0 <= o.evacuation_time_s <= 34.0
    assert o.evacuation_time_s == pytest.approx(40.0 / 1.33, rel=0.03)


def _fd_speed(rho: float) -> float:
    geo = box(0, 0, 60, 2)
    pos = _crowd(box(0, 0, 40, 2), int(40 * 2 * rho), gap=min(0.4, 0.9 / math.sqrt(rho)))
    o = Engine(
        FloorRun(geo, [box(59, 0, 60, 2)], [Walker(p, 1.34, 0) for p in pos], max_time_s=10.0, frame_s=0.5)
    ).go()
    fr = {round(t, 2): (k, xy) for t, k, xy in o.frames}
    (k0, x0), (k1, x1) = fr[8.0], fr[10.0]
    before = {int(k): p for k, p in zip(k0, x0, strict=True)}
    v = [np.hypot(*(p - before[int(k)])) / 2.0 for k, p in zip(k1, x1, strict=True)
         if int(k) in before and 10 <= before[int(k)][0] <= 30]  # fmt: skip
    return float(np.mean(v))


def test_rimea_4_fundamental_diagram_follows_weidmann_shape() -> None:
    """RiMEA 4: speed falls with density like Weidmann's curve (free flow matches; at 2-3 p/m2 the
    collision-free speed model is slower than Weidmann: documented, conservative)."""
    dens = (0.5, 1.0, 2.0, 3.0)
    v = [_fd_speed(r) for r in dens]
    w = [1.34 * (1 - math.exp(-1.913 * (1 / r - 1 / 5.4))) for r in dens]
    assert all(a > b for a, b in itertools.pairwise(v)), v
    for r, vi, wi in zip(dens, v, w, strict=True):
        assert vi <= wi + 0.1, (r, vi, wi)
        if r <= 1.0:
            assert abs(vi - wi) <= 0.1, (r, vi, wi)


def test_rimea_6_twenty_people_turn_a_corner_without_crossing_walls() -> None:
    """RiMEA 6: 20 people walk round a left corner (2 m corridors); nobody leaves the walkable area."""
    geo = shapely.union_all([box(0, 0, 12, 2), box(10, 0, 12, 12)])
    pos = _crowd(box(0.5, 0.2, 6, 1.8), 20)
    o = simulate(FloorRun(geo, [box(10, 11.5, 12, 12)], [Walker(p, s, 0) for p, s in zip(pos, _speeds(20), strict=True)],
                          frame_s=0.05))  # fmt: skip
    assert o.status == "ok" and not np.isnan(o.exit_time).any()
    grown = geo.buffer(1e-6)
    for _t, _k, xy in o.frames:
        assert shapely.contains_xy(grown, xy[:, 0].astype(float), xy[:, 1].astype(float)).all()


def test_rimea_7_demographics_speeds_within_weidmann_bands() -> None:
    """RiMEA 7: assigned speeds by age group and for limited mobility lie in the published bands."""
    rng = np.random.default_rng(7)
    for lo_age, hi_age, lo, hi in AGE_BANDS:
        age = (lo_age + min(hi_age, 90)) / 2
        s = [draw_speed(Mobility.AMBULANT, rng, age) for _ in range(500)]
        assert lo <= min(s) and max(s) <= hi
        assert np.std(s) > 0  # a distribution, not one value
    s = [draw_speed(Mobility.WALKING_AID, rng) for _ in range(500)]
    assert LIMITED_BAND[0] <= min(s) and max(s) <= LIMITED_BAND[1]
    assert draw_speed(Mobility.WHEELCHAIR, rng) == pytest.approx(0.69)


def _rimea9(n: int, exits_open: int) -> tuple[str, float | None]:
    room = box(0, 0, 30, 20)
    ex = [box(-1, 3, 0, 4), box(-1, 15, 0, 16), box(30, 3, 31, 4), box(30, 15, 31, 16)][:exits_open]
    pos = _crowd(box(0.5, 0.5, 29.5, 19.5), n)
    cs = [e.centroid for e in ex]
    ws = [Walker(p, s, int(np.argmin([shapely.Point(p).distance(c) for c in cs])))
          for p, s in zip(pos, _speeds(n), strict=True)]  # fmt: skip
    o = simulate(FloorRun(shapely.union_all([room, *ex]), ex, ws, record_frames=False, max_time_s=1500))
    return o.status, o.evacuation_time_s


def test_rimea_9_closing_two_of_four_exits_about_doubles_the_time() -> None:
    """RiMEA 9 (documented outcome, scaled to 200 people): 30 x 20 m room, four 1 m exits, then
    two closed. Measured here: 34.9 s and 66.9 s (ratio 1.92); the 1,000-person run is in
    docs/benchmarks.md. A jam would be reported as stuck, never as a time."""
    s4, t4 = _rimea9(200, 4)
    s2, t2 = _rimea9(200, 2)
    assert s4 == s2 == "ok"
    assert 1.5 <= t2 / t4 <= 2.5, (t4, t2)


def test_rimea_10_people_use_their_assigned_exits() -> None:
    """RiMEA 10: people with an assigned exit leave through it, not the nearest one."""
    geo = shapely.union_all([box(0, 0, 20, 10), box(-1, 4, 0, 6), box(20, 4, 21, 6)])
    exits = [box(-1, 4, 0, 6), box(20, 4, 21, 6)]
    pos = _crowd(box(1, 1, 19, 9), 24)
    ws = [Walker(p, 1.2, 1 if i % 2 else 0) for i, p in enumerate(pos)]  # assigned, not by distance
    o = simulate(FloorRun(geo, exits, ws))
    assert o.status == "ok"
    assert [int(r) for r in o.target_reached] == [w.target for w in ws]


def test_rimea_11_most_choose_the_nearest_of_two_exits() -> None:
    """RiMEA 11: with targets chosen by medtwin's router, most people take the nearer exit."""
    from medtwin.models.evacuation import plan, results
    from medtwin.models.evacuation.scenario import parse

    rng = np.random.default_rng(11)
    agents = [
        {"position": [float(rng.uniform(1, 14)), float(rng.uniform(1, 9))], "class": "ambulant"}
        for _ in range(40)
    ]
    doc = {"walkable": shapely.geometry.mapping(box(0, 0, 30, 10)),
           "exits": [shapely.geometry.mapping(box(0, 4, 0.5, 6)), shapely.geometry.mapping(box(29.5, 4, 30, 6))],
           "agents": agents}  # fmt: skip
    b, sc = parse(doc)
    rep = results.report(plan.run(b, sc, record_frames=False))
    near = sum(a["target"] == "E0" for a in rep["agents"])
    assert rep["status"] == "ok" and near >= 0.75 * len(agents)


def test_rimea_12_no_jam_at_the_final_exit_after_a_bottleneck() -> None:
    """RiMEA 12: a room empties through a 1 m door into a corridor that ends in a wider exit; the
    flow is set by the first bottleneck, so nobody queues at the final exit."""
    room, door, corridor = box(0, 0, 10, 10), box(10, 4.5, 10.4, 5.5), box(10.4, 3, 30, 7)
    final = box(30, 4, 30.5, 6)
    pos = _crowd(box(0.5, 0.5, 9.5, 9.5), 60)
    o = simulate(FloorRun(shapely.union_all([room, door, corridor, final]), [final], [Walker(p, s, 0) for p, s in zip(pos, _speeds(60), strict=True)],
                          doors=[shapely.LineString([(10.2, 4.5), (10.2, 5.5)]), shapely.LineString([(30, 4), (30, 6)])], frame_s=0.5))  # fmt: skip
    assert o.status == "ok"
    near_final = box(28, 3, 30, 7)
    peak = max(
        int(shapely.contains_xy(near_final, xy[:, 0].astype(float), xy[:, 1].astype(float)).sum())
        for _t, _k, xy in o.frames
    )
    assert peak / near_final.area < 1.0, peak  # p/m2 in front of the final exit: no queue
    assert len(o.door_times[0]) == len(o.door_times[1]) == 60


def _door_run(width: float, n: int = 120) -> tuple[float, float]:
    room = box(0, 0, 12, 12)
    stub = box(12, 6 - width / 2, 14, 6 + width / 2)
    exit_ = box(13.5, 6 - width / 2, 14, 6 + width / 2)
    pos = _crowd(box(0.5, 0.5, 11.5, 11.5), n)
    o = simulate(FloorRun(shapely.union_all([room, stub]), [exit_], [Walker(p, s, 0) for p, s in zip(pos, _speeds(n), strict=True)],
                          doors=[shapely.LineString([(12, 6 - width / 2), (12, 6 + width / 2)])], record_frames=False))  # fmt: skip
    assert o.status == "ok"
    ts = np.sort(np.asarray(o.door_times[0]))
    mid = ts[int(0.1 * n) : int(0.9 * n)]  # steady part of the flow
    flow = (len(mid) - 1) / (mid[-1] - mid[0])
    return flow, flow / width


def test_iso20414_11_maximum_flow_at_an_opening_and_sfpe_specific_flow() -> None:
    """ISO 20414 test 11 / SFPE: the steady flow through a 1.2 m door stays within the empirical
    band: above SFPE's design value of 1.3 p/(s m) of *effective* width (a conservative floor)
    and below 2.0 p/(s m) of clear width (laboratory bottleneck maxima, Seyfried et al. 2009).
    Measured here: about 1.25 p/(s m) of clear width, as the research note found (1.25)."""
    flow, spec = _door_run(1.2)
    assert flow >= SFPE_MAX_SPECIFIC_FLOW * effective_width(1.2) * 0.95  # SFPE: 1.17 p/s for 1.2 m
    assert spec <= 2.0
    assert flow == pytest.approx(door_flow(1.2), rel=0.35)


def test_iso20414_18_walking_speed_in_smoke_matches_the_hand_calculation() -> None:
    """ISO 20414 test 18: 2 x 100 m corridor, v0 1.25 m/s, extinction K: time = 100 / (v0 f(K))
    with FDS+Evac's law (80.0 s clear, 87.0 s at K = 1, about 414 s at K = 10)."""

    class Smoke:
        interval_s = 0.5

        def __init__(self, k: float) -> None:
            self.f = F.smoke_speed_factor(k)

        def update(self, eng: Engine) -> None:
            eng.set_speed_factors(eng.keys, np.full(len(eng.keys), self.f))

    for k, want in ((0.0, 80.0), (1.0, 87.0), (3.0, 100 / (1.25 * F.smoke_speed_factor(3.0))), (10.0, 414.0)):
        geo = box(0, 0, 101, 2)
        run = FloorRun(geo, [box(100.5, 0.5, 101, 1.5)], [Walker((0.5, 1.0), 1.25, 0)], record_frames=False)
        o = Engine(run, Smoke(k) if k else None).go()
        assert o.evacuation_time_s == pytest.approx(want, rel=0.02), (k, o.evacuation_time_s)
    assert F.smoke_speed_factor(1.0) == pytest.approx(0.9193, abs=1e-4)
    assert F.smoke_speed_factor(10.0) == pytest.approx(0.193, abs=1e-3)


@pytest.mark.parametrize(
    ("co2", "co", "o2", "t_star"),
    [(2.0, 0.1, 15.0, 981.7), (0.0, 0.0, 12.0, 1666.3), (0.0, 0.1, 21.0, 1692.8), (3.43, 0.1, 21.0, 846.5)],
    ids=["a-all", "b-O2", "c-CO", "d-CO+CO2"],
)
def test_iso20414_19_incapacitation_by_toxic_gases(co2: float, co: float, o2: float, t_star: float) -> None:
    """ISO 20414 test 19: one occupant in a constant gas mix; time to FED = 1 (FDS+Evac guide)."""
    g = F.Gas(co_ppm=co * 1e4, co2_pct=co2, o2_pct=min(o2, F.O2_AMBIENT_PCT))
    assert F.time_to_fed(g) == pytest.approx(t_star, abs=1.5)


def test_fed_spot_vectors() -> None:
    assert F.fed_co_rate(1000) * 30 == pytest.approx(1.063, abs=1e-3)  # 1,000 ppm CO for 30 min
    assert F.hv_co2(1.0) == pytest.approx(1.2594, abs=1e-4)
    assert F.hv_co2(0.0) == 1.0
    assert F.fed_o2_rate(21.0) == 0.0
    assert F.visibility_m(1.0) == 3.0 and F.visibility_m(1.0, F.VISIBILITY_C_EMITTING) == 8.0
    assert F.visibility_m(0.0) == F.VISIBILITY_CAP_M
    assert F.heat_rate_per_min(120.0) == pytest.approx(1 / (5e7 * 120**-3.4))
    with pytest.raises(ValueError):
        F.fld_irritant_rate((("chlorine", 10.0),))
