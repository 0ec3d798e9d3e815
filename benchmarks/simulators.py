"""Device-simulator benchmark: CPU per simulated second for a ward of bedside monitors.

Measured in one run:

1. medtwin's vectorised :class:`MonitorBank` stepping N monitors at 1 Hz (10 % with an
   arterial line, 15 % deteriorating), against its peer: the same monitors stepped one at a time
   (N separate :class:`BedsideMonitor` objects; identical output, no vectorisation). Printed:
   CPU ms per simulated second for both and their ratio. Goal: well under 50 ms for 1,000.
2. A full generated ward (monitors plus activity, medication, environment and wearable
   devices): CPU ms per simulated second, mean and p99.
3. Turning one second of output into MQTT JSON messages (what the publisher adds).
4. Ground truth of the whole ward over 24 h at 10 s resolution.

Run: .venv/bin/python benchmarks/simulators.py [--monitors 1000] [--seconds 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from medtwin.devices import BedsideMonitor, MonitorBank, MonitorConfig, Scenario, Ward
from medtwin.devices.messages import Sequencer, batch_messages, encode
from medtwin.devices.truth import truth_for_bank

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def make_monitors(n: int) -> list[BedsideMonitor]:
    out = []
    for i in range(n):
        sc = None
        if i % 20 == 1:
            sc = Scenario.sepsis(600, 0.9)
        elif i % 20 == 2:
            sc = Scenario.haemorrhage(600, 0.9)
        elif i % 20 == 3:
            sc = Scenario.respiratory_failure(600, 0.9)
        cfg = MonitorConfig(arterial=True, nibp_interval_s=None) if i % 10 == 0 else MonitorConfig()
        out.append(BedsideMonitor(f"mon-{i:04d}", 1000 + i, sc, T0, config=cfg))
    return out


def timed_steps(step: object, seconds: int, offset: int = 0) -> tuple[np.ndarray, int]:
    cpu, readings = [], 0
    for s in range(seconds):
        c0 = time.process_time()
        rows = step(T0 + timedelta(seconds=offset + s))  # type: ignore[operator]
        cpu.append(time.process_time() - c0)
        readings += sum(len(r) for r in rows)
    return np.array(cpu) * 1000, readings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--monitors", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--peer-seconds", type=int, default=30)
    a = ap.parse_args()
    n = a.monitors

    bank = MonitorBank(make_monitors(n))
    bank_ms, readings = timed_steps(bank.step, a.seconds)
    singles = make_monitors(n)

    def one_by_one(t: datetime) -> list[list[dict[str, object]]]:
        return [m.step(t) for m in singles]

    peer_ms, _ = timed_steps(one_by_one, a.peer_seconds)
    check = MonitorBank(make_monitors(n))
    assert check.step(T0) == [m.step(T0) for m in make_monitors(n)], "vectorised output must equal per-device"
    print(f"1. {n} bedside monitors at 1 Hz ({readings / a.seconds:,.0f} readings per simulated second)")
    print(
        f"   vectorised MonitorBank : {bank_ms.mean():6.2f} ms CPU per simulated second "
        f"(p50 {np.median(bank_ms):.2f}, p99 {np.percentile(bank_ms, 99):.2f}; {a.seconds} s)"
    )
    print(
        f"   peer, one by one       : {peer_ms.mean():6.2f} ms CPU per simulated second ({a.peer_seconds} s)"
    )
    print(f"   ratio peer / medtwin   : {peer_ms.mean() / bank_ms.mean():6.1f}x")

    ward = Ward.generate(n, start=T0, seed=1, arterial_fraction=0.1, wearables=True)
    cpu, msg_cpu, seq, n_msgs = [], [], Sequencer(), 0
    for s in range(a.seconds):
        c0 = time.process_time()
        batches = ward.step(T0 + timedelta(seconds=s))
        c1 = time.process_time()
        msgs = batch_messages(batches, seq)
        for _, payload in msgs:
            encode(payload)
        msg_cpu.append(time.process_time() - c1)
        cpu.append(c1 - c0)
        n_msgs += len(msgs)
    w_ms, m_ms = np.array(cpu) * 1000, np.array(msg_cpu) * 1000
    print(
        f"2. full ward, {len(ward.devices)} devices (monitors, activity, medication, environment, wearables)"
    )
    print(
        f"   step                   : {w_ms.mean():6.2f} ms CPU per simulated second "
        f"(p50 {np.median(w_ms):.2f}, p99 {np.percentile(w_ms, 99):.2f})"
    )
    print(
        f"3. MQTT JSON messages     : {m_ms.mean():6.2f} ms CPU per simulated second "
        f"({n_msgs / a.seconds:,.0f} messages per second)"
    )
    assert ward.bank is not None
    c0 = time.process_time()
    truths = truth_for_bank(ward.bank, T0 + timedelta(hours=24), resolution_s=10)
    events = sum(len(t.events) for t in truths)
    print(
        f"4. ground truth, {n} monitors x 24 h at 10 s: {time.process_time() - c0:6.2f} s CPU "
        f"({events} true threshold crossings)"
    )


if __name__ == "__main__":
    main()
