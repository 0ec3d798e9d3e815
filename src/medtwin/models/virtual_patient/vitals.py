"""What can be observed of a virtual patient: vital signs, consciousness, blood gas, NEWS2.

Composition (every term is in :mod:`.conditions`, :mod:`.circulation`, :mod:`.drugs`,
:mod:`.respiration`, :mod:`.glycaemia` with its source):

* heart rate, respiratory rate and blood pressure = the patient's baseline + the ATLS response to
  the circulating-volume deficit + the condition's effects + norepinephrine's MAP rise (added to
  systolic and diastolic alike) + adrenergic responses (hypoglycaemia; hypoxaemia: up to +30 /min
  as in the bedside-monitor respiratory-failure scenario, from SpO2 94 % down to 64 %: modelling);
* sepsis: half of its blood-pressure fall and of its tachycardia is volume-responsive
  (``michard2002``) and is filled by retained volume up to the Surviving Sepsis initial 30 mL/kg
  (``ssc2021``; that this amount exactly fills it is a modelling choice); the other half is
  vasoplegia, which norepinephrine offsets;
* respiratory rate under opioids falls with the square root of the remaining drive ``(1 - E)``,
  tidal volume carrying the rest and the CO2 feedback (opioids slow the rate more than they
  reduce depth; the split is a modelling choice); assisted ventilation delivers 10 breaths/min
  (one every 6 s, ``aha2020_opioid``);
* PaCO2 = the opioid model's PaCO2 x baseline rate / current rate (the alveolar ventilation
  equation at constant tidal volume, ``west``); PaO2 and SpO2 from :mod:`.respiration`;
* lactate rises 0.12 mmol/L per mmHg of MAP below 70 and 1.5 mmol/L per unit of sepsis burden
  (modelling choices sized to give the > 2 and > 4 mmol/L ranges ``ssc2021`` uses); bicarbonate
  falls 1:1 with lactate above 1 mmol/L and pH follows Henderson-Hasselbalch (pK 6.1, CO2
  solubility 0.0307 mmol/L/mmHg);
* measurement noise on displayed values is Gaussian with fixed SDs (HR 1.5, BP 2/1.5, RR 0.7,
  SpO2 0.6, temperature 0.05), drawn from a generator keyed by (seed, quarter-minute), so the same
  session shows the same numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from medtwin.models.scores.news2 import score_news2
from medtwin.models.virtual_patient import drugs as D
from medtwin.models.virtual_patient.circulation import acvpu_from_deficit, atls_response
from medtwin.models.virtual_patient.conditions import (
    AHF_EFFECT,
    AHF_SHUNT,
    PNEUMONIA_EFFECT,
    PNEUMONIA_SHUNT,
    SEPSIS_EFFECT,
)
from medtwin.models.virtual_patient.respiration import (
    SHUNT_NORMAL,
    VE_0,
    arterial_po2,
    minute_ventilation,
    severinghaus,
)

if TYPE_CHECKING:
    from medtwin.models.virtual_patient.engine import VirtualPatient

ACVPU = "ACVPU"
NOISE_SD = {"hr": 1.5, "sbp": 2.0, "dbp": 1.5, "rr": 0.7, "spo2": 0.6, "temp": 0.05}


def sepsis_fill(vp: VirtualPatient) -> float:
    """Fraction of sepsis' volume-responsive deficit filled by the volume given and retained."""
    if vp.sepsis <= 0:
        return 1.0
    c = vp.circ
    retained = c.bv - c.bv0 + c.bled
    need = vp.sepsis * 30.0 * vp.spec.weight_kg * c.retained
    return float(min(max(retained / need, 0.0), 1.0))


def shunt_of(vp: VirtualPatient) -> float:
    shunt = SHUNT_NORMAL + PNEUMONIA_SHUNT * vp.pneumonia + AHF_SHUNT * min(vp.lung_water, 1.2)
    if vp.peep > 0:
        shunt = SHUNT_NORMAL + (shunt - SHUNT_NORMAL) * 0.6  # recruitment (modelling)
    return shunt


