"""Training (issue 12): how fast a case is built from a real twin, how fast the virtual patient runs,
and how long a trainee waits for each step of a session.

* ``build``: the demo hospital's sepsis (bed 1) and respiratory-failure (bed 18) patients with
  ``--hours`` of record at one reading set per minute (the demo's backfill), turned into cases
  through ``POST /api/training/twins/{id}/case`` as an educator (de-identified export, timeline,
  calibration, identifier guard, store). Reported: readings in the record, the median wall time of
  ``--repeat`` builds and, inside it, the export and the calibration;
* ``engine``: each condition simulated for 180 min with a typical treatment list, best of 3:
  simulated time per wall time;
* ``session``: a trainee's session through the API on the sepsis case: 20 treatments and orders
  spread over 180 simulated minutes (clock moved on between them), then the diagnosis. Reported:
  median latency of a step (action / order / clock), of the state poll the page makes every 1.5 s,
  of a cold state (engine cache empty: the whole course replayed), and of the submission (scoring:
  three courses + 30 min each).

Run: .venv/bin/python benchmarks/training.py [--hours 6 24] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from tests.conftest import auth_headers

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.demo.run import backfill, build_ward
from medtwin.devices import Ward
from medtwin.models.virtual_patient import PatientSpec, parse_action, simulate
from medtwin.runtime import Runtime
from medtwin.security.deid import Exporter, Options
from medtwin.services.training import builder
from medtwin.services.training.service import service_for

PATIENTS = {"P001": "sepsis", "P018": "respiratory_failure"}
TREATMENTS: dict[str, list[tuple[float, str, dict[str, Any]]]] = {
    "sepsis": [(2, "antibiotics", {"drug": "meropenem"}), (3, "fluids", {"volume": 1000, "minutes": 15}),
               (30, "fluids", {"volume": 1000, "minutes": 15}), (60, "vasopressor", {"rate": 0.1})],
    "haemorrhage": [(2, "fluids", {"volume": 500, "minutes": 10}), (5, "transfusion", {"units": 2}),
                    (10, "haemorrhage_control", {})],
    "hypoglycaemia": [(2, "glucose_iv", {"grams": 15, "minutes": 5}), (20, "glucose_oral", {"grams": 20})],
    "opioid_overdose": [(1, "ventilate", {"on": 1}), (2, "naloxone", {"dose": 0.4}), (5, "naloxone", {"dose": 0.8})],
    "acute_heart_failure": [(2, "furosemide", {"dose": 40}), (3, "cpap", {"peep": 8}), (5, "nitrate", {"rate": 50})],
    "respiratory_failure": [(1, "oxygen", {"device": "venturi", "fio2": 40}), (10, "antibiotics", {"drug": "co-amoxiclav"})],
}  # fmt: skip


def world(hours: float, tmp: Path) -> Runtime:
    rt = Runtime(Settings.load(db=str(tmp / f"b{hours:g}.db"), mqtt_enabled=False, data_dir=tmp))
    rt.__enter__()
    h = seed(rt.registry)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=hours)
    devices = [d for d in build_ward(h, start, now).devices if getattr(d, "patient_id", None) in PATIENTS]
    backfill(rt, Ward(devices, ward_id="demo", start=start), start, now)
    return rt


def bench_build(hours: float, repeat: int, tmp: Path) -> list[dict[str, Any]]:
    rt = world(hours, tmp)
    out = []
    with TestClient(create_app(rt)) as c:
        ed = auth_headers(rt, "educator", wards=("ICU", "MED"))
        for pid, cond in PATIENTS.items():
            walls, export, calib = [], [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                r = c.post(f"/api/training/twins/{pid}/case", json={"condition": cond}, headers=ed)
                walls.append(time.perf_counter() - t0)
                assert r.status_code == 201, r.text
                t1 = time.perf_counter()
                subj = Exporter(rt.store, Options(purpose="training", patients=[pid])).subjects()[0]
                export.append(time.perf_counter() - t1)
                case = r.json()
                spec = PatientSpec.from_dict(case["physiology"])
                t2 = time.perf_counter()
                builder.calibrate(spec, case["physiology"]["calibration"]["target"])
                calib.append(time.perf_counter() - t2)
            out.append({"hours": hours, "patient": pid, "condition": cond, "readings": len(subj.rows),
                        "build_s": round(statistics.median(walls), 3), "export_s": round(statistics.median(export), 3),
                        "calibration_s": round(statistics.median(calib), 3),
                        "calibration_error": case["physiology"]["calibration"].get("error")})  # fmt: skip
    rt.__exit__(None, None, None)
    return out


def bench_engine() -> list[dict[str, Any]]:
    out = []
    for cond, acts in TREATMENTS.items():
        actions = [parse_action({"kind": k, **p}, t) for t, k, p in acts]
        best = min(
            _timed(lambda c=cond, a=actions: simulate(PatientSpec(c, 0.6, 1), a, 180.0)) for _ in range(3)
        )
        out.append({"condition": cond, "simulated_min": 180, "wall_s": round(best, 3),
                    "x_real_time": round(180 * 60 / best)})  # fmt: skip
    return out


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_session(tmp: Path) -> dict[str, Any]:
    rt = world(6, tmp)
    with TestClient(create_app(rt)) as c:
        ed, tr = auth_headers(rt, "educator", wards=("ICU",)), auth_headers(rt, "trainee")
        cid = c.post("/api/training/twins/P001/case", json={"condition": "sepsis"}, headers=ed).json()["id"]
        c.put(f"/api/training/cases/{cid}", json={"status": "published"}, headers=ed)
        sid = c.post("/api/training/sessions", json={"case_id": cid, "speed": 0}, headers=tr).json()[
            "session"
        ]["id"]
        base = f"/api/training/sessions/{sid}"
        for stage in ("history", "examination", "vitals", "orders"):
            c.post(f"{base}/reveal", json={"stage": stage}, headers=tr)
        steps, polls = [], []
        plan = [("orders", {"test": "blood_cultures"}), ("actions", {"kind": "antibiotics", "drug": "meropenem"}),
                ("actions", {"kind": "fluids", "volume": 500, "minutes": 15}), ("orders", {"test": "lactate"}),
                ("actions", {"kind": "oxygen", "device": "nasal_cannula", "flow": 2})] * 4  # fmt: skip
        for path, body in plan:
            for p, b in ((path, body), ("clock", {"advance_min": 9})):
                t0 = time.perf_counter()
                assert c.post(f"{base}/{p}", json=b, headers=tr).status_code == 200
                steps.append(time.perf_counter() - t0)
            polls.append(_timed(lambda: c.get(base, headers=tr)))
        svc = service_for(rt.store, rt.clock)
        cold = []
        for _ in range(3):
            svc.engines.drop(sid)
            cold.append(_timed(lambda: c.get(base, headers=tr)))
        t_now = c.get(base, headers=tr).json()["t"]
        t0 = time.perf_counter()
        rep = c.post(f"{base}/diagnosis", json={"primary": "A41.9"}, headers=tr).json()
        submit = time.perf_counter() - t0
    rt.__exit__(None, None, None)
    return {"steps": len(steps), "simulated_min": t_now, "step_ms_median": round(1000 * statistics.median(steps), 1),
            "step_ms_max": round(1000 * max(steps), 1), "poll_ms_median": round(1000 * statistics.median(polls), 1),
            "cold_state_ms": round(1000 * statistics.median(cold), 1), "submit_ms": round(1000 * submit, 1),
            "total": rep["total"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, nargs="+", default=[6.0, 24.0])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        res: dict[str, Any] = {"build": [row for h in a.hours for row in bench_build(h, a.repeat, tmp)]}
        res["engine"] = bench_engine()
        res["session"] = bench_session(tmp)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
