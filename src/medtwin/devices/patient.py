"""Synthetic patients: a resting physiology per seed, varied by age and sex.

Everything is synthetic: a patient is a seed, an age, a sex and a set of baselines; the only
label is a pseudonym derived from the seed (``SIM-1a2b3c``). The directions and rough sizes of the
age and sex effects follow published population data; the exact spreads are modelling choices.

* Heart rate: adult resting pulse averages about 72/min, women a few beats higher than men
  (Ostchega et al., "Resting pulse rate reference data ... United States, 1999-2008",
  National Health Statistics Reports no. 41, 2011).
* Blood pressure: systolic pressure rises roughly linearly with age, diastolic rises until the
  fifties and then falls, so pulse pressure widens (Franklin et al., "Hemodynamic patterns of
  age-related changes in blood pressure: the Framingham Heart Study", Circulation 1997;96:308).
* Arterial oxygen tension falls with age: PaO2 ~ 109 - 0.43 x age mmHg (Sorbini et al.,
  Respiration 1968;25:3); SpO2 follows through the oxygen dissociation curve (see physiology).
* Temperature: mean about 36.6-36.8 degC with a diurnal swing of about 0.5 degC, nadir early
  morning, peak late afternoon (Mackowiak, Wasserman, Levine, JAMA 1992;268:1578); lower in older
  people and slightly higher in women (Obermeyer, Samra, Mullainathan, BMJ 2017;359:j5468).
* Blood pressure falls 10-20 % at night in "dippers" (ESH 2023 guidelines, J Hypertens 2023;41:1874);
  many inpatients dip less, so the dip is drawn per patient from 0 to ~12 %.
* Baselines are clipped so that a *stable* patient's true values (baseline + rhythm + worst-case
  drift) never reach a NEWS2 3-point or MAP < 65 threshold: stable means no true event.
* Slow drifts are band-limited noise realised as a sum of sinusoids with random phases and
  periods of 20 min to 6 h (spectral representation method, Shinozuka & Deodatis,
  Appl Mech Rev 1991;44:191), so the state at any instant is a pure function of time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from medtwin.devices.rng import mix64

DRIFT_PARAMS: tuple[str, ...] = ("hr", "rr", "sbp", "dbp", "pao2", "temp")
DRIFT_AMPLITUDE: dict[str, float] = {"hr": 3.0, "rr": 1.0, "sbp": 4.0, "dbp": 2.5, "pao2": 3.0, "temp": 0.08}
N_DRIFT = 3  # sinusoids per parameter
SEXES = ("female", "male")


@dataclass(frozen=True, slots=True)
class PatientProfile:
    """Resting physiology of one synthetic adult inpatient (24-hour means)."""

    seed: int
    label: str
    age: int
    sex: str
    weight_kg: float
    hr: float  # /min
    rr: float  # /min
    sbp: float  # mm[Hg]
    dbp: float  # mm[Hg]
    pao2: float  # mmHg, arterial oxygen tension
    temp: float  # Cel, core
    spo2_bias: float  # oximeter bias, % (ISO 80601-2-61 allows Arms <= 4 %)
    hr_circadian: float  # amplitude, /min
    rr_circadian: float  # amplitude, /min
    bp_dip: float  # fractional amplitude of the BP rhythm (night dip ~ 2x this)
    temp_circadian: float  # amplitude, Cel (peak-to-peak ~ 2x)
    chrono_shift_h: float  # individual phase shift of all rhythms
    cuff_bias_sys: float  # NIBP systematic error, mm[Hg]
    cuff_bias_dia: float
    drift_period_s: NDArray[np.float64]  # (len(DRIFT_PARAMS), N_DRIFT)
    drift_phase: NDArray[np.float64]
    drift_amp: NDArray[np.float64]

    @property
    def blood_volume_ml(self) -> float:
        """Estimated blood volume, 70 mL/kg (ATLS)."""
        return 70.0 * self.weight_kg

    def summary(self) -> dict[str, object]:
        return {
            "label": self.label,
            "seed": self.seed,
            "age": self.age,
            "sex": self.sex,
            "weight_kg": round(self.weight_kg, 1),
            "hr": round(self.hr, 1),
            "rr": round(self.rr, 1),
            "sbp": round(self.sbp, 1),
            "dbp": round(self.dbp, 1),
            "pao2": round(self.pao2, 1),
            "temp": round(self.temp, 2),
        }


def pseudonym(seed: int) -> str:
    """A pseudonymous label for a synthetic patient seed (no personal data)."""
    h = int(mix64(np.array([seed & ((1 << 64) - 1)], dtype=np.uint64))[0])
    return f"SIM-{h & 0xFFFFFF:06x}"


def sample_profile(seed: int, *, age: int | None = None, sex: str | None = None) -> PatientProfile:
    """Draw a patient from ``numpy.random.default_rng(seed)``; ``age``/``sex`` may be fixed."""
    rng = np.random.default_rng(seed & ((1 << 64) - 1))
    # Inpatient adults skew old: 18 + 80 * Beta(2.2, 1.6) has mean ~64 years.
    a = round(18 + 80 * rng.beta(2.2, 1.6)) if age is None else int(age)
    if not 18 <= a <= 110:
        raise ValueError("age must be 18-110 (adult physiology only)")
    s = SEXES[int(rng.integers(2))] if sex is None else sex
    if s not in SEXES:
        raise ValueError(f"sex must be one of {SEXES}")
    female = s == "female"
    z = rng.standard_normal(12)
    weight = float(np.clip((68.0 if female else 82.0) + 13.0 * z[0], 42.0, 160.0))
    hr = float(np.clip(72.0 + (3.0 if female else 0.0) - 0.05 * (a - 50) + 8.0 * z[1], 58.0, 94.0))
    rr = float(np.clip(15.0 + 0.02 * (a - 50) + 1.8 * z[2], 12.5, 19.5))
    young_f = female and a < 55
    sbp = float(np.clip(118.0 + 0.45 * (a - 40) - (6.0 if young_f else 0.0) + 10.0 * z[3], 108.0, 165.0))
    dbp = 76.0 + 0.25 * (min(a, 55) - 40) - 0.3 * max(a - 60, 0) - (3.0 if young_f else 0.0) + 7.0 * z[4]
    dbp = float(np.clip(dbp, 62.0, min(95.0, sbp - 30.0)))
    pao2 = float(np.clip(109.0 - 0.43 * a + 4.0 * z[5], 75.0, 102.0))
    temp = float(np.clip(36.75 - 0.002 * (a - 50) + (0.08 if female else 0.0) + 0.18 * z[6], 36.2, 37.2))
    spo2_bias = float(np.clip(0.7 * z[7], -1.0, 1.0))
    hr_circ = float(np.clip(5.0 + 1.5 * z[8], 2.0, 8.0))
    bp_dip = float(rng.uniform(0.0, 0.06))
    temp_circ = float(np.clip(0.25 + 0.05 * z[9], 0.15, 0.35))
    chrono = float(np.clip(1.0 * z[10], -2.0, 2.0))
    cuff = rng.normal(0.0, (3.0, 2.5))
    p, k = len(DRIFT_PARAMS), N_DRIFT
    periods = np.exp(rng.uniform(np.log(1200.0), np.log(6 * 3600.0), size=(p, k)))
    phases = rng.uniform(0.0, 2 * np.pi, size=(p, k))
    weights = rng.uniform(0.5, 1.0, size=(p, k))
    scale = np.array([DRIFT_AMPLITUDE[name] for name in DRIFT_PARAMS])[:, None]
    amps = scale * weights / np.sqrt((weights**2).sum(axis=1, keepdims=True) / 2.0)  # rms ~ scale
    return PatientProfile(
        seed=seed,
        label=pseudonym(seed),
        age=a,
        sex=s,
        weight_kg=weight,
        hr=hr,
        rr=rr,
        sbp=sbp,
        dbp=dbp,
        pao2=pao2,
        temp=temp,
        spo2_bias=spo2_bias,
        hr_circadian=hr_circ,
        rr_circadian=0.8,
        bp_dip=bp_dip,
        temp_circadian=temp_circ,
        chrono_shift_h=chrono,
        cuff_bias_sys=float(cuff[0]),
        cuff_bias_dia=float(cuff[1]),
        drift_period_s=periods,
        drift_phase=phases,
        drift_amp=amps,
    )
