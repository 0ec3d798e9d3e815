"""End to end: simulated homes -> home gateway (outbox) -> MQTT uplink through a link that is cut
for a while -> hospital ingest -> continuous triage -> the remote-care nurse's worklist.
No reading is lost across the outage; the worklist shows emergency first with cited reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from medtwin.core.model import Twin, TwinKind
from medtwin.devices.home import BloodPressureCuff, Glucometer, WeightScale
from medtwin.devices.ward import Ward
from medtwin.gateway.config import GatewayConfig
from medtwin.gateway.outbox import Record
from medtwin.gateway.service import Gateway
from medtwin.services.homecare.service import HomecareService
from medtwin.testing.broker import Mosquitto
from tests.integration.reliability_helpers import Hospital, TcpProxy, stored_keys, wait_until

pytestmark = pytest.mark.integration


def _homes(end: datetime) -> Ward:
    start = end - timedelta(days=7)
    return Ward(
        [
            BloodPressureCuff("CUFF-H1", 11, start, patient_id="H1", sbp=150, dbp=92, sd_mmhg=4),
            Glucometer(
                "GLU-H2",
                12,
                start,
                patient_id="H2",
                mean=140,
                sd=15,
                lows=[(end - timedelta(hours=1), 650.0)],
                times_h=tuple(range(24)),
            ),
            WeightScale(
                "SCALE-H3",
                13,
                start,
                patient_id="H3",
                weight=82.0,
                gain_kg_per_day=0.9,
                gain_from=end - timedelta(days=3),
                times_h=tuple(range(0, 24, 6)),
            ),
        ],
        ward_id="homes",
        start=start,
    )


def test_home_to_worklist_through_a_gateway_outage(tmp_path: Path) -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with Mosquitto() as broker:
        proxy = TcpProxy(broker.port)
        hosp = Hospital(str(tmp_path / "h.db"), "127.0.0.1", broker.port, "hosp")
        rt = hosp.rt
        for pid in ("H1", "H2", "H3"):
            rt.registry.put(Twin(pid, TwinKind.PATIENT, f"Home patient {pid}"))
        rt.registry.put(Twin("RC-nurse", TwinKind.STAFF, "Remote-care nurse", {"role": "nurse"}))
        svc = HomecareService.attach(rt)
        svc.min_interval_s = 0.2
        team = {
            "care_team": ["RC-nurse"],
            "caregivers": [{"name": "Kin", "notify": ["emergency", "primary"]}],
        }
        svc.enrol("H1", {"conditions": ["hypertension"], **team}, "user:test")
        svc.enrol("H2", {"conditions": ["diabetes"], "schedule": {"glucose": 6}, **team}, "user:test")
        svc.enrol("H3", {"conditions": ["heart_failure"], **team}, "user:test")
        svc.start()
        cfg = GatewayConfig(gateway_id="gw-home", data_dir=tmp_path / "gw", hospital_mqtt_port=proxy.port,
                            hospital_prefix="hosp", http_port=0, ack_timeout_s=2.0, linger_s=0.02).check()  # fmt: skip
        gw = Gateway(cfg).start()
        sent: list[tuple[str, str]] = []
        try:
            ward = _homes(end)
            mid = end - timedelta(days=3, hours=12)
            seq = 0

            def push(until: datetime) -> None:
                nonlocal seq
                t = ward.start if not sent else push.t  # type: ignore[attr-defined]
                while t <= until:
                    for b in ward.step(t):
                        seq += 1
                        gw.submit([Record(b.device_id, b.readings, dseq=seq, patient=b.patient_id)]).result(
                            10
                        )
                        sent.extend((b.device_id, f"{seq}/{i}") for i in range(len(b.readings)))
                    t += timedelta(minutes=10)
                push.t = t  # type: ignore[attr-defined]

            push(mid)  # first half streams while the link is up
            assert wait_until(lambda: gw.outbox.rows == 0, 30), gw.status()
            proxy.cut()  # the home's uplink goes down: readings pile up in the outbox
            assert wait_until(lambda: not gw.forwarder.transport.connected.is_set(), 30)
            push(end)
            backlog = gw.outbox.rows
            assert backlog > 0 and hosp.count() < len(sent)
            proxy.restore()
            assert wait_until(lambda: gw.outbox.rows == 0 and hosp.count() == len(sent), 60), gw.status()
        finally:
            gw.stop()
        keys = stored_keys(rt.store)
        assert len(keys) == len(set(keys)) == len(sent) and set(keys) == set(
            sent
        )  # nothing lost, nothing twice
        assert svc.wait_idle(20)
        for pid in ("H1", "H2", "H3"):  # the readings came in; assess now (as the tick would)
            svc.evaluate(pid)
        items = svc.repo.worklist()
        by_twin: dict[str, dict[str, Any]] = {i["twin"]: i for i in items if i["kind"] == "triage"}
        assert next(i["twin"] for i in items if i["kind"] == "triage") == "H2"  # emergency first
        assert by_twin["H2"]["tier"] == "emergency"
        assert any(
            r["rule"] == "glucose_hhs" and "Diabetes Care 2024" in r["source"]
            for r in by_twin["H2"]["reasons"]
        )
        assert by_twin["H3"]["tier"] == "primary"
        assert any(r["rule"] == "weight_gain_hf" for r in by_twin["H3"]["reasons"])
        assert by_twin["H1"]["tier"] == "primary"
        assert any(
            r["rule"] == "bp_home_mean" and "uncontrolled" in r["detail"] for r in by_twin["H1"]["reasons"]
        )
        assert svc.notifications >= 3  # the caregivers were told
        # the nurse acknowledges and records an outcome; the decision history is stored
        it = svc.repo.acknowledge(by_twin["H2"]["id"], "user:nurse", rt.clock.now())
        assert it["status"] == "acknowledged"
        done = svc.repo.close(
            it["id"], "user:nurse", rt.clock.now(), {"disposition": "sent_to_emergency", "note": ""}
        )
        assert done["status"] == "closed" and done["outcome"]["disposition"] == "sent_to_emergency"
        assert svc.repo.decisions("H2")[0]["tier"] == "emergency"
        hosp.stop()
        proxy.close()
