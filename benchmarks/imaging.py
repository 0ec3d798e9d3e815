"""Benchmark: a 512 x 512 x 300 CT (synthetic phantom) to segmentation, mesh and GLB.

Steps timed on this machine (the issue's target: "in seconds"): threshold + connected components
(largest island) of the liver, threshold of the tumour, measurements, marching cubes + Taubin
smoothing + quadric decimation, GLB export. The named peer is the same pipeline written the
plain way with the same libraries: no cropping to the structure's bounding box before marching
cubes and morphology, and no decimation (the research note's script), measured in the same run.

    .venv/bin/python benchmarks/imaging.py [--slices 300] [--size 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import trimesh
from scipy import ndimage
from skimage import measure as skm

from medtwin.models.imaging import measure, mesh, phantoms, segment
from medtwin.models.imaging.volume import to_lps


def build(size: int, slices: int) -> phantoms.Phantom:
    a = phantoms.make_affine((1.0, 0.7, 0.7))
    shape = (slices, size, size)
    a[:3, 3] -= to_lps(a, (np.array(shape) - 1) / 2)
    arr = np.full(shape, -1000, dtype=np.int16)
    # body, liver and tumour drawn slab by slab (a full-size coordinate grid would need 5 GB)
    for k in range(slices):
        sl = (slice(k, k + 1), slice(None), slice(None))
        idx = np.indices((1, size, size), dtype=np.float32).reshape(3, -1).T
        idx[:, 0] = k
        p = to_lps(a, idx).reshape(size, size, 3)
        body = (p[..., 0] / 160) ** 2 + (p[..., 1] / 120) ** 2 <= 1
        liver = ((p[..., 0] + 20) / 90) ** 2 + (p[..., 1] / 70) ** 2 + (p[..., 2] / 75) ** 2 <= 1
        tum = ((p - np.array([10.0, 5.0, 0.0])) ** 2).sum(-1) <= 20.0**2
        arr[sl][0][body] = 40
        arr[sl][0][liver] = 60
        arr[sl][0][tum] = 120
    from medtwin.models.imaging.volume import Volume

    return phantoms.Phantom(Volume(arr, a, "CT", "HU"), {}, {"tumour_ml": 4 / 3 * np.pi * 20**3 / 1000})


def ours(p: phantoms.Phantom) -> dict[str, float]:
    t = {}
    t0 = time.perf_counter()
    liver = segment.largest_island(segment.threshold(p.ct.array, 50, 150))
    tum = segment.largest_island(segment.threshold(p.ct.array, 100, 150))
    t["segmentation_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    st = measure.measure(tum, p.ct.affine, p.ct.array)
    vol_liver = np.count_nonzero(liver) * p.ct.voxel_mm3 / 1000
    t["measure_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts = []
    for name, m, op in (("liver", liver & ~tum, 0.35), ("tumour", tum, 1.0)):
        parts.append(
            mesh.Part(
                name, mesh.mask_to_mesh(m, p.ct.affine, mesh.MeshOptions(target_faces=100_000)), (1, 0, 0), op
            )
        )
    t["mesh_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    glb = mesh.to_glb(parts)
    t["glb_s"] = time.perf_counter() - t0
    t["total_s"] = sum(t.values())
    t["glb_mb"] = len(glb) / 1e6
    t["faces"] = float(sum(len(x.mesh.faces) for x in parts))
    t["tumour_ml"] = st.volume_ml
    t["liver_ml"] = vol_liver
    return t


def peer(p: phantoms.Phantom) -> dict[str, float]:
    """Plain pipeline: full-volume labelling, marching cubes on the whole grid, no decimation."""
    t0 = time.perf_counter()
    out = {}
    for name, lo in (("liver", 50), ("tumour", 100)):
        m = (p.ct.array >= lo) & (p.ct.array <= 150)
        lab, _n = ndimage.label(m)
        sizes = np.bincount(lab.ravel())[1:]
        m = lab == (int(np.argmax(sizes)) + 1)
        v, f, _n, _v = skm.marching_cubes(m.astype(np.float32), 0.5)
        out[name] = trimesh.Trimesh(to_lps(p.ct.affine, v), f)
    glb = trimesh.Scene(list(out.values())).export(file_type="glb")
    return {"total_s": time.perf_counter() - t0, "glb_mb": len(glb) / 1e6,
            "faces": float(sum(len(x.faces) for x in out.values()))}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--skip-peer", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    p = build(a.size, a.slices)
    print(
        f"phantom {a.slices} x {a.size} x {a.size} int16 ({p.ct.array.nbytes / 1e6:.0f} MB) built in {time.perf_counter() - t0:.1f} s"
    )
    r = ours(p)
    print("medtwin: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()))
    print(f"  tumour volume {r['tumour_ml']:.2f} mL vs analytic {p.truth['tumour_ml']:.2f} mL")
    if not a.skip_peer:
        q = peer(p)
        print("plain pipeline (peer): " + ", ".join(f"{k} {v:.2f}" for k, v in q.items()))
        print(
            f"ratio peer/medtwin total time: {q['total_s'] / r['total_s']:.2f}x; GLB {q['glb_mb']:.1f} MB vs {r['glb_mb']:.1f} MB"
        )


if __name__ == "__main__":
    main()