def acvpu_level(vp: VirtualPatient, mean_ap: float | None = None) -> int:
    """0-4 = A C V P U: the deepest level any cause gives (thresholds in the sub-modules)."""
    level = acvpu_from_deficit(max(vp.circ.deficit, 0.0))
    if vp.sepsis >= 0.6:  # sized like the monitor scenarios' sepsis confusion (modelling)
        level = max(level, 1 + int(vp.sepsis >= 0.9))
    if vp.glyc is not None:
        level = max(level, vp.glyc.acvpu())
    dep = vp.opioid_depression()
    if dep >= 0.6:  # sedation with ventilatory depression (modelling choice)
        level = max(level, 2 + int(dep >= 0.8) + int(dep >= 0.95))
    return level


def breathing(vp: VirtualPatient) -> dict[str, float]:
    """Respiratory rate, PaCO2 and the alveolar-ventilation ratio (1 = normal) now."""
    b, c = vp.spec.baseline, vp.circ
    rr = b["rr"] + atls_response(max(c.deficit, 0.0), b["hr"], b["rr"])["rr"]
    rr += SEPSIS_EFFECT["rr"] * vp.sepsis + PNEUMONIA_EFFECT["rr"] * vp.pneumonia
    rr += AHF_EFFECT["rr"] * min(vp.lung_water, 1.0)
    if vp.peep > 0:  # unloading of the work of breathing (gray2008 direction; magnitude modelling)
        rr -= 6.0 * min((vp.pneumonia + vp.lung_water) / 0.5, 1.0)
    rr_drive = max(rr, 4.0)
    dep = vp.opioid_depression()
    ve_ratio = minute_ventilation(vp.pe, dep, vp.ventilating) / VE_0
    if vp.ventilating:
        rr = 10.0
    elif dep > 0.001:
        rr = rr_drive * math.sqrt(max(1.0 - dep, 0.0))
    tachy = 1.0 if vp.ventilating else rr_drive / b["rr"]
    return {"rr": rr, "dep": dep, "paco2": vp.paco2 / tachy, "q": ve_ratio * tachy}


