"""Storage: SQLite (embedded default) and PostgreSQL, one schema, one query API.

``open_store(url)`` returns a :class:`~medtwin.store.sql.SqlStore`; the hot ingest path goes
through :class:`~medtwin.store.writer.BatchWriter`, which groups commits.
"""

from medtwin.store.sql import SqlStore, open_store

__all__ = ["SqlStore", "open_store"]
