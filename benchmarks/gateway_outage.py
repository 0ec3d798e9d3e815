"""Gateway uplink outage soak (R3, full version): 50 devices x 10 messages/s, uplink cut for 10 minutes.

Set-up: a private local broker (the ward's) and a private hospital broker; ``medtwin gateway`` as a
separate process takes the devices' QoS 1 messages from the local broker into its outbox and
forwards them through a TCP proxy to the hospital broker, where a medtwin runtime (MqttIngest +
GapService) commits them. The proxy is cut after ``--before`` seconds for ``--outage-min`` minutes
(every connection reset, new ones refused: the hospital is unreachable, nothing else changes),
then restored; the devices keep sending for ``--after`` seconds more.

Reported: messages sent, readings stored at the hospital (expected all, once), per-device sequence
gaps (expected 0), the outbox's peak size and whether the 80 % budget alarm fired, and how long
the backlog took to drain after the link came back. The budget defaults to 110 % of what the
outage produces, so the 80 % alarm fires near its end without refusing anything; pass a smaller
``--budget-mb`` to see refusal (devices then wait in the local broker).

Run: .venv/bin/python benchmarks/gateway_outage.py [--devices 50] [--rate 10] [--outage-min 10]
     [--budget-mb N] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

PER_MESSAGE = 5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--rate", type=float, default=10.0, help="messages per second per device")
    ap.add_argument("--outage-min", type=float, default=10.0)
    ap.add_argument("--before", type=float, default=20.0)
    ap.add_argument("--after", type=float, default=20.0)
    ap.add_argument("--budget-mb", type=float, default=0.0, help="0: 110 %% of the outage's backlog")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()

    import httpx
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from tests.integration.reliability_helpers import (
        Hospital,
        TcpProxy,
        readings,
        start_process,
        stop_process,
        wait_until,
    )

    from medtwin.services.reliability.gaps import GapService
    from medtwin.testing.broker import Mosquitto, free_port

    tmp = Path(tempfile.mkdtemp(prefix="medtwin-outage-"))
    outage_s = args.outage_min * 60
    per_msg_bytes = 96 + len(json.dumps(readings(1, PER_MESSAGE)))
    backlog = int(args.devices * args.rate * outage_s * per_msg_bytes)
    budget_mb = args.budget_mb or max(1.0, backlog * 1.1 / 2**20)
    hospital_broker = Mosquitto().start()
    local_broker = Mosquitto(persistence=True).start()
    proxy = TcpProxy(hospital_broker.port)
    hosp = Hospital(str(tmp / "hospital.db"), "127.0.0.1", hospital_broker.port, "hosp")
    gaps = GapService.attach(hosp.rt, grace_s=30.0, flush_s=10.0).start()
    http = free_port()
    gw = start_process(
        ["medtwin.cli.gateway", "run", "--id", "gw-soak", "--data-dir", str(tmp / "gw"),
         "--local-mqtt", f"127.0.0.1:{local_broker.port}", "--hospital-mqtt", f"127.0.0.1:{proxy.port}",
         "--hospital-prefix", "hosp", "--local-prefix", "ward", "--http-port", str(http),
         "--budget-mb", f"{budget_mb:.3f}", "--ack-timeout", "10"],
        tmp / "gateway.log",
        "gateway gw-soak running",
    )  # fmt: skip
    print(f"outage soak: {args.devices} devices x {args.rate:g} msg/s; cut after {args.before:g} s for "
          f"{outage_s:g} s; outbox budget {budget_mb:.1f} MiB; work dir {tmp}", flush=True)  # fmt: skip
    dev = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="devs-" + uuid.uuid4().hex[:6], protocol=mqtt.MQTTv5
    )
    dev.max_inflight_messages_set(1000)
    dev.connect("127.0.0.1", local_broker.port)
    dev.loop_start()
    total_s = args.before + outage_s + args.after
    n_ticks = int(total_s * args.rate)
    sent = [0]
    peak: dict[str, Any] = {"rows": 0, "ratio": 0.0}

    def stream() -> None:
        start = time.monotonic()
        for k in range(n_ticks):
            for d in range(args.devices):
                body = {"patient": f"P{d:03d}", "seq": k, "readings": readings(k, PER_MESSAGE)}
                dev.publish(f"ward/devices/BAND-{d:03d}/obs", json.dumps(body), qos=1)
                sent[0] += 1
            time.sleep(max(0.0, start + (k + 1) / args.rate - time.monotonic()))

    def status() -> dict[str, Any]:
        try:
            return httpx.get(f"http://127.0.0.1:{http}/status", timeout=5).json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            return {}

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    time.sleep(args.before)
    proxy.cut()
    t_cut = time.monotonic()
    while time.monotonic() - t_cut < outage_s:
        time.sleep(min(15.0, outage_s - (time.monotonic() - t_cut)))
        st = status().get("outbox", {})
        peak["rows"] = max(peak["rows"], st.get("rows", 0))
        peak["ratio"] = max(peak["ratio"], st.get("ratio", 0.0))
        print(f"  outage {time.monotonic() - t_cut:5.0f} s: outbox {st.get('rows')} rows, "
              f"{st.get('ratio', 0) * 100:.1f} % of budget, hospital {hosp.count()} readings", flush=True)  # fmt: skip
    proxy.restore()
    t_restore = time.monotonic()
    t.join()
    expected = n_ticks * args.devices * PER_MESSAGE
    ok = wait_until(lambda: hosp.count() >= expected, 1800, 1.0)
    drained = wait_until(lambda: status().get("outbox", {}).get("rows") == 0, 120, 0.5)
    drain_s = time.monotonic() - t_restore
    time.sleep(gaps.grace_s + 1)
    gaps.tick()
    log = (tmp / "gateway.log").read_text(errors="replace")
    from sqlalchemy import text

    with hosp.rt.store.engine.connect() as c:
        distinct = c.execute(
            text("SELECT count(DISTINCT source || ' ' || source_id) FROM observations")
        ).scalar()
    res = {
        "devices": args.devices,
        "rate_per_device": args.rate,
        "outage_s": outage_s,
        "messages_sent": sent[0],
        "readings_expected": expected,
        "readings_stored": hosp.count(),
        "readings_distinct": distinct,
        "all_delivered": ok and drained,
        "drain_after_restore_s": round(drain_s, 1),
        "outbox_peak_rows": peak["rows"],
        "outbox_peak_ratio": round(peak["ratio"], 4),
        "budget_mb": round(budget_mb, 2),
        "alarm_80pct_fired": "gateway alarm outbox_high raised" in log,
        "refused_at_100pct": "gateway alarm outbox_full raised" in log,
        "sequence_gaps": gaps.stats(),
    }
    print(json.dumps(res, indent=2))
    good = (
        res["all_delivered"]
        and distinct == expected == res["readings_stored"]
        and gaps.stats()["open_gaps"] == 0
    )
    print("PASS: 0 lost, 0 duplicated, 0 gaps" if good else "FAIL")
    if args.json_out:
        args.json_out.write_text(json.dumps(res, indent=2))
    dev.loop_stop()
    dev.disconnect()
    stop_process(gw)
    hosp.stop()
    proxy.close()
    local_broker.stop()
    hospital_broker.stop()


if __name__ == "__main__":
    main()
