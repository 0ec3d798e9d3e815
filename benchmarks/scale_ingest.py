"""Scale-out ingest benchmark: 1, 2 and 4 ``medtwin worker`` processes on one PostgreSQL, against a
bare multi-process INSERT into the same partitioned table.

Set-up, per worker count N (each on a fresh database ``medtwin_bench_<hex>``, dropped afterwards):

* a private Mosquitto 2 on a free port (``max_queued_messages 0``, ``max_inflight_messages``
  ``--broker-inflight``), so the run states the broker's limits instead of inheriting Debian's;
* N real ``medtwin worker`` processes (the CLI, as deployed) in one MQTT v5 shared subscription
  (``--shared-group``), each committing to PostgreSQL with the idempotent key-table insert,
  rollups and latest state (store migration 13), then acknowledging;
* ``--publishers`` publisher processes playing ``--beds`` bedside monitors between them. Messages
  are made beforehand by medtwin's own simulator (``Ward`` + ``batch_messages``, the format the
  device simulators publish: 1 Hz HR/RR/SpO2/temperature, 15-min NIBP, ``--arterial`` of the
  beds with an arterial line at 1 Hz, 4-h ACVPU), one message per bed-second, encoded before the
  clock starts. Patients, devices and monitor links are registered before the workers start.

Two phases per N:

1. **saturation**: each publisher keeps up to ``--window`` messages awaiting medtwin's
   "committed" ack (closed loop), for ``--seconds``: committed readings/s is the throughput. Lag
   here is mostly queueing (Little's law: window / throughput).
2. **paced**: ``--lag-rate`` readings/s in all, spread evenly, for ``--lag-seconds``: end-to-end lag
   (publish -> broker -> worker -> commit -> ack back at the publisher) p50/p99 at a load below
   saturation.

Checks (exit 1 when one fails): readings sent = the monitors' rows in ``observations`` = their keys
in ``observation_keys`` (with ``--services`` the stored scores are rows too, from other sources); no
(source, source_id) twice; no duplicate and no reject. The acks' "accepted" counts are reported
beside it: a worker drops "committed" acks past its bounded outgoing queue (20,000) when it falls far
behind, by design (the sender resends, the store deduplicates), so ``missing_acks`` can be > 0
without any reading lost; the throughput is then timed to the last ack received.

CPU: every second the per-process CPU time of the workers, publishers, the broker and the
PostgreSQL processes (backends of the bench database, the server's own background processes, and
other databases' backends, which are other people's work on a shared host) is sampled with psutil;
reported as cores used over the saturated phase next to the host's total, and as CPU time per
committed reading. The bench database's backends are sampled at 10 Hz in ``pg_stat_activity`` (on
CPU, waiting for a row lock, idle in transaction, ...). Transactions committed come from
``pg_stat_database``; WAL bytes, records and full-page images per reading from the LSN and
``pg_stat_wal`` (server-wide).

Peer (the ceiling of the database on this host): the same rows as medtwin stores them (the pool's
messages through medtwin's decode and validation), inserted by 1, 2 and 4 bare psycopg processes
into the same partitioned ``observations`` table of a fresh database (no key table, no rollups, no
latest state, no MQTT), ``--raw-batch`` rows per statement (``unnest``) and per commit. Reported:
rows/s, CPU and WAL per row, and medtwin's ratio against it.

Storage: database bytes per reading after the saturated run (``pg_database_size`` growth, and per
table from ``pg_total_relation_size`` summed over partitions), then again after ``VACUUM FULL`` of
the observation tables (without the dead row versions of the rollup and latest-state upserts).

Store migration 13: the one-transaction conversion of a plain table of ``--migration-rows`` rows.

Run: .venv/bin/python benchmarks/scale_ingest.py [--workers 1,2,4] [--seconds 60] [--lag-rate 2000]
     [--lag-seconds 30] [--raw-procs 1,2,4] [--json FILE]
Needs: PostgreSQL (``--pg``, an admin URL, default postgresql://postgres@127.0.0.1:5432/test;
env MEDTWIN_TEST_PG), ``mosquitto`` on PATH.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import psutil  # noqa: E402
import psycopg  # noqa: E402

PREFIX = "bench/v1"
DEVICE_LIKE = "b%-mon-%"  # the simulated monitors' ids (b<publisher>-mon-<bed>); scores have other sources


# ---------------------------------------------------------------------------------------- messages
def make_pool(
    idx: int, beds: int, seconds: int, arterial: float, start: datetime, out: Path
) -> dict[str, Any]:
    """Publisher ``idx``'s messages: ``beds`` monitors x ``seconds`` simulated seconds, time-major."""
    from medtwin.devices.messages import Sequencer, batch_messages, encode
    from medtwin.devices.monitor import MonitorConfig
    from medtwin.devices.ward import Ward

    ward = Ward.generate(
        beds, start=start, seed=1000 + idx, ward_id=f"b{idx}", environment=False, medications=False,
        activity=False, arterial_fraction=arterial, monitor_config=MonitorConfig(sensor_off_mode="omit"),
    )  # fmt: skip
    seq = Sequencer()
    msgs: list[tuple[str, str, int, bytes]] = []
    for _, batches in ward.run(start + timedelta(seconds=seconds)):
        for _topic, payload in batch_messages(batches, seq, PREFIX):
            msgs.append((payload["device"], str(payload["seq"]), len(payload["readings"]), encode(payload)))
    with open(out, "wb") as f:
        pickle.dump(msgs, f, protocol=pickle.HIGHEST_PROTOCOL)
    devices = sorted({m[0] for m in msgs})
    return {
        "file": str(out),
        "devices": devices,
        "patients": [d.replace("-mon-", "-pt-") for d in devices],
        "messages": len(msgs),
        "readings": sum(m[2] for m in msgs),
        "bytes": sum(len(m[3]) for m in msgs),
    }


