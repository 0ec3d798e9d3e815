"""Meals and insulin regimens as per-minute inputs of the glucose model. Pure.

A meal of G grams at minute T is eaten at :data:`~.uva_padova.EAT_RATE` g/min from T. An insulin
regimen is a basal rate (U/h, constant or a 24-h profile of hourly rates) plus meal boluses
``carbs / CR`` units (CR in g/U), given ``bolus_offset_min`` relative to the meal (negative =
pre-bolus), plus any explicit boluses. A bolus of B units is delivered within one minute.
Insulin in the model is U/min; carbohydrate g/min.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from medtwin.core.errors import ValidationError
from medtwin.models.glucose.cohort import FloatArray
from medtwin.models.glucose.uva_padova import EAT_RATE


@dataclass(frozen=True, slots=True)
class Meal:
    time: float  # min
    grams: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time) and math.isfinite(self.grams)) or self.grams < 0:
            raise ValidationError("meal time and grams must be numbers, grams >= 0", field="meals")


@dataclass(frozen=True)
class InsulinRegimen:
    label: str
    basal_u_per_h: float | tuple[float, ...]  # constant, or 24 hourly rates from midnight
    carb_ratio: float | None = None  # g of carbohydrate per unit; None = no meal boluses
    bolus_offset_min: float = 0.0
    boluses: tuple[tuple[float, float], ...] = field(default=())  # (minute, units)
    bolus_scale: float = 1.0  # multiplies every bolus (the "doses doubled" counterfactual)

    def __post_init__(self) -> None:
        rates = self.basal_u_per_h if isinstance(self.basal_u_per_h, tuple) else (self.basal_u_per_h,)
        if isinstance(self.basal_u_per_h, tuple) and len(self.basal_u_per_h) != 24:
            raise ValidationError("a basal profile has 24 hourly rates", field="basal_u_per_h")
        if any(not math.isfinite(r) or r < 0 or r > 20 for r in rates):
            raise ValidationError("basal rates must be 0-20 U/h", field="basal_u_per_h")
        if self.carb_ratio is not None and not 1 <= self.carb_ratio <= 100:
            raise ValidationError("carbohydrate ratio must be 1-100 g/U", field="carb_ratio")

    def basal_at(self, minute: FloatArray, day_start_min: float = 0.0) -> FloatArray:
        if isinstance(self.basal_u_per_h, tuple):
            hour = (((minute + day_start_min) // 60) % 24).astype(int)
            return np.asarray(np.asarray(self.basal_u_per_h, dtype=np.float64)[hour] / 60.0, dtype=np.float64)
        return np.full(minute.shape, float(self.basal_u_per_h) / 60.0)


def meal_inputs(meals: Sequence[Meal], minutes: int, eat_rate: float = EAT_RATE) -> FloatArray:
    """Carbohydrate eaten per minute (g/min), meals eaten at ``eat_rate`` from their start."""
    cho = np.zeros(minutes)
    for m in sorted(meals, key=lambda m: m.time):
        left, t = m.grams, round(m.time)
        while left > 1e-12 and t < minutes:
            if t >= 0:
                room = max(0.0, eat_rate - cho[t])
                eat = min(room, left)
                cho[t] += eat
                left -= eat
            else:
                left -= min(eat_rate, left)
            t += 1
    return cho


def insulin_inputs(
    regimen: InsulinRegimen, meals: Sequence[Meal], minutes: int, *, day_start_min: float = 0.0
) -> FloatArray:
    """Insulin per minute (U/min): basal plus meal and explicit boluses."""
    t = np.arange(minutes, dtype=np.float64)
    ins = regimen.basal_at(t, day_start_min)
    bol: list[tuple[float, float]] = list(regimen.boluses)
    if regimen.carb_ratio is not None:
        bol += [(m.time + regimen.bolus_offset_min, m.grams / regimen.carb_ratio) for m in meals]
    for when, units in bol:
        i = round(when)
        if 0 <= i < minutes and units > 0:
            ins[i] += units * regimen.bolus_scale
    return np.asarray(ins, dtype=np.float64)
