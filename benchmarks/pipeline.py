"""Pipeline benchmark (issue 3, item 7): ingest with live scores (and alarms) on.

Part 1, throughput. Pre-encoded MQTT-shaped JSON messages (one per bed-second, 6 numerics:
hr, spo2, rr, temp, sbp, dbp) go through the real embedded path: JSON decode -> validation ->
BatchWriter group commit (SQLite WAL, synchronous=FULL) -> ObservationsRecorded -> ScoringService
(NEWS2, qSOFA, MEWS stored as derived observations through the same writer) -> AlarmService (when
``medtwin.services.monitoring.alarms`` is importable). The clock is the wall clock, so the
scoring rate limit (one unchanged score per patient per 5 s) applies as in production while
300 simulated seconds replay in a few wall seconds: the figure is an upper bound on what the
scoring costs at 1 Hz. Measured from the first message to the moment every reading is committed
*and* the services are idle (every changed score and every alarm stored; unchanged scores still
held back by the rate limit are not waited for). The peer in the same run is the same ingest with
no services attached; the ratio shows what scores and alarms cost.

Part 2, latency at a sustained rate. ``--latency-beds`` beds (1,000) send 5 numerics (hr, spo2,
rr, temp, sbp) once a second each, spread evenly over the second: 5,000 readings/s for
``--latency-seconds``. Every bed's pulse alternates 85/95 /min, which moves NEWS2 between 0 and 1
each second, so every message changes a score and must be stored at once (the rate limit never
hides it): the worst case for the scoring service. Latency of a reading = from just before its
message enters the Ingestor (JSON decode included) to the commit of the first NEWS2 that used it
or a later reading of the same patient (``Generic(type="score")`` after the commit). With alarms,
``--alarm-beds`` beds ramp their pulse by 5 /min per second from 85 to 150 at a fixed time; alarm
latency = from the first reading above the 120 /min limit to the alarm's ``raised`` event. The
alarm condition delay (15 s by default: a clinical persistence filter, Görges 2009; Rheineck) is
set to 0 in this run so the figure is the pipeline's own latency; in production add the delay.

Run: .venv/bin/python benchmarks/pipeline.py [--beds 200] [--seconds 300] [--latency-beds 1000]
     [--latency-seconds 60] [--alarm-beds 50] [--no-alarms]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from medtwin.config import Settings
from medtwin.core.events import Generic
from medtwin.core.model import Method, Twin, TwinKind
from medtwin.ingest.mqtt import decode
from medtwin.ingest.pipeline import IngestResult, ReadingBatch
from medtwin.runtime import Runtime
from medtwin.services.monitoring.scoring import ScoringService

PARAMS = (
    ("hr", "/min", 75),
    ("spo2", "%", 96),
    ("rr", "/min", 16),
    ("temp", "Cel", 36.8),
    ("sbp", "mm[Hg]", 120),
)
THROUGHPUT_PARAMS = (*PARAMS, ("dbp", "mm[Hg]", 75))


def alarm_service_class() -> Any | None:
    try:
        from medtwin.services.monitoring.alarms.service import AlarmService
    except ImportError:
        return None
    return AlarmService


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def setup_runtime(db: str, beds: int, start: datetime) -> Runtime:
    rt = Runtime(Settings.load(db=db, mqtt_enabled=False))
    for b in range(beds):
        rt.store.put_twin(Twin(f"P{b:04d}", TwinKind.PATIENT))
    rt.ingestor.refresh()
    rt.start()
    # a charted ACVPU and air/oxygen per patient, so NEWS2 has all seven parameters
    futs = [
        rt.ingestor.ingest(
            ReadingBatch(
                source="user:bench",
                msg_id=f"base-{b}",
                subject=f"P{b:04d}",
                method=Method.MANUAL,
                readings=[
                    {"code": "acvpu", "value": "A", "time": iso(start)},
                    {"code": "o2_device", "value": "air", "time": iso(start)},
                ],
            )
        )
        for b in range(beds)
    ]
    for f in futs:
        f.result()
    return rt


def attach(
    rt: Runtime, scores: bool, alarms: bool, alarm_overrides: dict[str, Any] | None = None
) -> list[Any]:
    services: list[Any] = []
    if scores:
        services.append(ScoringService().attach(rt).start())
    cls = alarm_service_class() if alarms else None
    if cls is not None:
        kw: dict[str, Any] = {}
        if alarm_overrides:
            from medtwin.services.monitoring.alarms.config import AlarmConfig

            kw["config"] = AlarmConfig.from_mapping(alarm_overrides)
        services.append(cls.attach(rt, **kw).start())
    return services


def wait_idle(services: list[Any], timeout: float = 600.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(s.wait_idle(1.0) for s in services) and all(s.wait_idle(0.2) for s in services):
            return
    raise TimeoutError("services did not go idle")


# ----------------------------------------------------------------------------- part 1
def make_messages(beds: int, seconds: int, start: datetime) -> list[tuple[str, bytes]]:
    msgs = []
    for s in range(seconds):
        t = iso(start + timedelta(seconds=s))
        for b in range(beds):
            readings = [
                {"code": c, "value": v + ((s + b) % 5), "unit": u, "time": t} for c, u, v in THROUGHPUT_PARAMS
            ]
            body = {"device": f"MON-{b:04d}", "patient": f"P{b:04d}", "seq": s, "readings": readings}
            msgs.append((f"medtwin/v1/devices/MON-{b:04d}/obs", json.dumps(body).encode()))
    return msgs


def throughput(beds: int, seconds: int, tmp: Path, label: str, scores: bool, alarms: bool) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(seconds=seconds + 5)
    msgs = make_messages(beds, seconds, start)
    rt = setup_runtime(str(tmp / f"{label}.db"), beds, start)
    services = attach(rt, scores, alarms)
    before = rt.store.count_observations()
    t0 = time.perf_counter()
    futures = [rt.ingestor.ingest(decode(topic, payload)) for topic, payload in msgs]
    accepted = sum(f.result().accepted for f in futures)
    t_ingest = time.perf_counter() - t0
    wait_idle(services)
    elapsed = time.perf_counter() - t0
    derived = rt.store.count_observations() - before - accepted
    out = {
        "label": label,
        "numerics": accepted,
        "seconds": elapsed,
        "ingest_seconds": t_ingest,
        "rate": accepted / elapsed,
        "derived": derived,
        "services": [type(s).__name__ for s in services],
    }
    for s in services:
        if isinstance(s, ScoringService):
            out["scores_computed"], out["scores_stored"], out["rounds"] = s.computed, s.stored, s.rounds
    rt.stop()
    assert accepted == beds * seconds * len(THROUGHPUT_PARAMS), accepted
    return out


# ----------------------------------------------------------------------------- part 2
class LatencyProbe:
    """Per patient, the messages not yet covered by a stored NEWS2 (max obs id, submit time)."""

    def __init__(self, alarm_beds: set[str]) -> None:
        self.pending: dict[str, deque[tuple[int, float]]] = {}
        self.lock = threading.Lock()
        self.score_lat: list[float] = []
        self.alarm_lat: list[float] = []
        self.alarm_beds = alarm_beds
        self.crossed: dict[str, float] = {}
        self.raised: set[str] = set()

    def submitted(self, patient: str, t_submit: float) -> Callable[[Any], None]:
        def done(fut: Any) -> None:
            try:
                res: IngestResult = fut.result()
            except Exception:
                return
            ids = [o.id for o in res.observations if o.id is not None]
            if ids:
                with self.lock:
                    self.pending.setdefault(patient, deque()).append((max(ids), t_submit))

        return done

    def on_event(self, e: Generic) -> None:
        now = time.perf_counter()
        if e.type == "score" and e.data.get("score") == "news2":
            newest = max(e.data.get("derived_from") or [0])
            with self.lock:
                q = self.pending.get(e.data["twin"])
                while q and q[0][0] <= newest:
                    self.score_lat.append(now - q.popleft()[1])
        elif e.type == "alarm":
            ev = e.data.get("event") or {}
            twin = e.data.get("twin")
            if ev.get("type") == "raised" and twin in self.alarm_beds and twin not in self.raised:
                t = self.crossed.get(twin)
                if t is not None and str(e.data.get("condition", "")).startswith("hr"):
                    self.raised.add(twin)
                    self.alarm_lat.append(now - t)


def latency(beds: int, seconds: int, alarm_beds: int, tmp: Path, alarms: bool) -> dict[str, Any]:
    start = datetime.now(UTC)
    rt = setup_runtime(str(tmp / "latency.db"), beds, start - timedelta(seconds=1))
    zero = {k: 0 for k in ("hr", "rr", "spo2", "sbp", "dbp", "map", "temp", "news2")}
    services = attach(rt, True, alarms, {"delay_s": zero, "default_delay_s": 0.0})
    ramp_beds = (
        {f"P{b:04d}" for b in range(alarm_beds)}
        if any(not isinstance(s, ScoringService) for s in services)
        else set()
    )
    probe = LatencyProbe(ramp_beds)
    rt.bus.subscribe(Generic, probe.on_event)
    ramp_at = min(20, max(1, seconds // 3))
    tick = 0.01  # the producer sleeps when it is more than 10 ms ahead of schedule
    t_begin = time.perf_counter()
    sent = 0
    behind = 0.0
    for s in range(seconds):
        for b in range(beds):
            due = t_begin + s + b / beds
            wait = due - time.perf_counter()
            if wait > tick:
                time.sleep(wait)
            elif wait < -0.05:
                behind = max(behind, -wait)
            pid = f"P{b:04d}"
            hr = 85 if s % 2 == 0 else 95
            if pid in ramp_beds and s >= ramp_at:
                hr = min(150, 85 + 5 * (s - ramp_at + 1))
            now = datetime.now(UTC)
            readings = [
                {"code": c, "value": (hr if c == "hr" else v), "unit": u, "time": iso(now)}
                for c, u, v in PARAMS
            ]
            body = {"device": f"MON-{b:04d}", "patient": pid, "seq": s, "readings": readings}
            payload = json.dumps(body).encode()
            t_submit = time.perf_counter()
            if pid in ramp_beds and hr > 120 and pid not in probe.crossed:
                probe.crossed[pid] = t_submit
            fut = rt.ingestor.ingest(decode(f"medtwin/v1/devices/MON-{b:04d}/obs", payload))
            if pid not in ramp_beds:  # ramping pulses stay in one NEWS2 band for seconds: rate-limited
                fut.add_done_callback(probe.submitted(pid, t_submit))
            sent += len(readings)
    produced_s = time.perf_counter() - t_begin
    wait_idle(services)
    rt.stop()
    lat = sorted(probe.score_lat)
    out: dict[str, Any] = {
        "beds": beds,
        "seconds": seconds,
        "sent": sent,
        "offered_rate": sent / produced_s,
        "max_behind_s": behind,
        "covered": len(lat),
        "services": [type(s).__name__ for s in services],
    }
    if lat:
        out.update(
            p50=statistics.median(lat),
            p95=lat[int(0.95 * (len(lat) - 1))],
            p99=lat[int(0.99 * (len(lat) - 1))],
            max=lat[-1],
        )
    al = sorted(probe.alarm_lat)
    if al:
        out.update(
            alarms_expected=len(ramp_beds),
            alarms_raised=len(al),
            alarm_p50=statistics.median(al),
            alarm_p99=al[int(0.99 * (len(al) - 1))],
            alarm_max=al[-1],
        )
    elif ramp_beds:
        out.update(alarms_expected=len(ramp_beds), alarms_raised=0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--beds", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--latency-beds", type=int, default=1000)
    ap.add_argument("--latency-seconds", type=int, default=60)
    ap.add_argument("--alarm-beds", type=int, default=50)
    ap.add_argument("--no-alarms", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    a = ap.parse_args()
    alarms = not a.no_alarms and alarm_service_class() is not None
    if not a.no_alarms and not alarms:
        print("AlarmService not importable: running with scores only")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not a.skip_throughput:
            n = a.beds * a.seconds * len(THROUGHPUT_PARAMS)
            print(f"Throughput: {a.beds} beds x {a.seconds} s x {len(THROUGHPUT_PARAMS)} numerics = {n:,}")
            runs = [throughput(a.beds, a.seconds, tmp, "ingest-only", False, False)]
            runs.append(throughput(a.beds, a.seconds, tmp, "scores", True, False))
            if alarms:
                runs.append(throughput(a.beds, a.seconds, tmp, "scores+alarms", True, True))
            base = runs[0]["rate"]
            for r in runs:
                extra = ""
                if "scores_stored" in r:
                    extra = f"; scores computed {r['scores_computed']:,}, stored {r['scores_stored']:,} in {r['rounds']} rounds"
                print(
                    f"  {r['label']:<14} {r['rate']:>9,.0f} numerics/s  ({r['seconds']:.2f} s to idle, "
                    f"ingest {r['ingest_seconds']:.2f} s; {r['derived']:,} derived rows{extra}); ratio to ingest-only "
                    f"{r['rate'] / base:.2f}"
                )
            print("  goal: >= 50,000 numerics/s embedded with scores and alarms on")
        if not a.skip_latency:
            print(
                f"\nLatency: {a.latency_beds} beds x {len(PARAMS)} numerics at 1 Hz "
                f"= {a.latency_beds * len(PARAMS):,} readings/s for {a.latency_seconds} s"
                + (
                    f"; {a.alarm_beds} beds ramp HR past 120/min (alarm condition delay set to 0)"
                    if alarms
                    else ""
                )
            )
            r = latency(a.latency_beds, a.latency_seconds, a.alarm_beds, tmp, alarms)
            print(
                f"  offered {r['offered_rate']:,.0f} readings/s (producer at most {r['max_behind_s']:.3f} s behind)"
            )
            if "p99" in r:
                print(
                    f"  reading -> NEWS2 stored: p50 {r['p50'] * 1000:.0f} ms, p95 {r['p95'] * 1000:.0f} ms, "
                    f"p99 {r['p99'] * 1000:.0f} ms, max {r['max'] * 1000:.0f} ms over {r['covered']:,} messages"
                )
            if "alarm_p99" in r:
                print(
                    f"  reading -> alarm raised: {r['alarms_raised']}/{r['alarms_expected']} raised; p50 "
                    f"{r['alarm_p50'] * 1000:.0f} ms, p99 {r['alarm_p99'] * 1000:.0f} ms, max {r['alarm_max'] * 1000:.0f} ms"
                )
            elif alarms:
                print(f"  alarms raised: {r.get('alarms_raised', 0)}/{r.get('alarms_expected', 0)}")
            print("  goal: p99 < 1 s at 5,000 readings/s")


if __name__ == "__main__":
    main()
