"""Simulated monitor output as HL7 v2 ORU^R01 (IHE PCD-01), via medtwin's own encoder.

This module writes no HL7: it maps simulator readings onto IEEE 11073-10101 (MDC) codes and
units and calls :func:`medtwin.ingest.hl7v2.build_oru`; frame the result with
:func:`medtwin.ingest.mllp.frame` to send it over MLLP. Sensor-off readings keep the sentinel
in OBX-5 (-999, as real gateways send) or leave it empty when the monitor is set to ``null``;
readings without an MDC code (ACVPU, activity, sleep, room sensors, battery) are left out, since
a bedside monitor's ORU does not carry them.

MDC codes (IEEE 11073-10101; IHE PCD Rosetta): HR 147842 MDC_ECG_HEART_RATE (/min 264864),
SpO2 150456 MDC_PULS_OXIM_SAT_O2 (% 262688), RR 151562 MDC_RESP_RATE (264928), temperature
150344 MDC_TEMP (degC 268192), NIBP 150301/150302/150303 MDC_PRESS_CUFF_SYS/DIA/MEAN and arterial
150033/150034/150035 MDC_PRESS_BLD_ART_SYS/DIA/MEAN (mmHg 266016).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medtwin.devices.base import DeviceBatch

_MDC: dict[tuple[str, str | None], tuple[str, str]] = {
    ("hr", None): ("147842", "264864"),
    ("spo2", None): ("150456", "262688"),
    ("rr", None): ("151562", "264928"),
    ("temp", None): ("150344", "268192"),
    ("sbp", "nibp"): ("150301", "266016"),
    ("dbp", "nibp"): ("150302", "266016"),
    ("map", "nibp"): ("150303", "266016"),
    ("sbp", "art"): ("150033", "266016"),
    ("dbp", "art"): ("150034", "266016"),
    ("map", "art"): ("150035", "266016"),
}


def mdc_readings(readings: list[dict[str, Any]]) -> list[tuple[str, float | int | str | None, str, datetime]]:
    """(MDC code, value, MDC unit, time) for each reading a monitor's ORU would carry."""
    out = []
    for r in readings:
        code = _MDC.get((r["code"], r.get("channel")))
        if code is not None:
            out.append((code[0], r["value"], code[1], datetime.fromisoformat(r["time"])))
    return out


def oru_for_batch(batch: DeviceBatch, control_id: str, *, sending_app: str = "MEDTWIN-SIM") -> str | None:
    """One ORU^R01 for a monitor's batch (None when nothing in it maps to MDC)."""
    from medtwin.ingest.hl7v2 import build_oru

    items = mdc_readings(batch.readings)
    if not items:
        return None
    return build_oru(batch.patient_id, items, control_id, sending_app, device_id=batch.device_id)
