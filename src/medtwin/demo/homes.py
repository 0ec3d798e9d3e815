"""Demo home patients (remote care, issue 8), all synthetic: a hypertensive with an uncontrolled
home average, a diabetic on CGM in a level-2 hypoglycaemia (started 40 minutes before the demo), a heart-failure patient
gaining weight (on empagliflozin: urine glucose expected), and an older person living alone with
an activity and a bed sensor. Eight days of history are backfilled; live readings then stream
through an in-process home gateway (outbox in ``<data dir>/gateway-home``), over MQTT when the
local broker is up, else HTTPS to the demo's own API with a relay device key."""

from __future__ import annotations

import itertools
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from medtwin.api.app import StartHook
from medtwin.core.events import Context
from medtwin.core.model import RelType, Twin, TwinKind
from medtwin.devices import SimulationRunner, Ward
from medtwin.devices.home import (
    BedSensor,
    BloodPressureCuff,
    Cgm,
    Glucometer,
    HomeActivitySensor,
    SmartToilet,
    WeightScale,
)
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime

log = logging.getLogger("medtwin.demo")
TEAM = ["RC-nurse-1", "GP-1"]
PATIENTS: dict[str, tuple[str, dict[str, Any]]] = {  # id: (name, enrolment)
    "H-001": ("Ada Homer", {"conditions": ["hypertension"], "medications": ["amlodipine 5 mg daily"]}),
    "H-002": (
        "Bram Velde",
        {
            "conditions": ["diabetes"],
            "medications": ["insulin glargine", "insulin aspart"],
            "schedule": {"glucose": 8},
        },
    ),
    "H-003": (
        "Cleo Marsh",
        {"conditions": ["heart_failure"], "medications": ["furosemide 40 mg", "empagliflozin 10 mg"]},
    ),
    "H-004": ("Dora Lind", {"conditions": ["elderly_alone"], "thresholds": {"inactivity_day": {"hours": 4}}}),
}


def _devices(now: datetime, start: datetime) -> list[Any]:
    return [
        BloodPressureCuff("HOME-001-CUFF", 101, start, patient_id="H-001", sbp=148, dbp=91, sd_mmhg=5),
        Cgm(
            "HOME-002-CGM", 102, start, patient_id="H-002", episodes=[(now - timedelta(minutes=40), 80, 48.0)]
        ),
        Glucometer("HOME-002-GLU", 103, start, patient_id="H-002", mean=150, sd=30, times_h=(7.0, 19.0)),
        WeightScale(
            "HOME-003-SCALE",
            104,
            start,
            patient_id="H-003",
            weight=78.0,
            gain_kg_per_day=0.9,
            gain_from=now - timedelta(days=4),
        ),
        SmartToilet("HOME-003-WC", 105, start, patient_id="H-003", positive_from=start),
        HomeActivitySensor("HOME-004-ACT", 106, start, patient_id="H-004", mobility=0.5),
        BedSensor("HOME-004-BED", 107, start, patient_id="H-004"),
    ]


def seed_homes(rt: Runtime) -> None:
    from medtwin.services.homecare.service import HomecareService

    reg = rt.registry
    for sid, role, name in (
        ("RC-nurse-1", "nurse", "Remote-care nurse 1"),
        ("GP-1", "physician", "Family doctor 1"),
    ):
        reg.put(Twin(sid, TwinKind.STAFF, name, {"role": role}))
    svc = HomecareService(rt, notifiers=[])
    for pid, (name, body) in PATIENTS.items():
        reg.put(Twin(pid, TwinKind.PATIENT, name, {"synthetic": True}, {"name": name}))
        home = f"HOME-{pid[2:]}"
        svc.enrol(pid, {**body, "care_team": TEAM, "home": home, "timezone": "UTC",
                        "caregivers": [{"name": f"Relative of {name}", "notify": ["emergency", "activity", "device"]}]},
                  "system:demo")  # fmt: skip
    for d in _devices(rt.clock.now(), rt.clock.now()):
        reg.put(Twin(d.device_id, TwinKind.DEVICE, type(d).__name__, {"type": "home"}))
        reg.relate(d.device_id, RelType.MONITORS, d.patient_id)


def backfill_homes(rt: Runtime, ward: Ward, now: datetime) -> int:
    seq, n, t, pending = itertools.count(), 0, ward.start, []
    while t < now:
        for b in ward.step(t):
            pending.append(ReadingBatch(source=b.device_id, msg_id=f"bf{next(seq)}", readings=b.readings,
                                        subject=b.patient_id, device=b.device_id))  # fmt: skip
        t += timedelta(minutes=10)
    for i in range(0, len(pending), 500):
        n += (
            rt.ingestor.ingest_many(pending[i : i + 500], context=Context(actor="system:demo-backfill"))
            .result()
            .accepted
        )
    return n


def prepare_homes(
    rt: Runtime, now: datetime, speed: float, use_mqtt: bool, data_dir: Path, fresh: bool
) -> StartHook:
    start = now - timedelta(days=8)
    ward = Ward(_devices(now, start), ward_id="homes", start=start)
    if fresh:
        seed_homes(rt)
        log.info("demo: backfilled %d home readings", backfill_homes(rt, ward, now))
    else:
        ward.step(now)  # fast-forward the simulators without sending

    def hook(rt: Runtime, _loop: Any) -> None:
        from medtwin.gateway.config import GatewayConfig
        from medtwin.gateway.outbox import Record
        from medtwin.gateway.service import Gateway

        s = rt.settings
        kw: dict[str, Any] = {"hospital_mqtt_port": s.mqtt_port, "hospital_prefix": s.mqtt_prefix}
        if not use_mqtt:
            from medtwin.security.service import security_for

            key = security_for(rt).accounts.add_device_key("gw-home-demo", relay=True, devices=["HOME-*"])
            kw = {"uplink": "https", "hospital_url": f"http://{s.host}:{s.port}", "hospital_token": key}
        cfg = GatewayConfig(gateway_id="gw-home-demo", data_dir=data_dir / "gateway-home", http_port=0, **kw)
        gw = Gateway(cfg).start()
        rt.add_stopper(gw.stop)

        def publish(batches: Any) -> None:
            for b in batches:
                if b.readings:
                    gw.submit([Record(b.device_id, b.readings, patient=b.patient_id)])

        runner = SimulationRunner(ward, publish, speed=speed, start=now, step_s=5.0)
        runner.start()
        rt.services["demo_home_runner"] = runner
        rt.add_stopper(runner.stop)

    return hook
