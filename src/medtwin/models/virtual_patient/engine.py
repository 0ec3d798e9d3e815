"""The virtual patient: state, course, actions. Pure and deterministic (no clock, no I/O).

``VirtualPatient(spec)`` starts at the case's presentation (minute 0) with the condition already
under way (the pre-presentation course is simulated from ``onset`` for drug-driven conditions).
``apply(action)`` takes effect at the current minute; ``advance(minutes)`` runs the course on a
fixed 15-s step (drug kinetics exact over the step, gas exchange and volumes by explicit Euler,
glucose-insulin per minute as in the UVA/Padova engine). :func:`simulate` replays a time-stamped
action list from the start: the same spec, seed and actions always give the same course, which is
how sessions, replays and counterfactuals ("what the real team did") are computed.

What each sub-model does and where its numbers come from: :mod:`.circulation`, :mod:`.respiration`,
:mod:`.drugs`, :mod:`.glycaemia`, :mod:`.conditions`; the observable vital signs: :mod:`.vitals`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.models.virtual_patient import choices
from medtwin.models.virtual_patient import drugs as D
from medtwin.models.virtual_patient.actions import Action, fio2_of
from medtwin.models.virtual_patient.circulation import RBC_UNIT_ML, Circulation
from medtwin.models.virtual_patient.conditions import GROWTH, get_condition
from medtwin.models.virtual_patient.glycaemia import Glycaemia
from medtwin.models.virtual_patient.respiration import PACO2_0, alveolar_step, alveolar_target, co2_step

DT = 0.25  # min
DEFAULT_BASELINE: dict[str, float] = {
    "hr": 78.0, "sbp": 125.0, "dbp": 75.0, "rr": 14.0, "temp": 36.8, "hb": 14.0, "glucose": 100.0,
}  # fmt: skip  # typical adult values, all in the 0-point ranges of NEWS2 (rcp_news2): modelling defaults
MAX_MINUTES = 24 * 60.0


@dataclass
class PatientSpec:
    """Who the virtual patient is: condition, severity at presentation, baseline, body size, seed."""

    condition: str
    severity: float = 0.6
    seed: int = 0
    weight_kg: float = 70.0
    baseline: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cond = get_condition(self.condition)
        if not 0.0 <= float(self.severity) <= 1.0:
            raise ValidationError("severity must be within 0-1", field="severity")
        if not 30.0 <= float(self.weight_kg) <= 250.0:
            raise ValidationError("weight must be within 30-250 kg", field="weight_kg")
        self.baseline = {**DEFAULT_BASELINE, **{k: float(v) for k, v in (self.baseline or {}).items()}}
        self.params = {**cond.params, **(self.params or {})}
        choices.validate(self.params)

    def as_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition, "severity": self.severity, "seed": self.seed,
            "weight_kg": self.weight_kg, "baseline": dict(self.baseline), "params": dict(self.params),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PatientSpec:
        return cls(
            condition=str(d.get("condition", "")), severity=float(d.get("severity", 0.6)),
            seed=int(d.get("seed", 0)), weight_kg=float(d.get("weight_kg", 70.0)),
            baseline=dict(d.get("baseline") or {}), params=dict(d.get("params") or {}),
        )  # fmt: skip


@dataclass
class Infusion:
    kind: str  # "crystalloid", "red_cells", "glucose"
    rate: float  # per minute (mL or mg)
    left: float


class VirtualPatient:
    def __init__(self, spec: PatientSpec) -> None:
        self.spec = spec
        self.cond = spec.condition
        self.t = 0.0
        b = spec.baseline
        self.circ = Circulation(
            spec.weight_kg, hb0=b["hb"], retained=choices.value(spec.params, "crystalloid_retained")
        )
        self.fentanyl = D.Drug(D.fentanyl_system(spec.weight_kg), DT)
        self.naloxone = D.Drug(D.naloxone_system(), DT)
        self.ne = D.Drug(D.norepinephrine_system(), DT)
        self.paco2 = self.pe = PACO2_0
        self.pao2_alv = alveolar_target(0.21, 1.0)
        self.fio2, self.ne_rate, self.gtn_rate, self.peep = 0.21, 0.0, 0.0, 0.0
        self.ventilating = False
        self.abx_at: float | None = None
        self.control_at: float | None = None
        self.infusions: list[Infusion] = []
        self.furosemide: list[tuple[float, float]] = []
        self.insulin_due = 0.0
        self.unswallowed_g = 0.0
        self.urine_ml = 0.0
        self.events: list[dict[str, Any]] = []
        sev = float(spec.severity)
        self.sepsis = self.pneumonia = self.lung_water = 0.0
        self.bleed_rate = 0.0
        self.glyc: Glycaemia | None = None
        self.history: list[dict[str, Any]] = []
        self._map_prev = b["sbp"] / 3 + 2 * b["dbp"] / 3
        p = spec.params
        if self.cond == "sepsis":
            self.sepsis = 0.15 + 0.8 * sev
        elif self.cond == "respiratory_failure":
            self.pneumonia = 0.15 + 0.8 * sev
        elif self.cond == "acute_heart_failure":
            self.lung_water = 0.3 + 0.6 * sev
        elif self.cond == "haemorrhage":
            self.circ.bleed((0.05 + 0.35 * sev) * self.circ.bv0)
            self.circ.bled = 0.0  # counted from presentation
            self.bleed_rate = (0.08 + 0.42 * sev) * self.circ.bv0 / 120.0  # devices.scenarios course
        elif self.cond == "hypoglycaemia":
            self.glyc = Glycaemia(str(p.get("patient", "adult#001")))
            self.glyc.step_minute(float(p.get("insulin_units", 15.0 + 15.0 * sev)))
            for _ in range(int(p.get("onset_min", 150.0)) - 1):
                self.glyc.step_minute()
        elif self.cond == "opioid_overdose":
            self.fentanyl.bolus(float(p.get("fentanyl_ug", 150.0 + 200.0 * sev)))
            onset = float(p.get("onset_min", 12.0))
            for _ in range(round(onset / DT)):
                self._step_drugs_and_gas()
        if self.cond != "opioid_overdose":
            from medtwin.models.virtual_patient.vitals import breathing

            self.pao2_alv = alveolar_target(self.fio2, breathing(self)["q"])
        self._record()

    # ------------------------------------------------------------------ actions
    def apply(self, a: Action) -> dict[str, Any]:
        """Apply ``a`` now; returns a note of what happened (shown to the trainee)."""
        k, p, note = a.kind, a.params, ""
        if k == "oxygen":
            self.fio2 = fio2_of(p, choices.value(self.spec.params, "reservoir_fio2"))
            note = f"FiO2 about {round(self.fio2 * 100)} %"
        elif k == "fluids":
            self.infusions.append(Infusion("crystalloid", p["volume"] / p["minutes"], p["volume"]))
            if self.cond == "acute_heart_failure":
                self.lung_water += 0.25 * p["volume"] / 1000.0  # congestion worsens (modelling)
        elif k == "transfusion":
            ml = RBC_UNIT_ML * p["units"]
            self.infusions.append(Infusion("red_cells", RBC_UNIT_ML / 15.0, ml))
        elif k == "vasopressor":
            self.ne_rate = p["rate"]
        elif k == "insulin":
            self.insulin_due += p["units"]
        elif k == "glucose_iv":
            self.infusions.append(
                Infusion("glucose", p["grams"] * 1000.0 / p["minutes"], p["grams"] * 1000.0)
            )
        elif k == "glucose_oral":
            if self.observe_acvpu() > 0:
                self.unswallowed_g += p["grams"]
                note = "the patient cannot swallow safely: nothing was taken"
            elif self.glyc is not None:
                self.glyc.eat(p["grams"])
        elif k == "naloxone":
            self.naloxone.bolus(p["dose"])
        elif k == "antibiotics":
            if self.abx_at is None:
                self.abx_at = self.t
        elif k == "furosemide":
            self.furosemide.append((self.t, p["dose"]))
        elif k == "nitrate":
            self.gtn_rate = p["rate"]
        elif k == "cpap":
            self.peep = p["peep"]
        elif k == "ventilate":
            self.ventilating = bool(p.get("on", 1))
        elif k == "haemorrhage_control" and self.control_at is None:
            self.control_at = self.t + float(self.spec.params.get("control_delay_min", 30.0))
            note = f"bleeding controlled from minute {round(self.control_at)}"
        self.events.append({**a.as_dict(), "t": round(self.t, 3), "note": note})
        return {"note": note}

    # ------------------------------------------------------------------ course
    def _step_drugs_and_gas(self) -> None:
        self.fentanyl.step()
        self.naloxone.step()
        self.ne.step(self.ne_rate * self.spec.weight_kg)
        dep = self.opioid_depression()
        self.paco2, self.pe = co2_step(self.paco2, self.pe, dep, self.ventilating, DT)
        from medtwin.models.virtual_patient.vitals import breathing

        target = alveolar_target(self.fio2, breathing(self)["q"])
        self.pao2_alv = alveolar_step(self.pao2_alv, target, DT)

    def opioid_depression(self) -> float:
        p = self.spec.params
        tol = str(p.get("tolerance", "naive"))
        return D.opioid_depression(
            self.fentanyl.ce, self.naloxone.ce * 1000.0, tol,
            choices.value(p, "opioid_hill"), choices.value(p, "naloxone_k50_ng_ml"),
        )  # fmt: skip

    def _step(self) -> None:
        h, c, t = DT, self.circ, self.t
        glucose_mg = 0.0
        for inf in self.infusions:
            amount = min(inf.rate * h, inf.left)
            inf.left -= amount
            if inf.kind == "crystalloid":
                c.crystalloid(amount)
            elif inf.kind == "red_cells":
                c.red_cells(amount)
            else:
                glucose_mg += amount
        self.infusions = [i for i in self.infusions if i.left > 1e-9]
        if self.bleed_rate and (self.control_at is None or t < self.control_at):
            base_map = self.spec.baseline["sbp"] / 3 + 2 * self.spec.baseline["dbp"] / 3
            c.bleed(self.bleed_rate * min(max(self._map_prev / base_map, 0.3), 1.5) * h)
        c.step(h)
        cp = self.spec.params
        if self.sepsis:
            if self.abx_at is not None and t >= self.abx_at + float(cp.get("abx_lag_min", 60.0)):
                self.sepsis -= math.log(2) / float(cp.get("abx_half_life_min", 360.0)) * self.sepsis * h
            else:
                self.sepsis += GROWTH["sepsis"] * self.sepsis * (1.0 - self.sepsis) * h
        if self.pneumonia and not (
            self.abx_at is not None and t >= self.abx_at + float(cp.get("abx_lag_min", 120.0))
        ):
            self.pneumonia += GROWTH["respiratory_failure"] * self.pneumonia * (1.0 - self.pneumonia) * h
        diuresis = sum(D.furosemide_effect(t - t0, mg) for t0, mg in self.furosemide)
        if diuresis:
            self.urine_ml += 10.0 * diuresis * h  # up to 10 mL/min at peak (modelling)
            c.remove_plasma(10.0 * diuresis * h)
        if self.cond == "acute_heart_failure":
            g = min(self.gtn_rate / 50.0, 1.0)
            ne_rise = D.norepinephrine_map_rise(self.ne.cp)
            dw = float(cp.get("drift_per_h", 0.1)) / 60.0 + 0.2 / 60.0 * ne_rise / 30.0
            dw -= 0.6 / 60.0 * diuresis + 0.4 / 60.0 * g + (0.15 / 60.0 if self.peep > 0 else 0.0)
            self.lung_water = min(max(self.lung_water + dw * h, 0.0), 1.2)
        self._step_drugs_and_gas()
        if self.glyc is not None:
            self._glucose_acc = getattr(self, "_glucose_acc", 0.0) + glucose_mg
            if math.floor(t + h + 1e-9) > math.floor(t + 1e-9):
                ins, self.insulin_due = self.insulin_due, 0.0
                self.glyc.step_minute(ins, self._glucose_acc)
                self._glucose_acc = 0.0
        self.t = round(t + h, 6)

    def advance(self, minutes: float) -> None:
        """Run the course for ``minutes`` (recording one snapshot per simulated minute)."""
        end = self.t + max(minutes, 0.0)
        if end > MAX_MINUTES + 1e-9:
            raise ValidationError(f"a virtual patient runs for at most {MAX_MINUTES:g} min", field="minutes")
        while self.t < end - 1e-9:
            self._step()
            if abs(self.t - round(self.t)) < 1e-6:
                self._record()

    def _record(self) -> None:
        from medtwin.models.virtual_patient.vitals import observe

        v = observe(self)
        self._map_prev = v["map"]
        self.history.append(v)

    # ------------------------------------------------------------------ observation helpers
    def observe_acvpu(self) -> int:
        from medtwin.models.virtual_patient.vitals import acvpu_level

        return acvpu_level(self)

    @property
    def latest(self) -> dict[str, Any]:
        return self.history[-1]


def simulate(spec: PatientSpec, actions: Iterable[Action], minutes: float) -> VirtualPatient:
    """Replay ``actions`` (time-stamped, minutes from presentation) and run to ``minutes``."""
    vp = VirtualPatient(spec)
    for a in sorted(actions, key=lambda x: x.t):
        if a.t > minutes:
            break
        vp.advance(a.t - vp.t)
        vp.apply(a)
    vp.advance(minutes - vp.t)
    return vp
