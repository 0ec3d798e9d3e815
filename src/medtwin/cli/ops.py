"""Operations commands: ``medtwin backup --db URL PATH`` and ``medtwin restore PATH --db URL``.

Register on the main app with ``ops_commands(app)``. Both verify what they wrote (row counts per
table, observations checksum; see :mod:`medtwin.store.backup`) and exit 1 on any mismatch,
2 on a usage error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def _db(db: str | None) -> str:
    from medtwin.config import Settings

    return Settings.load(db=db).db_url


def backup(
    path: Annotated[Path, typer.Argument(help="Backup file to write (a manifest is written beside it).")],
    db: Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Back up the database online (SQLite backup API / pg_dump) and verify the copy."""
    from medtwin.store.backup import BackupError, manifest_path
    from medtwin.store.backup import backup as do_backup

    try:
        man = do_backup(_db(db), path)
    except BackupError as exc:
        console.print(f"[red]backup failed:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"path": str(path), "manifest": str(manifest_path(path)), **man.__dict__}))
    else:
        console.print(
            f"backup ok: {path} ({man.dialect}, {sum(man.tables.values())} rows in {len(man.tables)} tables, "
            f"{man.tables.get('observations', 0)} observations verified)"
        )


def restore(
    path: Annotated[Path, typer.Argument(help="Backup file written by `medtwin backup`.")],
    db: Annotated[
        str | None, typer.Option(help="Target database URL or SQLite path (env MEDTWIN_DB).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing database (stop medtwin first).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Restore a backup into the database and verify the result against the manifest."""
    from medtwin.store.backup import BackupError
    from medtwin.store.backup import restore as do_restore

    try:
        man = do_restore(path, _db(db), force=force)
    except BackupError as exc:
        console.print(f"[red]restore failed:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"path": str(path), **man.__dict__}))
    else:
        console.print(
            f"restore ok: {sum(man.tables.values())} rows in {len(man.tables)} tables match the manifest"
        )


def ops_commands(app: typer.Typer) -> None:
    """Add ``backup`` and ``restore`` to the ``medtwin`` command."""
    app.command("backup")(backup)
    app.command("restore")(restore)
