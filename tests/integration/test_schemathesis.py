"""Schemathesis against the OpenAPI document of a running medtwin (examples, coverage, fuzzing and
stateful phases), as a nurse of the ICU, a nurse of the medical ward and an administrator (a Web
Fuzzing Commons auth file; schemathesis moves on to the next identity when one is refused). Checks:
no 5xx, statuses and media types as documented, ``ignored_auth`` (an operation that declares
authentication must refuse the request without credentials and with invalid ones) and
``object_level_authorization`` with the two nurses as peers (a read one nurse owns, replayed as
the other, must not return the object).

Schemathesis proves ownership only for objects an identity created or took from a list the other
identity does not see; medtwin's untyped JSON answers give it few such links, so object-level
access is covered above all by tests/integration/test_authz_matrix.py (every route x identity x
patient). Bounded: ``MAX_EXAMPLES`` per operation, fixed seed, about a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medtwin.api.app import create_app
from medtwin.config import Settings
from medtwin.demo.hospital import seed
from medtwin.runtime import Runtime
from medtwin.services.monitoring.alarms.service import start_alarms
from tests.conftest import auth_headers, free_port

MAX_EXAMPLES = int(os.environ.get("MEDTWIN_SCHEMATHESIS_EXAMPLES", "8"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,ignored_auth,object_level_authorization"
ST = Path(sys.executable).with_name("st")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Runtime, Path]]:
    import uvicorn

    tmp = tmp_path_factory.mktemp("st")
    rt = Runtime(Settings.load(db=str(tmp / "st.db"), mqtt_enabled=False, data_dir=tmp, access_token_minutes=60.0,
                               rate_limit_user="", rate_limit_anonymous="", login_rate="10000/minute"))  # fmt: skip
    seed(rt.registry)
    app = create_app(rt, on_start=[start_alarms])
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and t.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", rt, tmp
    finally:
        srv.should_exit = True
        t.join(15)


def _wfc(rt: Runtime) -> dict[str, Any]:
    users = [
        ("nurse_icu", "ICU-nurse-1", "nurse"),
        ("nurse_med", "MED-nurse-1", "nurse"),
        ("admin", "st-admin", "admin"),
    ]
    return {
        "schemaVersion": "1.0",
        "auth": [
            {
                "name": name,
                "fixedHeaders": [
                    {"name": "Authorization", "value": auth_headers(rt, role, user=uid)["Authorization"]}
                ],
            }
            for name, uid, role in users
        ],
    }


def test_schemathesis_two_identities(server: tuple[str, Runtime, Path]) -> None:
    base, rt, tmp = server
    wfc = tmp / "wfc.json"
    wfc.write_text(json.dumps(_wfc(rt)))
    cfg = tmp / "schemathesis.toml"
    cfg.write_text(f'[auth.wfc]\npath = "{wfc}"\npeers = ["nurse_icu", "nurse_med"]\n\n')
    report = tmp / "st.json"
    cmd = [str(ST), "--config-file", str(cfg), "run", f"{base}/openapi.json", "--checks", CHECKS,
           "-n", str(MAX_EXAMPLES), "--seed", "7", "--phases", "examples,coverage,fuzzing,stateful",
           "--report", "ndjson", "--report-ndjson-path", str(report),
           # signing out would end the identities' sessions mid-run (logout is tested on its own)
           "--exclude-path", "/api/auth/logout"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp)
    out = proc.stdout + proc.stderr
    print(out[-20000:])
    assert proc.returncode == 0, out[-6000:]
