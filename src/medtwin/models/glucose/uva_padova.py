"""The UVA/Padova (2008) type 1 diabetes model, vectorised over patients. Pure.

Equations: Dalla Man C, Rizza RA, Cobelli C. IEEE Trans Biomed Eng 2007;54(10):1740-1749 (meal
glucose-insulin model), in the type 1 form of the 2008 simulator (Kovatchev BP et al. J Diabetes
Sci Technol 2009;3(1):44-55): no endogenous insulin, subcutaneous insulin (kd, ka1, ka2),
subcutaneous glucose (ksc). States (13), as in simglucose 0.2.11 ``T1DPatient.model``:

    0 Qsto1, 1 Qsto2 (stomach, mg)   2 Qgut (mg)             3 Gp, 4 Gt (glucose, mg/kg)
    5 Ip (plasma insulin, pmol/kg)   6 X (insulin action on utilisation)
    7 I1, 8 Id (delayed insulin for production)   9 Il (liver insulin)
    10 Isc1, 11 Isc2 (subcutaneous insulin, pmol/kg)   12 Gs (subcutaneous glucose, mg/kg)

Gastric emptying ``kgut`` follows the nonlinear tanh law with ``Dbar`` = stomach content at the
start of the current meal + the carbohydrate eaten since (the simglucose convention, including its
fix of issue #41). Sensor glucose is ``Gs / Vg`` (mg/dL), plasma glucose ``Gp / Vg``.

Integration: inputs are constant over each minute (as in simglucose, which calls ``dopri5``
once per minute); each minute is integrated with ``substeps`` classical Runge-Kutta steps for all
patients at once. Meals are eaten at :data:`EAT_RATE` g/min (simglucose ``T1DPatient.EAT_RATE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medtwin.models.glucose.cohort import Batch, FloatArray

EAT_RATE = 5.0  # g/min


_GUARDED = np.array([3, 4, 5, 9, 10, 11, 12])  # non-negativity guards of the reference implementation


def rhs(
    x: FloatArray, cho_mg: FloatArray, ins_pmol_kg: FloatArray, p: dict[str, FloatArray], dbar: FloatArray
) -> FloatArray:
    """dx/dt for states x (13, P) (state-major); carbohydrate mg/min, insulin pmol/kg/min, Dbar mg."""
    d = np.empty_like(x)
    qsto = x[0] + x[1]
    d[0] = -p["kmax"] * x[0] + cho_mg
    db = np.maximum(dbar, 1e-9)
    aa = 5.0 / (2.0 * db * (1.0 - p["b"]))
    cc = 5.0 / (2.0 * db * p["d"])
    kgut = p["kmin"] + (p["kmax"] - p["kmin"]) / 2.0 * (
        np.tanh(aa * (qsto - p["b"] * db)) - np.tanh(cc * (qsto - p["d"] * db)) + 2.0
    )
    kgut = np.where(dbar > 0, kgut, p["kmax"])
    d[1] = p["kmax"] * x[0] - x[1] * kgut
    d[2] = kgut * x[1] - p["kabs"] * x[2]
    rat = p["f"] * p["kabs"] * x[2] / p["BW"]
    egp = p["kp1"] - p["kp2"] * x[3] - p["kp3"] * x[8]
    et = p["ke1"] * np.maximum(x[3] - p["ke2"], 0.0)
    d[3] = np.maximum(egp, 0.0) + rat - p["Fsnc"] - et - p["k1"] * x[3] + p["k2"] * x[4]
    vmt = p["Vm0"] + p["Vmx"] * x[6]
    d[4] = -vmt * x[4] / (p["Km0"] + x[4]) + p["k1"] * x[3] - p["k2"] * x[4]
    d[5] = -(p["m2"] + p["m4"]) * x[5] + p["m1"] * x[9] + p["ka1"] * x[10] + p["ka2"] * x[11]
    it = x[5] / p["Vi"]
    d[6] = p["p2u"] * (it - p["Ib"] - x[6])
    d[7] = -p["ki"] * (x[7] - it)
    d[8] = -p["ki"] * (x[8] - x[7])
    d[9] = -(p["m1"] + p["m30"]) * x[9] + p["m2"] * x[5]
    d[10] = ins_pmol_kg - (p["ka1"] + p["kd"]) * x[10]
    d[11] = p["kd"] * x[10] - p["ka2"] * x[11]
    d[12] = p["ksc"] * (x[3] - x[12])
    d[_GUARDED] *= x[_GUARDED] >= 0
    return d


@dataclass(frozen=True)
class GlucoseSim:
    t: FloatArray  # minutes, (T+1,)
    sensor: FloatArray  # subcutaneous glucose Gs/Vg, mg/dL, (P, T+1)
    plasma: FloatArray  # Gp/Vg, mg/dL, (P, T+1)
    final_state: FloatArray  # (P, 13)


def _per_patient(a: FloatArray, n: int, minutes: int) -> FloatArray:
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    if a.shape[0] == 1 and n > 1:
        a = np.repeat(a, n, axis=0)
    if a.shape != (n, minutes):
        raise ValueError(f"inputs must have shape ({n}, {minutes}) or (1, {minutes}), got {a.shape}")
    return a


def simulate(
    pts: Batch,
    cho_g_per_min: FloatArray,
    insulin_u_per_min: FloatArray,
    *,
    x0: FloatArray | None = None,
    substeps: int = 2,
) -> GlucoseSim:
    """Simulate every patient of ``pts`` minute by minute; inputs shape (P or 1, minutes)."""
    n = pts.n
    minutes = np.atleast_2d(cho_g_per_min).shape[1]
    cho = _per_patient(cho_g_per_min, n, minutes)
    ins = _per_patient(insulin_u_per_min, n, minutes)
    p = pts.p
    x = np.array((pts.x0 if x0 is None else x0).T, dtype=np.float64, copy=True)  # (13, P)
    sensor = np.empty((n, minutes + 1))
    plasma = np.empty((n, minutes + 1))
    sensor[:, 0] = x[12] / p["Vg"]
    plasma[:, 0] = x[3] / p["Vg"]
    last_qsto = x[0] + x[1]
    food = np.zeros(n)
    prev = np.zeros(n)
    h = 1.0 / substeps
    ins_pmol = ins * 6000.0 / p["BW"][:, None]
    for m in range(minutes):
        c = cho[:, m]
        start = (c > 0) & (prev <= 0)
        if start.any():
            last_qsto = np.where(start, x[0] + x[1], last_qsto)
            food = np.where(start, 0.0, food)
        food = food + np.maximum(c, 0.0)
        prev = c
        dbar = last_qsto + food * 1000.0
        cm, im = c * 1000.0, ins_pmol[:, m]
        for _ in range(substeps):
            k1 = rhs(x, cm, im, p, dbar)
            k2 = rhs(x + 0.5 * h * k1, cm, im, p, dbar)
            k3 = rhs(x + 0.5 * h * k2, cm, im, p, dbar)
            k4 = rhs(x + h * k3, cm, im, p, dbar)
            x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        sensor[:, m + 1] = x[12] / p["Vg"]
        plasma[:, m + 1] = x[3] / p["Vg"]
    return GlucoseSim(np.arange(minutes + 1, dtype=np.float64), sensor, plasma, x.T.copy())
