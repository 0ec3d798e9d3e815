"""Soak: 1,000 patients x 1 Hz for 10 minutes through MQTT; reports ingest lag, memory growth and gaps.

Set-up (all on this machine): a private Mosquitto on a free port; the hospital side in its own
process (``--role hospital``: the same Runtime + MqttIngest as ``medtwin worker``, plus the
GapService and the metrics, on a fresh SQLite file); this process plays 1,000 bedside devices,
each publishing one QoS 1 message per second with four readings (hr, spo2, rr, temp) timed at
the moment of sending, spread evenly over the second (1,000 messages/s, 4,000 readings/s). That is
what a ward gateway forwarding each device's readings as they come would send; no extra batching.

Reported:
* ingest lag: a reading's device time -> its commit, measured in the hospital process on every
  committed reading (p50 / p99 / max; goal p99 < 5 s); also reported: device time -> medtwin's
  "committed" ack back at the device (adds the ack's trip and this load generator's own CPU
  starvation) and received - effective of the stored rows (time to reach medtwin);
* memory growth of the hospital process: RSS at the end vs RSS after the warm-up (70 % of the run:
  SQLite's page cache, 64 MiB per connection, fills during the first ~7 minutes at this rate; the
  RSS curve per minute and the Python heap's block count are reported too); goal < 5 %;
* gaps: per-device sequence gaps found by the GapService, and messages sent but not stored; goal 0.

Run: .venv/bin/python benchmarks/soak.py [--patients 1000] [--minutes 10] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

CODES = (("hr", "/min", 72), ("spo2", "%", 97), ("rr", "/min", 16), ("temp", "Cel", 36.8))


def rss_kb(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class LagHist:
    """Constant-memory latency histogram (5 ms bins up to 60 s)."""

    BIN = 0.005

    def __init__(self) -> None:
        self.bins = [0] * 12_001
        self.n = 0
        self.max = 0.0

    def add(self, x: float) -> None:
        self.bins[min(len(self.bins) - 1, max(0, int(x / self.BIN)))] += 1
        self.n += 1
        self.max = max(self.max, x)

    def q(self, q: float) -> float:
        target, acc = q * self.n, 0
        for i, c in enumerate(self.bins):
            acc += c
            if acc >= target and c:
                return (i + 1) * self.BIN
        return float("nan")


# ---------------------------------------------------------------------- hospital process
def hospital(args: argparse.Namespace) -> None:
    import logging

    from medtwin.config import Settings
    from medtwin.core.model import Twin, TwinKind
    from medtwin.ingest.mqtt import MqttIngest
    from medtwin.runtime import Runtime
    from medtwin.services.reliability.gaps import GapService

    logging.basicConfig(level=logging.WARNING)
    rt = Runtime(Settings.load(db=args.db, mqtt_enabled=False))
    for p in range(args.patients):
        rt.store.put_twin(Twin(f"P{p:04d}", TwinKind.PATIENT))
    rt.ingestor.refresh()
    if args.sqlite_cache_mb:  # diagnostic: a smaller page cache on the write connection (default 64 MiB)
        with rt.store._write_lock:
            rt.store._writer_conn().execute(f"PRAGMA cache_size=-{int(args.sqlite_cache_mb * 1024)}")
    rt.start()
    gaps = GapService.attach(rt, grace_s=10.0, flush_s=args.flush_s).start()
    from medtwin.core.events import ObservationsRecorded

    commit_lag = LagHist()  # reading's device time -> its commit (what "ingest lag" means here)

    def on_commit(e: ObservationsRecorded) -> None:
        for o in e.observations:
            commit_lag.add((e.time - o.effective).total_seconds())

    rt.bus.subscribe(ObservationsRecorded, on_commit)
    m = MqttIngest(
        rt.ingestor, port=args.port, prefix=args.prefix, client_id="soak-hosp-" + uuid.uuid4().hex[:6]
    )
    rt.services["mqtt"] = m
    m.start()
    m.wait_connected(10)
    print(json.dumps({"ready": True}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(5.0):
        print(json.dumps({"t": time.time(), "rss_kb": rss_kb(), "queued_rows": rt.writer.queued_rows,
                          "pending": m.pending, "commits": rt.writer.commits, "rows": rt.writer.rows_committed,
                          "py_blocks": sys.getallocatedblocks(),
                          "acks_unconfirmed": len(getattr(m.client, "_out_messages", ())),
                          "gaps": gaps.stats()}), flush=True)  # fmt: skip
    time.sleep(max(0.0, gaps.grace_s + 1 - 5))
    gaps.tick()
    lag = {
        "p50": commit_lag.q(0.5),
        "p99": commit_lag.q(0.99),
        "max": round(commit_lag.max, 3),
        "n": commit_lag.n,
    }
    print(
        json.dumps({"final": True, "gaps": gaps.stats(), "open": gaps.open_gaps()[:20], "commit_lag": lag}),
        flush=True,
    )
    m.stop()
    rt.stop()


# ---------------------------------------------------------------------- load generator
def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--role", default="load")
    ap.add_argument("--db", default="")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--prefix", default="soak")
    ap.add_argument(
        "--warmup-frac", type=float, default=0.7, help="share of the run before memory is measured"
    )
    ap.add_argument(
        "--sqlite-cache-mb", type=float, default=0.0, help="diagnostic: page cache of the write connection"
    )
    ap.add_argument("--flush-s", type=float, default=10.0, help="gap service watermark flush interval")
    args = ap.parse_args()
    if args.role == "hospital":
        hospital(args)
        return

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from medtwin.testing.broker import Mosquitto

    tmp = Path(tempfile.mkdtemp(prefix="medtwin-soak-"))
    broker = Mosquitto(max_inflight=1000).start()
    db = str(tmp / "soak.db")
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role",
            "hospital",
            "--db",
            db,
            "--port",
            str(broker.port),
            "--prefix",
            args.prefix,
            "--patients",
            str(args.patients),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    samples: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    assert json.loads(child.stdout.readline()).get("ready")

    def read_child() -> None:
        for line in child.stdout:  # type: ignore[union-attr]
            d = json.loads(line)
            if d.get("final"):
                final.update(d)
            else:
                samples.append(d)

    threading.Thread(target=read_child, daemon=True).start()
    sent_at: dict[tuple[str, str], float] = {}
    lags: list[float] = []
    lock = threading.Lock()

    def on_ack(_c: Any, _u: Any, msg: Any) -> None:
        now = time.time()
        body = json.loads(msg.payload)
        key = (msg.topic.split("/")[-2], str(body.get("seq")))
        with lock:
            t = sent_at.pop(key, None)
            if t is not None and body.get("status") == "committed":
                lags.append(now - t)

    pub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="soak-load-" + uuid.uuid4().hex[:6], protocol=mqtt.MQTTv5
    )
    pub.max_inflight_messages_set(2000)
    pub.on_message = on_ack
    pub.connect("127.0.0.1", broker.port)
    pub.subscribe(f"{args.prefix}/devices/+/ack", qos=1)
    pub.loop_start()
    seconds = int(args.minutes * 60)
    n = args.patients
    print(
        f"soak: {n} patients x 1 Hz for {seconds} s through MQTT (broker :{broker.port}, db {db})", flush=True
    )
    t_start = time.time()
    sent = 0
    loads: list[float] = []
    for s in range(seconds):
        sec0 = t_start + s
        for d in range(n):
            target = sec0 + d / n
            delay = target - time.time()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            iso = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
            dev = f"BED-{d:04d}"
            body = {"device": dev, "patient": f"P{d:04d}", "seq": s + 1,
                    "readings": [{"code": c, "value": v + (s + d) % 3, "unit": u, "time": iso} for c, u, v in CODES]}  # fmt: skip
            with lock:
                sent_at[(dev, str(s + 1))] = now
            pub.publish(f"{args.prefix}/devices/{dev}/obs", json.dumps(body), qos=1)
            sent += 1
        if s % 30 == 29:
            loads.append(round(os.getloadavg()[0], 2))
        if s % 60 == 59:
            last = samples[-1] if samples else {}
            print(f"  {s + 1:4d} s: sent {sent}, acked {len(lags)}, p99 lag {percentile(lags[-60_000:], 0.99):.3f} s, "
                  f"hospital RSS {last.get('rss_kb', 0) / 1024:.1f} MB, queue {last.get('queued_rows')}", flush=True)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and len(lags) < sent:
        time.sleep(0.5)
    child.send_signal(signal.SIGTERM)
    child.wait(120)
    pub.loop_stop()
    pub.disconnect()
    broker.stop()

    import sqlite3

    c = sqlite3.connect(db)
    stored = c.execute("SELECT count(*) FROM observations").fetchone()[0]
    recv_lag = c.execute(
        "SELECT avg(received_us - t_us) / 1e6, max(received_us - t_us) / 1e6 FROM observations"
    ).fetchone()
    missing_msgs = c.execute(
        "SELECT sum(expected - got) FROM (SELECT source, max(CAST(substr(source_id, 1, instr(source_id, '/') - 1) AS INTEGER)) "
        "- min(CAST(substr(source_id, 1, instr(source_id, '/') - 1) AS INTEGER)) + 1 AS expected, "
        "count(DISTINCT substr(source_id, 1, instr(source_id, '/') - 1)) AS got FROM observations GROUP BY source)"
    ).fetchone()[0]
    c.close()
    # Warm-up: RSS rises while SQLite's page cache (cache_size 64 MiB per connection) and the
    # allocator's pools fill; at 4,000 rows/s that takes about 7 minutes, after which RSS is flat.
    # Growth is measured over the rest of the run; the whole curve is reported beside it.
    warmup_s = max(60.0, args.warmup_frac * seconds)
    warm = [x for x in samples if x["t"] >= t_start + warmup_s] or samples
    first = [x for x in samples if x["t"] >= t_start + 60] or samples
    rss0, rss1 = warm[0]["rss_kb"], samples[-1]["rss_kb"]
    growth = (rss1 - rss0) / rss0 * 100
    res = {
        "patients": n,
        "seconds": seconds,
        "messages_sent": sent,
        "messages_acked": len(lags),
        "readings_expected": sent * len(CODES),
        "readings_stored": stored,
        "commit_lag_s": final.get("commit_lag"),  # device time -> committed, measured in the hospital
        "ack_lag_p50_s": round(percentile(lags, 0.5), 4),
        "ack_lag_p99_s": round(percentile(lags, 0.99), 4),
        "ack_lag_max_s": round(max(lags) if lags else float("nan"), 4),
        "receive_lag_avg_s": round(recv_lag[0], 4),
        "receive_lag_max_s": round(recv_lag[1], 4),
        "hospital_rss_after_1min_mb": round(first[0]["rss_kb"] / 1024, 1),
        "warmup_s": warmup_s,
        "hospital_rss_after_warmup_mb": round(rss0 / 1024, 1),
        "hospital_rss_end_mb": round(rss1 / 1024, 1),
        "memory_growth_pct": round(growth, 2),
        "memory_growth_from_1min_pct": round((rss1 - first[0]["rss_kb"]) / first[0]["rss_kb"] * 100, 2),
        "python_heap_blocks_after_warmup": warm[0].get("py_blocks"),
        "python_heap_blocks_end": samples[-1].get("py_blocks"),
        "rss_mb_per_minute": [round(x["rss_kb"] / 1024, 1) for x in samples[11::12]],
        "load_average_1min_during_run": loads,
        "max_queued_rows": max(x["queued_rows"] for x in samples),
        "max_acks_awaiting_broker": max(x.get("acks_unconfirmed", 0) for x in samples),
        "gap_service": final.get("gaps"),
        "messages_missing_in_sequences": missing_msgs,
    }
    print(json.dumps(res, indent=2))
    ok = ((final.get("commit_lag") or {}).get("p99", 99) < 5 and growth < 5 and (final.get("gaps") or {}).get("open_gaps", 1) == 0
          and missing_msgs == 0 and stored == sent * len(CODES))  # fmt: skip
    print("GOALS MET" if ok else "GOALS NOT MET")
    if args.json_out:
        args.json_out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
