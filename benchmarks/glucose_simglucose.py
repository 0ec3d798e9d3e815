"""UVA/Padova T1D day: medtwin's vectorised model vs simglucose 0.2.11 on the same 30 patients, same run.

Scenario (the one of docs/research: meals 45 g at 07:00, 70 g at 12:00, 15 g at 16:00, 80 g at
19:00 for 24 h from midnight; open loop: each patient's basal ``u2ss x BW / 6000`` U/min plus a
meal bolus ``carbs / CR`` given over the first 3-minute sensor period of the meal).

* simglucose, as its users run it: ``T1DSimEnv(T1DPatient.withName(name), CGMSensor.withName
  ('Dexcom', seed=1), InsulinPump.withName('Insulet'), CustomScenario(...))`` driven by a
  controller returning that insulin schedule, ``SimObj(..., animate=False).simulate()``, one
  patient after another. Optionally (``--patched``) also the variant with the patient's parameters
  copied into a ``SimpleNamespace`` (bit-identical, avoids pandas attribute lookups in the ODE).
* medtwin: :func:`medtwin.models.glucose.uva_padova.simulate` for all 30 patients at once, with
  the per-minute carbohydrate and insulin inputs simglucose actually applied (its pump rounding
  included, read back from the environment's history).

Reported: wall time per patient-day each, the ratio, and the largest absolute and relative
difference of sensor glucose (``Gs/Vg``, simglucose's "BG") over all patients and minutes.
Usage: ``python benchmarks/glucose_simglucose.py [--peer-patients 30] [--patched]``
(simglucose needs ``setuptools<82``: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import types
import warnings
from datetime import datetime

import numpy as np

from medtwin.models.glucose.cohort import batch, cohort
from medtwin.models.glucose.metrics import glycaemic_metrics
from medtwin.models.glucose.uva_padova import simulate

MEALS_H = [(7, 45), (12, 70), (16, 15), (19, 80)]
MINUTES = 1440


def _peer(name: str, patched: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """simglucose run of one patient: (BG per minute incl. t=0, CHO per minute, insulin per minute, s)."""
    from simglucose.actuator.pump import InsulinPump
    from simglucose.controller.base import Action, Controller
    from simglucose.patient.t1dpatient import T1DPatient
    from simglucose.sensor.cgm import CGMSensor
    from simglucose.simulation.env import T1DSimEnv
    from simglucose.simulation.scenario import CustomScenario
    from simglucose.simulation.sim_engine import SimObj

    vp = cohort()[name]
    basal = vp.basal_u_per_min

    class Schedule(Controller):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(init_state=None)

        def policy(self, observation, reward, done, **info):  # type: ignore[no-untyped-def]
            meal = info.get("meal", 0.0)  # g/min averaged over the last sample period
            st = info.get("sample_time", 3)
            bolus = meal * st / vp.cr / st if meal > 0 else 0.0
            return Action(basal=basal, bolus=bolus)

        def reset(self) -> None:
            pass

    patient = T1DPatient.withName(name)
    if patched:  # same numbers, plain attributes (reset() still reads .iloc and .Name)
        series = patient._params
        patient._params = types.SimpleNamespace(**series.to_dict(), iloc=series.iloc)
    start = datetime(2026, 1, 1, 0, 0, 0)  # noqa: DTZ001  simglucose works in naive local time
    env = T1DSimEnv(
        patient,
        CGMSensor.withName("Dexcom", seed=1),
        InsulinPump.withName("Insulet"),
        CustomScenario(start, MEALS_H),
    )
    bg: list[float] = [patient.observation.Gsub]
    cho: list[float] = []
    ins: list[float] = []
    mini = env.mini_step

    def recording(action):  # type: ignore[no-untyped-def]
        c, i, b, g = mini(action)
        cho.append(patient._last_action.CHO)  # what the patient actually ate this minute (5 g/min)
        ins.append(i)
        bg.append(b)
        return c, i, b, g

    env.mini_step = recording
    sim = SimObj(env, Schedule(), MINUTES_DELTA, animate=False, path=None)
    t0 = time.perf_counter()
    sim.simulate()
    dt = time.perf_counter() - t0
    return np.asarray(bg[: MINUTES + 1]), np.asarray(cho[:MINUTES]), np.asarray(ins[:MINUTES]), dt


def main() -> None:
    global MINUTES_DELTA
    from datetime import timedelta

    MINUTES_DELTA = timedelta(minutes=MINUTES)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--peer-patients", type=int, default=30, help="how many patients simglucose runs (all 30 by default)"
    )
    ap.add_argument(
        "--patched", action="store_true", help="also time simglucose with SimpleNamespace parameters"
    )
    ap.add_argument("--substeps", type=int, default=1, help="RK4 steps per minute (1: h = 1 min)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    names = list(cohort())
    peer_bg, peer_t, cho_all, ins_all = [], [], [], []
    for name in names:
        if len(peer_t) < a.peer_patients:
            bg, cho, ins, dt = _peer(name, patched=False)
            peer_bg.append(bg)
            peer_t.append(dt)
        else:
            bg, cho, ins, _ = _peer(name, patched=True)  # inputs only (not timed)
            peer_bg.append(bg)
        cho_all.append(cho)
        ins_all.append(ins)
    patched_t: list[float] = []
    if a.patched:
        for name in names[: a.peer_patients]:
            patched_t.append(_peer(name, patched=True)[3])
    b = batch(names)
    cho = np.asarray(cho_all)
    ins = np.asarray(ins_all)
    simulate(b.take(np.arange(2)), cho[:2, :60], ins[:2, :60])  # warm-up
    t0 = time.perf_counter()
    ours = simulate(b, cho, ins, substeps=a.substeps)
    dt_ours = time.perf_counter() - t0
    ref = np.asarray(peer_bg)
    diff = np.abs(ours.sensor - ref)
    out = {
        "patients": len(names),
        "simglucose_s_per_patient_day": float(np.mean(peer_t)),
        "simglucose_patients_timed": len(peer_t),
        "simglucose_patched_s_per_patient_day": float(np.mean(patched_t)) if patched_t else None,
        "medtwin_s_per_patient_day": dt_ours / len(names),
        "speedup": float(np.mean(peer_t)) / (dt_ours / len(names)),
        "speedup_vs_patched": float(np.mean(patched_t)) / (dt_ours / len(names)) if patched_t else None,
        "max_abs_diff_mg_dl": float(diff.max()),
        "max_rel_diff": float((diff / ref).max()),
        "worst_patient": names[int(np.argmax(diff.max(axis=1)))],
        "substeps": a.substeps,
        "tir_medtwin_adult001": float(
            glycaemic_metrics(ours.sensor[names.index("adult#001")][None])["tir"][0]
        ),
        "tir_simglucose_adult001": float(glycaemic_metrics(ref[names.index("adult#001")][None])["tir"][0]),
    }
    if a.json:
        print(json.dumps(out))
        return
    print(f"30 UVA/Padova patients x 24 h, open-loop basal-bolus, meals {MEALS_H}")
    print(f"  simglucose 0.2.11 (env + SimObj): {out['simglucose_s_per_patient_day']:.2f} s per patient-day "
          f"({len(peer_t)} patients timed)")  # fmt: skip
    if patched_t:
        print(
            f"  simglucose, SimpleNamespace params: {out['simglucose_patched_s_per_patient_day']:.2f} s per patient-day"
        )
    print(
        f"  medtwin vectorised: {1000 * out['medtwin_s_per_patient_day']:.1f} ms per patient-day ({dt_ours:.2f} s for 30)"
    )
    print(
        f"  speed-up {out['speedup']:.0f}x"
        + (f" ({out['speedup_vs_patched']:.0f}x vs patched)" if patched_t else "")
    )
    print(f"  max |BG difference| {out['max_abs_diff_mg_dl']:.4f} mg/dL (relative {out['max_rel_diff']:.2e}, "
          f"{out['worst_patient']}; RK4 {a.substeps} step(s)/min)")  # fmt: skip
    print("  PASS (>= 50x)" if out["speedup"] >= 50 else "  FAIL")


MINUTES_DELTA = None

if __name__ == "__main__":
    main()
