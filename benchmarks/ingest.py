"""Ingest benchmark: medtwin's end-to-end embedded ingest against raw sqlite3.executemany.

Part 1 (embedded): pre-encoded MQTT-shaped JSON messages (one per bed-second, 6 numerics each)
go through the real path: JSON decode -> validation (codes, units, bounds, times) -> subject
resolution -> BatchWriter group commit (SQLite WAL, synchronous=FULL, idempotency index, history
index, latest-state upsert) -> one bus event per commit with a subscriber. Then, in the same run,
the same rows are written with bare ``sqlite3.executemany`` into the same schema in a fresh file
(same pragmas, one commit per 10,000 rows). Printed: numerics/s of both and their ratio.

Part 2 (MQTT, starts a private Mosquitto on a free port): device -> Mosquitto -> medtwin ingest ->
commit -> PUBACK, against a bare paho publish/subscribe round trip of the same messages in the
same run (QoS 1, subscriber acknowledging at once).

Run: .venv/bin/python benchmarks/ingest.py [--beds 200] [--seconds 300] [--mqtt-messages 20000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from medtwin.config import Settings
from medtwin.core.events import ObservationsRecorded
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.mqtt import decode
from medtwin.runtime import Runtime
from medtwin.store.sql import SQLITE_PRAGMAS, _obs_row

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
PARAMS = (
    ("hr", "/min", 75),
    ("spo2", "%", 96),
    ("rr", "/min", 16),
    ("temp", "Cel", 36.8),
    ("sbp", "mm[Hg]", 120),
    ("dbp", "mm[Hg]", 75),
)


def make_messages(beds: int, seconds: int, prefix: str = "medtwin/v1") -> list[tuple[str, bytes]]:
    msgs = []
    for s in range(seconds):
        iso = (T0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")
        for b in range(beds):
            readings = [{"code": c, "value": v + ((s + b) % 5), "unit": u, "time": iso} for c, u, v in PARAMS]
            body = {"device": f"MON-{b:04d}", "patient": f"P{b:04d}", "seq": s, "readings": readings}
            msgs.append((f"{prefix}/devices/MON-{b:04d}/obs", json.dumps(body).encode()))
    return msgs


def setup_runtime(db: str, beds: int) -> Runtime:
    rt = Runtime(Settings.load(db=db, mqtt_enabled=False))
    for b in range(beds):
        rt.store.put_twin(Twin(f"P{b:04d}", TwinKind.PATIENT))
    rt.ingestor.refresh()
    return rt


def bench_embedded(beds: int, seconds: int, tmp: Path) -> tuple[float, int, list[tuple]]:
    msgs = make_messages(beds, seconds)
    rt = setup_runtime(str(tmp / "embedded.db"), beds)
    published = [0]
    rt.bus.subscribe(
        ObservationsRecorded, lambda e: published.__setitem__(0, published[0] + len(e.observations))
    )
    rt.start()
    t0 = time.perf_counter()
    futures = [rt.ingestor.ingest(decode(topic, payload)) for topic, payload in msgs]
    accepted = sum(f.result().accepted for f in futures)
    elapsed = time.perf_counter() - t0
    assert accepted == published[0] == beds * seconds * len(PARAMS), (accepted, published[0])
    rows = [_obs_row(o) for o in rt.store.history("P0000", limit=1)]  # warm check only
    del rows
    # the same rows for the raw run, straight from the database we just filled
    from sqlalchemy import text

    with rt.store.engine.connect() as c:
        raw_rows = [
            tuple(r)
            for r in c.execute(
                text(
                    "SELECT twin_id, code, t_us, received_us, value, value_text, unit, source, source_id, method, status, "
                    "meta FROM observations ORDER BY id"
                )
            )
        ]
    commits = rt.writer.commits
    rt.stop()
    print(f"  embedded: {accepted:,} numerics in {elapsed:.2f} s over {commits} commits")
    return accepted / elapsed, commits, raw_rows


def bench_raw(rows: list[tuple], tmp: Path, chunk: int = 10_000) -> float:
    from medtwin.store.sql import SqlStore

    db = str(tmp / "raw.db")
    SqlStore(db).close()  # same schema, created by the same migrations
    conn = sqlite3.connect(db, isolation_level=None)
    for p in SQLITE_PRAGMAS:
        conn.execute(p)
    sql = (
        "INSERT INTO observations (twin_id, code, t_us, received_us, value, value_text, unit, source, source_id, "
        "method, status, meta) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (source, source_id) DO NOTHING"
    )
    t0 = time.perf_counter()
    for i in range(0, len(rows), chunk):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i : i + chunk])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    n = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
    conn.close()
    assert n == len(rows)
    print(f"  raw executemany: {n:,} rows in {elapsed:.2f} s")
    return n / elapsed


def bench_mqtt(n_msgs: int, tmp: Path, host: str = "127.0.0.1", port: int = 1883) -> tuple[float, float]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from medtwin.ingest.mqtt import MqttIngest

    beds = 100
    seconds = n_msgs // beds
    # --- bare paho round trip: publisher QoS 1 -> broker -> subscriber (auto-ack) ---
    prefix = "bench/" + uuid.uuid4().hex[:8]
    msgs = make_messages(beds, seconds, prefix)
    got = threading.Event()
    count = [0]

    def on_msg(_c: object, _u: object, _m: object) -> None:
        count[0] += 1
        if count[0] == len(msgs):
            got.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bsub-" + prefix[-8:], protocol=mqtt.MQTTv5)
    sub.on_message = on_msg
    sub.connect(host, port)
    sub.subscribe(f"{prefix}/devices/+/obs", qos=1)
    sub.loop_start()
    time.sleep(0.5)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bpub-" + prefix[-8:], protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(100)
    pub.connect(host, port)
    pub.loop_start()
    t0 = time.perf_counter()
    for topic, payload in msgs:
        pub.publish(topic, payload, qos=1)
    got.wait(300)
    bare = len(msgs) * len(PARAMS) / (time.perf_counter() - t0)
    sub.loop_stop()
    sub.disconnect()
    # --- medtwin: publisher -> broker -> MqttIngest -> commit -> PUBACK ---
    prefix2 = "bench/" + uuid.uuid4().hex[:8]
    msgs2 = make_messages(beds, seconds, prefix2)
    rt = setup_runtime(str(tmp / "mqtt.db"), beds)
    rt.start()
    ing = MqttIngest(
        rt.ingestor,
        host=host,
        port=port,
        prefix=prefix2,
        client_id="bing-" + prefix2[-8:],
        session_expiry_s=60,
    ).start()
    ing.wait_connected(10)
    time.sleep(0.5)
    t0 = time.perf_counter()
    for topic, payload in msgs2:
        pub.publish(topic, payload, qos=1)
    total = len(msgs2) * len(PARAMS)
    while ing.acked < len(msgs2) and time.perf_counter() - t0 < 600:
        time.sleep(0.01)
    medtwin_rate = total / (time.perf_counter() - t0)
    assert rt.store.count_observations() == total
    ing.stop()
    rt.stop()
    pub.loop_stop()
    pub.disconnect()
    return medtwin_rate, bare


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--beds", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--mqtt-messages", type=int, default=20_000)
    ap.add_argument("--no-mqtt", action="store_true")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"Embedded ingest: {a.beds} beds x {a.seconds} s x {len(PARAMS)} numerics")
        emb, _commits, rows = bench_embedded(a.beds, a.seconds, tmp)
        raw = bench_raw(rows, tmp)
        print(f"medtwin embedded end-to-end: {emb:,.0f} numerics/s")
        print(f"raw sqlite3.executemany:     {raw:,.0f} rows/s")
        print(f"ratio medtwin/raw:           {emb / raw:.2f}  (goal >= 0.30; goal >= 50,000 numerics/s)")
        if not a.no_mqtt:
            print(
                f"\nMQTT end to end: {a.mqtt_messages:,} messages x {len(PARAMS)} numerics, QoS 1, Mosquitto"
            )
            from medtwin.testing.broker import Mosquitto

            # A private broker: the system one keeps Mosquitto's default max_queued_messages 1000 and
            # drops QoS 1 messages beyond it for a consumer that acknowledges only after commit.
            with Mosquitto() as broker:
                m, bare = bench_mqtt(a.mqtt_messages, tmp, port=broker.port)
            print(f"medtwin device->broker->ingest->commit->ack: {m:,.0f} numerics/s")
            print(f"bare paho publish/subscribe round trip:      {bare:,.0f} numerics/s")
            print(f"ratio medtwin/bare paho:                     {m / bare:.2f}")


if __name__ == "__main__":
    main()
