"""CGM sensor error model. Pure; randomness from a given Generator.

Breton M, Kovatchev B. J Diabetes Sci Technol 2008;2(5):853-862: sensor error is a Johnson SU
transform of an AR(1) process sampled every 15 min, ``e_k = PACF (e_{k-1} + N(0,1))``,
``eps = xi + lambda sinh((e - gamma) / delta)``, interpolated (cubic) to the sensor's sampling
period and added to subcutaneous glucose, clipped to the sensor's range. Parameters (PACF 0.7,
gamma -0.5444, lambda 15.9574, delta 1.6898, xi -5.47; Dexcom 3 min, 39-600 mg/dL) from
simglucose's ``sensor_params.csv`` (see :mod:`.cohort`).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from medtwin.models.glucose.cohort import FloatArray, sensor


def cgm_noise(n_samples: int, rng: np.random.Generator, name: str = "Dexcom") -> FloatArray:
    s = sensor(name)
    period = s["sample_time"]
    n15 = int(np.ceil(n_samples * period / 15.0)) + 2
    e = np.empty(n15)
    e[0] = rng.standard_normal()
    for k in range(1, n15):
        e[k] = s["PACF"] * (e[k - 1] + rng.standard_normal())
    eps = s["xi"] + s["lambda"] * np.sinh((e - s["gamma"]) / s["delta"])
    spline = CubicSpline(np.arange(n15) * 15.0, eps)
    return np.asarray(spline(np.arange(n_samples) * period), dtype=np.float64)


def cgm_readings(
    sensor_glucose: FloatArray, rng: np.random.Generator, name: str = "Dexcom"
) -> tuple[FloatArray, FloatArray]:
    """(sample minutes, readings) from a per-minute sensor-glucose trace of one patient."""
    s = sensor(name)
    period = int(s["sample_time"])
    idx = np.arange(0, sensor_glucose.shape[-1], period)
    noise = cgm_noise(idx.shape[0], rng, name)
    y = np.clip(sensor_glucose[idx] + noise, s["min"], s["max"])
    return idx.astype(np.float64), np.asarray(y, dtype=np.float64)


def noise_sd(name: str = "Dexcom") -> float:
    """Standard deviation of the sensor error (Johnson SU with a unit-variance normal)."""
    s = sensor(name)
    w = np.exp(1.0 / s["delta"] ** 2)
    om = s["gamma"] / s["delta"]
    var = s["lambda"] ** 2 / 2.0 * (w - 1.0) * (w * np.cosh(2.0 * om) + 1.0)
    return float(np.sqrt(var))
