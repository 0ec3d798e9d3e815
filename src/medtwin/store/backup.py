"""Backup and restore that check what they wrote.

A backup is the data file (SQLite: a copy made with SQLite's online backup API; PostgreSQL: a
``pg_dump -Fc`` archive) plus ``<PATH>.manifest.json``: row counts per table and a checksum of
the observations, both taken from the *same snapshot* as the copy (SQLite: one read transaction
around the backup; PostgreSQL: ``pg_export_snapshot()`` handed to ``pg_dump --snapshot``).

* ``backup`` then re-reads what it wrote (SQLite: opens the copy, ``PRAGMA integrity_check``;
  PostgreSQL: streams the archive's table data through ``pg_restore -a -f -``) and compares it
  with the manifest.
* ``restore`` checks the backup against its manifest first, restores (SQLite: backup API into the
  target file; PostgreSQL: ``pg_restore --single-transaction``), then checks the restored database.

The observations checksum is order-independent: the sum, modulo 2**256, of the SHA-256 of each
row's canonical text (SQLite: ``repr`` of the row; PostgreSQL: the columns' text output, as in
COPY). Any mismatch raises :class:`BackupError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medtwin.store.sql import SQLITE_PRAGMAS, normalise_url

MOD = 2**256
CHECKSUM_TABLE = "observations"


class BackupError(Exception):
    """The backup or the restored database does not match what was expected."""


@dataclass
class Manifest:
    dialect: str
    tables: dict[str, int]
    checksum: str  # hex of the observations checksum
    schema_version: int
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    format: int = 1

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise BackupError(f"cannot read manifest {path}: {exc}") from exc


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


class RowSum:
    """Order-independent checksum of rows given as canonical strings."""

    def __init__(self) -> None:
        self.total = 0
        self.rows = 0

    def add(self, canonical: str) -> None:
        self.total = (self.total + int.from_bytes(hashlib.sha256(canonical.encode()).digest(), "big")) % MOD
        self.rows += 1

    def hex(self) -> str:
        return f"{self.total:064x}"


def compare(expected: Manifest, tables: dict[str, int], checksum: str, what: str) -> None:
    problems = []
    for t, n in sorted(expected.tables.items()):
        got = tables.get(t)
        if got != n:
            problems.append(f"table {t}: expected {n} rows, {what} has {got}")
    for t in sorted(set(tables) - set(expected.tables)):
        problems.append(f"table {t}: not in the manifest")
    if checksum != expected.checksum:
        problems.append(f"observations checksum differs ({what})")
    if problems:
        raise BackupError("; ".join(problems))


# ---------------------------------------------------------------------- SQLite
def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [r[0] for r in rows]


def sqlite_snapshot(conn: sqlite3.Connection) -> tuple[dict[str, int], str, int]:
    """Counts per table, observations checksum and schema version, in the connection's transaction."""
    tables = {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in _sqlite_tables(conn)}
    rs = RowSum()
    if CHECKSUM_TABLE in tables:
        for row in conn.execute(f"SELECT * FROM {CHECKSUM_TABLE}"):
            rs.add(repr(tuple(row)))
    version = 0
    if "schema_version" in tables:
        version = int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])
    return tables, rs.hex(), version


def _sqlite_path(url: str) -> str:
    sa_url, dialect = normalise_url(url)
    if dialect != "sqlite":
        raise BackupError("not a SQLite database URL")
    return sa_url[len("sqlite:///") :]


