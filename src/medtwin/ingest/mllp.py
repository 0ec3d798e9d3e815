"""HL7 v2 over MLLP: an asyncio server that acknowledges only after the database commit, and a client.

Framing (HL7 v2.6 appendix C, MLLP release 2 minus its commit-ACK extension; IHE PCD TF-2 uses it
for PCD-01): ``<VT 0x0B> message <FS 0x1C><CR 0x0D>``. The decoder is lenient where it is safe:
bytes outside a frame are dropped (counted), a frame ends at FS even without CR, a VT inside a frame
abandons the partial frame (the sender restarted), and a frame longer than ``max_frame`` is
discarded up to its end and answered with AR (its first 4 KiB are kept to echo MSH-10).

Each connection is served in order: parse -> :meth:`Ingestor.ingest_many` (in a worker thread,
it may touch the store) -> await the commit future -> ACK. While the store is down the writer
retries and the sender gets no ACK, so it keeps the message and resends: nothing is lost.
ACK codes: AA all good; AE some items refused (valid ones stored), with one ERR per item; AR the
message as a whole refused (not HL7, bad MSH, unsupported type/version, oversize, store gave up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from medtwin.core.errors import MedtwinError
from medtwin.core.events import Context
from medtwin.ingest.hl7v2 import Hl7Config, Hl7Error, Hl7Reject, OruMessage, build_ack, parse_oru
from medtwin.ingest.pipeline import IngestResult, ReadingBatch

log = logging.getLogger(__name__)

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_FRAME = 1_048_576
_HEAD = 4096


class IngestorLike(Protocol):
    """What the receiver needs from :class:`medtwin.ingest.pipeline.Ingestor`."""

    store: Any

    def ingest_many(self, batches: Sequence[ReadingBatch], *, context: Context | None = None
                    ) -> Future[IngestResult]: ...  # fmt: skip


@dataclass(frozen=True)
class Frame:
    payload: bytes
    oversized: bool = False


class MllpDecoder:
    """Incremental MLLP de-framer: ``feed`` bytes as they arrive, get complete frames back."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.in_frame = False
        self.junk_bytes = 0
        self.abandoned = 0
        self._buf = bytearray()
        self._oversized = False

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        pos, n = 0, len(data)
        while pos < n:
            if not self.in_frame:
                start = data.find(SB, pos)
                self.junk_bytes += (n if start < 0 else start) - pos
                if start < 0:
                    break
                self.in_frame, self._oversized, pos = True, False, start + 1
                self._buf.clear()
                continue
            end = data.find(EB, pos)
            restart = data.find(SB, pos, n if end < 0 else end)
            if restart >= 0:  # a new frame began before this one ended: drop the partial one
                self.abandoned += 1
                self.junk_bytes += len(self._buf) + restart - pos
                self.in_frame, pos = False, restart
                continue
            chunk = data[pos : n if end < 0 else end]
            if not self._oversized and len(self._buf) + len(chunk) > self.max_frame:
                self._oversized = True
                del self._buf[_HEAD:]
            if not self._oversized:
                self._buf += chunk
            elif len(self._buf) < _HEAD:
                self._buf += chunk[: _HEAD - len(self._buf)]
            if end < 0:
                break
            out.append(Frame(bytes(self._buf), self._oversized))
            self.in_frame, pos = False, end + 1
            self._buf.clear()
        return out


def frame(message: bytes | str, encoding: str = "utf-8") -> bytes:
    data = message.encode(encoding) if isinstance(message, str) else message
    return SB + data + EB + CR


@dataclass
class ReceiverStats:
    messages: int = 0
    acks: dict[str, int] = field(default_factory=lambda: {"AA": 0, "AE": 0, "AR": 0})
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: int = 0


