"""Wire the live demo: seed the hospital, backfill history, stream monitors through MQTT.

``medtwin demo`` recreates ``data/demo.db`` (unless ``--keep``), seeds one building with two
wards and 24 beds, backfills ``backfill_hours`` of history at one reading per minute through the
Ingestor, then streams 1 Hz bedside-monitor numerics, environment readings, activity and
medication administrations through the real ingest path: MQTT via the local Mosquitto when it is
reachable, otherwise HL7 v2 ORU^R01 over MLLP to medtwin's own listener. Three patients
deteriorate (sepsis, haemorrhage, respiratory failure) with onsets placed in the backfilled past,
so the ward shows them worsening from the first minute.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from medtwin.api.app import StartHook
from medtwin.cli.server import broker_reachable
from medtwin.config import Settings
from medtwin.core.events import Context
from medtwin.demo.hospital import DemoHospital, seed
from medtwin.devices import (
    ActivitySensor,
    BedsideMonitor,
    DeviceBatch,
    EnvironmentSensor,
    HvacFault,
    MedicationRecorder,
    Scenario,
    Sequencer,
    SimulationRunner,
    Ward,
)
from medtwin.devices.medication import paracetamol, piperacillin_tazobactam, tranexamic_acid
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime

log = logging.getLogger("medtwin.demo")

# Deteriorations by bed number: (onset in hours relative to the demo's start, course in hours or
# None for the simulator's default). Negative onsets are already under way at start; bed 5 starts
# bleeding three minutes in, so a viewer sees an alarm raised, escalated and answered.
COURSES = {1: (-5.0, None), 5: (0.05, 0.75), 10: (-0.4, None), 18: (-2.5, None)}


class NurseRounds:
    """Charted observations a monitor cannot make: air or supplemental oxygen, every 4 hours (the
    NEWS2 'air or oxygen?' parameter). The respiratory-failure patient is put on oxygen once the
    deterioration is under way."""

    kind = "obs"

    def __init__(
        self,
        device_id: str,
        patient_id: str,
        start: datetime,
        oxygen_from: datetime | None,
        interval_s: float = 4 * 3600.0,
    ) -> None:
        self.device_id, self.patient_id, self.start = device_id, patient_id, start
        self.oxygen_from, self.interval_s = oxygen_from, interval_s
        self._next = start.timestamp()

    def step(self, t: datetime) -> list[dict[str, Any]]:
        ts = t.timestamp()
        if ts < self._next:
            return []
        while self._next <= ts:
            self._next += self.interval_s
        o2 = "oxygen" if self.oxygen_from is not None and t >= self.oxygen_from else "air"
        when = t.isoformat().replace("+00:00", "Z")
        return [{"code": "o2_device", "value": o2, "time": when, "method": "manual"}]

    def next_due(self) -> float:
        return self._next

    def ground_truth(self, end: datetime) -> dict[str, Any]:
        return {"device": self.device_id, "kind": "nurse_rounds"}


def build_ward(h: DemoHospital, start: datetime, now: datetime) -> Ward:
    devices: list[Any] = []
    for i, b in enumerate(h.beds):
        if b.scenario == "stable":
            scen = Scenario.stable()
            orders = [paracetamol(3600.0 * (i % 6))] if i % 3 == 0 else []
        else:
            onset_h, course_h = COURSES[i + 1]
            onset = max(60.0, (now + timedelta(hours=onset_h) - start).total_seconds())
            scen = getattr(Scenario, b.scenario)(
                onset_s=max(60.0, onset), severity=0.9, duration_s=(course_h or 0.0) * 3600.0
            )
            orders = [piperacillin_tazobactam(onset + 5400.0)] if b.scenario == "sepsis" else []
            if b.scenario == "haemorrhage":
                orders = [tranexamic_acid(onset + 1800.0)]
        devices.append(
            BedsideMonitor(b.monitor, patient_seed=1000 + i, scenario=scen, start=start, patient_id=b.patient)
        )
        devices.append(ActivitySensor(f"ACT-{i + 1:03d}", seed=2000 + i, start=start, patient_id=b.patient))
        oxygen_from = None
        if b.scenario == "respiratory_failure":
            oxygen_from = now + timedelta(hours=COURSES[i + 1][0] + 1.0)
        devices.append(NurseRounds(f"ROUNDS-{i + 1:03d}", b.patient, start, oxygen_from))
        if orders:
            devices.append(
                MedicationRecorder(f"EMAR-{i + 1:03d}", b.patient, seed=3000 + i, start=start, orders=orders)
            )
    for j, (sensor, room) in enumerate(sorted(h.env_sensors.items())):
        fault = HvacFault(start_s=(now - start).total_seconds() + 600, duration_s=3600) if j == 2 else None
        devices.append(EnvironmentSensor(sensor, seed=4000 + j, start=start, room_id=room, fault=fault))
    return Ward(devices, ward_id="demo", start=start)


def _to_batches(batches: Sequence[DeviceBatch], seq: itertools.count) -> list[ReadingBatch]:  # type: ignore[type-arg]
    out = []
    for b in batches:
        msg = f"bf{next(seq)}"
        if b.kind == "med":
            out.append(
                ReadingBatch(
                    source=b.device_id,
                    msg_id=msg,
                    medications=b.medications,
                    subject=b.patient_id,
                    device=b.device_id,
                )
            )
        else:
            readings = [r for r in b.readings if r.get("flag") not in ("lead-off", "sensor-off")]
            out.append(
                ReadingBatch(
                    source=b.device_id,
                    msg_id=msg,
                    readings=readings,
                    subject=b.patient_id,
                    device=b.device_id,
                )
            )
    return out


def backfill(rt: Runtime, ward: Ward, start: datetime, now: datetime, step_s: float = 60.0) -> int:
    """History from ``start`` to ``now`` at one step per ``step_s`` through the Ingestor."""
    seq = itertools.count()
    t, n, pending = start, 0, []
    ctx = Context(actor="system:demo-backfill")
    while t < now:
        pending.extend(_to_batches(ward.step(t), seq))
        if len(pending) >= 2000:
            n += rt.ingestor.ingest_many(pending, context=ctx).result().accepted
            pending = []
        t += timedelta(seconds=step_s)
    if pending:
        n += rt.ingestor.ingest_many(pending, context=ctx).result().accepted
    return n


def prepare_demo(
    *, host: str, port: int, db: str | None, speed: float, keep: bool, backfill_hours: float
) -> tuple[Runtime, list[StartHook]]:
    path = Path(db or "data/demo.db")
    fresh = not (keep and path.exists())
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    use_mqtt = broker_reachable("127.0.0.1", 1883)
    settings = Settings.load(
        db=str(path), host=host, port=port, mqtt_enabled=use_mqtt, mllp_port=0 if use_mqtt else _free_port()
    )
    rt = Runtime(settings).start()
    t0 = time.monotonic()
    hospital = seed(rt.registry) if fresh else _existing(rt)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=backfill_hours)
    ward = build_ward(hospital, start, now)
    if fresh and backfill_hours > 0:
        n = backfill(rt, ward, start, now)
        log.info(
            "demo: seeded %d beds and backfilled %d readings in %.1f s",
            len(hospital.beds),
            n,
            time.monotonic() - t0,
        )
    from medtwin.demo.users import DEMO_USERS, demo_users

    password = demo_users(rt, path.parent)
    from medtwin.services.training.demo import seed_demo_cases
    from medtwin.services.training.service import service_for

    seed_demo_cases(service_for(rt.store, rt.clock))  # training cases from the deteriorating patients
    print(  # the operator starting the demo needs these; synthetic data only
        f"\nmedtwin demo: sign in at http://{host}:{port} as {', '.join(u for u, _r, _n in DEMO_USERS)}"
        f" with password {password}  (kept in {path.parent / 'demo-users.txt'})\n",
        flush=True,
    )
    hooks: list[StartHook] = [_start_stream(ward, now, speed, use_mqtt)]
    # --- remote care (issue 8): synthetic home patients streaming through a home gateway
    from medtwin.demo.homes import prepare_homes

    hooks.append(prepare_homes(rt, now, speed, use_mqtt, path.parent, fresh))
    return rt, hooks


def _existing(rt: Runtime) -> DemoHospital:
    """Rebuild the demo layout description from an existing demo database (``--keep``)."""
    from medtwin.core.model import RelType, TwinKind
    from medtwin.demo.hospital import DETERIORATING, DemoBed

    h = DemoHospital()
    for w in rt.store.list_twins(TwinKind.WARD):
        h.wards[w.id] = w.name
    for d in rt.store.list_twins(TwinKind.DEVICE):
        rels = rt.store.relationships(d.id, type_=RelType.MONITORS, direction="out")
        if not rels:
            continue
        if d.attributes.get("type") == "environment":
            h.env_sensors[d.id] = rels[0].dst
            continue
        chain = rt.registry.location_chain(d.id)
        if len(chain) >= 3:
            idx = int(d.id.split("-")[-1])
            h.beds.append(
                DemoBed(
                    chain[0].id, chain[1].id, chain[2].id, rels[0].dst, d.id, DETERIORATING.get(idx, "stable")
                )
            )
    h.beds.sort(key=lambda b: b.monitor)
    return h


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_stream(ward: Ward, now: datetime, speed: float, use_mqtt: bool) -> StartHook:
    def hook(rt: Runtime, _loop: asyncio.AbstractEventLoop) -> None:
        if use_mqtt:
            from medtwin.devices.mqtt_out import MqttPublisher

            pub = MqttPublisher(
                "127.0.0.1", 1883, prefix=rt.settings.mqtt_prefix, client_id="medtwin-demo-devices"
            )
            pub.seq = Sequencer(start=int(time.time() * 1000))  # never collide with earlier runs' counters
            pub.connect()
            publish = pub.publish_batches
            rt.add_stopper(pub.close)
        else:
            publish = _mllp_publisher(rt)
        runner = SimulationRunner(ward, publish, speed=speed, start=now, step_s=1.0)
        runner.start()
        rt.services["demo_runner"] = runner
        rt.add_stopper(runner.stop)
        log.info(
            "demo: streaming %d devices over %s at %gx",
            len(ward.devices),
            "MQTT" if use_mqtt else "MLLP",
            speed,
        )

    return hook


def _mllp_publisher(rt: Runtime) -> Any:
    from medtwin.devices.hl7_out import oru_for_batch
    from medtwin.ingest.mllp import send_mllp_sync

    counter = itertools.count(int(time.time() * 1000))

    def publish(batches: Sequence[DeviceBatch]) -> None:
        msgs = []
        for b in batches:
            if b.kind != "obs" or b.patient_id is None:
                continue
            m = oru_for_batch(b, str(next(counter)))
            if m is not None:
                msgs.append(m)
        if msgs:
            send_mllp_sync("127.0.0.1", rt.settings.mllp_port, msgs)

    return publish
