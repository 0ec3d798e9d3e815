"""HL7 v2 over MLLP end to end: real TCP, real SQLite store, BatchWriter and Ingestor.

The server runs on its own event loop thread, as in production; the tests talk to it with the
sync client or raw sockets, and check the database at the moment each ACK arrives.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hl7
import pytest

from medtwin.core.clock import ManualClock
from medtwin.core.errors import StoreError
from medtwin.core.model import MedicationAdministration, Observation, Twin, TwinKind
from medtwin.ingest.hl7v2 import build_oru
from medtwin.ingest.mllp import Hl7Receiver, MllpDecoder, frame, send_mllp, send_mllp_sync, serve_mllp
from medtwin.ingest.pipeline import Ingestor
from medtwin.store import SqlStore, open_store
from medtwin.store.writer import BatchWriter

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
VITALS = [("147842", 72, "264864"), ("150456", 97, "262688"), ("151562", 16, "264928"),
          ("150301", 128, "266016"), ("150302", -999, "266016"), ("150344", 37.2, "268192")]  # fmt: skip


def oru(control_id: str, patient: str = "P001", *, minute: int = 0, extra: str = "") -> str:
    t = T0 + timedelta(minutes=minute)
    msg = build_oru(
        patient, [(c, v, u, t) for c, v, u in VITALS], control_id, "MON", device_id="00A0370027000143"
    )
    return msg + extra


@dataclass
class Stack:
    store: SqlStore
    writer: BatchWriter
    ingestor: Ingestor
    receiver: Hl7Receiver
    loop: asyncio.AbstractEventLoop
    port: int

    def rows(self, twin: str = "P001") -> int:
        return self.store.count_observations(twin)


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    started: list[tuple[Stack, Any, threading.Thread]] = []

    def make(*, max_frame: int = 1_048_576, retry_for: float | None = None) -> Stack:
        store = open_store(str(tmp_path / f"mllp{len(started)}.db"))
        for pid in ("P001", "P002"):
            store.put_twin(Twin(pid, TwinKind.PATIENT))
        writer = BatchWriter(store, linger=0.002, retry_for=retry_for).start()
        ing = Ingestor(store, writer, clock=ManualClock(T0 + timedelta(hours=2)))
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        rx = Hl7Receiver(ing)
        coro = serve_mllp(ing, "127.0.0.1", 0, max_frame=max_frame, receiver=rx)
        server = asyncio.run_coroutine_threadsafe(coro, loop).result(5)
        stack = Stack(store, writer, ing, rx, loop, server.sockets[0].getsockname()[1])
        started.append((stack, server, thread))
        return stack

    yield make
    for stack, server, thread in started:
        asyncio.run_coroutine_threadsafe(_shutdown(server), stack.loop).result(5)
        stack.loop.call_soon_threadsafe(stack.loop.stop)
        thread.join(5)
        stack.loop.close()
        stack.writer.stop()
        stack.store.close()


async def _shutdown(server: asyncio.Server) -> None:
    server.close()
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def ack_fields(ack: str) -> tuple[str, str, str, list[str]]:
    msg = hl7.parse(ack)
    msa = msg.segment("MSA")
    errs = [msg.unescape(str(e[8])) for e in msg.segments("ERR")] if "\rERR|" in ack else []
    return str(msa[1]), str(msa[2]), str(msa[3]), errs


class RawClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.dec = MllpDecoder()
        self.pending: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ack(self, timeout: float = 10.0) -> str:
        self.sock.settimeout(timeout)
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed")
            self.pending += [f.payload for f in self.dec.feed(data)]
        return self.pending.pop(0).decode()

    def close(self) -> None:
        self.sock.close()


def gate_writes(store: SqlStore) -> threading.Event:
    gate, real = threading.Event(), store.write

    def gated(obs: Sequence[Observation] = (), meds: Sequence[MedicationAdministration] = ()) -> Any:
        gate.wait(20)
        return real(obs, meds)

    store.write = gated  # type: ignore[method-assign]
    return gate


def test_ack_only_after_rows_are_committed(make_stack: Callable[..., Stack]) -> None:
    s = make_stack()
    gate = gate_writes(s.store)
    c = RawClient(s.port)
    try:
        c.send(frame(oru("A1")))
        with pytest.raises(TimeoutError):  # the commit is held back: no ACK, nothing stored
            c.ack(timeout=0.5)
        assert s.rows() == 0
        gate.set()
        code, control, text, errs = ack_fields(c.ack())
        assert s.rows() == 5  # at the moment the ACK arrives the rows are already in the database
        assert (code, control, text, errs) == (
            "AA",
            "A1",
            "stored 5, duplicates 0, skipped 1, rejected 0",
            [],
        )
    finally:
        c.close()
    hr = s.store.history("P001", "8867-4")
    assert [(o.value, o.unit, o.effective, o.source, o.source_id) for o in hr] == [
        (72.0, "/min", T0, "MON:00A0370027000143", "A1/1")]  # fmt: skip
    assert {o.code: o.value for o in s.store.latest("P001").values()}["8310-5"] == pytest.approx(37.2)
    assert "8462-4" not in s.store.latest("P001")  # the -999 sentinel never became a reading


def test_resend_is_stored_once(make_stack: Callable[..., Stack]) -> None:
    s = make_stack()
    acks = send_mllp_sync("127.0.0.1", s.port, [oru("R1"), oru("R1"), oru("R2", minute=1)])
    assert [ack_fields(a)[2] for a in acks] == ["stored 5, duplicates 0, skipped 1, rejected 0",
                                                "stored 0, duplicates 5, skipped 1, rejected 0",
                                                "stored 5, duplicates 0, skipped 1, rejected 0"]  # fmt: skip
    assert s.rows() == 10


def test_partial_reject_gives_ae_naming_the_field_and_stores_the_rest(
    make_stack: Callable[..., Stack],
) -> None:
    s = make_stack()
    bad = "OBX|7|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|abc|262688^MDC_DIM_PERCENT^MDC|||||F\r"
    bad += "OBX|8|NM|147842^MDC_ECG_HEART_RATE^MDC|1.7.4.147842|900|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r"
    [ack] = send_mllp_sync("127.0.0.1", s.port, [oru("E1", extra=bad)])
    code, control, text, errs = ack_fields(ack)
    assert (code, control) == ("AE", "E1")
    assert errs[0] == "OBX[7].5: not a number: 'abc'"
    assert errs[1].startswith("OBX[8].5: 900 /min is outside the plausible range")
    assert s.rows() == 5 and text.startswith("stored 5,")
    assert {(r["field"], r["adapter"]) for r in s.store.rejects()} == {
        ("OBX[7].5", "hl7v2"),
        ("OBX[8].5", "hl7v2"),
    }


def test_junk_gets_a_nak_and_the_connection_keeps_working(make_stack: Callable[..., Stack]) -> None:
    s = make_stack(max_frame=64 * 1024)
    c = RawClient(s.port)
    try:
        c.send(b"\x00\xff stray bytes between frames \r\n")  # dropped: not inside a frame
        c.send(frame(b"\x00\x01binary junk\xff"))
        assert ack_fields(c.ack())[0] == "AR"
        c.send(frame("MSH|^~\\&|MON||||20260314100000||ADT^A01|X9|P|2.5\rPID|||P001"))
        code, control, _, errs = ack_fields(c.ack())
        assert (code, control) == ("AR", "X9") and "unsupported message type" in errs[0]
        big = oru("BIG") + "NTE|1||" + "x" * 100_000 + "\r"
        data = frame(big)
        c.send(data[:50_000])
        c.send(data[50_000:] + frame(oru("OK1")))  # an oversized frame, then a good one on the same socket
        code, control, text, _ = ack_fields(c.ack())
        assert (code, control, text) == ("AR", "BIG", "message larger than 65536 bytes; not stored")
        code, control, _, _ = ack_fields(c.ack())
        assert (code, control) == ("AA", "OK1")
    finally:
        c.close()
    assert s.rows() == 5


def test_unknown_patient_is_rejected_with_a_reason_then_accepted_once_registered(
    make_stack: Callable[..., Stack],
) -> None:
    s = make_stack()
    [ack] = send_mllp_sync("127.0.0.1", s.port, [oru("U1", "NEWPAT")])
    code, _, text, errs = ack_fields(ack)
    assert code == "AE" and text.startswith("stored 0,")
    assert errs == ["PID[1].3: unknown patient 'NEWPAT' (register it first, e.g. PUT /fhir/Patient/NEWPAT)"]
    s.store.put_twin(Twin("NEWPAT", TwinKind.PATIENT))
    s.ingestor.refresh()
    [ack] = send_mllp_sync("127.0.0.1", s.port, [oru("U1", "NEWPAT")])  # the sender resends the same message
    assert ack_fields(ack)[:1] == ("AA",) and s.rows("NEWPAT") == 5


def test_store_down_delays_the_ack_until_committed(make_stack: Callable[..., Stack]) -> None:
    s = make_stack()
    real, fails = s.store.write, [4]

    def flaky(obs: Sequence[Observation] = (), meds: Sequence[MedicationAdministration] = ()) -> Any:
        if fails[0] > 0:
            fails[0] -= 1
            raise StoreError("database is locked")
        return real(obs, meds)

    s.store.write = flaky  # type: ignore[method-assign]
    t = time.monotonic()
    [ack] = send_mllp_sync("127.0.0.1", s.port, [oru("D1")])
    assert time.monotonic() - t > 0.5  # four retries with back-off before the commit
    assert ack_fields(ack)[0] == "AA" and s.rows() == 5 and s.writer.failures == 4


def test_store_that_gives_up_answers_ar(make_stack: Callable[..., Stack]) -> None:
    s = make_stack(retry_for=0.2)

    def down(*_: Any) -> Any:
        raise StoreError("disk full")

    s.store.write = down  # type: ignore[method-assign]
    [ack] = send_mllp_sync("127.0.0.1", s.port, [oru("G1")])
    code, control, text, _ = ack_fields(ack)
    assert (code, control) == ("AR", "G1") and text.startswith("not stored: store unavailable")


def test_client_disconnecting_mid_frame_stores_nothing(make_stack: Callable[..., Stack]) -> None:
    s = make_stack()
    msg = frame(oru("H1"))
    c = RawClient(s.port)
    c.send(msg[: len(msg) // 2])
    c.close()
    [ack] = send_mllp_sync("127.0.0.1", s.port, [oru("H2")])
    assert ack_fields(ack)[:2] == ("AA", "H2") and s.rows() == 5
    assert s.store.history("P001", "8867-4")[0].source_id == "H2/1"


def test_many_concurrent_connections(make_stack: Callable[..., Stack]) -> None:
    s = make_stack()

    async def client(k: int) -> list[str]:
        msgs = [oru(f"C{k}-{i}", ("P001", "P002")[k % 2], minute=i) for i in range(5)]
        return await send_mllp("127.0.0.1", s.port, msgs)

    async def main() -> list[list[str]]:
        return await asyncio.gather(*(client(k) for k in range(25)))

    results = asyncio.run(main())
    codes = [ack_fields(a)[0] for acks in results for a in acks]
    assert codes == ["AA"] * 125
    assert s.rows("P001") + s.rows("P002") == 125 * 5
    assert s.receiver.stats.acks["AA"] == 125