def _check_sqlite_file(path: Path) -> tuple[dict[str, int], str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        res = conn.execute("PRAGMA integrity_check").fetchall()
        if [tuple(r) for r in res] != [("ok",)]:
            raise BackupError(f"integrity_check of {path} failed: {res[:5]}")
        conn.execute("BEGIN")
        return sqlite_snapshot(conn)
    finally:
        conn.close()


def backup_sqlite(url: str, dest: Path) -> Manifest:
    src_path = _sqlite_path(url)
    if not Path(src_path).exists():
        raise BackupError(f"no database at {src_path}")
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(src_path, isolation_level=None, timeout=30)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.execute("BEGIN")  # one read snapshot for the counts and the copy
        tables, checksum, version = sqlite_snapshot(src)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            dst.close()
        src.execute("COMMIT")
    finally:
        src.close()
    _fsync(tmp)
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    man = Manifest("sqlite", tables, checksum, version)
    compare(man, *_check_sqlite_file(dest)[:2], "the backup file")
    man.write(manifest_path(dest))
    return man


def restore_sqlite(src: Path, url: str, *, force: bool = False) -> Manifest:
    man = Manifest.read(manifest_path(src))
    if man.dialect != "sqlite":
        raise BackupError(f"backup is for {man.dialect}, target is SQLite")
    compare(man, *_check_sqlite_file(src)[:2], "the backup file")
    target = Path(_sqlite_path(url))
    if target.exists() and target.stat().st_size > 0 and not force:
        raise BackupError(f"{target} exists; pass --force to overwrite it (stop medtwin first)")
    target.parent.mkdir(parents=True, exist_ok=True)
    s = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    d = sqlite3.connect(target, isolation_level=None, timeout=30)
    try:
        s.backup(d)
        for p in SQLITE_PRAGMAS[:2]:
            d.execute(p)
        d.execute("BEGIN")
        tables, checksum, _ = sqlite_snapshot(d)
        d.execute("COMMIT")
        if d.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("integrity_check of the restored database failed")
    finally:
        s.close()
        d.close()
    compare(man, tables, checksum, "the restored database")
    return man


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync(path)


# ---------------------------------------------------------------------- PostgreSQL
def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: the newest under /usr/lib/postgresql, else from PATH."""
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        versions = sorted(
            (p for p in base.iterdir() if (p / "bin" / name).exists()),
            key=lambda p: int(p.name) if p.name.isdigit() else 0,
        )
        if versions:
            return str(versions[-1] / "bin" / name)
    exe = shutil.which(name)
    if exe is None:
        raise BackupError(f"{name} not found (install postgresql-client)")
    return exe


def _libpq_url(url: str) -> str:
    sa_url, dialect = normalise_url(url)
    if dialect != "postgresql":
        raise BackupError("not a PostgreSQL URL")
    return sa_url.replace("postgresql+psycopg://", "postgresql://")


def _pg_columns(cur: Any, table: str) -> list[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
        "ORDER BY ordinal_position",
        (table,),
    )
    return [r[0] for r in cur.fetchall()]


def pg_snapshot(cur: Any) -> tuple[dict[str, int], str, int]:
    cur.execute(  # partitions are counted in their parent (observations__202611 -> observations)
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
        "'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname"
    )
    names = [r[0] for r in cur.fetchall()]
    tables = {}
    for t in names:
        cur.execute(f'SELECT count(*) FROM public."{t}"')
        tables[t] = int(cur.fetchone()[0])
    rs = RowSum()
    if CHECKSUM_TABLE in tables:
        cols = ", ".join(f'"{c}"::text' for c in _pg_columns(cur, CHECKSUM_TABLE))
        with cur.connection.cursor(name="medtwin_backup_sum") as named:
            named.itersize = 5000
            named.execute(f"SELECT {cols} FROM public.{CHECKSUM_TABLE}")
            for row in named:
                rs.add("\t".join("\\N" if v is None else v for v in row))
    version = 0
    if "schema_version" in tables:
        cur.execute("SELECT coalesce(max(version), 0) FROM public.schema_version")
        version = int(cur.fetchone()[0])
    return tables, rs.hex(), version


_COPY_ESC = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def copy_unescape(field_: str) -> str | None:
    r"""One field of COPY text format: ``\N`` is NULL, backslash escapes as documented."""
    if field_ == "\\N":
        return None
    if "\\" not in field_:
        return field_
    out, i, n = [], 0, len(field_)
    while i < n:
        ch = field_[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = field_[i + 1]
        if nxt in _COPY_ESC:
            out.append(_COPY_ESC[nxt])
            i += 2
        elif nxt == "x" and i + 2 < n:
            j = i + 2
            while j < n and j < i + 4 and field_[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(chr(int(field_[i + 2 : j], 16)))
            i = j
        elif nxt in "01234567":
            j = i + 1
            while j < n and j < i + 4 and field_[j] in "01234567":
                j += 1
            out.append(chr(int(field_[i + 1 : j], 8)))
            i = j
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


def archive_snapshot(lines: Iterable[str]) -> tuple[dict[str, int], str]:
    """Counts and checksum from ``pg_restore -a -f -`` output (its COPY blocks)."""
    tables: dict[str, int] = {}
    rs = RowSum()
    current: str | None = None
    for line in lines:
        line = line.rstrip("\n")
        if current is None:
            if line.startswith("COPY ") and line.endswith("FROM stdin;"):
                name = line[5:].split(" ", 1)[0].split(".")[-1].strip('"')
                name = name.split("__", 1)[0]  # a partition counts in its parent
                current = name
                tables.setdefault(name, 0)
            continue
        if line == "\\.":
            current = None
            continue
        tables[current] += 1
        if current == CHECKSUM_TABLE:
            rs.add("\t".join("\\N" if v is None else v for v in map(copy_unescape, line.split("\t"))))
    return tables, rs.hex()


def _archive_check(path: Path) -> tuple[dict[str, int], str]:
    proc = subprocess.Popen(
        [pg_tool("pg_restore"), "-a", "-f", "-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert proc.stdout is not None
    tables, checksum = archive_snapshot(proc.stdout)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"pg_restore could not read {path}: {err.strip()[:500]}")
    return tables, checksum


def _with_empty_tables(tables: dict[str, int], names: Iterator[str] | list[str]) -> dict[str, int]:
    return {**{n: 0 for n in names}, **tables}


def backup_postgresql(url: str, dest: Path) -> Manifest:
    import psycopg

    dsn = _libpq_url(url)
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    with psycopg.connect(dsn) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snap = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        with conn.cursor() as cur:
            tables, checksum, version = pg_snapshot(cur)
        res = subprocess.run(
            [pg_tool("pg_dump"), "-Fc", f"--snapshot={snap}", "-f", str(tmp), "--dbname", dsn],
            capture_output=True,
            text=True,
        )
        conn.rollback()
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {res.stderr.strip()[:500]}")
    _fsync(tmp)
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    man = Manifest("postgresql", tables, checksum, version)
    got, got_sum = _archive_check(dest)
    compare(man, _with_empty_tables(got, list(tables)), got_sum, "the archive")
    man.write(manifest_path(dest))
    return man


def restore_postgresql(src: Path, url: str, *, force: bool = False) -> Manifest:
    import psycopg

    man = Manifest.read(manifest_path(src))
    if man.dialect != "postgresql":
        raise BackupError(f"backup is for {man.dialect}, target is PostgreSQL")
    got, got_sum = _archive_check(src)
    compare(man, _with_empty_tables(got, list(man.tables)), got_sum, "the archive")
    dsn = _libpq_url(url)
    with psycopg.connect(dsn) as conn:
        n = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'observations'"
        ).fetchone()[0]  # type: ignore[index]
    if n and not force:
        raise BackupError("the target database already has medtwin tables; pass --force to replace them")
    cmd = [
        pg_tool("pg_restore"),
        "--single-transaction",
        "--no-owner",
        "--exit-on-error",
        "-d",
        dsn,
        str(src),
    ]
    if n:  # replace: drop and restore in one transaction (pg_restore --clean fails on partitions)
        from medtwin.store.pg_restore import replace_database

        res = replace_database(pg_tool("pg_restore"), pg_tool("psql"), src, dsn)
    else:
        res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BackupError(f"pg_restore failed: {res.stderr.strip()[:500]}")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        tables, checksum, _ = pg_snapshot(cur)
    compare(man, tables, checksum, "the restored database")
    return man


# ---------------------------------------------------------------------- entry points
def backup(url: str, dest: Path) -> Manifest:
    _, dialect = normalise_url(url)
    dest = dest.expanduser()
    dest.parent.mkdir(parents=True, exist_ok=True)
    return backup_postgresql(url, dest) if dialect == "postgresql" else backup_sqlite(url, dest)


def restore(src: Path, url: str, *, force: bool = False) -> Manifest:
    _, dialect = normalise_url(url)
    src = src.expanduser()
    if not src.exists():
        raise BackupError(f"no backup at {src}")
    if dialect == "postgresql":
        return restore_postgresql(src, url, force=force)
    return restore_sqlite(src, url, force=force)