class Hl7Receiver:
    """Parse, ingest, await the commit, answer. ``handle`` never raises: every frame gets an ACK."""

    def __init__(self, ingestor: IngestorLike, config: Hl7Config | None = None, *,
                 record_rejects: bool = True, app: str = "MEDTWIN") -> None:  # fmt: skip
        self.ingestor = ingestor
        self.config = config or Hl7Config()
        self.record_rejects = record_rejects
        self.app = app
        self.stats = ReceiverStats()

    async def handle(self, data: bytes) -> bytes:
        self.stats.messages += 1
        try:
            code, ack, encoding = await self._process(data)
        except Exception:  # last resort: log without payload (personal data), still answer
            log.exception("internal error while handling an HL7 message")
            err = Hl7Error("MSH", None, None, "internal error; message not stored, resend later", 207)
            code, ack, encoding = "AR", build_ack(data, "AR", err.reason, errors=[err], app=self.app), "utf-8"
        self.stats.acks[code] = self.stats.acks.get(code, 0) + 1
        return ack.encode(encoding, errors="replace")

    def oversized(self, head: bytes, limit: int) -> bytes:
        self.stats.messages += 1
        self.stats.acks["AR"] += 1
        reason = f"message larger than {limit} bytes; not stored"
        err = Hl7Error("MSH", None, None, reason, 100)
        return build_ack(head, "AR", reason, errors=[err], app=self.app).encode("utf-8", errors="replace")

    async def _process(self, data: bytes) -> tuple[str, str, str]:
        try:
            msg = parse_oru(data, self.config)
        except MedtwinError as exc:
            hl7_code = exc.hl7_code if isinstance(exc, Hl7Reject) else 100
            err = Hl7Error(*_split_loc(exc.field), exc.reason, hl7_code)
            log.info("HL7 message refused (AR): %s", exc.reason)
            return "AR", build_ack(data, "AR", exc.reason, errors=[err], app=self.app), "utf-8"
        batches = [b for b in msg.batches if b.readings]
        result = IngestResult()
        if batches:
            ctx = Context(actor=f"device:{msg.source}")
            fut = await asyncio.to_thread(self.ingestor.ingest_many, batches, context=ctx)
            try:
                result = await asyncio.wrap_future(fut)
            except MedtwinError as exc:  # the writer gave up (retry_for elapsed): sender must resend
                log.warning("HL7 message %s not stored: %s", msg.control_id[:40], exc.reason)
                err = Hl7Error("MSH", None, None, f"not stored: {exc.reason}; resend", 207)
                return "AR", build_ack(msg, "AR", err.reason, errors=[err], app=self.app), msg.encoding
        errors = list(dict.fromkeys([*msg.errors, *(msg.locate(r) for r in result.rejected)]))
        st = self.stats
        st.stored, st.duplicates = st.stored + result.accepted, st.duplicates + result.duplicates
        st.skipped, st.rejected = st.skipped + len(msg.skipped), st.rejected + len(errors)
        text = (f"stored {result.accepted}, duplicates {result.duplicates}, skipped {len(msg.skipped)}, "
                f"rejected {len(errors)}")  # fmt: skip
        if errors and self.record_rejects:
            await asyncio.to_thread(self._record, msg, errors)
        code = "AE" if errors else "AA"
        log.debug("HL7 %s from %s: %s -> %s", msg.control_id[:40], msg.source[:60], text, code)
        return code, build_ack(msg, code, text, errors=errors, app=self.app), msg.encoding

    def _record(self, msg: OruMessage, errors: list[Hl7Error]) -> None:
        """Dead-letter the refused items (location and reason only: the payload holds personal data)."""
        rows = [{"index": None, "field": e.location, "reason": e.reason} for e in errors]
        try:
            self.ingestor.store.record_rejects("hl7v2", msg.source, rows)
        except Exception as exc:  # the ACK still goes out; the sender also gets every reason in ERR
            log.warning("could not record %d HL7 rejects: %s", len(rows), type(exc).__name__)


def _split_loc(name: str | None) -> tuple[str, int | None, int | None]:
    seg, _, num = (name or "MSH").partition(".")
    return (seg if seg in ("MSH", "PID", "OBR", "OBX") else "MSH"), None, int(num) if num.isdigit() else None


class MllpServerProtocol:
    """Serves one connection at a time per client; many clients concurrently."""

    def __init__(
        self, receiver: Hl7Receiver, max_frame: int = MAX_FRAME, idle_timeout: float | None = None
    ) -> None:
        self.receiver, self.max_frame, self.idle_timeout = receiver, max_frame, idle_timeout

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dec = MllpDecoder(self.max_frame)
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
                if not data:
                    break
                for fr in dec.feed(data):
                    if fr.oversized:
                        ack = self.receiver.oversized(fr.payload, self.max_frame)
                    else:
                        ack = await self.receiver.handle(fr.payload)
                    writer.write(frame(ack))
                    await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            if dec.in_frame:
                log.info("MLLP client disconnected in the middle of a frame (nothing stored, no ACK)")
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def serve_mllp(ingestor: IngestorLike, host: str = "127.0.0.1", port: int = 2575, *,
                     config: Hl7Config | None = None, max_frame: int = MAX_FRAME,
                     idle_timeout: float | None = None, receiver: Hl7Receiver | None = None
                     ) -> asyncio.Server:  # fmt: skip
    """Listen for HL7 v2 over MLLP (port 0: pick a free one; see ``server.sockets``)."""
    handler = MllpServerProtocol(receiver or Hl7Receiver(ingestor, config), max_frame, idle_timeout)
    return await asyncio.start_server(handler, host, port)


async def send_mllp(host: str, port: int, messages: Sequence[bytes | str], *, ack_timeout: float = 30.0,
                    encoding: str = "utf-8") -> list[str]:  # fmt: skip
    """Send messages over one connection, one at a time, and return the ACKs (decoded text).
    Raises TimeoutError when an ACK takes longer than ``ack_timeout``, ConnectionError if the server
    closes the connection first."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), ack_timeout)
    dec, pending, acks = MllpDecoder(), deque[Frame](), []
    try:
        for m in messages:
            writer.write(frame(m, encoding))
            await writer.drain()
            while not pending:
                data = await asyncio.wait_for(reader.read(65536), ack_timeout)
                if not data:
                    raise ConnectionError("MLLP server closed the connection before answering")
                pending.extend(dec.feed(data))
            acks.append(pending.popleft().payload.decode(encoding, errors="replace"))
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return acks


def send_mllp_sync(host: str, port: int, messages: Sequence[bytes | str], *, ack_timeout: float = 30.0,
                   encoding: str = "utf-8") -> list[str]:  # fmt: skip
    """Blocking :func:`send_mllp` for scripts and simulators (not from inside a running event loop)."""
    return asyncio.run(send_mllp(host, port, messages, ack_timeout=ack_timeout, encoding=encoding))
