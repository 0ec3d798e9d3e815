"""A reading counts as accepted only once committed: the HTTP ingest answer waits for the commit.

(MQTT: ``test_faults_backpressure.py`` checks that no PUBACK leaves while the store is stalled;
MLLP: ``test_mllp.py::test_store_down_delays_the_ack_until_committed``.)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from medtwin.api.app import create_app
from medtwin.core.model import Twin, TwinKind
from medtwin.runtime import Runtime
from tests.conftest import auth_headers
from tests.integration.reliability_helpers import readings


def test_http_ingest_answers_only_after_the_commit(runtime: Runtime, tmp_path: Path) -> None:
    runtime.registry.put(Twin("P1", TwinKind.PATIENT))
    db = runtime.store.path
    assert db is not None
    app = create_app(runtime, own_runtime=False)
    with TestClient(app, headers=auth_headers(runtime)) as client:
        lock = sqlite3.connect(db, isolation_level=None, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")  # the store stalls
        answer: dict[str, Any] = {}

        def post() -> None:
            r = client.post(
                "/api/ingest", json={"device": "MON-1", "patient": "P1", "seq": 1, "readings": readings(1, 3)}
            )
            answer.update(status=r.status_code, body=r.json(), at=time.monotonic())

        t = threading.Thread(target=post)
        t.start()
        time.sleep(1.5)
        assert not answer  # no answer while nothing is committed
        released = time.monotonic()
        lock.execute("COMMIT")
        lock.close()
        t.join(30)
        assert answer["status"] == 200 and answer["body"]["accepted"] == 3
        assert answer["at"] >= released
        assert runtime.store.count_observations("P1") == 3
