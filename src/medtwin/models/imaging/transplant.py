"""Transplant follow-up: Doppler resistive index with published normal ranges, graft volume and
size ratios.

* Resistive index (Pourcelot): RI = (PSV - EDV) / PSV.
* Liver graft, hepatic artery: RI 0.55-0.80 is the usual range in native and transplanted livers
  (Radiopaedia, "Hepatic arterial resistive index", radiopaedia.org/articles/hepatic-arterial-resistive-index);
  RI < 0.50 (with a systolic acceleration time > 0.08 s) indicates hepatic artery stenosis or
  thrombosis upstream (Dodd GD 3rd, Memel DS, Zajko AB, et al. Radiology 1994;192:657-661). A high
  RI is non-specific and is common in the first 72 h after transplantation.
* Kidney graft, intrarenal (segmental/interlobar) arteries: RI >= 0.80 is abnormal and was
  associated with worse graft and patient outcome (Radermacher J, Mengel M, Ellis S, et al.
  N Engl J Med 2003;349:115-124); it is non-specific (rejection, acute tubular necrosis,
  obstruction, compression).
* Body surface area, Mosteller RD. N Engl J Med 1987;317:1098: sqrt(height cm x weight kg / 3600).
* Standard liver volume: Urata K, et al. Hepatology 1995;21:1317-1321: 706.2 x BSA + 2.4 mL;
  Vauthey JN, et al. Liver Transpl 2002;8:233-240: 1267.28 x BSA - 794.41 mL.
* Graft-to-recipient weight ratio (GRWR) < 0.8 % marks a small-for-size graft (Kiuchi T, et al.
  Transplantation 1999;67:321-327). CT volume is converted to weight with the usual 1 g/mL
  convention unless another density is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from medtwin.core.errors import ValidationError


@dataclass(frozen=True)
class RiRange:
    organ: str
    vessel: str
    low: float | None  # below: abnormal
    high: float | None  # above (or at, for kidney): abnormal
    source: str


RI_RANGES: dict[str, RiRange] = {
    "liver": RiRange(
        "liver",
        "hepatic artery",
        0.55,
        0.80,
        "usual range: Radiopaedia 'Hepatic arterial resistive index'; < 0.50: Dodd GD 3rd et al., Radiology 1994;192:657-661",
    ),
    "kidney": RiRange(
        "kidney", "intrarenal artery", None, 0.80, "Radermacher J et al., N Engl J Med 2003;349:115-124"
    ),
}
LIVER_RI_STENOSIS = 0.50  # Dodd 1994
GRWR_SMALL_FOR_SIZE_PCT = 0.8  # Kiuchi 1999


def resistive_index(psv: float, edv: float) -> float:
    if not psv > 0:
        raise ValidationError("peak systolic velocity must be positive", field="psv")
    if edv > psv:
        raise ValidationError("end-diastolic velocity cannot exceed the peak systolic", field="edv")
    return (psv - edv) / psv


def interpret_ri(organ: str, ri: float, hours_since_transplant: float | None = None) -> tuple[str, str]:
    """(status, note): status is 'normal', 'low' or 'high'."""
    rng = RI_RANGES.get(organ)
    if rng is None:
        raise ValidationError(f"no published RI range for {organ!r} (known: liver, kidney)", field="organ")
    if organ == "liver" and ri < LIVER_RI_STENOSIS:
        return "low", (
            f"hepatic artery RI {ri:.2f} < 0.50: suggests stenosis or thrombosis upstream "
            f"(check for a tardus-parvus waveform) [{rng.source}]"
        )
    if organ == "kidney" and rng.high is not None and ri >= rng.high:
        return "high", f"renal graft RI {ri:.2f} >= 0.80: abnormal, non-specific [{rng.source}]"
    if rng.low is not None and ri < rng.low:
        return "low", f"RI {ri:.2f} below the usual {rng.low:.2f}-{rng.high:.2f} [{rng.source}]"
    if organ == "liver" and rng.high is not None and ri > rng.high:
        early = hours_since_transplant is not None and hours_since_transplant <= 72
        return "high", (
            f"hepatic artery RI {ri:.2f} above the usual 0.55-0.80; non-specific"
            + (", common in the first 72 h after transplantation" if early else "")
            + f" [{rng.source}]"
        )
    return "normal", f"RI {ri:.2f} within the published range [{rng.source}]"


def bsa_mosteller(height_cm: float, weight_kg: float) -> float:
    if height_cm <= 0 or weight_kg <= 0:
        raise ValidationError("height and weight must be positive", field="height")
    return math.sqrt(height_cm * weight_kg / 3600.0)


def slv_urata(bsa: float) -> float:
    return 706.2 * bsa + 2.4


def slv_vauthey(bsa: float) -> float:
    return 1267.28 * bsa - 794.41


def grwr_pct(graft_ml: float, recipient_kg: float, density_g_per_ml: float = 1.0) -> float:
    if graft_ml <= 0 or recipient_kg <= 0:
        raise ValidationError("graft volume and recipient weight must be positive", field="graft_ml")
    return graft_ml * density_g_per_ml / (recipient_kg * 1000.0) * 100.0


def volume_change_pct(previous_ml: float, current_ml: float) -> float:
    if previous_ml <= 0:
        raise ValidationError("previous volume must be positive", field="previous_ml")
    return (current_ml - previous_ml) / previous_ml * 100.0
