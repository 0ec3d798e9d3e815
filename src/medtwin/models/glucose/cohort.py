"""The open UVA/Padova (2008) virtual patients: parameters, questionnaire, CGM sensor. Pure data.

``data/vpatient_params.csv`` (30 patients: ``adolescent#001-010``, ``adult#001-010``,
``child#001-010``; 13 initial states ``x0_1..x0_13`` and the model parameters), ``data/Quest.csv``
(carbohydrate ratio CR g/U, correction factor CF mg/dL/U, age, total daily insulin) and
``data/sensor_params.csv`` (CGM error model) are the files distributed with simglucose 0.2.11
(Xie J. simglucose v0.2.1, 2018, https://github.com/jxx123/simglucose; MIT licence, copyright
(c) 2017 Jinyu Xie, reproduced in ``data/LICENSE.simglucose``). They are the academic
parameter set of the 2008 UVA/Padova simulator (Kovatchev BP, Breton M, Dalla Man C, Cobelli C.
J Diabetes Sci Technol 2009;3(1):44-55; model of Dalla Man C, Rizza RA, Cobelli C. IEEE Trans
Biomed Eng 2007;54(10):1740-1749), per simglucose issue #26.

Units as in the source: BW kg; masses mg/kg; insulin pmol/kg; Vg dL/kg; Vi L/kg; rates /min;
``u2ss`` pmol/(kg min) (basal insulin = u2ss x BW / 6000 U/min).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from medtwin.core.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
N_STATES = 13
PARAM_NAMES = (
    "BW", "EGPb", "Gb", "Ib", "kabs", "kmax", "kmin", "b", "d", "Vg", "Vi", "Ipb", "Vmx", "Km0", "k2",
    "k1", "p2u", "m1", "m5", "CL", "HEb", "m2", "m4", "m30", "Ilb", "ki", "kp2", "kp3", "f", "Gpb",
    "ke1", "ke2", "Fsnc", "Gtb", "Vm0", "Rdb", "PCRb", "kd", "ksc", "ka1", "ka2", "dosekempt", "u2ss",
    "isc1ss", "isc2ss", "kp1",
)  # fmt: skip


def _rows(name: str) -> list[dict[str, str]]:
    text = (
        resources.files("medtwin.models.glucose").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    )
    return list(csv.DictReader(text.splitlines()))


@dataclass(frozen=True)
class VirtualPatient:
    name: str
    params: dict[str, float]
    x0: tuple[float, ...]
    cr: float  # g/U
    cf: float  # mg/dL per U
    age: float
    tdi: float  # U/day

    @property
    def basal_u_per_min(self) -> float:
        return self.params["u2ss"] * self.params["BW"] / 6000.0


@cache
def cohort() -> dict[str, VirtualPatient]:
    quest = {r["Name"]: r for r in _rows("Quest.csv")}
    out: dict[str, VirtualPatient] = {}
    for r in _rows("vpatient_params.csv"):
        name = r["Name"]
        x0 = tuple(float(r[k]) for k in r if k.startswith("x0_"))
        q = quest[name]
        out[name] = VirtualPatient(
            name=name,
            params={k: float(r[k]) for k in PARAM_NAMES},
            x0=x0,
            cr=float(q["CR"]),
            cf=float(q["CF"]),
            age=float(q["Age"]),
            tdi=float(q["TDI"]),
        )
    return out


def get_patient(name: str) -> VirtualPatient:
    c = cohort()
    if name not in c:
        raise ValidationError(
            f"unknown virtual patient {name!r} (adult#001..010, adolescent#..., child#...)", field="patient"
        )
    return c[name]


@cache
def sensor(name: str = "Dexcom") -> dict[str, float]:
    for r in _rows("sensor_params.csv"):
        if r["Name"] == name:
            return {k: float(v) for k, v in r.items() if k != "Name"}
    raise ValidationError(f"unknown CGM sensor {name!r}", field="sensor")


@dataclass(frozen=True)
class Batch:
    """Parameters of P patients as arrays (P,) and their initial states (P, 13)."""

    names: tuple[str, ...]
    p: dict[str, FloatArray]
    x0: FloatArray

    @property
    def n(self) -> int:
        return len(self.names)

    def take(self, idx: npt.NDArray[np.int64]) -> Batch:
        return Batch(tuple(self.names[i] for i in idx), {k: v[idx] for k, v in self.p.items()}, self.x0[idx])


def batch(names: list[str] | tuple[str, ...]) -> Batch:
    pts = [get_patient(n) for n in names]
    p = {k: np.asarray([pt.params[k] for pt in pts], dtype=np.float64) for k in PARAM_NAMES}
    return Batch(tuple(names), p, np.asarray([pt.x0 for pt in pts], dtype=np.float64))


def group(prefix: str = "adult") -> list[str]:
    return [n for n in cohort() if n.startswith(prefix + "#")]