class Inbox:
    """Messages of the publisher processes by kind (they arrive interleaved)."""

    def __init__(self, q: Any) -> None:
        self.q = q
        self.held: list[tuple[Any, ...]] = []

    def take(self, kind: str, n: int, timeout: float) -> list[Any]:
        got: list[Any] = []
        end = time.time() + timeout
        while len(got) < n:
            for m in [m for m in self.held if m[0] == kind][: n - len(got)]:
                self.held.remove(m)
                got.append(m)
            if len(got) >= n:
                break
            m = self.q.get(timeout=max(0.1, end - time.time()))
            self.held.append(m)
        return got


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


# ---------------------------------------------------------------------------------------- publisher
def publisher(idx: int, port: int, pool: dict[str, Any], a: dict[str, Any], ctl: Any, out: Any) -> None:
    """One publisher process: saturation phase, then a paced phase, on the parent's signal."""
    import orjson
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    with open(pool["file"], "rb") as f:
        msgs = pickle.load(f)
    cv = threading.Condition()
    sent_t: dict[tuple[str, str], float] = {}
    st = {"acked": 0, "accepted": 0, "duplicates": 0, "rejected": 0, "last_ack": 0.0, "unknown": 0}
    lags: list[float] = []
    subscribed = threading.Event()

    def on_ack(_c: Any, _u: Any, m: Any) -> None:
        now = time.time()
        body = orjson.loads(m.payload)
        key = (m.topic.split("/")[-2], str(body.get("seq")))
        with cv:
            t = sent_t.pop(key, None)
            if t is None:
                st["unknown"] += 1
                return
            lags.append(now - t)
            st["acked"] += 1
            st["accepted"] += int(body.get("accepted", 0))
            st["duplicates"] += int(body.get("duplicates", 0))
            st["rejected"] += len(body.get("rejected") or [])
            st["last_ack"] = now
            cv.notify_all()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bpub{idx}-{uuid.uuid4().hex[:6]}",
                    protocol=mqtt.MQTTv5)  # fmt: skip
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.on_message = on_ack
    c.on_subscribe = lambda *_: subscribed.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe([(f"{PREFIX}/devices/{d}/ack", 1) for d in pool["devices"]])
    subscribed.wait(30)
    out.put(("ready", idx, None))
    pos = 0

    def phase(name: str, seconds: float, rate: float) -> None:
        nonlocal pos
        lags.clear()
        for k in st:
            st[k] = 0 if k != "last_ack" else 0.0
        sent_msgs = sent_readings = 0
        t0 = time.time()
        deadline = t0 + seconds
        interval = 1.0 / rate if rate > 0 else 0.0
        nxt = t0
        while pos < len(msgs):
            now = time.time()
            if now >= deadline:
                break
            if rate > 0:
                if now < nxt:
                    time.sleep(min(nxt - now, 0.005))
                    continue
                nxt += interval
            else:
                with cv:
                    while len(sent_t) >= a["window"] and time.time() < deadline:
                        cv.wait(0.05)
                if time.time() >= deadline:
                    break
            dev, seq, n, payload = msgs[pos]
            pos += 1
            with cv:
                sent_t[(dev, seq)] = time.time()
            c.publish(f"{PREFIX}/devices/{dev}/obs", payload, qos=1)
            sent_msgs += 1
            sent_readings += n
        t_stop = time.time()
        end = time.time() + a["drain_s"]
        with cv:  # wait for the acks; give up after drain_s, or 10 s without a new one
            last, seen = time.time(), st["acked"]
            while sent_t and time.time() < end and time.time() - last < 10:
                cv.wait(0.1)
                if st["acked"] != seen:
                    last, seen = time.time(), st["acked"]
            missing = len(sent_t)
            sent_t.clear()
        out.put((name, idx, {
            "t0": t0, "t_stop": t_stop, "last_ack": st["last_ack"], "sent_msgs": sent_msgs,
            "sent_readings": sent_readings, "exhausted": pos >= len(msgs), "missing_acks": missing,
            **{k: st[k] for k in ("acked", "accepted", "duplicates", "rejected", "unknown")},
            "lags": lags[:],
        }))  # fmt: skip

    ctl.wait()  # saturation
    phase("saturation", a["seconds"], 0.0)
    out.put(("waiting", idx, None))
    while not os.path.exists(a["go_paced"]):
        time.sleep(0.05)
    if a["lag_seconds"] > 0:
        phase("paced", a["lag_seconds"], a["msg_rate_each"])
    c.loop_stop()
    c.disconnect()


