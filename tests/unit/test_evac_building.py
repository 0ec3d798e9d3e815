"""Building model: GeoJSON schema round trip and errors, derived walkable area, raster routes, the
demo geometry against the demo hospital's twins."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from shapely.geometry import box

from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.models.evacuation.building import BuildingError
from medtwin.models.evacuation.geojson import SCHEMA, from_geojson, to_geojson
from medtwin.models.evacuation.grid import FloorGrid
from medtwin.models.evacuation.routes import Router
from medtwin.runtime import Runtime
from medtwin.services.safety.demo import demo_building, extra_exit


def test_geojson_round_trip_keeps_everything() -> None:
    b = demo_building()
    doc = json.loads(json.dumps(to_geojson(b)))
    assert doc["medtwin"]["schema"] == SCHEMA
    b2 = from_geojson(doc)
    assert set(b2.spaces) == set(b.spaces) and set(b2.doors) == set(b.doors) and set(b2.beds) == set(b.beds)
    assert b2.doors["F2-D-BARRIER"].barrier and b2.doors["F2-D-BARRIER"].state == "self_closing"
    assert b2.spaces["F1-STAIR-W"].connects == ("F1", "F2") and b2.spaces["F1-STAIR-W"].flight_m == 10.0
    for f in b.floors:
        assert b2.walkable(f).area == pytest.approx(b.walkable(f).area, rel=1e-4)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["features"][0]["properties"].pop("id"), "features[0].properties.id"),
        (lambda d: d["features"][5]["properties"].update(kind="lounge"), "features[5].properties.kind"),
        (lambda d: d.update(type="Feature"), "building"),
    ],
)
def test_schema_errors_name_the_field(mutate, field) -> None:  # type: ignore[no-untyped-def]
    doc = to_geojson(demo_building())
    mutate(doc)
    with pytest.raises(BuildingError) as e:
        from_geojson(doc)
    assert e.value.field == field


def test_door_must_touch_its_spaces_and_beds_must_be_in_rooms() -> None:
    doc = to_geojson(demo_building())
    bad = copy.deepcopy(doc)
    door = next(f for f in bad["features"] if f["properties"]["id"] == "MED-R01-D")
    door["properties"]["between"] = ["MED-R01", "ICU-R01"]
    with pytest.raises(BuildingError, match="ICU-R01 is on floor F2"):
        from_geojson(bad)
    bad = copy.deepcopy(doc)
    bed = next(f for f in bad["features"] if f["properties"]["kind"] == "bed")
    bed["geometry"]["coordinates"] = [100.0, 100.0]
    with pytest.raises(BuildingError, match="not inside room"):
        from_geojson(bad)


def test_walkable_area_is_spaces_less_walls_plus_door_openings() -> None:
    b = demo_building()
    w = b.walkable("F1")
    assert w.geom_type == "Polygon"  # one connected floor: doors join the spaces
    spaces = sum(b.shrunk(s.id).area for s in b.spaces_on("F1")) + sum(
        b.shrunk(e.id).area for e in b.exits_on("F1")
    )
    assert spaces < w.area < spaces + 10.0
    assert b.walkable("F1", without=frozenset({"MED-R01"})).area == pytest.approx(
        w.area - b.shrunk("MED-R01").area, abs=0.5
    )
    assert b.door_opening("MED-R01-D").area == pytest.approx(1.4 * (0.2 + 0.2), rel=1e-6)
    wide = b.with_changes(doors={**b.doors, "MED-R01-D": b.doors["MED-R01-D"].__class__(
        "MED-R01-D", "F1", b.doors["MED-R01-D"].line, b.doors["MED-R01-D"].between, 2.0)})  # fmt: skip
    assert wide.door_opening("MED-R01-D").area == pytest.approx(2.0 * 0.4, rel=1e-6)


def test_grid_distances_follow_corridors_and_avoid_blocked_spaces() -> None:
    b = demo_building()
    g = FloorGrid.build(b, "F1")
    r = Router(b)
    # along the corridor: close to the straight distance, at most 8 % more (8-connected grid)
    d = r.distance("F1", (6.0, 9.2), "F1-STAIR-E")
    assert 46.0 <= d <= 46.0 * 1.08 + 2
    # through walls is impossible: MED-R01 to MED-R02 goes via the corridor
    route = r.route("F1", (8.0, 14.0), ["MED-R02"])
    assert route is not None and [leg.area for leg in route.legs if leg.area not in b.doors] == [
        "MED-R01",
        "F1-COR-W",
        "MED-R02",
    ]
    assert g.doors_on_path(g.path(r.field("F1", ("MED-R02",))[1], int(g.cell_of(8.0, 14.0)))) == [
        "MED-R01-D",
        "MED-R02-D",
    ]
    # blocking the west corridor cuts MED-R01 off from everything
    assert r.route("F1", (8.0, 14.0), ["EXIT-E", "EXIT-W", "EXIT-MAIN"], frozenset({"F1-COR-W"})) is None
    assert np.isfinite(r.distance("F1", (8.0, 14.0), "EXIT-W"))


def test_stairs_join_floors() -> None:
    b = demo_building()
    r = Router(b)
    assert r.shaft_partner("F2-STAIR-W", "F1") == "F1-STAIR-W"
    legs = r.walk("F2", (7.0, 14.0), "F1", (2.0, 9.0))
    assert legs is not None and sum(leg.metres for leg in legs if leg.stairs) == 10.0


def test_demo_geometry_holds_every_room_and_bed_of_the_demo_hospital(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime(Settings.load(db=":memory:", mqtt_enabled=False, data_dir=tmp_path))
    try:
        h = seed(rt.registry)
        b = demo_building()
        for bed in h.beds:
            assert b.bed_of_twin(bed.bed) is not None, bed.bed
            assert b.room_of_twin(bed.room) is not None, bed.room
        assert {c.id for c in b.compartments.values()} == {"F1-C1", "F1-C2", "F2-C3", "F2-C4"}
        assert len(b.beds) == len(h.beds) == 24
    finally:
        rt.stop()


def test_extra_exit_variant_adds_a_connected_exit() -> None:
    b = extra_exit(demo_building())
    assert "EXIT-PATIO" in b.exits
    assert Router(b).route("F1", (33.0, 4.0), ["EXIT-PATIO"]) is not None
    assert box(30, -3, 36, 1).equals(b.exits["EXIT-PATIO"].polygon)
