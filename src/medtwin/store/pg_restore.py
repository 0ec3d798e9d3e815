"""Replace a PostgreSQL medtwin database by an archive, atomically (``medtwin restore --force``).

``pg_restore --clean`` cannot replace partitioned tables on PostgreSQL 15: it tries to drop each
partition's primary-key constraint, which is inherited ("cannot drop inherited constraint").
Instead, one ``psql --single-transaction`` session drops the target's tables (a partitioned
table's partitions go with it), sequences and functions in ``public`` and replays the archive as
SQL (``pg_restore -f -``): either the whole replacement commits or nothing changes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg


def drop_statements(dsn: str) -> str:
    """SQL dropping every table, sequence and function of the ``public`` schema."""
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            )
        ]
        seqs = [
            r[0]
            for r in conn.execute(
                "SELECT quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'S'"
            )
        ]
        funcs = [
            r[0]
            for r in conn.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public'"
            )
        ]
    out = []
    if tables:
        out.append(f"DROP TABLE IF EXISTS {', '.join(f'public.{t}' for t in tables)} CASCADE;")
    if seqs:
        out.append(f"DROP SEQUENCE IF EXISTS {', '.join(f'public.{s}' for s in seqs)} CASCADE;")
    out.extend(f"DROP FUNCTION IF EXISTS {f} CASCADE;" for f in funcs)
    return "\n".join(out) or "SELECT 1;"


def replace_database(pg_restore: str, psql: str, src: Path, dsn: str) -> subprocess.CompletedProcess[str]:
    """Drop the target's objects and restore ``src`` into it in one transaction."""
    script = subprocess.Popen(
        [pg_restore, "--no-owner", "-f", "-", str(src)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert script.stdout is not None
    res = subprocess.run(
        [psql, "-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1", "-d", dsn,
         "-c", drop_statements(dsn), "-f", "-"],
        stdin=script.stdout, capture_output=True, text=True,
    )  # fmt: skip
    script.stdout.close()
    script.wait()
    if script.returncode != 0 and res.returncode == 0:
        err = script.stderr.read().decode() if script.stderr else ""
        return subprocess.CompletedProcess(res.args, script.returncode, res.stdout, err)
    return res
