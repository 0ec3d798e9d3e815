"""``medtwin audit ...`` and ``medtwin keys ...``: the audit log and the encryption keys.

Register on the main app with ``security_commands(app)``.

* ``medtwin audit verify [--db URL] [--audit-db URL] [--sth FILE] [--public-key KEY]``: exit 0 when the
  log is intact, 1 naming the first bad entry otherwise, 2 on a usage error;
* ``medtwin audit export-sth [--out FILE]``: every signed tree head as JSON Lines (keep it elsewhere);
* ``medtwin audit export [--fhir] [--out FILE] [--patient ID] ...``: events as JSON Lines, or a FHIR
  Bundle of AuditEvent;
* ``medtwin keys status|rotate [--prune]|prune|generate``.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True)
audit_app = typer.Typer(
    help="Tamper-evident audit log: verify, export tree heads and events.", no_args_is_help=True
)
keys_app = typer.Typer(help="Encryption keys: status, KEK rotation.", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option(help="Main database URL or SQLite path (env MEDTWIN_DB).")]
AuditDbOpt = Annotated[str | None, typer.Option(help="Audit log database (default: derived from --db).")]


def _settings(db: str | None) -> Any:
    from medtwin.config import Settings

    return Settings.load(db=db)


def _audit_url(db: str | None, audit_db: str | None) -> str:
    from medtwin.security.audit_log import audit_url

    s = _settings(db)
    return audit_db or str(s.extra.get("audit", {}).get("db") or audit_url(s.db_url))


def _out(path: Path | None) -> Any:
    return open(path, "w") if path else sys.stdout


def cli_event(type_: str, *, action: str = "E", detail: dict[str, Any] | None = None) -> dict[str, Any]:
    from medtwin.security.audit import new_event

    return new_event(type_, action=action, subject=f"cli.{getpass.getuser()}", role="admin", detail=detail)


@audit_app.command("verify")
def verify(
    db: DbOpt = None,
    audit_db: AuditDbOpt = None,
    sth: Annotated[
        Path | None, typer.Option(help="Exported tree heads (JSON Lines) to check against.")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="Pinned Ed25519 public key: base64, PEM, or a file holding either.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the log: exit 0 when intact, 1 naming the first bad entry on any edit, deletion,
    reorder or truncation."""
    from medtwin.security.audit_sth import Signer, key_path, load_public_key
    from medtwin.security.audit_verify import verify as do_verify

    pub = None
    try:
        if public_key:
            p = Path(public_key)
            pub = load_public_key(p.read_text() if p.exists() else public_key)
        elif key_path(_settings(db).data_dir).exists() or "MEDTWIN_AUDIT_KEY" in os.environ:
            pub = Signer.load(_settings(db).data_dir).public
    except (ValueError, OSError) as exc:
        console.print(f"[red]--public-key: {exc}[/red]")
        raise typer.Exit(2) from None
    if sth is not None and not sth.exists():
        console.print(f"[red]--sth: {sth} does not exist[/red]")
        raise typer.Exit(2)
    rep = do_verify(_audit_url(db, audit_db), public_key=pub, sth_file=sth)
    if as_json:
        typer.echo(json.dumps(rep.as_dict()))
    elif rep.ok:
        console.print(
            f"[green]audit log intact[/green]: {rep.size} entries, {rep.tree_heads} signed tree heads "
            f"(+{rep.exported_heads} exported), root {rep.root[:16]}..."
        )
    else:
        console.print(f"[red]audit log TAMPERED[/red]: first bad entry {rep.first_bad}")
        for problem in rep.problems[:20]:
            console.print(f"  {problem}")
    for n in rep.notes:
        console.print(f"  note: {n}")
    raise typer.Exit(0 if rep.ok else 1)