# ---------------------------------------------------------------------------------------- CPU sampling
class CpuSampler:
    """Per-process CPU seconds by group, sampled every second (processes may come and go)."""

    def __init__(self, pg_admin: str, bench_db: str, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.bench_db = bench_db
        self.conn = psycopg.connect(pg_admin, autocommit=True)
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        self.me = int(row[0]) if row else -1
        self.first: dict[int, tuple[str, float]] = {}
        self.last: dict[int, float] = {}
        self.procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self.t0 = 0.0
        self.host0 = psutil.cpu_times()
        self.load: list[tuple[float, float, float]] = []
        self.waits: dict[str, int] = {}
        self.wait_samples = 0

    def _pids(self) -> dict[int, str]:
        out = {p: g for g, ps in self.groups.items() for p in ps}
        for pid, db, btype in self.conn.execute("SELECT pid, datname, backend_type FROM pg_stat_activity"):
            if pid == self.me:
                continue
            if db == self.bench_db:
                out[pid] = "postgres: bench db backends"
            elif btype in ("client backend", "autovacuum worker") and db is not None:
                out[pid] = "postgres: other databases (not ours)"
            else:
                out[pid] = "postgres: server processes (wal writer, checkpointer, ...)"
        return out

    def sample(self) -> None:
        for pid, g in self._pids().items():
            try:
                p = self.procs.get(pid) or psutil.Process(pid)
                self.procs[pid] = p
                ct = p.cpu_times()
                cpu = ct.user + ct.system
            except psutil.Error:
                continue
            if pid not in self.first:
                born_after = p.create_time() > self.t0
                self.first[pid] = (g, 0.0 if born_after else cpu)
            self.last[pid] = cpu

    def _waits(self) -> None:
        """What the bench database's client backends are doing, 10 times a second: on CPU, waiting
        for a lock (which one), for I/O or WAL, for the client (idle / idle in transaction)."""
        with psycopg.connect(self.conn.info.dsn, autocommit=True) as c:
            while not self._stop.wait(0.1):
                rows = c.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = %s "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                    (self.bench_db,),
                ).fetchall()
                for state, wtype, wev in rows:
                    if state == "active":
                        k = "active: on CPU" if wtype is None else f"active: {wtype}/{wev}"
                    else:
                        k = str(state)
                    self.waits[k] = self.waits.get(k, 0) + 1
                self.wait_samples += 1

    def start(self) -> CpuSampler:
        threading.Thread(target=self._waits, daemon=True).start()
        self.t0 = time.time()
        self.host0 = psutil.cpu_times()
        self.sample()
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.sample()
                self.load.append(os.getloadavg())
            except Exception:  # a vanished backend mid-query; keep sampling
                pass

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self.sample()
        wall = time.time() - self.t0
        h1 = psutil.cpu_times()
        busy = sum(
            getattr(h1, k) - getattr(self.host0, k)
            for k in ("user", "system", "nice", "irq", "softirq", "steal")
        )
        by: dict[str, float] = {}
        for pid, (g, c0) in self.first.items():
            by[g] = by.get(g, 0.0) + max(0.0, self.last.get(pid, c0) - c0)
        self.conn.close()
        cores = {g: round(v / wall, 3) for g, v in sorted(by.items())}
        cores["host total (all processes)"] = round(busy / wall, 3)
        cores["host: everything else"] = round(busy / wall - sum(by.values()) / wall, 3)
        return {
            "wall_s": round(wall, 1),
            "cores": cores,
            "load_avg_max_1m": max((x[0] for x in self.load), default=None),
            # mean number of bench-database backends in each state (sampled at 10 Hz)
            "pg_backend_states": {
                k: round(v / max(1, self.wait_samples), 2)
                for k, v in sorted(self.waits.items(), key=lambda kv: -kv[1])
            },
        }


# ---------------------------------------------------------------------------------------- database
def wal_lsn(admin: str) -> int:
    """The server's current WAL position in bytes (server-wide: other databases' writes count too)."""
    with psycopg.connect(admin, autocommit=True) as c:
        row = c.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").fetchone()
        return int(row[0]) if row else 0


def wal_stats(admin: str) -> dict[str, int]:
    """Server-wide WAL counters (pg_stat_wal): records, full-page images, bytes."""
    with psycopg.connect(admin, autocommit=True) as c:
        row = c.execute("SELECT wal_records, wal_fpi, wal_bytes::bigint FROM pg_stat_wal").fetchone()
        return {"records": int(row[0]), "fpi": int(row[1]), "bytes": int(row[2])} if row else {}


def lsn_text(pos: int) -> str:
    """A WAL position as PostgreSQL prints it (for pg_waldump --start/--end)."""
    return f"{pos >> 32:X}/{pos & 0xFFFFFFFF:X}"


def create_db(admin: str) -> tuple[str, str]:
    name = "medtwin_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name, admin.rsplit("/", 1)[0] + "/" + name


