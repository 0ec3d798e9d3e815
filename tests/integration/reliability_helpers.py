"""Shared helpers of the reliability and fault tests: a hospital (runtime + MQTT ingest) on a private
broker, gateways, worker processes, a cuttable TCP proxy, a private PostgreSQL cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from medtwin.config import Settings
from medtwin.core.model import Twin, TwinKind
from medtwin.ingest.mqtt import MqttIngest
from medtwin.runtime import Runtime
from medtwin.store.sql import SqlStore
from medtwin.testing.broker import free_port

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


def readings(seq: int, n: int, t0: datetime = T0) -> list[dict[str, Any]]:
    """``n`` heart-rate readings of message ``seq`` (1 s apart)."""
    out = []
    for i in range(n):
        t = (t0 + timedelta(seconds=seq * n + i)).isoformat().replace("+00:00", "Z")
        out.append({"code": "hr", "value": 60 + (seq * n + i) % 50, "unit": "/min", "time": t})
    return out


class Hospital:
    """A medtwin runtime consuming MQTT from a broker, in this process."""

    def __init__(
        self, db: str, host: str, port: int, prefix: str, patients: int = 0, **settings: Any
    ) -> None:
        self.rt = Runtime(Settings.load(db=db, mqtt_enabled=False, auto_register=True, **settings))
        for p in range(patients):
            self.rt.registry.put(Twin(f"P{p:04d}", TwinKind.PATIENT))
        self.rt.start()
        self.mqtt = MqttIngest(
            self.rt.ingestor, host=host, port=port, prefix=prefix, client_id="hosp-" + uuid.uuid4().hex[:8],
            session_expiry_s=600,
        )  # fmt: skip
        self.rt.services["mqtt"] = self.mqtt
        self.mqtt.start()
        # subscribed before anyone publishes: a broker drops messages for topics nobody subscribed to
        if not self.mqtt.wait_connected(15):
            raise RuntimeError("hospital MQTT ingest did not connect")
        time.sleep(0.3)  # the SUBACK

    def count(self) -> int:
        return self.rt.store.count_observations()

    def stop(self) -> None:
        self.mqtt.stop()
        self.rt.stop()


def stored_keys(store: SqlStore) -> list[tuple[str, str]]:
    with store.engine.connect() as c:
        return [(r[0], r[1]) for r in c.execute(text("SELECT source, source_id FROM observations"))]


class TcpProxy:
    """A TCP forwarder whose link can be cut (connections reset, new ones refused) and restored."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target = target_port
        self.port = port or free_port()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.up = True
        self._srv = socket.create_server(("127.0.0.1", self.port))
        self._srv.settimeout(0.2)
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                c, _ = self._srv.accept()
            except OSError:
                continue
            if not self.up:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                c.close()
                continue
            with self._lock:
                self._conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        self.up = False
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._srv.close()


def start_process(args: list[str], log: Path, ready: str, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """Start ``python -m ...args`` and wait until ``ready`` appears in its log."""
    fh = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=fh,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "src")},
        cwd=str(ROOT),
    )
    fh.close()
    ok = wait_until(
        lambda: ready in log.read_text(errors="replace") or proc.poll() is not None, timeout, 0.05
    )
    if not ok or proc.poll() is not None:
        proc.kill()
        raise RuntimeError(f"{args[0]} did not start: {log.read_text(errors='replace')[-2000:]}")
    return proc


def stop_process(proc: subprocess.Popen[bytes] | None, sig_kill: bool = False) -> None:
    if proc is None or proc.poll() is not None:
        return
    if sig_kill:
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class PgCluster:
    """A private PostgreSQL cluster (initdb in a temp dir, as the postgres user, on a free port)."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="medtwin-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_pg = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    @classmethod
    def available(cls) -> bool:
        return (cls.BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.as_pg, *args], capture_output=True, text=True, check=check, cwd="/tmp")

    def init(self) -> PgCluster:
        self._run(
            str(self.BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        conf = self.data / "postgresql.conf"
        extra = (
            f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
        )
        extra += "fsync = on\nsynchronous_commit = on\nshared_buffers = 32MB\nmax_connections = 40\n"
        self._run("sh", "-c", f"cat >> {conf} <<'EOF'{extra}EOF")
        return self

    def start(self) -> None:
        self._run(
            str(self.BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop_immediate(self) -> None:
        self._run(
            str(self.BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False
        )

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def destroy(self) -> None:
        self._run(
            str(self.BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    c = PgCluster().init()
    c.start()
    try:
        yield c
    finally:
        c.destroy()
