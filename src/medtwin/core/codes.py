"""The code table: what medtwin measures, under which code, in which canonical UCUM unit.

Codes come from LOINC where LOINC has one (FHIR R4 vital-signs profile, HL7 CGM IG), from
SNOMED CT where the UK NEWS2 charts use it (ACVPU, NEWS2 total), and otherwise from medtwin's
own code system ``urn:medtwin:code`` (documented in docs/codes.md). Every observation is stored
under its *canonical* (system, code): aliases such as 59408-5 (SpO2 by pulse oximetry) map onto
the canonical 2708-6 so that scores and charts see one series.

``bounds`` are technical acceptance limits, not clinical thresholds: a value outside them is not
a physiological reading (a sentinel, a unit mix-up, a broken sensor) and is rejected at ingest
with a reason. They are deliberately wide and can be overridden in settings.

HL7 v2 monitors send IEEE 11073-10101 MDC codes in OBX-3; :data:`MDC_TO_CODE` maps the ones the
foundation issue names (IHE PCD-01 Technical Framework, Rosetta terminology mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
MEDTWIN = "urn:medtwin:code"
MDC = "urn:iso:std:iso:11073:10101"

SYSTEM_ALIASES = {
    "loinc": LOINC,
    "http://loinc.org": LOINC,
    "ln": LOINC,
    "snomed": SNOMED,
    "sct": SNOMED,
    "http://snomed.info/sct": SNOMED,
    "medtwin": MEDTWIN,
    "urn:medtwin:code": MEDTWIN,
    "mdc": MDC,
    "urn:iso:std:iso:11073:10101": MDC,
}


class ValueKind(StrEnum):
    QUANTITY = "quantity"  # a number with a UCUM unit
    CODED = "coded"  # one of a fixed set of answer codes (ACVPU, sleep state)
    TEXT = "text"  # free text (notes): personal data, encrypted at rest


@dataclass(frozen=True, slots=True)
class CodeInfo:
    key: str  # short name used by the CLI, CSV and simulators ("hr", "spo2"...)
    system: str
    code: str
    display: str
    kind: ValueKind = ValueKind.QUANTITY
    unit: str = ""  # canonical UCUM unit for quantities
    bounds: tuple[float, float] | None = None
    answers: tuple[str, ...] = ()
    category: str = "vital-signs"
    aliases: tuple[tuple[str, str], ...] = field(default=())

    @property
    def ref(self) -> str:
        """The compact form used in the store: ``code`` for LOINC, ``system|code`` otherwise."""
        return self.code if self.system == LOINC else f"{short_system(self.system)}|{self.code}"


def short_system(system: str) -> str:
    return {LOINC: "loinc", SNOMED: "snomed", MEDTWIN: "medtwin", MDC: "mdc"}.get(system, system)


Q = ValueKind.QUANTITY
_TABLE: tuple[CodeInfo, ...] = (
    CodeInfo("hr", LOINC, "8867-4", "Heart rate", Q, "/min", (0, 350)),
    CodeInfo("rr", LOINC, "9279-1", "Respiratory rate", Q, "/min", (0, 150)),
    CodeInfo(
        "spo2",
        LOINC,
        "2708-6",
        "Oxygen saturation in Arterial blood",
        Q,
        "%",
        (0, 100),
        aliases=((LOINC, "59408-5"),),
    ),
    CodeInfo("sbp", LOINC, "8480-6", "Systolic blood pressure", Q, "mm[Hg]", (0, 350)),
    CodeInfo("dbp", LOINC, "8462-4", "Diastolic blood pressure", Q, "mm[Hg]", (0, 300)),
    CodeInfo("map", LOINC, "8478-0", "Mean blood pressure", Q, "mm[Hg]", (0, 300)),
    CodeInfo("temp", LOINC, "8310-5", "Body temperature", Q, "Cel", (10, 50)),
    CodeInfo(
        "glucose",
        LOINC,
        "2339-0",
        "Glucose [Mass/volume] in Blood",
        Q,
        "mg/dL",
        (0, 3000),
        category="laboratory",
        aliases=((LOINC, "15074-8"), (LOINC, "2345-7"), (LOINC, "41653-7"), (LOINC, "14743-9")),
    ),
    CodeInfo(
        "cgm",
        LOINC,
        "99504-3",
        "Glucose [Mass/volume] in Interstitial fluid (CGM)",
        Q,
        "mg/dL",
        (0, 3000),
        category="laboratory",
        aliases=((LOINC, "105272-9"),),
    ),
    CodeInfo("weight", LOINC, "29463-7", "Body weight", Q, "kg", (0, 700)),
    CodeInfo("height", LOINC, "8302-2", "Body height", Q, "cm", (20, 300)),
    CodeInfo("urine", LOINC, "9187-6", "Urine output", Q, "mL", (0, 10_000), category="exam"),
    CodeInfo("fluid_in", MEDTWIN, "fluid-intake", "Fluid intake", Q, "mL", (0, 20_000), category="exam"),
    CodeInfo(
        "acvpu",
        SNOMED,
        "1104441000000107",
        "ACVPU scale",
        ValueKind.CODED,
        answers=("A", "C", "V", "P", "U"),
        category="exam",
    ),
    CodeInfo("gcs", LOINC, "9269-2", "Glasgow coma score total", Q, "{score}", (3, 15), category="exam"),
    CodeInfo("o2_flow", LOINC, "3151-8", "Inhaled oxygen flow rate", Q, "L/min", (0, 80)),
    CodeInfo("fio2", LOINC, "3150-0", "Inhaled oxygen concentration", Q, "%", (21, 100)),
    CodeInfo(
        "o2_device",
        MEDTWIN,
        "o2-supplement",
        "Supplemental oxygen (air or oxygen)",
        ValueKind.CODED,
        answers=("air", "oxygen"),
    ),
    CodeInfo(
        "sleep",
        MEDTWIN,
        "sleep-state",
        "Sleep state",
        ValueKind.CODED,
        answers=("asleep", "awake"),
        category="activity",
    ),
    CodeInfo("sleep_h", LOINC, "93832-4", "Sleep duration", Q, "h", (0, 24), category="activity"),
    CodeInfo(
        "meal",
        MEDTWIN,
        "meal-intake",
        "Meal intake (fraction of portion eaten)",
        Q,
        "%",
        (0, 100),
        category="activity",
    ),
    CodeInfo(
        "activity",
        MEDTWIN,
        "activity-index",
        "Movement activity index",
        Q,
        "{index}",
        (0, 100),
        category="activity",
    ),
    CodeInfo("steps", LOINC, "55423-8", "Number of steps", Q, "{steps}", (0, 200_000), category="activity"),
    CodeInfo("room_temp", LOINC, "60832-3", "Room temperature", Q, "Cel", (-30, 70), category="environment"),
    CodeInfo(
        "room_humidity",
        MEDTWIN,
        "room-humidity",
        "Room relative humidity",
        Q,
        "%",
        (0, 100),
        category="environment",
    ),
    CodeInfo(
        "battery", MEDTWIN, "device-battery", "Device battery level", Q, "%", (0, 100), category="device"
    ),
    CodeInfo("note", MEDTWIN, "note", "Nursing note", ValueKind.TEXT, category="exam"),
    CodeInfo(
        "news2", SNOMED, "1104051000000101", "NEWS2 total score", Q, "{score}", (0, 20), category="survey"
    ),
    CodeInfo("qsofa", MEDTWIN, "qsofa", "qSOFA score", Q, "{score}", (0, 3), category="survey"),
    CodeInfo(
        "mews", MEDTWIN, "mews", "Modified Early Warning Score", Q, "{score}", (0, 14), category="survey"
    ),
    # Drug levels and renal function (medtwin.services.treatment, issue 7). 4092-3, 4090-7, 3663-2 and
    # 3665-7 were checked against laboratory catalogues; 20578-1, 35668-8, 14334-7 and 2160-0 were not
    # re-verified here. Timing (trough/peak) is kept as the lab coded it; models use the sample time.
    *(
        CodeInfo(
            key, LOINC, code, f"{name} in Serum or Plasma{timing}", Q, unit, bounds, category="laboratory"
        )
        for key, code, name, timing, unit, bounds in (
            ("vancomycin", "20578-1", "Vancomycin [Mass/volume]", "", "mg/L", (0, 500)),
            ("vancomycin_trough", "4092-3", "Vancomycin [Mass/volume]", " --trough", "mg/L", (0, 500)),
            ("vancomycin_peak", "4090-7", "Vancomycin [Mass/volume]", " --peak", "mg/L", (0, 500)),
            ("gentamicin", "35668-8", "Gentamicin [Mass/volume]", "", "mg/L", (0, 200)),
            ("gentamicin_peak", "3663-2", "Gentamicin [Mass/volume]", " --peak", "mg/L", (0, 200)),
            ("gentamicin_trough", "3665-7", "Gentamicin [Mass/volume]", " --trough", "mg/L", (0, 200)),
            ("lithium", "14334-7", "Lithium [Moles/volume]", "", "mmol/L", (0, 20)),
            ("creatinine", "2160-0", "Creatinine [Mass/volume]", "", "mg/dL", (0.05, 30)),
        )
    ),
    CodeInfo("carbs", MEDTWIN, "carb-intake", "Carbohydrate intake", Q, "g", (0, 1000), category="activity"),
    # Home care (issue 8): smart-toilet urine glucose (LOINC 5792-7, the urinalysis dipstick panel's
    # quantitative glucose), wearable skin temperature (61008-9 Body surface temperature; not core
    # temperature, so no fever rule reads it) and a bed-occupancy sensor (no LOINC code found).
    CodeInfo(
        "urine_glucose",
        LOINC,
        "5792-7",
        "Glucose [Mass/volume] in Urine by Test strip",
        Q,
        "mg/dL",
        (0, 5000),
        category="laboratory",
    ),
    CodeInfo("skin_temp", LOINC, "61008-9", "Body surface temperature", Q, "Cel", (0, 50)),
    CodeInfo(
        "in_bed",
        MEDTWIN,
        "bed-occupancy",
        "Bed occupancy",
        ValueKind.CODED,
        answers=("in", "out"),
        category="activity",
    ),
    # Imaging-derived (medtwin.services.imaging). LOINC 33728-7 is the tumour size code mCODE uses;
    # RECIST sums/categories, organ/graft volumes and the Doppler RI have no LOINC code we could verify.
    CodeInfo(
        "lesion_ld",
        LOINC,
        "33728-7",
        "Size.maximum dimension in Tumor",
        Q,
        "mm",
        (0, 1000),
        category="imaging",
    ),
    CodeInfo(
        "recist_sod",
        MEDTWIN,
        "recist-sod",
        "RECIST 1.1 sum of target lesion diameters",
        Q,
        "mm",
        (0, 5000),
        category="imaging",
    ),
    CodeInfo(
        "recist_response",
        MEDTWIN,
        "recist-response",
        "RECIST 1.1 overall response",
        ValueKind.CODED,
        answers=("CR", "PR", "SD", "PD", "non-CR/non-PD", "NE"),
        category="imaging",
    ),
    CodeInfo(
        "tumour_volume",
        MEDTWIN,
        "tumour-volume",
        "Total tumour volume (segmented)",
        Q,
        "mL",
        (0, 20_000),
        category="imaging",
    ),
    CodeInfo(
        "organ_volume",
        MEDTWIN,
        "organ-volume",
        "Organ volume (segmented)",
        Q,
        "mL",
        (0, 50_000),
        category="imaging",
    ),
    CodeInfo(
        "graft_volume",
        MEDTWIN,
        "graft-volume",
        "Transplanted organ volume (segmented)",
        Q,
        "mL",
        (0, 50_000),
        category="imaging",
    ),
    CodeInfo(
        "doppler_ri", MEDTWIN, "doppler-ri", "Doppler resistive index", Q, "1", (0, 2), category="imaging"
    ),
    CodeInfo(
        "flr_pct",
        MEDTWIN,
        "future-liver-remnant",
        "Planned future liver remnant",
        Q,
        "%",
        (0, 100),
        category="imaging",
    ),
)

BY_KEY: dict[str, CodeInfo] = {c.key: c for c in _TABLE}
_BY_SYSTEM_CODE: dict[tuple[str, str], CodeInfo] = {}
for _c in _TABLE:
    _BY_SYSTEM_CODE[(_c.system, _c.code)] = _c
    for _alias in _c.aliases:
        _BY_SYSTEM_CODE[_alias] = _c
BY_REF: dict[str, CodeInfo] = {c.ref: c for c in _TABLE}

# IEEE 11073-10101 (MDC) numeric codes sent by bedside monitors in OBX-3.
MDC_TO_CODE: dict[str, CodeInfo] = {
    "147842": BY_KEY["hr"],  # MDC_ECG_HEART_RATE
    "149530": BY_KEY["hr"],  # MDC_PULS_OXIM_PULS_RATE
    "150456": BY_KEY["spo2"],  # MDC_PULS_OXIM_SAT_O2
    "151562": BY_KEY["rr"],  # MDC_RESP_RATE
    "151578": BY_KEY["rr"],  # MDC_TTHOR_RESP_RATE (impedance)
    "151594": BY_KEY["rr"],  # MDC_CO2_RESP_RATE (capnography)
    "150344": BY_KEY["temp"],  # MDC_TEMP
    "150364": BY_KEY["temp"],  # MDC_TEMP_BODY
    "150301": BY_KEY["sbp"],  # MDC_PRESS_CUFF_SYS
    "150302": BY_KEY["dbp"],  # MDC_PRESS_CUFF_DIA
    "150303": BY_KEY["map"],  # MDC_PRESS_CUFF_MEAN
    "150033": BY_KEY["sbp"],  # MDC_PRESS_BLD_ART_SYS
    "150034": BY_KEY["dbp"],  # MDC_PRESS_BLD_ART_DIA
    "150035": BY_KEY["map"],  # MDC_PRESS_BLD_ART_MEAN
}
# The NIBP *group* code is 150300 (MDC_PRESS_CUFF); devices sending it name the metric in the last
# OBX-4 sub-id, which medtwin.ingest.hl7v2 resolves.


def normalise_system(system: str | None) -> str:
    if system is None or system == "":
        return LOINC
    return SYSTEM_ALIASES.get(system.lower(), system)


def lookup(code: str, system: str | None = None) -> CodeInfo | None:
    """Find a code by (system, code), by short key ("hr") or by stored ref ("snomed|...")."""
    if system is None or system == "":
        if code in BY_KEY:
            return BY_KEY[code]
        if code in BY_REF:
            return BY_REF[code]
    sys_ = normalise_system(system)
    if sys_ == MDC:
        return MDC_TO_CODE.get(code.split("^")[0])
    return _BY_SYSTEM_CODE.get((sys_, code))


def all_codes() -> tuple[CodeInfo, ...]:
    return _TABLE
