"""Gas exchange of the virtual patient: PaCO2 under opioid depression, PaO2 from FiO2 and shunt.

* Ventilation and PaCO2 (``bouillon2003``): an indirect-response model with CO2 feedback::

      dPaCO2/dt   = kel * (PaCO2_0 - (1 - E) * (Pe / PaCO2_0)^F * PaCO2)
      dPe/dt      = ke0 * (PaCO2 - Pe)                       (CO2 "effect site")
      VE          = VE_0 * (1 - E) * (Pe / PaCO2_0)^F

  ``E`` is the opioid's fractional ventilatory depression (0-1, :mod:`.drugs`). Assisted
  ventilation (bag-valve-mask) replaces the patient's drive: ``(1 - E)`` -> 1 and no feedback
  loss. At steady state ``PaCO2 = PaCO2_0 (1 - E)^(-1/(F+1))``.
* Oxygenation (``west``): alveolar gas equation ``PAO2 = FiO2 (Pb - PH2O) - PaCO2 / R``
  (Pb 760, PH2O 47 mmHg, R 0.8), where the PaCO2 is the steady-state value of the *current*
  alveolar ventilation (``PaCO2_0 x VA_0 / VA``): the body's CO2 stores are large and PaCO2 moves
  slowly (the model above), its O2 stores are small, so PAO2 follows ventilation within minutes
  (first order, 1-min time constant: a modelling choice in line with the 1-2 min to desaturation
  of apnoea on air, Benumof JL. Anesthesiology 1997;87:979-982). End-capillary blood at PAO2;
  venous admixture by the shunt
  fraction ``s`` with mixed-venous content from the Fick principle, so
  ``CaO2 = Cc'O2 - s / (1 - s) * VO2 / Q``; PaO2 is the inverse of the content equation
  ``CO2 = 1.34 Hb S(P) / 100 + 0.003 P`` (mL/dL) with S from Severinghaus' equation.
  Normal venous admixture 3 % (``west``: 2-5 %); VO2 250 mL/min (resting adult).
"""

from __future__ import annotations

import math

PB, PH2O, RQ = 760.0, 47.0, 0.8
PACO2_0, VE_0 = 42.4, 7.06  # bouillon2003
F_GAIN, KE0_CO2, KEL_CO2 = 4.30, 0.92, 0.08  # bouillon2003, per min
SHUNT_NORMAL = 0.03  # west: 2-5 % anatomical shunt and V/Q scatter
VO2_ML_MIN = 250.0


def severinghaus(po2: float) -> float:
    """Haemoglobin O2 saturation (%) at PO2 (mmHg), Severinghaus 1979."""
    p = max(po2, 1.0)
    return 100.0 / (23400.0 / (p**3 + 150.0 * p) + 1.0)


def o2_content(po2: float, hb: float) -> float:
    """Blood O2 content, mL O2 per dL, at PO2 (mmHg) and haemoglobin ``hb`` (g/dL)."""
    return 1.34 * hb * severinghaus(po2) / 100.0 + 0.003 * po2


def po2_from_content(content: float, hb: float) -> float:
    """Inverse of :func:`o2_content` by bisection (content is increasing in PO2)."""
    lo, hi = 1.0, 700.0
    if content <= o2_content(lo, hb):
        return lo
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        if o2_content(mid, hb) < content:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def alveolar_po2(fio2: float, paco2: float) -> float:
    return max(fio2 * (PB - PH2O) - paco2 / RQ, 1.0)


O2_TAU_MIN = 1.0


def alveolar_target(fio2: float, ventilation_ratio: float) -> float:
    """Steady-state PAO2 at alveolar ventilation ``ventilation_ratio`` x normal."""
    return max(fio2 * (PB - PH2O) - PACO2_0 / max(ventilation_ratio, 0.02) / RQ, 5.0)


def alveolar_step(pao2_alv: float, target: float, dt_min: float) -> float:
    return target + (pao2_alv - target) * math.exp(-dt_min / O2_TAU_MIN)


def arterial_po2(pa: float, shunt: float, hb: float, cardiac_output_l_min: float) -> float:
    """PaO2 (mmHg) from alveolar PO2 ``pa``, venous admixture ``shunt`` (0-0.9), Hb, cardiac output."""
    s = min(max(shunt, 0.0), 0.9)
    cc = o2_content(pa, hb)
    q_dl = max(cardiac_output_l_min, 0.5) * 10.0
    ca = cc - s / (1.0 - s) * VO2_ML_MIN / q_dl
    return po2_from_content(ca, hb)


def co2_step(
    paco2: float, pe: float, depression: float, assisted: bool, dt_min: float
) -> tuple[float, float]:
    """Advance (PaCO2, CO2 effect-site) by ``dt_min`` (explicit Euler on small sub-steps)."""
    n = max(1, math.ceil(dt_min / 0.1))
    h = dt_min / n
    drive = 1.0 if assisted else max(0.0, 1.0 - depression)
    for _ in range(n):
        gain = 1.0 if assisted else (max(pe, 1.0) / PACO2_0) ** F_GAIN
        d_p = KEL_CO2 * (PACO2_0 - drive * gain * paco2)
        d_e = KE0_CO2 * (paco2 - pe)
        paco2 += h * d_p
        pe += h * d_e
    return paco2, pe


def minute_ventilation(pe: float, depression: float, assisted: bool) -> float:
    """Minute ventilation (L/min) of the patient's own drive (assisted: the delivered VE_0)."""
    if assisted:
        return VE_0
    return float(VE_0 * max(0.0, 1.0 - depression) * (max(pe, 1.0) / PACO2_0) ** F_GAIN)