def observe(vp: VirtualPatient) -> dict[str, Any]:
    """True (noise-free) values at the current minute, rounded to chart resolution, plus ``shown``
    (with measurement noise) and NEWS2."""
    b, c = vp.spec.baseline, vp.circ
    resp = atls_response(max(c.deficit, 0.0), b["hr"], b["rr"])
    hr, sbp, dbp = b["hr"] + resp["hr"], b["sbp"] + resp["sbp"], b["dbp"] + resp["dbp"]
    temp = b["temp"] - 1.2 * max(c.deficit, 0.0)
    if vp.sepsis:
        i, fill = vp.sepsis, sepsis_fill(vp)
        part = 0.5 * (1.0 - fill) + 0.5
        hr += SEPSIS_EFFECT["hr"] * i * part
        sbp += SEPSIS_EFFECT["sbp"] * i * part
        dbp += SEPSIS_EFFECT["dbp"] * i * part
        temp += SEPSIS_EFFECT["temp"] * i
    temp += PNEUMONIA_EFFECT["temp"] * vp.pneumonia
    w = vp.lung_water
    if w:
        hr += AHF_EFFECT["hr"] * min(w, 1.0)
        sbp += AHF_EFFECT["sbp"] * min(w, 1.0)
        dbp += AHF_EFFECT["dbp"] * min(w, 1.0)
    g = min(vp.gtn_rate / 100.0, 1.0)  # nitrate: dose-dependent fall (modelling)
    sbp, dbp = sbp - 25.0 * g, dbp - 12.0 * g
    ne = D.norepinephrine_map_rise(vp.ne.cp)
    sbp, dbp = sbp + ne, dbp + ne
    br = breathing(vp)
    rr, dep, paco2 = br["rr"], br["dep"], br["paco2"]
    pao2 = arterial_po2(
        vp.pao2_alv, shunt_of(vp), max(c.hb, 3.0), 5.0 * max(1.0 - 1.2 * max(c.deficit, 0.0), 0.3)
    )
    spo2 = min(severinghaus(pao2), 100.0)
    hr += 30.0 * min(max((94.0 - spo2) / 30.0, 0.0), 1.0)
    if vp.glyc is not None:
        hr += vp.glyc.hr_rise()
    dbp = min(dbp, sbp - 12.0)
    mean_ap = dbp + (sbp - dbp) / 3.0
    lactate = min(1.0 + 0.12 * max(70.0 - mean_ap, 0.0) + 1.5 * vp.sepsis, 15.0)
    hco3 = max(24.0 - (lactate - 1.0), 5.0)
    ph = 6.1 + math.log10(hco3 / (0.0307 * paco2))
    level = acvpu_level(vp)
    glucose = vp.glyc.plasma if vp.glyc is not None else b["glucose"]
    true: dict[str, Any] = {
        "hr": round(max(hr, 20.0)), "rr": round(max(rr, 0.0)), "sbp": round(sbp), "dbp": round(dbp),
        "map": round(mean_ap), "spo2": round(spo2), "temp": round(float(temp), 1), "acvpu": ACVPU[level],
        "glucose": round(glucose), "pao2": round(pao2), "paco2": round(paco2), "ph": round(ph, 2),
        "lactate": round(lactate, 1), "hb": round(float(c.hb), 1), "fio2": round(vp.fio2, 2),
    }  # fmt: skip
    rng = np.random.default_rng([int(vp.spec.seed) & 0xFFFFFFFF, round(vp.t * 4)])
    shown = {k: true[k] + float(rng.normal(0.0, sd)) for k, sd in NOISE_SD.items()}
    shown_r = {k: (round(v, 1) if k == "temp" else round(v)) for k, v in shown.items()}
    shown_r["spo2"] = min(shown_r["spo2"], 100)
    shown_r["rr"] = max(shown_r["rr"], 0)
    n = score_news2(
        rr=true["rr"], spo2=true["spo2"], on_oxygen=vp.fio2 > 0.21, sbp=true["sbp"], hr=true["hr"],
        consciousness=true["acvpu"], temp=true["temp"],
    )  # fmt: skip
    physio = score_news2(
        rr=true["rr"],
        spo2=true["spo2"],
        sbp=true["sbp"],
        hr=true["hr"],
        consciousness=true["acvpu"],
        temp=true["temp"],
    ).score  # without the "air or oxygen" point: compares courses by physiology, not by therapy given
    return {
        "t": round(vp.t, 2), **true, "news2": n.score, "news2_physiology": physio, "news2_band": n.band.value if hasattr(n.band, "value") else str(n.band),
        "shown": {**shown_r, "map": round(shown_r["dbp"] + (shown_r["sbp"] - shown_r["dbp"]) / 3)},
        "state": {
            "blood_deficit": round(c.deficit, 3), "bled_ml": round(c.bled), "crystalloid_ml": round(c.crystalloid_ml),
            "red_cells_ml": round(c.blood_ml), "sepsis": round(vp.sepsis, 3), "pneumonia": round(vp.pneumonia, 3),
            "lung_water": round(w, 3), "opioid_depression": round(dep, 3), "urine_ml": round(vp.urine_ml),
            "norepinephrine_ng_ml": round(vp.ne.cp, 2), "fentanyl_ce_ng_ml": round(vp.fentanyl.ce, 2),
            "naloxone_ce_ng_ml": round(vp.naloxone.ce * 1000.0, 2),
            "ventilation_ratio": round(br["q"], 2),
        },
    }  # fmt: skip
