"""The ``--scheduler`` option shared by the sweep commands (``flow simulate``, ``evac sweep``,
``treat compare``; docs/sweeps.md): a Dask scheduler address, ``local`` / ``local:N`` for a
LocalCluster on this machine, or empty for this process. Default: the environment variable
``MEDTWIN_DASK_SCHEDULER``, else the setting ``dask_scheduler`` (medtwin.toml), else empty."""

from __future__ import annotations

from typing import Annotated

import typer

from medtwin.core.errors import ValidationError

Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        envvar="MEDTWIN_DASK_SCHEDULER",
        show_default=False,
        help="Dask scheduler: tcp://host:8786, local or local:N (a LocalCluster of N processes), "
        "'' for this process. Default: setting dask_scheduler (empty: this process).",
    ),
]


def scheduler_from(value: str | None) -> str:
    """The scheduler to use: the option's value if given, else the settings' ``dask_scheduler``;
    checked, so a typo fails with the field named instead of a connection timeout."""
    if value is None:
        from medtwin.config import Settings

        value = Settings.load().dask_scheduler
    value = value.strip()
    if value == "":
        return value
    if value.startswith("local:"):
        n = value.split(":", 1)[1]
        if not (n.isdigit() and 1 <= int(n) <= 1024):
            raise ValidationError("local:N needs N from 1 to 1024 worker processes", field="scheduler")
    elif value != "local" and not value.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise ValidationError(
            "a scheduler address (tcp://host:8786), local, local:N or '' for this process", field="scheduler"
        )
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise ValidationError(
            "needs dask.distributed: pip install 'medtwin[dask]' (or leave it empty to run here)",
            field="scheduler",
        ) from None
    return value
