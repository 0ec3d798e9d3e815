"""``medtwin audit verify``: recompute the audit log and check it against its signed tree heads.

Checks, in order, reading the database without changing it:

1. entries: indexes 0..n-1 without a gap (a deleted row), each leaf hash equal to SHA-256(0x00 ||
   stored event text), the text in canonical form, and the query columns (time, type, subject,
   role, patient, outcome) equal to the event's fields;
2. the stored perfect-subtree nodes equal the ones recomputed from the entries, none beyond the end;
3. every stored tree head: Ed25519 signature (with the pinned public key), size not beyond the log
   (truncation), root equal to the recomputed root of that prefix; consecutive heads: sizes and
   times increasing and an RFC 9162 consistency proof between them that verifies;
4. every tree head of an exported file (``--sth``): the same, and present in the database.

Any problem names the first bad entry (for a root mismatch whose leaves were rewritten
consistently: the first entry after the last good tree head).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text

from medtwin.core.clock import to_us
from medtwin.security import merkle
from medtwin.security.audit import canonical
from medtwin.security.audit_log import _engine
from medtwin.security.audit_sth import TreeHead, key_id, read_sth_file

MAX_PROBLEMS = 50


@dataclass
class Report:
    size: int = 0
    tree_heads: int = 0
    exported_heads: int = 0
    last_signed: int = 0
    root: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _exact: int | None = None  # from a check that points at one entry
    _bound: int | None = None  # from a check that only bounds it (a subtree or a tree head's range)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> int | None:
        return self._exact if self._exact is not None else self._bound

    def bad(self, entry: int | None, msg: str, *, exact: bool = True) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(msg)
        if entry is None:
            return
        if exact and (self._exact is None or entry < self._exact):
            self._exact = entry
        if not exact and (self._bound is None or entry < self._bound):
            self._bound = entry

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "size": self.size, "tree_heads": self.tree_heads, "exported_heads": self.exported_heads,
            "last_signed_size": self.last_signed, "root_hash": self.root, "first_bad_entry": self.first_bad,
            "problems": self.problems, "notes": self.notes,
        }  # fmt: skip


def _check_row(r: Any, pos: int, rep: Report) -> tuple[bytes, dict[str, Any] | None]:
    _idx, t_us, type_, subject, role, patient, outcome, body, leaf = r
    data = body.encode("utf-8")
    h = merkle.leaf_hash(data)
    if leaf != h.hex():
        rep.bad(pos, f"entry {pos}: its content does not match its stored leaf hash (edited)")
    ev = None
    try:
        ev = orjson.loads(data)
        if canonical(ev) != data:
            rep.bad(pos, f"entry {pos}: the event is not in canonical form (edited)")
        want = {
            "t_us": to_us(datetime.fromisoformat(ev["time"].replace("Z", "+00:00"))),
            "type": ev["type"], "subject": ev["subject"], "role": ev["role"],
            "patient": ev["patients"][0] if ev.get("patients") else None, "outcome": ev["outcome"],
        }  # fmt: skip
        got = {
            "t_us": t_us,
            "type": type_,
            "subject": subject,
            "role": role,
            "patient": patient,
            "outcome": outcome,
        }
        for k, v in want.items():
            if got[k] != v:
                rep.bad(pos, f"entry {pos}: column {k} differs from the event (edited)")
    except (ValueError, KeyError, TypeError, AttributeError):
        rep.bad(pos, f"entry {pos}: the event is not valid JSON of an audit event (edited)")
    return h, ev if isinstance(ev, dict) else None


def verify(url: str, *, public_key: Ed25519PublicKey | None = None, sth_file: Path | None = None) -> Report:
    rep = Report()
    if "://" not in url and url != ":memory:" and not Path(url).expanduser().exists():
        rep.bad(None, f"no audit log at {url}")
        return rep
    engine, _dialect = _engine(url)
    try:
        with engine.connect() as c:
            try:
                log_id = c.execute(text("SELECT value FROM audit_meta WHERE name = 'log_id'")).scalar()
            except sa.exc.OperationalError:
                rep.bad(None, f"no audit log at {url}")
                return rep
            except sa.exc.ProgrammingError:
                rep.bad(None, f"no audit log at {url}")
                return rep
            leaves = _entries(c, rep)
            tree = merkle.MemoryTree(leaves)
            rep.size = tree.size
            rep.root = tree.root().hex()
            _nodes(c, tree, rep)
            heads = [
                TreeHead(str(log_id), int(r[0]), r[2], int(r[1]), r[3], r[4], r[5])
                for r in c.execute(
                    text(
                        "SELECT tree_size, timestamp, root, key_id, public_key, signature FROM audit_sth "
                        "ORDER BY tree_size"
                    )
                )
            ]
    finally:
        engine.dispose()
    rep.tree_heads = len(heads)
    _heads(heads, tree, rep, public_key, "stored")
    if heads:
        rep.last_signed = heads[-1].tree_size
    if sth_file is not None:
        exported = read_sth_file(sth_file)
        rep.exported_heads = len(exported)
        stored = {(h.tree_size, h.root_hash) for h in heads}
        for h in exported:
            if h.log_id != log_id:
                rep.bad(None, f"exported tree head for size {h.tree_size} is for another log ({h.log_id})")
                continue
            if (h.tree_size, h.root_hash) not in stored:
                rep.bad(
                    min(h.tree_size, rep.size),
                    f"exported tree head for size {h.tree_size} is missing from the database",
                )
        _heads(sorted(exported, key=lambda h: h.tree_size), tree, rep, public_key, "exported")
        rep.last_signed = max(rep.last_signed, max((h.tree_size for h in exported), default=0))
    if public_key is None:
        rep.notes.append("signatures checked with the key in the tree heads: pin it with --public-key")
    if rep.size > rep.last_signed:
        rep.notes.append(
            f"entries {rep.last_signed}..{rep.size - 1} are not yet covered by a signed tree head"
        )
    return rep


def _entries(c: sa.Connection, rep: Report) -> list[bytes]:
    leaves: list[bytes] = []
    res = c.execution_options(stream_results=True).execute(
        text(
            "SELECT idx, t_us, type, subject, role, patient, outcome, event, leaf FROM audit_entries ORDER BY idx"
        )
    )
    pos = 0
    broken: list[int] = []  # entries whose "prev" is not the recomputed leaf of the entry before
    for rows in res.partitions(5000):
        for r in rows:
            gap = int(r[0]) != pos
            if gap:
                rep.bad(pos, f"entry {pos} is missing (deleted; the next stored entry is {r[0]})")
                pos = int(r[0])
            h, ev = _check_row(r, pos, rep)
            leaves.append(h)
            prev = ev.get("prev") if ev is not None else None
            if not gap and prev != (leaves[-2].hex() if len(leaves) > 1 else ""):
                broken.append(pos)
            pos += 1
    if broken:
        k = broken[0]
        # An entry moved here breaks its own link and its successor's; an entry rewritten together
        # with its leaf hash only breaks its successor's link.
        bad = k if (k + 1 in broken or k + 1 == pos) else k - 1
        rep.bad(
            max(bad, 0),
            f"entry {k}: its link to entry {k - 1} is broken (entry {max(bad, 0)} edited or moved)",
        )
    return leaves


def _nodes(c: sa.Connection, tree: merkle.MemoryTree, rep: Report) -> None:
    n = 0
    for level, idx, h in c.execute(text("SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx")):
        n += 1
        level, idx = int(level), int(idx)
        first = idx << level
        if level < len(tree.levels) and idx < len(tree.levels[level]):
            if tree.perfect(level, idx).hex() != h:
                rep.bad(
                    first,
                    f"stored node ({level}, {idx}) over entries {first}..{((idx + 1) << level) - 1} differs",
                    exact=False,
                )
        else:
            rep.bad(
                rep.size,
                f"stored node ({level}, {idx}) covers entries beyond the end of the log (truncated)",
            )
    expected = tree.size - bin(tree.size).count("1")
    if n < expected:
        rep.bad(None, f"{expected - n} inner nodes are missing from the log")


def _heads(
    heads: list[TreeHead], tree: merkle.MemoryTree, rep: Report, pinned: Ed25519PublicKey | None, where: str
) -> None:
    prev: TreeHead | None = None
    keys = {h.key_id for h in heads}
    if pinned is None and len(keys) > 1:
        rep.bad(None, f"{where} tree heads are signed by {len(keys)} different keys")
    if pinned is not None and (bad := {k for k in keys if k != key_id(pinned)}):
        rep.bad(None, f"{where} tree heads signed by unknown key(s) {', '.join(sorted(bad))}")
    for h in heads:
        if not h.verify(pinned):
            rep.bad(None, f"{where} tree head for size {h.tree_size}: bad signature")
        if h.tree_size > tree.size:
            rep.bad(
                tree.size,
                f"log truncated: {where} tree head signed {h.tree_size} entries, the log has {tree.size}",
            )
        elif tree.root(h.tree_size).hex() != h.root_hash:
            rep.bad(prev.tree_size if prev else 0,
                    f"{where} tree head for size {h.tree_size} does not match entries 0..{h.tree_size - 1}",
                    exact=False)  # fmt: skip
        if prev is not None:
            if h.timestamp < prev.timestamp:
                rep.bad(None, f"{where} tree heads out of order in time at size {h.tree_size}")
            if h.tree_size <= tree.size and prev.tree_size <= tree.size:
                proof = merkle.consistency_proof(tree, prev.tree_size, h.tree_size)
                if not merkle.verify_consistency(
                    prev.tree_size,
                    h.tree_size,
                    bytes.fromhex(prev.root_hash),
                    bytes.fromhex(h.root_hash),
                    proof,
                ):
                    rep.bad(prev.tree_size,
                            f"{where} tree heads {prev.tree_size} and {h.tree_size} are not consistent",
                            exact=False)  # fmt: skip
        prev = h
