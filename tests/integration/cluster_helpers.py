"""Helpers for the multi-worker tests: runtimes on one PostgreSQL, one message at a time."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from medtwin.config import Settings
from medtwin.core.codes import BY_KEY
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.runtime import Runtime

NEWS2 = BY_KEY["news2"].ref


def runtime(db: str, data_dir: Path) -> Runtime:
    s = Settings.load(db=db, mqtt_enabled=False, data_dir=data_dir)
    s.extra["scoring"] = {"min_interval_s": 0}  # one stored assessment per message: comparable series
    return Runtime(s).start()


def scenario(n: int, end: datetime) -> list[tuple[int, datetime, list[dict[str, Any]]]]:
    """``n`` one-second monitor messages ending at ``end``: SpO2 drifts down to 84 % (a high-priority
    alarm after 15 s below 85), heart and breathing rates rise, so NEWS2 climbs."""
    out = []
    for i in range(n):
        t = end - timedelta(seconds=n - 1 - i)
        iso = t.isoformat()
        vals = {"spo2": max(84, 97 - i), "hr": 80 + 2 * i, "rr": 14 + i // 3, "temp": 37.0, "sbp": 118}
        out.append((i, t, [{"code": k, "value": v, "time": iso} for k, v in vals.items()]))
    return out


def send(rt: Runtime, device: str, seq: int, readings: list[dict[str, Any]]) -> None:
    res = rt.ingestor.ingest(ReadingBatch(source=device, msg_id=str(seq), readings=readings, device=device))
    r = res.result(30)
    assert not r.rejected, r.rejected


def xmin_now(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        return int(c.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()[0])  # type: ignore[index]


def settle(rt: Runtime, url: str | None, timeout: float = 30.0) -> None:
    """Wait until what was committed so far went through this owner's feed, scores and alarms."""
    end = time.monotonic() + timeout
    for _ in range(2):  # readings -> scores -> (the scores back through the feed) -> alarms
        if url is not None:
            x = xmin_now(url)
            node = rt.services["cluster"]
            while node.relay.pos is None or node.relay.pos < x:  # every xid below x was read
                assert time.monotonic() < end, "feed not delivered"
                time.sleep(0.01)
        assert rt.services["scoring"].wait_idle(max(0.1, end - time.monotonic()))
        assert rt.services["alarms"].wait_idle(max(0.1, end - time.monotonic()))


def news2_series(rt: Runtime, patient: str) -> list[tuple[float, float | None]]:
    rows = rt.store.history(patient, NEWS2)
    t0 = rows[0].effective if rows else None
    return [((o.effective - t0).total_seconds(), o.value) for o in rows] if t0 else []


def alarm_rows(rt: Runtime, patient: str) -> list[tuple[str, str]]:
    with rt.store.engine.connect() as c:
        return [
            (r[0], r[1])
            for r in c.execute(
                text("SELECT condition, state FROM alarms WHERE twin_id = :t ORDER BY condition"),
                {"t": patient},
            )
        ]
