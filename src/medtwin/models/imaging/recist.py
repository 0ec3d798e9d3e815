"""RECIST 1.1 response assessment (Eisenhauer EA, Therasse P, Bogaerts J, et al. "New response
evaluation criteria in solid tumours: revised RECIST guideline (version 1.1)". Eur J Cancer
2009;45:228-247).

Rules implemented, with their section in the paper:

* Measurability (3.1, 3.2): a non-nodal lesion is measurable when its longest diameter is >= 10 mm
  (CT slice thickness <= 5 mm); a lymph node is a measurable target when its short axis is
  >= 15 mm, a pathological non-target node at 10 to < 15 mm, and normal below 10 mm.
* Target selection (3.3): at most 5 target lesions in total and 2 per organ, the largest first.
* Sum of diameters (SOD): longest diameters of non-nodal targets plus short axes of nodal targets.
* Target response (4.3.1): CR -- every non-nodal target gone and every nodal target < 10 mm short
  axis; PR -- SOD at least 30 % below the *baseline* sum; PD -- SOD at least 20 % above the
  *nadir* (the smallest sum on study, baseline included) **and** at least 5 mm above it; SD --
  neither.
* Non-target response (4.3.2) and overall response (4.4, Table 1; Table 2 for patients with
  non-target disease only). Any new lesion is PD (4.3.3).

Comparisons are made in integer tenths of a millimetre so that exact boundary cases (a 30.0 %
decrease, a 20.0 % increase) are not flipped by floating-point rounding.

Volumetric response is not part of RECIST 1.1. :func:`volumetric_response` applies the
equivalent-sphere conversion of the RECIST thresholds (V proportional to d^3): PR at a decrease of
1 - 0.7^3 = 65.7 % from baseline, PD at an increase of 1.2^3 - 1 = 72.8 % over the nadir. These
are derived figures, reported beside RECIST, not a validated criterion of their own.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from medtwin.core.errors import ValidationError

MEASURABLE_LD_MM = 10.0
NODE_TARGET_SA_MM = 15.0
NODE_PATHOLOGICAL_SA_MM = 10.0
MAX_TARGETS = 5
MAX_PER_ORGAN = 2
PR_DECREASE = 0.30
PD_INCREASE = 0.20
PD_ABSOLUTE_MM = 5.0
VOLUME_PR = 1 - 0.7**3  # 0.657
VOLUME_PD = 1.2**3 - 1  # 0.728


class Response(StrEnum):
    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NON_CR_NON_PD = "non-CR/non-PD"
    NE = "NE"


@dataclass(frozen=True)
class Lesion:
    """One lesion at one time point. ``diameter_mm`` is the longest diameter for non-nodal lesions
    and the short axis for lymph nodes (0 when it has disappeared)."""

    id: str
    diameter_mm: float
    organ: str = ""
    nodal: bool = False
    unequivocal_progression: bool = False  # non-target only (4.3.2)


def _tenths(mm: float) -> int:
    return round(mm * 10)


def classify(lesion: Lesion) -> str:
    """'measurable', 'non-measurable' (non-target), or 'normal' (node < 10 mm)."""
    if lesion.nodal:
        if lesion.diameter_mm >= NODE_TARGET_SA_MM:
            return "measurable"
        return "non-measurable" if lesion.diameter_mm >= NODE_PATHOLOGICAL_SA_MM else "normal"
    return "measurable" if lesion.diameter_mm >= MEASURABLE_LD_MM else "non-measurable"


def select_targets(baseline: Sequence[Lesion]) -> tuple[list[Lesion], list[Lesion]]:
    """(targets, non-targets) at baseline: the largest measurable lesions, <= 5 and <= 2 per organ."""
    measurable = sorted(
        (x for x in baseline if classify(x) == "measurable"), key=lambda x: (-x.diameter_mm, x.id)
    )
    per_organ: dict[str, int] = defaultdict(int)
    targets: list[Lesion] = []
    for x in measurable:
        organ = x.organ or f"unspecified:{x.id}"
        if len(targets) < MAX_TARGETS and per_organ[organ] < MAX_PER_ORGAN:
            targets.append(x)
            per_organ[organ] += 1
    ids = {t.id for t in targets}
    non_targets = [x for x in baseline if x.id not in ids and classify(x) != "normal"]
    return targets, non_targets


def sum_of_diameters(lesions: Sequence[Lesion]) -> float:
    return sum(x.diameter_mm for x in lesions)


def target_response(baseline_sod: float, nadir_sod: float, current: Sequence[Lesion]) -> Response:
    """Response of the target lesions at one follow-up (``current``: the same targets, measured)."""
    if baseline_sod <= 0:
        raise ValidationError("the baseline sum of diameters must be positive", field="baseline")
    if nadir_sod < 0:
        raise ValidationError("the nadir cannot be negative", field="nadir")
    sod = _tenths(sum_of_diameters(current))
    nodes_ok = all(x.diameter_mm < NODE_PATHOLOGICAL_SA_MM for x in current if x.nodal)
    others_gone = all(x.diameter_mm == 0 for x in current if not x.nodal)
    if current and nodes_ok and others_gone:
        return Response.CR
    nadir = _tenths(nadir_sod)
    # +20 % of the nadir and +5 mm: 10 * sod >= 12 * nadir in integer tenths, no rounding.
    if 10 * sod >= 12 * nadir and sod - nadir >= _tenths(PD_ABSOLUTE_MM):
        return Response.PD
    if 10 * sod <= 7 * _tenths(baseline_sod):
        return Response.PR
    return Response.SD


def non_target_response(current: Sequence[Lesion]) -> Response:
    if not current:
        return Response.NE
    if any(x.unequivocal_progression for x in current):
        return Response.PD
    gone = all(x.diameter_mm == 0 or (x.nodal and x.diameter_mm < NODE_PATHOLOGICAL_SA_MM) for x in current)
    return Response.CR if gone else Response.NON_CR_NON_PD


def overall_response(target: Response | None, non_target: Response | None, new_lesions: bool) -> Response:
    """Eisenhauer 2009 Table 1 (targets present) and Table 2 (non-target disease only)."""
    if new_lesions or target is Response.PD or non_target is Response.PD:
        return Response.PD
    if target is None:  # Table 2
        return non_target or Response.NE
    if target is Response.CR:
        if non_target in (None, Response.CR):
            return Response.CR
        return Response.PR
    if target is Response.PR:
        return Response.PR
    if target is Response.SD:
        return Response.SD
    return Response.NE


@dataclass(frozen=True)
class TimePoint:
    sod: float
    target: Response | None
    non_target: Response | None
    new_lesions: bool
    overall: Response
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    nadir_sod: float


def assess(
    baseline_sod: float,
    previous_sods: Sequence[float],
    targets_now: Sequence[Lesion],
    non_targets_now: Sequence[Lesion] = (),
    new_lesions: bool = False,
) -> TimePoint:
    """One follow-up. ``previous_sods`` are the sums at earlier follow-ups (the nadir is the
    smallest of the baseline and those)."""
    nadir = min([baseline_sod, *previous_sods])
    t = target_response(baseline_sod, nadir, targets_now) if baseline_sod > 0 else None
    nt = non_target_response(non_targets_now) if non_targets_now else None
    sod = sum_of_diameters(targets_now)
    return TimePoint(
        sod=sod,
        target=t,
        non_target=nt,
        new_lesions=new_lesions,
        overall=overall_response(t, nt, new_lesions),
        change_from_baseline_pct=_pct(sod, baseline_sod),
        change_from_nadir_pct=_pct(sod, nadir),
        nadir_sod=nadir,
    )


def _pct(now: float, ref: float) -> float | None:
    return None if ref <= 0 else round(100.0 * (now - ref) / ref, 2)


def volumetric_response(baseline_ml: float, nadir_ml: float, current_ml: float) -> Response:
    """Equivalent-sphere volumetric response (see module docstring); PD is judged on the nadir."""
    if baseline_ml <= 0 or nadir_ml < 0 or current_ml < 0:
        raise ValidationError("volumes must be positive", field="volume")
    if current_ml == 0:
        return Response.CR
    if nadir_ml > 0 and (current_ml - nadir_ml) / nadir_ml >= VOLUME_PD - 1e-9:
        return Response.PD
    if (baseline_ml - current_ml) / baseline_ml >= VOLUME_PR - 1e-9:
        return Response.PR
    return Response.SD


def doubling_time_days(v1_ml: float, v2_ml: float, days: float) -> float | None:
    """Volume doubling time (Schwartz M., Cancer 1961;14:1272-94): dt * ln 2 / ln(V2 / V1).
    None when the volume did not change; negative when it shrank (halving time)."""
    if v1_ml <= 0 or v2_ml <= 0 or days <= 0:
        raise ValidationError("volumes and the interval must be positive", field="volume")
    if v1_ml == v2_ml:
        return None
    return days * math.log(2) / math.log(v2_ml / v1_ml)
