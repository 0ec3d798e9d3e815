"""Progress of long sweeps: a rich progress bar on a terminal, log lines elsewhere."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator

from medtwin.compute.sweep import Progress

log = logging.getLogger(__name__)


@contextlib.contextmanager
def rich_progress(label: str, *, quiet: bool = False) -> Iterator[Progress]:
    """A ``progress(done, total)`` callback drawing a rich bar on stderr (a log line every 10 %
    when stderr is not a terminal; nothing when ``quiet``)."""
    if quiet:
        yield lambda _d, _n: None
        return
    if not sys.stderr.isatty():
        last = [-1]
        t0 = time.monotonic()

        def log_cb(done: int, total: int) -> None:
            tenth = 10 * done // max(total, 1)
            if tenth != last[0]:
                last[0] = tenth
                log.info("%s: %d/%d (%.1f s)", label, done, total, time.monotonic() - t0)

        yield log_cb
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=None)

        def cb(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield cb
