"""Imaging geometry against analytic ground truth: phantoms with exact volumes and distances on
isotropic, anisotropic and oblique grids; series geometry errors; RECIST 1.1 and transplant
figures against the published rules (Eisenhauer 2009 and the sources in the modules)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medtwin.core.errors import ValidationError
from medtwin.models.imaging import (
    geometry,
    measure,
    mesh,
    phantoms,
    recist,
    resection,
    segment,
    tracking,
    transplant,
)
from medtwin.models.imaging.geometry import SliceHeader


def sphere_ml(r: float) -> float:
    return 4 / 3 * math.pi * r**3 / 1000


GRIDS = {
    "iso": dict(spacing=(1.0, 1.0, 1.0)),
    "aniso": dict(spacing=(2.5, 0.8, 0.8)),
    "oblique": dict(spacing=(1.5, 1.0, 1.2), rotation=phantoms.rotation_xyz(25, -10, 35)),
}


@pytest.mark.parametrize("grid", GRIDS)
def test_sphere_volume_diameter_centroid(grid: str) -> None:
    kw = GRIDS[grid]
    a = phantoms.make_affine(kw["spacing"], rotation=kw.get("rotation"))
    a[:3, 3] -= phantoms.to_lps(a, (np.array((48, 72, 72)) - 1) / 2)
    m = phantoms.sphere((48, 72, 72), a, (3.0, -2.0, 1.0), 12.0)
    st = measure.measure(m, a)
    assert st.volume_ml == pytest.approx(sphere_ml(12.0), rel=0.03)
    h = max(kw["spacing"])
    assert st.max_diameter_mm == pytest.approx(24.0, abs=h)
    assert st.long_axis_mm == pytest.approx(24.0, abs=h + 0.5)
    assert np.allclose(st.centroid_lps, (3.0, -2.0, 1.0), atol=0.3)


def test_ellipsoid_and_cube_exact() -> None:
    a = phantoms.make_affine((2.0, 1.0, 0.5))
    a[:3, 3] = (-40, -40, -40)
    cube = phantoms.box((40, 80, 160), a, (-20.25, -20.5, -21), (20.25, 20.5, 19))  # centres inside
    n = int(cube.sum())
    assert n == 81 * 41 * 20
    assert measure.measure(cube, a).volume_ml == pytest.approx(n * 1.0 / 1000)
    ell = phantoms.ellipsoid((40, 80, 160), a, (0, 0, 0), (30, 20, 10))
    assert measure.measure(ell, a).volume_ml == pytest.approx(4 / 3 * math.pi * 6000 / 1000, rel=0.02)
    assert measure.max_diameter(ell, a) == pytest.approx(60.0, abs=1.0)


def test_short_axis_of_an_ellipse() -> None:
    a = phantoms.make_affine((1.0, 0.5, 0.5))
    a[:3, 3] = (-40, -40, -10)
    node = phantoms.ellipsoid((21, 161, 161), a, (0, 0, 0), (20, 8, 6))  # axial: 40 x 16 mm
    ld, sa, _k, _ends = measure.axial_axes(node, a)
    assert ld == pytest.approx(40.0, abs=0.6)
    assert sa == pytest.approx(16.0, abs=0.6)


def test_series_geometry_sorts_and_refuses_broken_series() -> None:
    iop = (1.0, 0, 0, 0, 1.0, 0)
    hs = [
        SliceHeader(i, 4, 4, (0.0, 0.0, z), iop, (0.5, 0.7), "s", "f") for i, z in enumerate([5.0, 0.0, 2.5])
    ]
    g = geometry.assemble(hs)
    assert g.order == [1, 2, 0]
    assert np.allclose(g.affine[:3, 0], (0, 0, 2.5)) and np.allclose(g.affine[:3, 1], (0, 0.5, 0))
    assert np.allclose(g.affine[:3, 2], (0.7, 0, 0))
    with pytest.raises(ValidationError, match="uneven slice spacing"):
        geometry.assemble([*hs, SliceHeader(9, 4, 4, (0, 0, 12.5), iop, (0.5, 0.7), "s", "f")])
    with pytest.raises(ValidationError, match="share a position"):
        geometry.assemble([*hs, SliceHeader(9, 4, 4, (0, 0, 5.0), iop, (0.5, 0.7), "s", "f")])
    with pytest.raises(ValidationError) as e:
        geometry.assemble(
            [*hs, SliceHeader(9, 4, 4, (0, 0, 7.5), (0, 1.0, 0, 0, 0, -1.0), (0.5, 0.7), "s", "f")]
        )
    assert e.value.field == "image_orientation"
    with pytest.raises(ValidationError, match="series_uid"):
        geometry.assemble([*hs, SliceHeader(9, 4, 4, (0, 0, 7.5), iop, (0.5, 0.7), "other", "f")])
    with pytest.raises(ValidationError, match="image position"):
        geometry.assemble([*hs, SliceHeader(9, 4, 4, None, iop, (0.5, 0.7), "s", "f")])
    tilted = [SliceHeader(i, 4, 4, (0.0, 0.3 * i, 2.5 * i), iop, (0.5, 0.5), "s", "f") for i in range(4)]
    assert "gantry tilt" in geometry.assemble(tilted).warnings[0]


def test_segmentation_tools() -> None:
    p = phantoms.liver_phantom(shape=(40, 64, 64), spacing=(2.5, 2.0, 2.0))
    arr = p.ct.array
    tum = segment.largest_island(segment.threshold(arr, 100, 150))
    assert (tum == p.masks["tumour"]).all()
    grown = segment.region_grow(arr, tuple(np.argwhere(p.masks["tumour"])[0]), tolerance=10)
    assert (grown == p.masks["tumour"]).all()
    with pytest.raises(ValidationError, match="outside the range"):
        segment.region_grow(arr, (0, 0, 0), 100, 150)
    _lab, sizes = segment.components(segment.threshold(arr, 100, 300))
    assert len(sizes) == 2 and sizes[0] > sizes[1]  # vessel, then tumour
    grown5 = segment.margin(tum, p.ct.spacing, 5.0)
    # distances run between voxel centres: the outermost tumour centres lie ~h/2 inside r = 12 mm
    assert measure.measure(grown5, p.ct.affine).volume_ml == pytest.approx(sphere_ml(17 - 1.0), rel=0.06)
    shrunk = segment.margin(grown5, p.ct.spacing, -5.0)
    assert abs(int(shrunk.sum()) - int(tum.sum())) < 0.1 * tum.sum()
    assert segment.window(np.array([-1000, 40, 1000]), 40, 400).tolist() == [0, 127, 255]


def test_mesh_glb_roundtrip() -> None:
    import io

    import trimesh

    p = phantoms.liver_phantom(shape=(40, 64, 64), spacing=(2.5, 2.0, 2.0))
    m = mesh.mask_to_mesh(p.masks["tumour"], p.ct.affine, mesh.MeshOptions(target_faces=3000))
    assert m is not None and m.is_watertight and len(m.faces) <= 3000
    assert abs(m.volume) / 1000 == pytest.approx(p.truth["tumour_volume_ml"], rel=0.08)
    glb = mesh.to_glb([mesh.Part("tumour", m, (1, 0, 0))])
    scene = trimesh.load(io.BytesIO(glb), file_type="glb")
    assert list(scene.geometry) == ["tumour"]
    assert np.allclose(mesh.gl_to_lps(mesh.lps_to_gl([[1.0, 2.0, 3.0]])), [[1.0, 2.0, 3.0]])


@pytest.mark.parametrize(
    ("base", "nadir", "now", "expected"),
    [(100, 100, 70, "PR"), (100, 100, 71, "SD"), (100, 50, 60, "PD"), (25, 20, 24, "SD"), (25, 20, 25, "PD"),
     (100, 20, 24, "PR"), (100, 80, 95, "SD")],
)  # fmt: skip
def test_recist_target_boundaries(base: float, nadir: float, now: float, expected: str) -> None:
    assert recist.target_response(base, nadir, [recist.Lesion("a", now)]) == expected


def test_recist_cr_nodes_new_lesions_and_selection() -> None:
    assert (
        recist.target_response(30, 30, [recist.Lesion("a", 0), recist.Lesion("n", 9.9, nodal=True)]) == "CR"
    )
    assert recist.target_response(30, 30, [recist.Lesion("a", 0), recist.Lesion("n", 10, nodal=True)]) == "PR"
    assert recist.overall_response(recist.Response.PR, None, new_lesions=True) == "PD"
    assert recist.overall_response(recist.Response.CR, recist.Response.NON_CR_NON_PD, False) == "PR"
    assert recist.overall_response(None, recist.Response.NON_CR_NON_PD, False) == "non-CR/non-PD"
    les = [recist.Lesion(f"l{i}", 20 + i, organ="liver") for i in range(4)] + [
        recist.Lesion("lung1", 15, organ="lung"), recist.Lesion("lung2", 12, organ="lung"),
        recist.Lesion("lung3", 11, organ="lung"), recist.Lesion("node", 16, nodal=True),
        recist.Lesion("small", 8), recist.Lesion("normal node", 8, nodal=True),
    ]  # fmt: skip
    targets, non_targets = recist.select_targets(les)
    assert [t.id for t in targets] == ["l3", "l2", "node", "lung1", "lung2"]
    assert {n.id for n in non_targets} == {"l1", "l0", "lung3", "small"}


def test_volumetric_and_doubling_time() -> None:
    assert recist.volumetric_response(10, 10, 3.4) == "PR"
    assert recist.volumetric_response(10, 8, 13.9) == "PD"
    assert recist.volumetric_response(10, 8, 13.7) == "SD"
    assert recist.doubling_time_days(7.24, 14.48, 90) == pytest.approx(90.0)


def test_transplant_figures() -> None:
    assert transplant.resistive_index(60, 18) == pytest.approx(0.70)
    assert transplant.interpret_ri("liver", 0.45)[0] == "low"
    assert transplant.interpret_ri("liver", 0.70)[0] == "normal"
    assert transplant.interpret_ri("kidney", 0.80)[0] == "high"
    assert transplant.bsa_mosteller(175, 70) == pytest.approx(1.845, abs=1e-3)
    assert transplant.slv_urata(1.8) == pytest.approx(1273.56)
    assert transplant.slv_vauthey(1.8) == pytest.approx(1486.694)
    assert transplant.grwr_pct(560, 70) == pytest.approx(0.8)
    with pytest.raises(ValidationError):
        transplant.resistive_index(0, 0)


def test_tracking_matches_by_position_with_offset() -> None:
    prior = [tracking.Found("a", (0, 0, 0), 20), tracking.Found("b", (50, 0, 0), 12)]
    cur = [
        tracking.Found("x", (52, 10, 3), 14),
        tracking.Found("y", (1, 11, 2), 25),
        tracking.Found("z", (-60, 0, 0), 8),
    ]
    m = tracking.match(prior, cur, offset=(0, 10, 2))
    assert {(p, c) for p, c, _ in m.pairs} == {("a", "y"), ("b", "x")}
    assert m.new == ["z"] and m.disappeared == []


def test_resection_remnant_margin_and_vessel_distance() -> None:
    p = phantoms.liver_phantom(shape=(60, 96, 96), spacing=(2.0, 1.5, 1.5))
    organ = p.masks["liver"] | p.masks["tumour"]
    plane = resection.Plane((0, 0, 0), (1, 0, 0))  # remove x > 0 (the tumour's side, centre x=20, r=12)
    r = resection.plan(
        organ, p.ct.affine, plane, {"tumour": p.masks["tumour"]}, {"vessel": p.masks["vessel"]}
    )
    assert r.remnant_pct == pytest.approx(50.0, abs=2.0)
    assert r.lesions[0]["margin_mm"] == pytest.approx(8.0, abs=1.0)
    assert r.lesions[0]["vessel_distances_mm"]["vessel"] == pytest.approx(15.0, abs=1.0)
    assert r.flr_status == "adequate" and not r.risks
    tight = resection.plan(organ, p.ct.affine, resection.Plane((-45, 0, 0), (1, 0, 0)), {"tumour": p.masks["tumour"]},
                           liver_state="cirrhosis")  # fmt: skip
    assert tight.flr_status == "insufficient" and "40 %" in tight.risks[0]
    cut = resection.plan(
        organ, p.ct.affine, resection.Plane((25, 0, 0), (1, 0, 0)), {"tumour": p.masks["tumour"]}
    )
    assert any("passes through" in x for x in cut.risks)
    rows = resection.compare({"a": r, "b": tight, "c": cut})
    assert rows[0]["plan"] == "a"