def drop_db(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_db(url: str, pools: list[dict[str, Any]], tmp: Path) -> None:
    """Migrate, then register the patients, the monitors and the monitor -> patient links."""
    from medtwin.config import Settings
    from medtwin.core.model import RelType, Twin, TwinKind
    from medtwin.runtime import Runtime

    rt = Runtime(Settings.load(db=url, mqtt_enabled=False, data_dir=tmp / "setup"))
    try:
        for p in pools:
            for dev, pid in zip(p["devices"], p["patients"], strict=True):
                rt.registry.put(Twin(pid, TwinKind.PATIENT, f"Bench {pid}"))
                rt.registry.put(Twin(dev, TwinKind.DEVICE, dev))
                rt.registry.relate(dev, RelType.MONITORS, pid)
    finally:
        rt.stop()


def db_stats(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as c:

        def one(sql: str, *args: Any) -> int:
            row = c.execute(sql, args or None).fetchone()
            return int(row[0]) if row else 0

        dup_sql = "SELECT count(*) FROM (SELECT 1 FROM observations GROUP BY source, source_id HAVING count(*) > 1) d"
        part_sql = "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree(%s)"
        tables = {t: one(part_sql, t) for t in ("observations", "obs_rollup_1m")}
        for t in ("observation_keys", "obs_rollup_1h", "latest", "obs_feed"):
            tables[t] = one("SELECT pg_total_relation_size(%s)", t)
        return {
            "rows": one("SELECT count(*) FROM observations"),
            "device_rows": one(f"SELECT count(*) FROM observations WHERE source LIKE '{DEVICE_LIKE}'"),
            "device_keys": one(f"SELECT count(*) FROM observation_keys WHERE source LIKE '{DEVICE_LIKE}'"),
            "keys": one("SELECT count(*) FROM observation_keys"),
            "dup_keys_in_observations": one(dup_sql),
            "default_partition_rows": one("SELECT count(*) FROM observations__default"),
            "rejects": one("SELECT count(*) FROM ingest_rejects"),
            "db_bytes": one("SELECT pg_database_size(current_database())"),
            "xact_commit": one("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"),
            "table_bytes": tables,
            "rollup_1m_rows": one("SELECT count(*) FROM obs_rollup_1m"),
            "rollup_1h_rows": one("SELECT count(*) FROM obs_rollup_1h"),
        }


# ---------------------------------------------------------------------------------------- workers
def start_workers(
    n: int, url: str, port: int, tmp: Path, env: dict[str, str], services: bool
) -> list[subprocess.Popen[str]]:
    exe = str(ROOT / ".venv" / "bin" / "medtwin")
    procs = []
    for i in range(n):
        wenv = {**env, "MEDTWIN_DATA_DIR": str(tmp / f"w{i}")}
        cmd = [exe, "worker", "--db", url, "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port),
               "--prefix", PREFIX, "--client-id", f"bench-w{i}-{uuid.uuid4().hex[:6]}", "--shared-group", "bench",
               "--session-expiry", "60"]  # fmt: skip
        if services:
            cmd.append("--services")
        procs.append(
            subprocess.Popen(cmd, env=wenv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    for p in procs:
        deadline = time.time() + 60
        while time.time() < deadline:
            line = p.stdout.readline() if p.stdout else ""
            if "worker connected" in line:
                break
            if not line and p.poll() is not None:
                raise RuntimeError(f"worker exited with {p.returncode}")
        else:
            raise RuntimeError("worker did not connect")
        threading.Thread(target=lambda s=p.stdout: [None for _ in s], daemon=True).start()  # drain its output
    return procs


def stop_workers(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


# ---------------------------------------------------------------------------------------- one run
def run_workers(n: int, a: argparse.Namespace, pools: list[dict[str, Any]], broker: Any, tmp: Path,
                env: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    name, url = create_db(a.pg)
    try:
        setup_db(url, pools, tmp)
        before = db_stats(url)
        workers = start_workers(n, url, broker.port, tmp, env, a.services)
        ctx = mp.get_context("spawn")
        ctl, q = ctx.Event(), ctx.Queue()
        out = Inbox(q)
        go = tmp / f"go-paced-{n}"
        readings_per_msg = sum(p["readings"] for p in pools) / sum(p["messages"] for p in pools)
        shared = {"window": a.window, "seconds": a.seconds, "lag_seconds": a.lag_seconds, "drain_s": 120.0,
                  "go_paced": str(go), "msg_rate_each": a.lag_rate / readings_per_msg / len(pools)}  # fmt: skip
        pubs = [
            ctx.Process(target=publisher, args=(i, broker.port, p, shared, ctl, q))
            for i, p in enumerate(pools)
        ]
        try:
            for p in pubs:
                p.start()
            out.take("ready", len(pubs), 120)
            groups = {"medtwin workers": [w.pid for w in workers], "publishers": [p.pid for p in pubs],  # type: ignore[misc]
                      "mosquitto": [broker.proc.pid]}  # fmt: skip
            load0 = os.getloadavg()
            sampler = CpuSampler(a.pg, name, groups).start()
            x0 = db_stats(url)["xact_commit"]
            wal0, ws0 = wal_lsn(a.pg), wal_stats(a.pg)
            ctl.set()
            sat = out.take("saturation", len(pubs), a.seconds + 300)
            cpu = sampler.stop()
            wal1, ws1 = wal_lsn(a.pg), wal_stats(a.pg)
            load1 = os.getloadavg()
            out.take("waiting", len(pubs), 60)
            mid = db_stats(url)
            paced: list[Any] = []
            if a.lag_seconds > 0:
                time.sleep(2)
                load_p0 = os.getloadavg()
                go.touch()
                paced = out.take("paced", len(pubs), a.lag_seconds + 300)
                load_p1 = os.getloadavg()
            for p in pubs:
                p.join(60)
        finally:
            for p in pubs:
                if p.is_alive():
                    p.terminate()
            stop_workers(workers)
        after = db_stats(url)
        with psycopg.connect(url, autocommit=True) as c:  # dead tuples of the rollup/latest upserts out
            for t in (
                "observations",
                "observation_keys",
                "obs_rollup_1m",
                "obs_rollup_1h",
                "latest",
                "obs_feed",
            ):
                c.execute(f"VACUUM FULL ANALYZE {t}")
        compact = db_stats(url)
    finally:
        if not a.keep_db:
            drop_db(a.pg, name)
    s = [x[2] for x in sat]
    t0, t1 = min(x["t0"] for x in s), max(x["last_ack"] for x in s)
    sent_r = sum(x["sent_readings"] for x in s)
    res: dict[str, Any] = {
        "workers": n,
        "saturation": {
            "readings_sent": sent_r, "messages_sent": sum(x["sent_msgs"] for x in s),
            "accepted": sum(x["accepted"] for x in s), "duplicates": sum(x["duplicates"] for x in s),
            "rejected": sum(x["rejected"] for x in s), "missing_acks": sum(x["missing_acks"] for x in s),
            "pool_exhausted": any(x["exhausted"] for x in s), "elapsed_s": round(t1 - t0, 2),
            "readings_per_s": round(sent_r / (t1 - t0), 1),
            "lag_p50_s": pct([v for x in s for v in x["lags"]], 50), "lag_p99_s": pct([v for x in s for v in x["lags"]], 99),
            "rows_committed": mid["rows"] - before["rows"],
            "commits": mid["xact_commit"] - x0,
            "wal_lsn": [lsn_text(wal0), lsn_text(wal1)],
            "wal_per_reading": {k: round((ws1[k] - ws0[k]) / max(1, sent_r), 3) for k in ws0},
            "wal_bytes": wal1 - wal0, "wal_bytes_per_reading": round((wal1 - wal0) / max(1, sent_r), 1),
            "load_avg_1m": [round(load0[0], 2), round(load1[0], 2)], "cpu": cpu,
        },
    }  # fmt: skip
    cpu["us_per_reading"] = {g: round(v * cpu["wall_s"] * 1e6 / max(1, sent_r), 1) for g, v in cpu["cores"].items()
                             if not g.startswith("host")}  # fmt: skip
    res["saturation"]["readings_per_commit"] = round(
        res["saturation"]["rows_committed"] / max(1, res["saturation"]["commits"]), 1
    )
    if paced:
        pz = [x[2] for x in paced]
        lg = [v for x in pz for v in x["lags"]]
        pt0, pt1 = min(x["t0"] for x in pz), max(x["t_stop"] for x in pz)
        res["paced"] = {
            "target_readings_per_s": a.lag_rate,
            "readings_sent": sum(x["sent_readings"] for x in pz),
            "achieved_readings_per_s": round(sum(x["sent_readings"] for x in pz) / (pt1 - pt0), 1),
            "accepted": sum(x["accepted"] for x in pz), "duplicates": sum(x["duplicates"] for x in pz),
            "missing_acks": sum(x["missing_acks"] for x in pz),
            "lag_p50_s": pct(lg, 50), "lag_p99_s": pct(lg, 99), "lag_max_s": max(lg) if lg else None,
            "load_avg_1m": [round(load_p0[0], 2), round(load_p1[0], 2)],
        }  # fmt: skip
    sent_all = sent_r + (res["paced"]["readings_sent"] if paced else 0)
    acc_all = res["saturation"]["accepted"] + (res["paced"]["accepted"] if paced else 0)
    res["check"] = {  # the monitors' readings; with --services the scores are stored too (other sources)
        "readings_sent": sent_all, "accepted_in_acks": acc_all, "device_rows": after["device_rows"],
        "device_keys": after["device_keys"], "all_rows": after["rows"],
        "dup_keys_in_observations": after["dup_keys_in_observations"], "rejects": after["rejects"],
        "default_partition_rows": after["default_partition_rows"],
        "missing_acks": res["saturation"]["missing_acks"] + (res["paced"]["missing_acks"] if paced else 0),
        "ok": sent_all == after["device_rows"] == after["device_keys"] and after["dup_keys_in_observations"] == 0
        and after["rejects"] == 0 and res["saturation"]["duplicates"] == 0,
    }  # fmt: skip
    grown = mid["db_bytes"] - before["db_bytes"]
    rows = max(1, mid["rows"] - before["rows"])
    res["storage"] = {
        "rows": mid["rows"], "db_bytes_growth": grown, "bytes_per_reading_db": round(grown / rows, 1),
        "bytes_per_reading_by_table": {k: round((v - before["table_bytes"][k]) / rows, 1) for k, v in mid["table_bytes"].items()},
        "rollup_1m_rows": mid["rollup_1m_rows"], "rollup_1h_rows": mid["rollup_1h_rows"],
    }  # fmt: skip
    rows_all = max(1, compact["rows"])
    tb0, tb = before["table_bytes"], compact["table_bytes"]
    res["storage"]["compacted"] = {  # after VACUUM FULL: the steady state without dead row versions
        "rows": compact["rows"],
        "bytes_per_reading_by_table": {k: round((v - tb0[k]) / rows_all, 1) for k, v in tb.items()},
        "bytes_per_reading_tables": round(sum(v - tb0[k] for k, v in tb.items()) / rows_all, 1),
        "bytes_per_row": {
            "observations": round(tb["observations"] / rows_all, 1),
            "observation_keys": round(tb["observation_keys"] / max(1, compact["keys"]), 1),
            "obs_rollup_1m": round(tb["obs_rollup_1m"] / max(1, compact["rollup_1m_rows"]), 1),
            "obs_rollup_1h": round(tb["obs_rollup_1h"] / max(1, compact["rollup_1h_rows"]), 1),
        },
        "rollup_1m_rows": compact["rollup_1m_rows"], "rollup_1h_rows": compact["rollup_1h_rows"],
    }  # fmt: skip
    return res


# ---------------------------------------------------------------------------------------- raw peer
RAW_COLS = (
    "twin_id, code, t_us, received_us, value, value_text, unit, source, source_id, method, status, meta"
)
RAW_INSERT = (
    f"INSERT INTO observations ({RAW_COLS}) SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], "
    "%s::bigint[], %s::float8[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
)


def raw_proc(url: str, rows_file: str, n: int, part: int, parts: int, batch: int, go: Any, out: Any) -> None:
    with open(rows_file, "rb") as f:
        rows = pickle.load(f)[:n][part::parts]
    batches = [[list(c) for c in zip(*rows[i : i + batch], strict=True)] for i in range(0, len(rows), batch)]
    with psycopg.connect(url) as c:
        out.put(("ready", part))
        go.wait()
        t0 = time.time()
        for cols in batches:
            c.execute(RAW_INSERT, cols)
            c.commit()
        out.put(("done", part, len(rows), t0, time.time()))


def make_rows(pools: list[dict[str, Any]], n_rows: int, rows_file: Path, tmp: Path) -> int:
    """Observation rows as medtwin stores them, by running the pool's first messages through the
    real decode + validation (``Ingestor.prepare``) on a throw-away SQLite store."""
    from medtwin.config import Settings
    from medtwin.core.model import Twin, TwinKind
    from medtwin.ingest.mqtt import decode
    from medtwin.runtime import Runtime
    from medtwin.store.sql import _obs_rows

    rt = Runtime(Settings.load(db=str(tmp / "rows.db"), mqtt_enabled=False, data_dir=tmp / "rows"))
    for p in pools:
        for pid in p["patients"]:
            rt.store.put_twin(Twin(pid, TwinKind.PATIENT))
    rt.ingestor.refresh()
    rows: list[tuple[Any, ...]] = []
    lists = []
    for p in pools:
        with open(p["file"], "rb") as f:
            lists.append(pickle.load(f))
    i = 0
    while len(rows) < n_rows and any(i < len(m) for m in lists):
        for m in lists:
            if i < len(m):
                dev, _seq, _n, payload = m[i]
                prepared = rt.ingestor.prepare(decode(f"{PREFIX}/devices/{dev}/obs", payload, PREFIX))
                rows.extend(_obs_rows(prepared[0]))
        i += 1
    rt.stop()
    rows = rows[:n_rows]
    with open(rows_file, "wb") as f:
        pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)
    return len(rows)


def run_raw(procs: int, a: argparse.Namespace, rows_file: Path, n_rows: int) -> dict[str, Any]:
    name, url = create_db(a.pg)
    try:
        from medtwin.store.sql import SqlStore

        SqlStore(url).close()  # the same schema (migration 13: partitioned observations)
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        ps = [
            ctx.Process(target=raw_proc, args=(url, str(rows_file), n_rows, i, procs, a.raw_batch, go, out))
            for i in range(procs)
        ]
        for p in ps:
            p.start()
        for _ in ps:
            assert out.get(timeout=300)[0] == "ready"
        load0 = os.getloadavg()
        groups = {"raw insert processes": [p.pid for p in ps]}  # type: ignore[misc]
        sampler = CpuSampler(a.pg, name, groups).start()
        wal0, ws0 = wal_lsn(a.pg), wal_stats(a.pg)
        go.set()
        done = [out.get(timeout=1800) for _ in ps]
        cpu = sampler.stop()
        wal1, ws1 = wal_lsn(a.pg), wal_stats(a.pg)
        load1 = os.getloadavg()
        for p in ps:
            p.join(30)
        st = db_stats(url)
    finally:
        drop_db(a.pg, name)
    t0, t1 = min(d[3] for d in done), max(d[4] for d in done)
    assert st["rows"] == n_rows, (st["rows"], n_rows)
    cpu["us_per_row"] = {g: round(v * cpu["wall_s"] * 1e6 / n_rows, 1) for g, v in cpu["cores"].items()
                         if not g.startswith("host")}  # fmt: skip
    return {"procs": procs, "rows": n_rows, "elapsed_s": round(t1 - t0, 2), "rows_per_s": round(n_rows / (t1 - t0), 1),
            "batch": a.raw_batch, "wal_bytes_per_row": round((wal1 - wal0) / n_rows, 1), "wal_fpi_per_row": round((ws1["fpi"] - ws0["fpi"]) / n_rows, 4), "load_avg_1m": [round(load0[0], 2), round(load1[0], 2)], "cpu": cpu}  # fmt: skip


def run_migration(a: argparse.Namespace, rows_file: Path, n: int) -> dict[str, Any]:
    """Store migration 13 on a plain table of ``n`` rows: the time of the one-transaction conversion
    (rename, partitioned tables, copy of rows and keys, rollups), during which observations are locked."""
    from medtwin.store import migrations
    from medtwin.store.pg_schema import POSTGRESQL_V13

    name, url = create_db(a.pg)
    try:
        with psycopg.connect(url) as c:
            c.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_us BIGINT NOT NULL)")
            for m in migrations.MIGRATIONS:
                if m.version >= 13:
                    break
                for stmt in m.postgresql:
                    c.execute(stmt)
                c.execute("INSERT INTO schema_version VALUES (%s, 0)", (m.version,))
            c.commit()
            with open(rows_file, "rb") as f:
                rows = pickle.load(f)[:n]
            for i in range(0, len(rows), 10_000):
                c.execute(RAW_INSERT, [list(col) for col in zip(*rows[i : i + 10_000], strict=True)])
            c.commit()
            c.autocommit = True
            c.execute("VACUUM ANALYZE observations")
            c.autocommit = False
            load0 = os.getloadavg()
            t0 = time.perf_counter()
            for stmt in POSTGRESQL_V13:
                c.execute(stmt)
            c.execute("INSERT INTO schema_version VALUES (13, 0)")
            c.commit()
            elapsed = time.perf_counter() - t0
        st = db_stats(url)
    finally:
        drop_db(a.pg, name)
    assert st["rows"] == st["keys"] == len(rows), (st["rows"], st["keys"], len(rows))
    return {"rows": len(rows), "elapsed_s": round(elapsed, 2), "rows_per_s": round(len(rows) / elapsed, 1),
            "load_avg_1m": [round(load0[0], 2), round(os.getloadavg()[0], 2)]}  # fmt: skip


# ---------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--seconds", type=float, default=60.0, help="saturated phase per worker count")
    ap.add_argument("--lag-rate", type=float, default=2000.0, help="readings/s of the paced phase")
    ap.add_argument("--lag-seconds", type=float, default=30.0, help="paced phase (0: skip)")
    ap.add_argument("--beds", type=int, default=1000)
    ap.add_argument("--pool-seconds", type=int, default=600, help="simulated seconds of messages per bed")
    ap.add_argument("--arterial", type=float, default=0.3, help="share of beds with an arterial line")
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--window", type=int, default=2000, help="messages awaiting their ack, per publisher")
    ap.add_argument("--broker-inflight", type=int, default=1000, help="mosquitto max_inflight_messages")
    ap.add_argument("--services", action="store_true", help="workers also own shards (scores, alarms)")
    ap.add_argument("--raw-procs", default="1,2,4", help="bare INSERT peer processes ('' to skip)")
    ap.add_argument("--raw-rows", type=int, default=1_000_000)
    ap.add_argument("--raw-batch", type=int, default=1000)
    ap.add_argument("--migration-rows", type=int, default=1_000_000, help="migration 13 timing (0: skip)")
    ap.add_argument(
        "--pg", default=os.environ.get("MEDTWIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--json", help="write all figures to this file")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    a = ap.parse_args()
    from medtwin.testing.broker import Mosquitto

    counts = [int(x) for x in a.workers.split(",") if x]
    raw_counts = [int(x) for x in a.raw_procs.split(",") if x]
    tmp = Path(tempfile.mkdtemp(prefix="medtwin-scale-"))
    env = {**os.environ, "MEDTWIN_KEK_FILE": str(tmp / "keys" / "keyring.json"),
           "MEDTWIN_AUDIT_KEY_FILE": str(tmp / "keys" / "audit.key")}  # fmt: skip
    os.environ.update({k: env[k] for k in ("MEDTWIN_KEK_FILE", "MEDTWIN_AUDIT_KEY_FILE")})
    (tmp / "keys").mkdir()
    started = datetime.now(UTC)
    print(f"scale_ingest: {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load {os.getloadavg()}")  # fmt: skip
    start = (started - timedelta(seconds=a.pool_seconds + 60)).replace(microsecond=0)
    t = time.perf_counter()
    per = [a.beds // a.publishers + (1 if i < a.beds % a.publishers else 0) for i in range(a.publishers)]
    pools = [
        make_pool(i, per[i], a.pool_seconds, a.arterial, start, tmp / f"pool{i}.pkl")
        for i in range(a.publishers)
    ]
    msgs, rds = sum(p["messages"] for p in pools), sum(p["readings"] for p in pools)
    print(f"messages made by the device simulator: {msgs:,} ({rds:,} readings, {rds / msgs:.2f} per message, "
          f"{sum(p['bytes'] for p in pools) / msgs:.0f} bytes each) in {time.perf_counter() - t:.1f} s")  # fmt: skip
    results: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"), "argv": sys.argv[1:], "cpus": os.cpu_count(),
        "beds": a.beds, "publishers": a.publishers, "readings_per_message": round(rds / msgs, 3),
        "message_bytes": round(sum(p["bytes"] for p in pools) / msgs, 1), "workers": [], "raw": [],
    }  # fmt: skip
    broker = Mosquitto(max_queued=0, max_inflight=a.broker_inflight).start()
    try:
        for n in counts:
            print(
                f"\n== {n} worker(s): saturation {a.seconds:.0f} s, then {a.lag_rate:,.0f} readings/s for {a.lag_seconds:.0f} s"
            )
            r = run_workers(n, a, pools, broker, tmp, env)
            results["workers"].append(r)
            s = r["saturation"]
            print(f"  committed {s['readings_sent']:,} readings in {s['elapsed_s']} s: {s['readings_per_s']:,.0f} readings/s "
                  f"({s['readings_per_commit']} per commit, {s['wal_bytes_per_reading']} WAL bytes and "
                  f"{s['wal_per_reading']['fpi']} full-page images each), lag at saturation p50 {s['lag_p50_s']:.3f} s p99 {s['lag_p99_s']:.3f} s, "
                  f"load {s['load_avg_1m']}")  # fmt: skip
            print("  CPU cores used: " + ", ".join(f"{k} {v}" for k, v in s["cpu"]["cores"].items()))
            print("  PostgreSQL backends (mean count by state): " + ", ".join(
                f"{k} {v}" for k, v in s["cpu"]["pg_backend_states"].items()))  # fmt: skip
            print(
                "  CPU time per committed reading (us): "
                + ", ".join(f"{k} {v}" for k, v in s["cpu"]["us_per_reading"].items())
            )
            if "paced" in r:
                p = r["paced"]
                print(f"  paced {p['achieved_readings_per_s']:,.0f} readings/s: lag p50 {p['lag_p50_s']:.3f} s, "
                      f"p99 {p['lag_p99_s']:.3f} s, max {p['lag_max_s']:.3f} s, load {p['load_avg_1m']}")  # fmt: skip
            print(f"  check: {r['check']}")
            st = r["storage"]
            print(
                f"  storage as written: {st['bytes_per_reading_db']} database bytes per reading; by table {st['bytes_per_reading_by_table']}"
            )
            cp = st["compacted"]
            print(f"  storage after VACUUM FULL: {cp['bytes_per_reading_tables']} bytes per reading in the observation tables "
                  f"{cp['bytes_per_reading_by_table']}; bytes per row {cp['bytes_per_row']}")  # fmt: skip
        if raw_counts or a.migration_rows:
            rows_file = tmp / "rows.pkl"
            n_rows = make_rows(pools, max(a.raw_rows, a.migration_rows), rows_file, tmp)
        if a.migration_rows:
            print(f"\n== store migration 13 on a plain table of {a.migration_rows:,} rows (one transaction)")
            results["migration13"] = r = run_migration(a, rows_file, a.migration_rows)
            print(
                f"  {r['rows']:,} rows converted in {r['elapsed_s']} s: {r['rows_per_s']:,.0f} rows/s, load {r['load_avg_1m']}"
            )
        if raw_counts:
            n_rows = min(n_rows, a.raw_rows)
            for k in raw_counts:
                print(
                    f"\n== bare INSERT peer, {k} process(es), {n_rows:,} rows, {a.raw_batch} per statement and commit"
                )
                r = run_raw(k, a, rows_file, n_rows)
                results["raw"].append(r)
                print(f"  {r['rows_per_s']:,.0f} rows/s in {r['elapsed_s']} s ({r['wal_bytes_per_row']} WAL bytes per row), "
                      f"load {r['load_avg_1m']}")  # fmt: skip
                print("  CPU cores used: " + ", ".join(f"{k2} {v}" for k2, v in r["cpu"]["cores"].items()))
                print(
                    "  CPU time per row (us): "
                    + ", ".join(f"{k2} {v}" for k2, v in r["cpu"]["us_per_row"].items())
                )
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # message pools and rows: hundreds of MB
    print("\n== summary")
    first = results["workers"][0] if results["workers"] else None
    per_worker = first["saturation"]["readings_per_s"] / first["workers"] if first else None
    best_raw = max((r["rows_per_s"] for r in results["raw"]), default=None)
    for r in results["workers"]:
        s = r["saturation"]
        n = r["workers"]
        eff = s["readings_per_s"] / (n * per_worker) if per_worker else None
        raw_same = next((x["rows_per_s"] for x in results["raw"] if x["procs"] == n), None)
        r["scaling_efficiency"] = round(eff, 3) if eff else None
        r["ratio_to_raw_same_procs"] = round(s["readings_per_s"] / raw_same, 3) if raw_same else None
        r["ratio_to_best_raw"] = round(s["readings_per_s"] / best_raw, 3) if best_raw else None
        lag = r.get("paced", {})
        print(f"  {n} worker(s): {s['readings_per_s']:>9,.0f} readings/s  speed-up {s['readings_per_s'] / first['saturation']['readings_per_s']:.2f}x  "
              f"efficiency {eff:.2f}  vs raw ({n} procs) {r['ratio_to_raw_same_procs']}  vs best raw {r['ratio_to_best_raw']}  "
              f"paced lag p50/p99 {lag.get('lag_p50_s', float('nan')):.3f}/{lag.get('lag_p99_s', float('nan')):.3f} s  "
              f"checks {'ok' if r['check']['ok'] else 'FAILED'}"
              + (f" ({r['check']['missing_acks']} acks missing)" if r["check"]["missing_acks"] else ""))  # fmt: skip
    for r in results["raw"]:
        print(f"  raw INSERT, {r['procs']} process(es): {r['rows_per_s']:>9,.0f} rows/s")
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1, default=str))
        print(f"figures written to {a.json}")
    if any(not r["check"]["ok"] for r in results["workers"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
