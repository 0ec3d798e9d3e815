"""``medtwin backup`` / ``medtwin restore``: online copies that verify what they wrote."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from medtwin.cli.ops import ops_commands
from medtwin.core.model import Observation, Twin, TwinKind
from medtwin.store.backup import BackupError, Manifest, archive_snapshot, copy_unescape, manifest_path
from medtwin.store.sql import SqlStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def version() -> None:  # a second command so typer keeps sub-command names
        pass

    ops_commands(app)
    return app


def _fill(store: SqlStore, n: int, start: int = 0, source: str = "D1") -> None:
    store.put_twin(Twin("P1", TwinKind.PATIENT))
    obs = [
        Observation(
            "P1",
            "8867-4",
            T0 + timedelta(seconds=i),
            T0 + timedelta(seconds=i),
            source,
            f"{i}/0",
            value=60 + i % 40 + 0.1,
            unit="/min",
            meta={"note": "tab\there\\"} if i % 97 == 0 else None,
        )
        for i in range(start, start + n)
    ]
    store.write(obs)


def test_sqlite_backup_while_writing_then_restore(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    store = SqlStore(str(db))
    _fill(store, 5000)
    stop = threading.Event()

    def writer() -> None:
        i = 10_000
        while not stop.is_set():
            _fill(store, 200, i, "D2")
            i += 200

    t = threading.Thread(target=writer)
    t.start()
    try:
        res = CliRunner().invoke(_cli(), ["backup", "--db", str(db), str(tmp_path / "b.db"), "--json"])
    finally:
        stop.set()
        t.join()
    assert res.exit_code == 0, res.output
    man = Manifest.read(manifest_path(tmp_path / "b.db"))
    assert man.tables["observations"] >= 5000 and man.schema_version >= 4
    target = tmp_path / "restored.db"
    res = CliRunner().invoke(_cli(), ["restore", str(tmp_path / "b.db"), "--db", str(target)])
    assert res.exit_code == 0, res.output
    restored = SqlStore(str(target))
    assert restored.count_observations() == man.tables["observations"]
    restored.close()
    # refuses to overwrite without --force
    res = CliRunner().invoke(_cli(), ["restore", str(tmp_path / "b.db"), "--db", str(target)])
    assert res.exit_code == 1
    store.close()


def test_sqlite_restore_refuses_a_tampered_backup(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    store = SqlStore(str(db))
    _fill(store, 300)
    store.close()
    res = CliRunner().invoke(_cli(), ["backup", "--db", str(db), str(tmp_path / "b.db")])
    assert res.exit_code == 0, res.output
    c = sqlite3.connect(tmp_path / "b.db")
    c.execute("UPDATE observations SET value = 1 WHERE id = 7")
    c.commit()
    c.close()
    res = CliRunner().invoke(_cli(), ["restore", str(tmp_path / "b.db"), "--db", str(tmp_path / "r.db")])
    assert res.exit_code == 1 and "checksum" in res.output
    assert not (tmp_path / "r.db").exists()


def test_copy_unescape_and_archive_parser() -> None:
    assert copy_unescape("\\N") is None
    assert copy_unescape("a\\tb\\\\c\\nd") == "a\tb\\c\nd"
    lines = ["SET x;", "COPY public.observations (id, v) FROM stdin;", "1\ta", "2\t\\N", "\\.", ""]
    tables, _ = archive_snapshot(lines)
    assert tables == {"observations": 2}


def test_postgresql_backup_and_restore(pg_url: str, tmp_path: Path) -> None:
    store = SqlStore(pg_url)
    _fill(store, 2000)
    store.close()
    res = CliRunner().invoke(_cli(), ["backup", "--db", pg_url, str(tmp_path / "pg.dump")])
    assert res.exit_code == 0, res.output
    # restore into a fresh database
    import uuid

    import psycopg

    from tests.conftest import PG_ADMIN

    name = "medtwin_r_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    target = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        res = CliRunner().invoke(_cli(), ["restore", str(tmp_path / "pg.dump"), "--db", target])
        assert res.exit_code == 0, res.output
        s = SqlStore(target, migrate=False)
        assert s.count_observations() == 2000
        s.close()
        res = CliRunner().invoke(_cli(), ["restore", str(tmp_path / "pg.dump"), "--db", target])
        assert res.exit_code == 1  # not without --force
        res = CliRunner().invoke(_cli(), ["restore", str(tmp_path / "pg.dump"), "--db", target, "--force"])
        assert res.exit_code == 0, res.output
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # a manifest that disagrees with the archive is refused
    man = Manifest.read(manifest_path(tmp_path / "pg.dump"))
    man.tables["observations"] += 1
    man.write(manifest_path(tmp_path / "pg.dump"))
    with pytest.raises(BackupError):
        from medtwin.store.backup import restore

        restore(tmp_path / "pg.dump", target)
