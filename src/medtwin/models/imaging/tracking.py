"""Lesion tracking across studies: match each follow-up lesion to a prior one by position.

Positions are segment centroids in patient coordinates (LPS mm). Studies of the same patient are
not in the same frame when the patient lies differently, so an optional ``offset`` (for example
the shift of a reference organ's centroid, :func:`reference_offset`) is applied to the prior
positions first; a full deformable registration is out of scope.

Matching is a minimum-total-distance assignment (Hungarian algorithm, scipy
``linear_sum_assignment``) gated by distance: a pair is accepted only when the centroids are
closer than ``gate_mm`` (default: half the sum of the two lesions' diameters, at least 10 mm --
a lesion moves less than its own size between studies once the offset is removed). This gate is
a matching parameter, not a clinical threshold. Unmatched prior lesions have disappeared (their
diameter is 0 for RECIST); unmatched follow-up lesions are *candidate* new lesions, which RECIST
1.1 (4.3.3) asks a reader to confirm as unequivocal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

MIN_GATE_MM = 10.0


@dataclass(frozen=True)
class Found:
    id: str
    centroid: tuple[float, float, float]
    diameter_mm: float = 0.0
    volume_ml: float = 0.0


@dataclass
class Matching:
    pairs: list[tuple[str, str, float]] = field(default_factory=list)  # (prior id, current id, mm)
    disappeared: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)


def reference_offset(
    prior_centroid: Sequence[float] | None, current_centroid: Sequence[float] | None
) -> tuple[float, float, float]:
    if prior_centroid is None or current_centroid is None:
        return (0.0, 0.0, 0.0)
    d = np.asarray(current_centroid, dtype=float) - np.asarray(prior_centroid, dtype=float)
    return (float(d[0]), float(d[1]), float(d[2]))


def match(
    prior: Sequence[Found],
    current: Sequence[Found],
    offset: Sequence[float] = (0.0, 0.0, 0.0),
    gate_mm: float | None = None,
) -> Matching:
    out = Matching()
    if not prior or not current:
        out.disappeared = [p.id for p in prior]
        out.new = [c.id for c in current]
        return out
    a = np.array([p.centroid for p in prior], dtype=float) + np.asarray(offset, dtype=float)
    b = np.array([c.centroid for c in current], dtype=float)
    dist = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    if gate_mm is None:
        size = (
            np.array([p.diameter_mm for p in prior])[:, None]
            + np.array([c.diameter_mm for c in current])[None, :]
        )
        gate = np.maximum(MIN_GATE_MM, 0.5 * size)
    else:
        gate = np.full(dist.shape, float(gate_mm))
    cost = np.where(dist <= gate, dist, 1e9)
    rows, cols = linear_sum_assignment(cost)
    used_p, used_c = set(), set()
    for r, c in zip(rows, cols, strict=True):
        if cost[r, c] < 1e9:
            out.pairs.append((prior[r].id, current[c].id, round(float(dist[r, c]), 3)))
            used_p.add(r)
            used_c.add(c)
    out.disappeared = [p.id for i, p in enumerate(prior) if i not in used_p]
    out.new = [c.id for i, c in enumerate(current) if i not in used_c]
    return out
