"""Run a simulated ward: ``python -m medtwin.devices --beds 20 --minutes 10``.

Without ``--mqtt`` every message is printed as one JSON line ``{"topic": ..., "payload": ...}``
(simulated time runs as fast as possible unless ``--speed`` is given). With ``--mqtt HOST[:PORT]``
the messages go to the broker at QoS 1, paced to the wall clock at ``--speed`` (default 1).
``--truth FILE`` writes the ground truth of the whole run as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from medtwin.devices.environment import HvacFault
from medtwin.devices.messages import DEFAULT_PREFIX, Sequencer, batch_messages
from medtwin.devices.monitor import MonitorConfig
from medtwin.devices.runner import SimulationRunner
from medtwin.devices.ward import Ward


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m medtwin.devices", description=__doc__.splitlines()[0])
    p.add_argument("--beds", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ward", default="w1", help="ward id, prefix of device and patient ids")
    p.add_argument("--minutes", type=float, default=5.0, help="simulated duration")
    p.add_argument("--start", help="ISO start time with offset (default: now, whole second)")
    p.add_argument("--speed", type=float, help="times faster than real time (inf: unpaced)")
    p.add_argument("--mix", help='scenario weights as JSON, e.g. {"stable":0.5,"sepsis":0.5}')
    p.add_argument("--onset-hours", type=float, nargs=2, default=(1.0, 8.0), metavar=("MIN", "MAX"))
    p.add_argument("--arterial", type=float, default=0.0, help="share of beds with an arterial line")
    p.add_argument("--wearables", action="store_true")
    p.add_argument("--hvac-fault-hours", type=float, help="HVAC failure in room 1 this many hours in")
    p.add_argument("--annotate-artifacts", action="store_true")
    p.add_argument("--mqtt", help="broker HOST[:PORT]; default: print JSON lines")
    p.add_argument("--prefix", default=DEFAULT_PREFIX)
    p.add_argument("--truth", help="write the ground truth to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    start = datetime.fromisoformat(a.start) if a.start else datetime.now(UTC).replace(microsecond=0)
    if start.tzinfo is None:
        raise SystemExit("--start needs a UTC offset, e.g. 2026-03-01T08:00:00+01:00")
    end = start + timedelta(minutes=a.minutes)
    ward = Ward.generate(
        a.beds,
        start=start,
        seed=a.seed,
        ward_id=a.ward,
        mix=json.loads(a.mix) if a.mix else None,
        onset_window_h=tuple(a.onset_hours),
        arterial_fraction=a.arterial,
        wearables=a.wearables,
        monitor_config=MonitorConfig(annotate_artifacts=a.annotate_artifacts),
        hvac_fault=HvacFault(a.hvac_fault_hours * 3600) if a.hvac_fault_hours is not None else None,
    )
    if a.mqtt:
        from medtwin.devices.mqtt_out import MqttPublisher

        host, _, port = a.mqtt.partition(":")
        with MqttPublisher(host, int(port or 1883), prefix=a.prefix) as pub:
            runner = SimulationRunner(ward, pub, speed=a.speed or 1.0, end=end).start()
            try:
                runner.join()
            except KeyboardInterrupt:
                runner.stop()
            print(
                json.dumps(
                    {
                        "steps": runner.stats.steps,
                        "published": pub.stats.published,
                        "dropped": pub.stats.dropped,
                        "errors": runner.stats.errors,
                    }
                ),
                file=sys.stderr,
            )
    else:
        seq = Sequencer()

        def emit(batches: Any) -> None:
            for topic, payload in batch_messages(batches, seq, a.prefix):
                sys.stdout.write(json.dumps({"topic": topic, "payload": payload}) + "\n")

        if a.speed is None or math.isinf(a.speed):
            for _, batches in ward.run(end):
                emit(batches)
        else:
            SimulationRunner(ward, emit, speed=a.speed, end=end).start().join()
    if a.truth:
        with open(a.truth, "w", encoding="utf-8") as f:
            json.dump(ward.ground_truth(end), f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
