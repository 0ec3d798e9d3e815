"""Glucose-insulin of the virtual patient: the platform's UVA/Padova engine with IV glucose.

The state equations are :func:`medtwin.models.glucose.uva_padova.rhs` (``dallaman2007``), for one
open-cohort adult with type 1 diabetes (the only patients of the academic parameter set), integrated
minute by minute with classical Runge-Kutta as :func:`~medtwin.models.glucose.uva_padova.simulate`
does. Two inputs the meal model does not have are added at their physiological entry points:
intravenous glucose enters plasma glucose ``Gp`` (mg/kg/min = mg/min / body weight), and
subcutaneous insulin enters ``Isc1`` as in the model. Oral glucose is carbohydrate eaten at the
model's eating rate. Glucagon is not in the 2008 model and is not offered.

Consciousness from plasma glucose (``mitrakou1991``: symptoms ~ 54 mg/dL (3.0 mmol/L), cognitive
dysfunction ~ 49 mg/dL (2.7 mmol/L); ``ada2024`` level 2 < 54 mg/dL, level 3 = altered mental
status): new confusion ("C") below 54 mg/dL; responsive to voice only below 45 and to pain only
below 36 mg/dL are modelling choices for the deeper levels (neuroglycopenia deepens as glucose
falls; no source gives cut-points). Adrenergic tachycardia from ~ 68 mg/dL (3.8 mmol/L, the
adrenaline threshold of ``mitrakou1991``), up to +25 /min (modelling choice).
"""

from __future__ import annotations

import numpy as np

from medtwin.models.glucose.cohort import batch, get_patient
from medtwin.models.glucose.uva_padova import EAT_RATE, rhs

ADRENALINE_THRESHOLD = 68.0  # mg/dL, mitrakou1991 (3.8 mmol/L)
ACVPU_BY_GLUCOSE = ((54.0, 1), (45.0, 2), (36.0, 3))  # C from mitrakou1991/ada2024; V, P modelling


class Glycaemia:
    def __init__(self, patient: str = "adult#001", substeps: int = 2) -> None:
        self.name = patient
        b = batch([patient])
        self.p = b.p
        self.bw = float(self.p["BW"][0])
        self.x = b.x0.T.copy()  # (13, 1)
        self.basal_u_min = get_patient(patient).basal_u_per_min
        self.substeps = substeps
        self.last_qsto = self.x[0] + self.x[1]
        self.food = np.zeros(1)
        self.prev_cho = 0.0
        self.stomach_g = 0.0  # carbohydrate still to be eaten (g)
        self.minute = 0

    @property
    def plasma(self) -> float:
        return float(self.x[3, 0] / self.p["Vg"][0])

    def eat(self, grams: float) -> None:
        self.stomach_g += max(grams, 0.0)

    def step_minute(self, insulin_u_min: float = 0.0, iv_glucose_mg_min: float = 0.0) -> None:
        """One minute: basal insulin + ``insulin_u_min`` SC, IV glucose, food being eaten."""
        cho = min(self.stomach_g, EAT_RATE)
        self.stomach_g -= cho
        start = cho > 0 and self.prev_cho <= 0
        if start:
            self.last_qsto = self.x[0] + self.x[1]
            self.food = np.zeros(1)
        self.food = self.food + cho
        self.prev_cho = cho
        dbar = self.last_qsto + self.food * 1000.0
        cm = np.array([cho * 1000.0])
        im = np.array([(self.basal_u_min + insulin_u_min) * 6000.0 / self.bw])
        iv = iv_glucose_mg_min / self.bw
        h = 1.0 / self.substeps

        def f(x: np.ndarray) -> np.ndarray:
            d = rhs(x, cm, im, self.p, dbar)
            d[3] += iv
            return d

        x = self.x
        for _ in range(self.substeps):
            k1 = f(x)
            k2 = f(x + 0.5 * h * k1)
            k3 = f(x + 0.5 * h * k2)
            k4 = f(x + h * k3)
            x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        self.x = x
        self.minute += 1

    def acvpu(self) -> int:
        level = 0
        for threshold, lv in ACVPU_BY_GLUCOSE:
            if self.plasma < threshold:
                level = lv
        return level

    def hr_rise(self) -> float:
        g = self.plasma
        if g >= ADRENALINE_THRESHOLD:
            return 0.0
        return min(25.0, (ADRENALINE_THRESHOLD - g) * 25.0 / 30.0)
