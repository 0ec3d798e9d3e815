"""Surface meshes from label masks: marching cubes (Lorensen & Cline, SIGGRAPH 1987; scikit-image
``marching_cubes``), Taubin smoothing (Taubin, SIGGRAPH 1995: shrink-free, trimesh
``filter_taubin``), quadric decimation (Garland & Heckbert, SIGGRAPH 1997; ``fast-simplification``
through trimesh), exported as binary glTF (GLB) for three.js.

Vertices are computed in LPS mm; the GLB uses glTF's right-handed, +Y-up frame with
**x = L, y = S, z = A (= -P)**, in millimetres, so a viewer looks at the patient from the front,
head up. :func:`gl_to_lps` converts a point picked in the viewer back to LPS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh
from numpy.typing import NDArray
from skimage import measure as skm

from medtwin.models.imaging.volume import F64, to_lps

LPS_TO_GL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def lps_to_gl(p: Any) -> F64:
    gl: F64 = np.asarray(p, dtype=np.float64) @ LPS_TO_GL.T
    return gl


def gl_to_lps(p: Any) -> F64:
    lps: F64 = np.asarray(p, dtype=np.float64) @ LPS_TO_GL  # inverse of a rotation is its transpose
    return lps


@dataclass
class MeshOptions:
    smooth_iterations: int = 10  # Taubin passes (0: none)
    target_faces: int | None = 50_000  # decimate above this many faces (None: never)
    step: int = 1  # marching-cubes step in voxels (2 halves the work on large organs)


def mask_to_mesh(
    mask: NDArray[np.bool_], affine: F64, opts: MeshOptions | None = None
) -> trimesh.Trimesh | None:
    """A closed surface around ``mask`` in LPS mm, or None when the mask is empty."""
    o = opts or MeshOptions()
    if not mask.any():
        return None
    nz = [np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    lo = np.array([int(n[0]) for n in nz])
    hi = np.array([int(n[-1]) + 1 for n in nz])
    sub = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    padded = np.pad(sub, 1).astype(np.float32)
    verts, faces, _n, _v = skm.marching_cubes(padded, 0.5, step_size=max(1, o.step), allow_degenerate=False)  # type: ignore[no-untyped-call]
    verts = to_lps(affine, verts - 1 + lo)
    if np.linalg.det(affine[:3, :3]) < 0:  # a mirrored grid turns the faces inside out
        faces = faces[:, ::-1]
    m = trimesh.Trimesh(vertices=verts, faces=faces, process=True)
    if o.smooth_iterations > 0:
        trimesh.smoothing.filter_taubin(m, lamb=0.5, nu=0.53, iterations=o.smooth_iterations)  # type: ignore[no-untyped-call]
    if o.target_faces is not None and len(m.faces) > o.target_faces:
        m = m.simplify_quadric_decimation(face_count=int(o.target_faces))
    if m.volume < 0:
        m.invert()
    return m


@dataclass
class Part:
    name: str
    mesh: trimesh.Trimesh
    color: Sequence[float]  # RGB 0-1
    opacity: float = 1.0


def to_glb(parts: Sequence[Part]) -> bytes:
    """One GLB scene, one named node per structure, with PBR colours (opacity for organs)."""
    scene = trimesh.Scene()
    for p in parts:
        m = p.mesh.copy()
        m.vertices = lps_to_gl(m.vertices)
        rgba = [float(c) for c in p.color[:3]] + [float(p.opacity)]
        mat = trimesh.visual.material.PBRMaterial(  # type: ignore[no-untyped-call]
            name=p.name,
            baseColorFactor=rgba,
            metallicFactor=0.0,
            roughnessFactor=0.7,
            alphaMode="BLEND" if p.opacity < 1 else "OPAQUE",
            doubleSided=p.opacity < 1,
        )
        m.visual = trimesh.visual.TextureVisuals(material=mat)  # type: ignore[no-untyped-call]
        scene.add_geometry(m, node_name=p.name, geom_name=p.name)
    data = scene.export(file_type="glb")  # type: ignore[no-untyped-call]
    return bytes(data)


def summary(m: trimesh.Trimesh) -> dict[str, Any]:
    return {
        "vertices": len(m.vertices),
        "faces": len(m.faces),
        "watertight": bool(m.is_watertight),
        "volume_ml": round(float(abs(m.volume)) / 1000.0, 3) if m.is_watertight else None,
        "area_cm2": round(float(m.area) / 100.0, 2),
    }
