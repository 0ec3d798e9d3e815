"""Reading the audit log: signed tree heads, RFC 9162 proofs from the stored nodes, events.

Mixed into :class:`medtwin.security.audit_log.AuditLog` (which provides ``engine`` and ``log_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import text

from medtwin.core.clock import to_us
from medtwin.security import merkle
from medtwin.security.audit_sth import TreeHead


class DbHashes:
    """Perfect subtree hashes read from the stored log (leaves from entries, inner nodes from nodes)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.c = conn
        self.cache: dict[tuple[int, int], bytes] = {}

    def perfect(self, level: int, index: int) -> bytes:
        k = (level, index)
        if k not in self.cache:
            if level == 0:
                h = self.c.execute(
                    text("SELECT leaf FROM audit_entries WHERE idx = :i"), {"i": index}
                ).scalar()
            else:
                h = self.c.execute(
                    text("SELECT hash FROM audit_nodes WHERE level = :l AND idx = :i"),
                    {"l": level, "i": index},
                ).scalar()
            if h is None:
                raise LookupError(f"audit log has no node ({level}, {index})")
            self.cache[k] = bytes.fromhex(h)
        return self.cache[k]


class AuditReads:
    engine: sa.Engine
    log_id: str

    # ---------------------------------------------------------------- reading
    def sths(self) -> list[TreeHead]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT tree_size, timestamp, root, key_id, public_key, signature FROM audit_sth ORDER BY tree_size"
                )
            ).all()
        return [TreeHead(self.log_id, int(r[0]), r[2], int(r[1]), r[3], r[4], r[5]) for r in rows]

    def latest_sth(self) -> TreeHead | None:
        s = self.sths()
        return s[-1] if s else None

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        with self.engine.connect() as c:
            src = DbHashes(c)
            self._check_size(c, size)
            proof = merkle.inclusion_proof(src, index, size)
            leaf = src.perfect(0, index)
            root = merkle.root(src, size)
        return {"index": index, "tree_size": size, "leaf_hash": leaf.hex(), "root_hash": root.hex(),
                "audit_path": [p.hex() for p in proof]}  # fmt: skip

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        with self.engine.connect() as c:
            src = DbHashes(c)
            self._check_size(c, second)
            proof = merkle.consistency_proof(src, first, second)
            r1, r2 = merkle.root(src, first), merkle.root(src, second)
        return {"first": first, "second": second, "first_root": r1.hex(), "second_root": r2.hex(),
                "consistency_path": [p.hex() for p in proof]}  # fmt: skip

    @staticmethod
    def _check_size(c: sa.Connection, size: int) -> None:
        have = int(c.execute(text("SELECT coalesce(max(idx) + 1, 0) FROM audit_entries")).scalar() or 0)
        if not 0 <= size <= have:
            raise ValueError(f"tree size {size} is not between 0 and the log's size {have}")

    def events(
        self,
        *,
        patient: str | None = None,
        subject: str | None = None,
        type_: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: int = -1,
        limit: int = 100,
    ) -> list[tuple[int, dict[str, Any]]]:
        where: list[str] = ["idx > :after"]
        params: dict[str, Any] = {"after": after, "n": limit}
        for col, val in (("patient", patient), ("subject", subject), ("type", type_)):
            if val is not None:
                where.append(f"{col} = :{col}")
                params[col] = val
        if start is not None:
            where.append("t_us >= :s")
            params["s"] = to_us(start)
        if end is not None:
            where.append("t_us < :e")
            params["e"] = to_us(end)
        q = f"SELECT idx, event FROM audit_entries WHERE {' AND '.join(where)} ORDER BY idx LIMIT :n"
        with self.engine.connect() as c:
            return [(int(r[0]), orjson.loads(r[1])) for r in c.execute(text(q), params)]