@audit_app.command("export-sth")
def export_sth(
    db: DbOpt = None,
    audit_db: AuditDbOpt = None,
    out: Annotated[Path | None, typer.Option(help="File to write (default: standard output).")] = None,
) -> None:
    """Sign a tree head for the current log and print every signed tree head as JSON Lines."""
    from medtwin.security.audit_log import AuditLog

    log = AuditLog(_audit_url(db, audit_db), data_dir=_settings(db).data_dir)
    try:
        log.sign_now()
        heads = log.sths()
    finally:
        log.close()
    f = _out(out)
    try:
        for h in heads:
            f.write(h.to_json() + "\n")
    finally:
        if out:
            f.close()
    console.print(f"{len(heads)} signed tree heads; latest size {heads[-1].tree_size if heads else 0}")


@audit_app.command("export")
def export(
    db: DbOpt = None,
    audit_db: AuditDbOpt = None,
    fhir: Annotated[bool, typer.Option("--fhir", help="A FHIR Bundle of AuditEvent (IHE BALP).")] = False,
    out: Annotated[Path | None, typer.Option(help="File to write (default: standard output).")] = None,
    patient: Annotated[str | None, typer.Option(help="Only events about this patient.")] = None,
    subject: Annotated[str | None, typer.Option(help="Only events by this user or device.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 100_000,
) -> None:
    """Export audit events (JSON Lines with their index, or --fhir)."""
    from medtwin.security.audit_fhir import bundle
    from medtwin.security.audit_log import AuditLog

    log = AuditLog(_audit_url(db, audit_db), data_dir=_settings(db).data_dir)
    try:
        items = log.events(patient=patient, subject=subject, limit=limit)
        log.append_sync(cli_event("export", action="R", detail={"what": "audit", "count": len(items)}))
    finally:
        log.close()
    f = _out(out)
    try:
        if fhir:
            json.dump(bundle(items), f)
            f.write("\n")
        else:
            for i, ev in items:
                f.write(json.dumps({"index": i, **ev}, sort_keys=True) + "\n")
    finally:
        if out:
            f.close()


# ------------------------------------------------------------------------------------------- keys
def _store(db: str | None) -> Any:
    from medtwin.store.sql import SqlStore

    return SqlStore(_settings(db).db_url)


@keys_app.command("status")
def status(db: DbOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """KEKs in the keyring and the data keys of the database (which KEK wraps each, uses reserved)."""
    from medtwin.security import codec, keys

    ring = keys.current(_settings(db).data_dir)
    store = _store(db)
    try:
        deks = codec.data_keys(store)
    finally:
        store.close()
    doc: dict[str, Any] = {
        "keyring": str(ring.path) if ring.path else "environment (MEDTWIN_KEK)",
        "active_kek": ring.active.id,
        "keks": [
            {
                "id": k.id,
                "status": k.status,
                "created": k.created,
                "data_keys": sum(1 for d in deks if d.kek_id == k.id),
            }
            for k in ring.keks
        ],
        "data_keys": [
            {
                "id": d.id,
                "kek": d.kek_id,
                "reserved_uses": d.reserved,
                "limit": codec.MAX_USES,
                "retired": d.retired_us is not None,
            }
            for d in deks
        ],
        "needs_rewrap": sum(1 for d in deks if d.kek_id != ring.active.id),
    }
    if as_json:
        typer.echo(json.dumps(doc))
        return
    console.print(f"keyring: {doc['keyring']}; active KEK {doc['active_kek']}")
    for k in doc["keks"]:
        console.print(f"  KEK {k['id']} ({k['status']}): wraps {k['data_keys']} data keys")
    for d in doc["data_keys"]:
        console.print(f"  data key {d['id']} under {d['kek']}: {d['reserved_uses']:,} of {d['limit']:,} uses reserved"
                      f"{' (retired)' if d['retired'] else ''}")  # fmt: skip
    console.print(f"data keys still under an old KEK: {doc['needs_rewrap']}")


@keys_app.command("rotate")
def rotate(
    db: DbOpt = None,
    prune: Annotated[bool, typer.Option(help="Then remove old KEKs that no data key uses.")] = False,
) -> None:
    """New KEK (key file; with MEDTWIN_KEK put the new key first), re-wrap every data key under it,
    online. The old KEK stays in the key file until --prune (or `medtwin keys prune`)."""
    from medtwin.security import codec, keys

    data_dir = _settings(db).data_dir
    ring = keys.current(data_dir)
    if ring.path is not None:
        new = keys.rotate_file(ring)
        console.print(f"new KEK {new.id} added to {ring.path}")
    store = _store(db)
    try:
        n = codec.rewrap(store, keys.load(data_dir))
        console.print(f"re-wrapped {n} data keys under {keys.load(data_dir).active.id}")
        if prune:
            _prune(store, data_dir)
    finally:
        store.close()
    _audit_cli(db, "system", {"what": "kek-rotate", "rewrapped": n})


def _prune(store: Any, data_dir: Path) -> None:
    from medtwin.security import codec, keys

    ring = keys.load(data_dir)
    gone = keys.prune_file(ring, codec.kek_ids_in_use(store))
    console.print(f"removed old KEKs: {', '.join(gone) or 'none'}")


@keys_app.command("prune")
def prune_cmd(db: DbOpt = None) -> None:
    """Remove retired KEKs that no data key of the database uses any more."""
    store = _store(db)
    try:
        _prune(store, _settings(db).data_dir)
    finally:
        store.close()


@keys_app.command("generate")
def generate() -> None:
    """Print a new MEDTWIN_KEK / MEDTWIN_HMAC_KEY pair for keys kept in the environment."""
    typer.echo(f"MEDTWIN_KEK={base64.b64encode(secrets.token_bytes(32)).decode()}")
    typer.echo(f"MEDTWIN_HMAC_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}")


def _audit_cli(db: str | None, type_: str, detail: dict[str, Any]) -> None:
    from medtwin.security.audit_log import AuditLog

    log = AuditLog(_audit_url(db, None), data_dir=_settings(db).data_dir)
    try:
        log.append_sync(cli_event(type_, detail=detail))
    finally:
        log.close()


# ------------------------------------------------------------------------------------------ export
export_app = typer.Typer(
    help="Exports: de-identified data sets for research and training.", no_args_is_help=True
)


@export_app.command("deid")
def export_deid(
    out: Annotated[Path, typer.Option(help="Folder to write (bundle.json or CSV files, report.json).")],
    db: DbOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="fhir (a collection Bundle) | csv")] = "fhir",
    patients: Annotated[
        str | None, typer.Option(help="Comma-separated patient twin ids (default: all).")
    ] = None,
    date_shift: Annotated[
        bool,
        typer.Option(
            "--date-shift/--year-only", help="Shift dates per patient (not Safe Harbor) or keep years only."
        ),
    ] = False,
    purpose: Annotated[str, typer.Option(help="Purpose / study name: its own pseudonym key.")] = "research",
) -> None:
    """De-identified export (HIPAA Safe Harbor): pseudonymous subjects, no direct identifiers."""
    from medtwin.security import deid

    if fmt not in deid.FORMATS:
        console.print(f"[red]--format must be one of {', '.join(deid.FORMATS)}[/red]")
        raise typer.Exit(2)
    store = _store(db)
    try:
        ids = [p.strip() for p in patients.split(",") if p.strip()] if patients else None
        opts = deid.Options(purpose=purpose, mode="shift" if date_shift else "year", patients=ids)
        rep, files = deid.export(store, opts, out, fmt)
    finally:
        store.close()
    _audit_cli(db, "export", {"what": "deid", "purpose": purpose, "patients": rep.patients, "format": fmt})
    console.print(
        f"exported {rep.patients} patients, {rep.observations} observations, {rep.medications} medications "
        f"({'dates shifted' if date_shift else 'years only'}) to {out}: {', '.join(f.name for f in files)}"
    )


def security_commands(app: typer.Typer) -> None:
    """Add ``audit``, ``keys`` and ``export`` to the ``medtwin`` command."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")
    app.add_typer(export_app, name="export")
