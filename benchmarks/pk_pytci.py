"""Propofol PK for many virtual patients: medtwin's vectorised exact engine vs PyTCI 1.2.0, same run.

Each virtual patient (age 18-80 y, weight 50-110 kg, height 150-195 cm, sex; seeded) gets the
Schnider model (identical published formulas in both libraries) and the same regimen:
2 mg/kg bolus at 0, 10 mg/kg/h for 30 min, 6 mg/kg/h for 30 min, then 30 min without drug;
plasma and effect-site concentrations every ``--step`` seconds (default 10 s, 541 outputs).

* PyTCI (``pip install PyTCI==1.2.0``): its ``exact`` integrator (matrix exponential, the
  reference; its default Euler mode drifts ~1 %), one patient after another, as a TCI program
  would run it: ``give_drug`` for the bolus, ``giveoverseconds(rate, step)`` per output.
* medtwin: :func:`medtwin.models.pharmacology.predict.predict` on all patients at once (one batch,
  exact solution, doses per patient via ``amount_factor`` = weight / 70 of a 70-kg schedule).

Reported: time per patient for each, the ratio (same process, same machine, same run), and the
largest relative deviation of Cp and Ce over all patients and times (Ce from the first output on).
Usage: ``python benchmarks/pk_pytci.py [--patients 1000] [--step 10] [--seed 1]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import get_drug
from medtwin.models.pharmacology.linear import simulate
from medtwin.models.pharmacology.regimen import Dose

REF_W = 70.0
REGIMEN_70KG = [Dose(0.0, 2 * REF_W), Dose(0.0, 10 * REF_W * 0.5, 30.0), Dose(30.0, 6 * REF_W * 0.5, 30.0)]


def cohort(n: int, seed: int) -> list[Covariates]:
    rng = np.random.default_rng(seed)
    return [
        Covariates(
            float(rng.uniform(18, 80)),
            float(rng.uniform(50, 110)),
            float(rng.uniform(150, 195)),
            "male" if rng.random() < 0.5 else "female",
        )
        for _ in range(n)
    ]


def run_medtwin(pts: list[Covariates], t_min: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    model = get_drug("propofol").model("schnider")
    t0 = time.perf_counter()
    params = [model.typical_params(c) for c in pts]
    batch = {k: np.asarray([p[k] for p in params]) for k in params[0]}
    sim = simulate(
        model.system(batch), REGIMEN_70KG, t_min, amount_factor=np.asarray([c.weight / REF_W for c in pts])
    )
    dt = time.perf_counter() - t0
    assert sim.ce is not None
    return sim.cp, sim.ce, dt


def run_pytci(pts: list[Covariates], step_s: int, n_out: int) -> tuple[np.ndarray, np.ndarray, float]:
    from PyTCI.models import propofol

    cp = np.empty((len(pts), n_out))
    ce = np.empty((len(pts), n_out))
    t0 = time.perf_counter()
    for i, c in enumerate(pts):
        m = propofol.Schnider(c.age, c.weight, c.height, "m" if c.sex == "male" else "f")
        m.set_integrator("exact")
        m.give_drug(2 * c.weight)
        cp[i, 0], ce[i, 0] = m.x1, m.xeo
        for j in range(1, n_out):
            t = (j - 1) * step_s
            rate = 10 * c.weight / 3600 if t < 1800 else (6 * c.weight / 3600 if t < 3600 else 0.0)
            m.giveoverseconds(rate, step_s)
            cp[i, j], ce[i, j] = m.x1, m.xeo
    return cp, ce, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--step", type=int, default=10, help="output step, seconds (divides 1800)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    pts = cohort(a.patients, a.seed)
    n_out = 5400 // a.step + 1
    t_min = np.arange(n_out) * a.step / 60.0
    run_medtwin(pts[:5], t_min)  # warm-up (imports, first BLAS calls) for both sides
    run_pytci(pts[:5], a.step, n_out)
    cp_m, ce_m, dt_m = run_medtwin(pts, t_min)
    cp_p, ce_p, dt_p = run_pytci(pts, a.step, n_out)
    dev_cp = float(np.max(np.abs(cp_m - cp_p) / cp_p))
    dev_ce = float(np.max(np.abs(ce_m[:, 1:] - ce_p[:, 1:]) / ce_p[:, 1:]))
    out = {
        "patients": a.patients,
        "outputs_per_patient": n_out,
        "medtwin_ms_per_patient": 1000 * dt_m / a.patients,
        "pytci_ms_per_patient": 1000 * dt_p / a.patients,
        "speedup": dt_p / dt_m,
        "max_rel_deviation_cp": dev_cp,
        "max_rel_deviation_ce": dev_ce,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if a.json:
        print(json.dumps(out))
        return
    print(
        f"{a.patients} virtual propofol patients (Schnider), {n_out} outputs each (every {a.step} s over 90 min)"
    )
    print(f"  PyTCI 1.2.0 exact: {out['pytci_ms_per_patient']:.3f} ms/patient ({dt_p:.2f} s)")
    print(f"  medtwin batch:     {out['medtwin_ms_per_patient']:.4f} ms/patient ({dt_m:.3f} s)")
    print(f"  speed-up {out['speedup']:.0f}x; max relative deviation Cp {dev_cp:.2e}, Ce {dev_ce:.2e}")
    ok = out["speedup"] >= 20 and max(dev_cp, dev_ce) <= 1e-3
    print("  PASS (>= 20x, <= 0.1 %)" if ok else "  FAIL")


if __name__ == "__main__":
    main()
