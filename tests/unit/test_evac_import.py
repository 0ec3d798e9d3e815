"""Plans from point clouds (synthetic scans of a known ward, LAS and LAZ), from IFC, to GLB, and
the replay file PedPy/JuPedSim can read."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import trimesh

from medtwin.core.errors import ValidationError
from medtwin.models.evacuation import plan, results
from medtwin.models.evacuation.classes import Mobility
from medtwin.models.evacuation.lidar import plan_from_points
from medtwin.models.evacuation.scenario import Occupant, Scenario
from medtwin.services.safety import importers
from medtwin.services.safety.demo import demo_building
from medtwin.services.safety.glb import building_glb
from medtwin.services.safety.replay_db import write_replay
from medtwin.services.safety.synthetic import Layout, scan, truth


@pytest.fixture(scope="module")
def cloud() -> np.ndarray:
    return scan(density=300.0)


def test_plan_from_a_synthetic_scan_finds_the_known_layout(cloud: np.ndarray) -> None:
    res = plan_from_points(cloud, floor="F1", building="SCAN")
    b, want = res.building, truth()
    kinds = [s.kind for s in b.spaces.values()]
    assert kinds.count("room") == want["rooms"] and kinds.count("corridor") == want["corridors"]
    inner = [d for d in b.doors.values() if not any(x in b.exits for x in d.between)]
    assert len(inner) == want["doors"]
    for d in inner:  # door widths within one cell and a half of the truth (gaps read narrow)
        assert want["door_w"] - 0.15 <= d.width_m <= want["door_w"] + 0.05, d
        assert {b.spaces[x].kind for x in d.between} == {"room", "corridor"}
    assert len(b.exits) == want["exits"]
    exit_door = next(d for d in b.doors.values() if any(x in b.exits for x in d.between))
    assert abs(exit_door.width_m - want["exit_w"]) <= 0.25
    assert res.walkable.area == pytest.approx(want["free_m2"], rel=0.08)  # the bed is not walkable
    bx0, by0, bx1, by1 = Layout().bed
    assert (
        res.walkable.intersection(
            __import__("shapely").geometry.box(bx0 + 0.1, by0 + 0.1, bx1 - 0.1, by1 - 0.1)
        ).area
        < 0.1
    )
    assert 2.9 <= res.stats["storey_height_m"] <= 3.1
    # and people get out of the scanned ward
    occ = [
        Occupant(f"P{i}", Mobility.AMBULANT, "F1", space=s.id)
        for i, s in enumerate(b.spaces.values())
        for _ in range(2)
    ]
    rep = results.report(plan.run(b, Scenario(occ, seed=3), record_frames=False))
    assert rep["status"] == "ok" and rep["evacuation_time_s"] > 5


@pytest.mark.parametrize("suffix", [".las", ".laz"])
def test_las_and_laz_files_import(tmp_path: Path, cloud: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"ward{suffix}"
    importers.write_laz(path, cloud)
    back = importers.read_points(path.read_bytes())
    assert back.shape == cloud.shape and np.abs(back - cloud).max() < 0.001
    res = importers.read_lidar(path.read_bytes(), building="SCAN")
    assert len(res.building.doors) == truth()["doors"] + truth()["exits"]
    with pytest.raises(ValidationError, match="LAS/LAZ"):
        importers.read_points(b"not a las file")


def test_ifc_model_imports_spaces_doors_and_exits() -> None:
    pytest.importorskip("ifcopenshell")
    from medtwin.services.safety.synthetic import ifc_bytes

    b = importers.read_ifc(ifc_bytes(), building="SYN")
    assert sorted(s.kind for s in b.spaces.values()) == ["corridor", "room", "room", "room", "room"]
    inner = [d for d in b.doors.values() if not any(x in b.exits for x in d.between)]
    assert len(inner) == 4 and all(d.width_m == pytest.approx(1.2) for d in inner)
    assert len(b.exits) == 1
    assert next(d for d in b.doors.values() if d.id == "D-EXIT").width_m == pytest.approx(1.6)
    assert b.walkable("L1").geom_type == "Polygon"
    with pytest.raises(ValidationError):
        importers.read_ifc(b"ISO-10303-21; garbage")


def test_glb_has_spaces_beds_and_exits() -> None:
    b = demo_building()
    data = building_glb(
        b, occupancy={"MED-R01": 4}, beds={"MED-R01-B1": "bed_bound", "ICU-R01-B1": "critical"}
    )
    assert data[:4] == b"glTF"
    scene = trimesh.load(io.BytesIO(data), file_type="glb")
    names = set(scene.geometry)
    assert {"space:MED-R01", "exit:EXIT-MAIN", "bed:ICU-R01-B1", "walls:F2", "barrier:F1-D-BARRIER"} <= names
    lo, hi = scene.bounds
    assert hi[1] - lo[1] == pytest.approx(4.0 + 1.0, abs=0.1)  # two floors, 1 m walls: y is up


def test_replay_file_has_jupedsim_tables(tmp_path: Path) -> None:
    from medtwin.models.evacuation.scenario import parse

    doc = {"walkable": {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 6], [0, 6], [0, 0]]]},
           "exits": [{"type": "Polygon", "coordinates": [[[9.5, 2], [10, 2], [10, 4], [9.5, 4], [9.5, 2]]]}],
           "agents": [{"position": [1, 1], "class": "ambulant"}, {"position": [2, 5], "class": "wheelchair"}]}  # fmt: skip
    b, sc = parse(doc)
    data = plan.run(b, sc)
    rep, rp = results.report(data), results.replay(data)
    path = tmp_path / "r.sqlite"
    write_replay(path, b, rp, rep)
    con = sqlite3.connect(path)
    meta = dict(con.execute("SELECT key, value FROM metadata").fetchall())
    assert meta["version"] == "2" and float(meta["fps"]) == 1.0
    cols = [r[1] for r in con.execute("PRAGMA table_info(trajectory_data)")]
    assert cols == ["frame", "id", "pos_x", "pos_y", "ori_x", "ori_y"]
    assert {r[0] for r in con.execute("SELECT DISTINCT id FROM trajectory_data")} == {0, 1}
    assert con.execute("SELECT count(*) FROM frame_data").fetchone()[0] > 3
    assert json.loads(con.execute("SELECT json FROM medtwin_report").fetchone()[0])["status"] == "ok"
