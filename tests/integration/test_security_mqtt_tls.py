"""MQTT over TLS as docs/security.md configures it: a throw-away CA and server certificate, a
private Mosquitto with a TLS listener, the password file and the ACL from ``medtwin devices
credentials``. A device with its password connects over TLS; plain TCP on the TLS port, anonymous
clients and wrong passwords are refused."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from medtwin.security.mqtt_creds import make_accounts, write_files
from medtwin.testing.broker import Mosquitto


def _certs(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=medtwin-test-ca",
        "-days",
        "1",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "1", "-extfile", "san.cnf")  # fmt: skip
    for f in d.iterdir():
        f.chmod(0o644)  # the broker drops root privileges: test files only


def _connect(port: int, user: str | None, password: str | None, ca: Path | None,
             tls_version: int = ssl.PROTOCOL_TLS_CLIENT) -> int:  # fmt: skip
    cl = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t{time.monotonic_ns()}")
    if user:
        cl.username_pw_set(user, password)
    if ca is not None:
        cl.tls_set(ca_certs=str(ca))
    rc: list[int] = []
    cl.on_connect = lambda _c, _u, _f, reason, _p: rc.append(reason.value)
    try:
        cl.connect("127.0.0.1", port, keepalive=5)
    except (OSError, ssl.SSLError):
        return -1
    cl.loop_start()
    deadline = time.monotonic() + 4
    while not rc and time.monotonic() < deadline:
        time.sleep(0.02)
    cl.disconnect()
    cl.loop_stop()
    return rc[0] if rc else -1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_listener_with_passwords_and_acl() -> None:
    base = Path(tempfile.mkdtemp(prefix="medtwin-mqtls-"))
    base.chmod(0o755)
    try:
        _certs(base)
        accounts = make_accounts(["MON-1"])
        paths = write_files(base / "mq", accounts, "medtwin/v1")
        (base / "mq").chmod(0o755)
        paths["passwd"].chmod(0o644)
        pw = {a.username: a.password for a in accounts}
        extra = (
            f"certfile {base}/server.crt\nkeyfile {base}/server.key\ncafile {base}/ca.crt\n"
            "tls_version tlsv1.2\nallow_anonymous false\n"
            f"password_file {paths['passwd']}\nacl_file {paths['acl']}\n"
        )
        with Mosquitto(extra=extra) as broker:
            ca = base / "ca.crt"
            assert _connect(broker.port, "MON-1", pw["MON-1"], ca) == 0
            assert _connect(broker.port, "MON-1", pw["MON-1"], None) != 0  # plain TCP on the TLS port
            assert _connect(broker.port, None, None, ca) != 0  # anonymous
            assert _connect(broker.port, "MON-1", "wrong", ca) != 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
