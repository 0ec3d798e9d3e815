"""``medtwin user ...`` and ``medtwin devices ...``: accounts, device keys, MQTT credentials.

* ``medtwin user add NAME --role ROLE [--ward W]... [--patient P]... [--staff-id S] [--name N]
  [--password-stdin]``: the password is prompted twice (or read from standard input). On an empty
  user table the first account must be an admin (first-admin bootstrap).
* ``medtwin user token NAME [--url]``: sign in to a running server, print an access token;
* ``medtwin user list [--json]``, ``medtwin user disable NAME`` (its sessions end at once),
  ``medtwin user enable NAME``; ``medtwin user token NAME [--url]`` signs in to a running server
  and prints an access token (for ``MEDTWIN_TOKEN`` of the CLI commands that call the API).
* ``medtwin devices key DEVICE [--relay PATTERN]...``: an HTTP device key (shown once, stored as
  SHA-256); ``medtwin devices keys``; ``medtwin devices revoke KEY_ID``.
* ``medtwin devices credentials --out DIR [--device ID]... [--relay ID]...``: a Mosquitto password
  file and ACL file restricting each device to ``{prefix}/devices/{id}/#`` (every device twin when
  no ``--device`` is given).

These commands open the database directly (``--db`` / ``MEDTWIN_DB``): whoever may run them may
already read and write the database file, so they are the administrators' tool (docs/security.md).
Exit codes: 0 done, 1 refused (exists, not found, weak password), 2 bad usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from medtwin.config import Settings
from medtwin.core.errors import MedtwinError

user_app = typer.Typer(help="User accounts: add, list, disable.", no_args_is_help=True)
devices_app = typer.Typer(
    help="Device credentials: HTTP device keys, MQTT passwords and ACLs.", no_args_is_help=True
)
console = Console(stderr=True)
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path (env MEDTWIN_DB).")]


def _accounts(db: str | None):  # type: ignore[no-untyped-def]
    from medtwin.security.accounts import Accounts
    from medtwin.store.sql import SqlStore

    s = Settings.load(db=db)
    return Accounts(SqlStore(s.db_url)), s


def _password(stdin: bool) -> str:
    if stdin:
        pw = sys.stdin.readline().rstrip("\n")
    else:
        pw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return str(pw)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User id (sign-in name), e.g. ICU-nurse-1.")],
    role: Annotated[
        str,
        typer.Option(
            help="admin, physician, nurse, pharmacist, surgeon, radiologist, trainee, "
            "educator, operations, safety_officer, researcher, patient, caregiver"
        ),
    ],
    ward: Annotated[list[str] | None, typer.Option("--ward", help="Ward in scope (repeat).")] = None,
    patient: Annotated[list[str] | None, typer.Option("--patient", help="Patient in scope (repeat).")] = None,
    staff_id: Annotated[
        str | None, typer.Option(help="Staff twin (works_in, cared_for_by); default NAME.")
    ] = None,
    display: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    replace: Annotated[bool, typer.Option(help="Replace an existing account (new password).")] = False,
    db: DbOpt = None,
) -> None:
    """Create a user (argon2id password hash)."""
    from medtwin.security.passwords import WeakPasswordError
    from medtwin.security.principal import Role

    try:
        r = Role(role)
    except ValueError:
        console.print(f"[red]--role: {role!r} is not a role[/red]")
        raise typer.Exit(2) from None
    acc, _s = _accounts(db)
    try:
        if acc.count_users() == 0 and r is not Role.ADMIN:
            console.print("[red]the user table is empty: create the first administrator (--role admin)[/red]")
            raise typer.Exit(1)
        if acc.get_user(name) is not None and not replace:
            console.print(f"[red]user {name!r} exists (use --replace)[/red]")
            raise typer.Exit(1)
        pw = _password(password_stdin)
        u = acc.add_user(name, r, pw, name=display, wards=ward or [], patients=patient or [],
                         staff_id=staff_id, replace=replace)  # fmt: skip
    except (WeakPasswordError, MedtwinError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        acc.store.close()
    console.print(f"user [bold]{u.id}[/bold] ({u.role.value}) created")


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False, db: DbOpt = None) -> None:
    """List users (never their password hashes)."""
    acc, _s = _accounts(db)
    try:
        users = [u.public() for u in acc.list_users()]
    finally:
        acc.store.close()
    if as_json:
        typer.echo(json.dumps(users))
        return
    t = Table("id", "role", "name", "wards", "patients", "staff", "disabled")
    for u in users:
        t.add_row(u["id"], u["role"], u["name"], ",".join(u["wards"]), ",".join(u["patients"]),
                  u["staff_id"] or "", "yes" if u["disabled"] else "")  # fmt: skip
    Console().print(t)


def _set_disabled(name: str, disabled: bool, db: str | None) -> None:
    acc, _s = _accounts(db)
    try:
        acc.set_disabled(name, disabled)
    except MedtwinError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        acc.store.close()
    console.print(f"user {name} {'disabled (sessions revoked)' if disabled else 'enabled'}")


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument()], db: DbOpt = None) -> None:
    """Disable a user: sign-in refused, sessions and refresh tokens revoked, access tokens refused."""
    _set_disabled(name, True, db)


@user_app.command("enable")
def user_enable(name: Annotated[str, typer.Argument()], db: DbOpt = None) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False, db)


# ---------------------------------------------------------------------------------------- devices
@devices_app.command("key")
def device_key(
    device: Annotated[str, typer.Argument(help="Device twin id the key authenticates as.")],
    relay: Annotated[
        list[str] | None,
        typer.Option(
            "--relay", help="Device-id pattern a relay (gateway) may send for, e.g. 'CGM-*' (repeat)."
        ),
    ] = None,
    label: Annotated[str, typer.Option(help="Free label (where the key is installed).")] = "",
    db: DbOpt = None,
) -> None:
    """Create an HTTP device key (printed once on stdout; only its SHA-256 is stored)."""
    acc, _s = _accounts(db)
    try:
        key = acc.add_device_key(device, relay=bool(relay), devices=relay or [], label=label)
    except MedtwinError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        acc.store.close()
    console.print("send it as 'Authorization: Bearer <key>'; it is not shown again")
    typer.echo(key)


@devices_app.command("keys")
def device_keys(as_json: Annotated[bool, typer.Option("--json")] = False, db: DbOpt = None) -> None:
    """List device keys (ids, devices, relay patterns, revoked)."""
    acc, _s = _accounts(db)
    try:
        keys = acc.list_device_keys()
    finally:
        acc.store.close()
    rows = [{"id": k.id, "device": k.device_id, "relay": list(k.devices) if k.relay else [],
             "label": k.label, "revoked": k.revoked} for k in keys]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows))
        return
    t = Table("id", "device", "relay for", "label", "revoked")
    for r in rows:
        t.add_row(r["id"], r["device"], ",".join(r["relay"]), r["label"], "yes" if r["revoked"] else "")
    Console().print(t)


@devices_app.command("revoke")
def device_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (medtwin devices keys).")], db: DbOpt = None
) -> None:
    """Revoke a device key (refused within seconds by every API process)."""
    acc, _s = _accounts(db)
    try:
        acc.revoke_device_key(key_id)
    except MedtwinError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        acc.store.close()
    console.print(f"key {key_id} revoked")


@devices_app.command("credentials")
def device_credentials(
    out: Annotated[Path, typer.Option(help="Folder for passwd, acl and credentials.env.")],
    device: Annotated[
        list[str] | None,
        typer.Option("--device", help="Device id (repeat); default: every device twin in the database."),
    ] = None,
    relay: Annotated[
        list[str] | None,
        typer.Option("--relay", help="Gateway account that may publish for every device (repeat)."),
    ] = None,
    prefix: Annotated[str | None, typer.Option(help="Topic prefix (default from settings).")] = None,
    ingest_user: Annotated[str, typer.Option(help="Account of medtwin's MQTT ingest.")] = "medtwin-ingest",
    db: DbOpt = None,
) -> None:
    """Mosquitto password file and ACL (each device only on {prefix}/devices/{id}/#)."""
    from medtwin.core.model import TwinKind
    from medtwin.security.mqtt_creds import make_accounts, write_files

    acc, s = _accounts(db)
    try:
        ids = device or [t.id for t in acc.store.list_twins(TwinKind.DEVICE)]
    finally:
        acc.store.close()
    if not ids:
        console.print("[red]no devices: register device twins first or name them with --device[/red]")
        raise typer.Exit(1)
    try:
        accounts = make_accounts(ids, ingest_user, relay or [])
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    paths = write_files(out, accounts, prefix or s.mqtt_prefix)
    console.print(
        f"{len(ids)} device account(s) + {ingest_user}: {paths['passwd']}, {paths['acl']}; passwords in "
        f"{paths['credentials.env']} (0600: hand them to the devices, set MEDTWIN_MQTT_USERNAME/PASSWORD "
        "for the ingest, then delete the file)"
    )


@user_app.command("token")
def user_token(
    name: Annotated[str, typer.Argument(help="User id.")],
    url: Annotated[
        str | None, typer.Option(help="Server base URL (default from settings host/port).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Sign in to a running server and print an access token (for MEDTWIN_TOKEN=... medtwin alarms ack)."""
    import httpx

    s = Settings.load()
    base = (url or f"http://{s.host}:{s.port}").rstrip("/")
    pw = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("Password", hide_input=True)
    try:
        r = httpx.post(f"{base}/api/auth/login", json={"username": name, "password": pw}, timeout=10)
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {base}: {type(exc).__name__}[/red]")
        raise typer.Exit(2) from None
    if r.status_code != 200:
        detail = r.json().get("detail", r.text) if "json" in r.headers.get("content-type", "") else r.text
        console.print(f"[red]{r.status_code}: {detail}[/red]")
        raise typer.Exit(1)
    body = r.json()
    console.print(f"signed in as {name} ({body['role']}); the token lasts {body['expires_in'] // 60} min")
    typer.echo(body["access_token"])
