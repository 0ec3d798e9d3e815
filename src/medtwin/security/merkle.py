"""RFC 9162 (Certificate Transparency 2.0) Merkle tree: hashes, proofs and their verification.

* leaf hash ``SHA-256(0x00 || entry)``, node hash ``SHA-256(0x01 || left || right)`` (§2.1.1);
  the empty tree's hash is ``SHA-256("")``; a tree of n > 1 leaves splits at the largest power of
  two smaller than n.
* inclusion proof ``PATH(m, D[n])`` (§2.1.3.1) and its verification (§2.1.3.2);
* consistency proof ``PROOF(m, D[n])`` (§2.1.4.1) and its verification (§2.1.4.2).

Proof generation reads subtree hashes through a :class:`HashSource`, which only has to answer for
*perfect* subtrees (2**level leaves starting at a multiple of 2**level): the audit log stores
exactly those, so a proof costs O(log n) lookups whatever the log's size. :class:`MemoryTree` is
the in-memory source (tests, verification). :class:`Frontier` is the incremental append state:
the perfect subtrees along the right edge, O(log n) per append.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class HashSource(Protocol):
    def perfect(self, level: int, index: int) -> bytes:
        """Hash of the leaves [index * 2**level, (index + 1) * 2**level)."""
        ...


def subtree(src: HashSource, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for the ranges RFC 9162's recursion produces (lo aligned to the split)."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and lo % n == 0:
        level = n.bit_length() - 1
        return src.perfect(level, lo >> level)
    k = split(n)
    return node_hash(subtree(src, lo, lo + k), subtree(src, lo + k, hi))


def root(src: HashSource, size: int) -> bytes:
    return subtree(src, 0, size)


def inclusion_proof(src: HashSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]), leaf-to-root order."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    out: list[bytes] = []

    def path(m: int, lo: int, hi: int) -> None:
        n = hi - lo
        if n == 1:
            return
        k = split(n)
        if m < k:
            path(m, lo, lo + k)
            out.append(subtree(src, lo + k, hi))
        else:
            path(m - k, lo + k, hi)
            out.append(subtree(src, lo, lo + k))

    path(index, 0, size)
    return out


def consistency_proof(src: HashSource, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]); empty when first == second or first == 0."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to {second}")
    out: list[bytes] = []
    if first == 0 or first == second:
        return out

    def sub(m: int, lo: int, hi: int, whole: bool) -> None:
        n = hi - lo
        if m == n:
            if not whole:
                out.append(subtree(src, lo, hi))
            return
        k = split(n)
        if m <= k:
            sub(m, lo, lo + k, whole)
            out.append(subtree(src, lo + k, hi))
        else:
            sub(m - k, lo + k, hi, False)
            out.append(subtree(src, lo, lo + k))

    sub(first, 0, second, True)
    return out


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2. ``leaf`` is the leaf *hash*."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2 (plus the trivial cases: equal sizes, or an empty first tree)."""
    if not 0 <= first <= second or any(len(p) != 32 for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class MemoryTree:
    """All perfect subtree hashes of a list of leaf hashes, built level by level (O(n))."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        self._build()

    def _build(self) -> None:
        lvl = 0
        while len(self.levels[lvl]) >= 2:
            below = self.levels[lvl]
            if len(self.levels) == lvl + 1:
                self.levels.append([])
            above = self.levels[lvl + 1]
            for i in range(len(above) * 2, len(below) - 1, 2):
                above.append(node_hash(below[i], below[i + 1]))
            lvl += 1

    def append(self, leaf: bytes) -> None:
        self.levels[0].append(leaf)
        self._build()

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def perfect(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        return root(self, self.size if size is None else size)


class Frontier:
    """The right edge of the tree: one perfect subtree per set bit of the size, largest first."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError("frontier does not match the tree size")
        self.size = size
        self.hashes = list(hashes)

    @staticmethod
    def nodes_for(size: int) -> list[tuple[int, int]]:
        """(level, index) of the perfect subtrees on the right edge of a tree of ``size`` leaves."""
        out, lo = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append((level, lo >> level))
                lo += 1 << level
        return out

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; returns the new perfect nodes (level >= 1) as (level, index, hash)."""
        new = []
        h, index, level = leaf, self.size, 0
        while index & 1:
            h = node_hash(self.hashes.pop(), h)
            index >>= 1
            level += 1
            new.append((level, index, h))
        self.hashes.append(h)
        self.size += 1
        return new

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r
