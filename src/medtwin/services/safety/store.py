"""Stored buildings (table ``evac_buildings``) and evacuation runs (``evac_runs``), store migration
11. A building is its GeoJSON (schema medtwin-building/1) keyed by the building twin's id; a run
keeps its scenario (occupants by pseudonym and class), a summary for lists and the full report;
the replay (frames) is a gzip JSON file under ``<data_dir>/evacuation``."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from medtwin import __version__
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.models.evacuation.building import Building, BuildingError
from medtwin.models.evacuation.geojson import from_geojson, to_geojson

RUN_ID = re.compile(r"^[0-9a-f]{16}$")


def _now() -> int:
    return int(datetime.now(UTC).timestamp() * 1e6)


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat()


def summary_of(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report.get(k) for k in ("name", "strategy", "status", "rset_s", "aset_s", "margin_s", "stuck")} | {
        "people": len(report.get("agents", [])), "at_risk": len(report.get("at_risk", [])),
    }  # fmt: skip


class SafetyStore:
    def __init__(self, store: Any, folder: Path) -> None:
        self.store = store
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ buildings
    def put_building(self, b: Building, actor: str = "") -> None:
        doc = json.dumps(to_geojson(b))
        now = _now()
        with self.store.transaction() as c:
            n = c.execute(
                text(
                    "UPDATE evac_buildings SET name = :n, source = :s, geojson = :g, actor = :a, updated_us = :t WHERE id = :id"
                ),
                {"id": b.id, "n": b.name, "s": b.source, "g": doc, "a": actor, "t": now},
            ).rowcount
            if not n:
                c.execute(
                    text("INSERT INTO evac_buildings (id, name, source, geojson, actor, created_us, updated_us) "
                         "VALUES (:id, :n, :s, :g, :a, :t, :t)"),
                    {"id": b.id, "n": b.name, "s": b.source, "g": doc, "a": actor, "t": now},
                )  # fmt: skip

    def building(self, bid: str) -> Building | None:
        with self.store.engine.connect() as c:
            row = c.execute(text("SELECT geojson FROM evac_buildings WHERE id = :id"), {"id": bid}).first()
        if row is None:
            return None
        try:
            return from_geojson(json.loads(row[0]))
        except BuildingError as exc:  # stored by an older medtwin: say so rather than fail obscurely
            raise ValidationError(
                f"stored building {bid} no longer validates: {exc}", field="building"
            ) from None

    def buildings(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as c:
            rows = c.execute(
                text("SELECT id, name, source, actor, updated_us FROM evac_buildings ORDER BY id")
            ).all()
        return [{"id": r[0], "name": r[1], "source": r[2], "by": r[3], "updated": _iso(r[4])} for r in rows]

    # ------------------------------------------------------------------ runs
    def save_run(self, building: str, kind: str, scenario: dict[str, Any], report: dict[str, Any],
                 replay: dict[str, Any] | None, actor: str = "") -> str:  # fmt: skip
        rid = uuid.uuid4().hex[:16]
        path = None
        if replay is not None:
            path = self.folder / f"{rid}.replay.json.gz"
            with gzip.open(path, "wt", encoding="utf-8") as f:
                json.dump(replay, f, separators=(",", ":"))
        summary = summary_of(report) if kind == "run" else report.get("summary", {})
        with self.store.transaction() as c:
            c.execute(
                text("INSERT INTO evac_runs (id, building, kind, name, actor, created_us, version, scenario, summary, "
                     "result, replay) VALUES (:id, :b, :k, :n, :a, :t, :v, :sc, :su, :r, :rp)"),
                {"id": rid, "b": building, "k": kind, "n": str(report.get("name", "")), "a": actor, "t": _now(),
                 "v": __version__, "sc": json.dumps(scenario, default=str), "su": json.dumps(summary, default=str),
                 "r": json.dumps(report, default=str), "rp": path.name if path else None},
            )  # fmt: skip
        return rid

    def runs(self, building: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = "SELECT id, building, kind, name, actor, created_us, summary FROM evac_runs"
        args: dict[str, Any] = {"n": limit}
        if building:
            q += " WHERE building = :b"
            args["b"] = building
        q += " ORDER BY created_us DESC LIMIT :n"
        with self.store.engine.connect() as c:
            rows = c.execute(text(q), args).all()
        return [{"id": r[0], "building": r[1], "kind": r[2], "name": r[3], "by": r[4], "created": _iso(r[5]),
                 "summary": json.loads(r[6])} for r in rows]  # fmt: skip

    def run(self, rid: str) -> dict[str, Any]:
        if not RUN_ID.match(rid):
            raise NotFoundError(f"no run {rid!r}", field="run_id")
        with self.store.engine.connect() as c:
            r = c.execute(text("SELECT id, building, kind, name, actor, created_us, version, scenario, result, replay "
                               "FROM evac_runs WHERE id = :id"), {"id": rid}).first()  # fmt: skip
        if r is None:
            raise NotFoundError(f"no run {rid!r}", field="run_id")
        return {"id": r[0], "building": r[1], "kind": r[2], "name": r[3], "by": r[4], "created": _iso(r[5]),
                "version": r[6], "scenario": json.loads(r[7]), "result": json.loads(r[8]), "has_replay": bool(r[9])}  # fmt: skip

    def replay(self, rid: str) -> dict[str, Any]:
        if not RUN_ID.match(rid):
            raise NotFoundError(f"no run {rid!r}", field="run_id")
        path = self.folder / f"{rid}.replay.json.gz"
        if not path.exists():
            raise NotFoundError(f"run {rid} has no replay", field="run_id")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)  # type: ignore[no-any-return]
