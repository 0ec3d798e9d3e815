"""RFC 9162 conformance of medtwin.security.merkle: roots, inclusion and consistency proofs."""

from __future__ import annotations

import random

import pytest

from medtwin.security import merkle as m

# The RFC 6962/9162 reference vectors (leaves and roots) of the certificate-transparency reference
# implementation's Merkle tree tests.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION_0_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
CT_CONSISTENCY_6_8 = [
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
]
MAX = 70


@pytest.fixture(scope="module")
def tree() -> m.MemoryTree:
    return m.MemoryTree(m.leaf_hash(f"entry {i}".encode()) for i in range(MAX))


def test_reference_vectors() -> None:
    t = m.MemoryTree(m.leaf_hash(x) for x in CT_LEAVES)
    assert [t.root(n).hex() for n in range(1, 9)] == CT_ROOTS
    assert (
        m.root(t, 0)
        == m.EMPTY_ROOT
        == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )
    assert [p.hex() for p in m.inclusion_proof(t, 0, 8)] == CT_INCLUSION_0_8
    assert [p.hex() for p in m.consistency_proof(t, 6, 8)] == CT_CONSISTENCY_6_8


def test_roots_equal_pymerkle_for_every_size(tree: m.MemoryTree) -> None:
    pymerkle = pytest.importorskip("pymerkle")
    ref = pymerkle.InmemoryTree(algorithm="sha256")
    for n in range(1, MAX + 1):
        ref.append_entry(f"entry {n - 1}".encode())
        assert ref.get_state(n) == tree.root(n), n


def test_frontier_appends_match_the_full_tree(tree: m.MemoryTree) -> None:
    f = m.Frontier()
    nodes: dict[tuple[int, int], bytes] = {}
    assert f.root() == m.EMPTY_ROOT
    for i in range(MAX):
        for level, idx, h in f.append(tree.perfect(0, i)):
            nodes[(level, idx)] = h
        assert f.root() == tree.root(i + 1)
        assert [tree.perfect(lv, ix) for lv, ix in m.Frontier.nodes_for(i + 1)] == f.hashes
    assert all(tree.perfect(lv, ix) == h for (lv, ix), h in nodes.items())
    assert len(nodes) == MAX - bin(MAX).count("1")  # every perfect inner node exactly once


def test_every_inclusion_proof_verifies_and_every_mutation_fails(tree: m.MemoryTree) -> None:
    rnd = random.Random(1)
    for size in range(1, MAX + 1):
        r = tree.root(size)
        for i in range(size):
            leaf = tree.perfect(0, i)
            proof = m.inclusion_proof(tree, i, size)
            assert m.verify_inclusion(leaf, i, size, proof, r), (i, size)
            assert not m.verify_inclusion(leaf, i, size, proof, m.leaf_hash(b"x"))
            assert not m.verify_inclusion(m.leaf_hash(b"other"), i, size, proof, r)
            if size > 1:
                assert not m.verify_inclusion(leaf, (i + 1) % size, size, proof, r)
            if size < MAX:
                assert not m.verify_inclusion(leaf, i, size + 1, proof, tree.root(size + 1))
            assert not m.verify_inclusion(leaf, size, size, proof, r)
            assert not m.verify_inclusion(leaf, i, size, [*proof, leaf], r)
            if proof:
                assert not m.verify_inclusion(leaf, i, size, proof[:-1], r)
                k = rnd.randrange(len(proof))
                bad = list(proof)
                bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
                assert not m.verify_inclusion(leaf, i, size, bad, r)
                if len(proof) > 1:
                    assert not m.verify_inclusion(leaf, i, size, proof[::-1], r) or proof == proof[::-1]


def test_every_consistency_proof_verifies_and_every_mutation_fails(tree: m.MemoryTree) -> None:
    rnd = random.Random(2)
    for second in range(1, MAX + 1):
        r2 = tree.root(second)
        for first in range(second + 1):
            r1 = tree.root(first)
            proof = m.consistency_proof(tree, first, second)
            assert m.verify_consistency(first, second, r1, r2, proof), (first, second)
            if first > 0:  # (the empty tree is a prefix of every tree)
                assert not m.verify_consistency(first, second, r1, m.leaf_hash(b"x"), proof)
                assert not m.verify_consistency(first, second, m.leaf_hash(b"x"), r2, proof)
            if 0 < first < second:
                assert not m.verify_consistency(first, second, r1, r2, [])
                assert not m.verify_consistency(first, second, r1, r2, proof[:-1])
                assert not m.verify_consistency(first, second, r1, r2, [*proof, r1])
                k = rnd.randrange(len(proof))
                bad = list(proof)
                bad[k] = bytes([bad[k][0] ^ 0x80]) + bad[k][1:]
                assert not m.verify_consistency(first, second, r1, r2, bad)
                assert not m.verify_consistency(first - 1 or 1, second, r1, r2, proof) or first == 1
                if second < MAX:
                    assert not m.verify_consistency(first, second + 1, r1, tree.root(second + 1), proof)
                # a changed entry below `first` breaks consistency with the old root
                other = m.MemoryTree([*(tree.perfect(0, i) for i in range(second))])
                j = rnd.randrange(first)
                other.levels = [list(other.levels[0])]
                other.levels[0][j] = m.leaf_hash(b"tampered")
                other._build()
                forged = m.consistency_proof(other, first, second)
                assert not m.verify_consistency(first, second, r1, other.root(second), forged)
    assert not m.verify_consistency(5, 4, tree.root(5), tree.root(4), [])


def test_proof_arguments_are_checked(tree: m.MemoryTree) -> None:
    with pytest.raises(ValueError):
        m.inclusion_proof(tree, 5, 5)
    with pytest.raises(ValueError):
        m.consistency_proof(tree, 6, 5)
    assert not m.verify_inclusion(tree.perfect(0, 0), 0, 2, [b"short"], tree.root(2))
