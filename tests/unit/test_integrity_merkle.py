"""RFC 9162 Merkle trees: tree heads, proofs from stored subtrees, and the verifiers."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.integrity import merkle

# The test vectors of Certificate Transparency (RFC 6962, whose tree RFC 9162 keeps).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
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


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, recursively, for comparison."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = merkle.split_point(len(leaves))
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def leaves_of(count: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(count)]


def stored_tree(leaves: list[bytes]) -> dict[merkle.Node, bytes]:
    """The nodes the ledger stores, grown leaf by leaf as the write path grows them."""
    nodes: dict[merkle.Node, bytes] = {}
    for size, leaf in enumerate(leaves):
        known = {node: nodes[node] for node in merkle.frontier(size)}
        for level, index, digest in merkle.append_leaves(size, known, [leaf]):
            nodes[(level, index)] = digest
    return nodes


def hashes(ranges: list[merkle.Range], nodes: dict[merkle.Node, bytes]) -> list[bytes]:
    return [merkle.range_hash(a, b, lambda level, i: nodes[(level, i)]) for a, b in ranges]


@pytest.mark.parametrize("size", range(1, 9))
def test_tree_heads_match_the_certificate_transparency_vectors(size: int) -> None:
    leaves = [merkle.leaf_hash(entry) for entry in CT_LEAVES[:size]]

    assert merkle.Levels(leaves).root(size).hex() == CT_ROOTS[size - 1]


@pytest.mark.parametrize("size", range(1, 9))
def test_stored_subtrees_compose_the_vector_heads(size: int) -> None:
    nodes = stored_tree([merkle.leaf_hash(entry) for entry in CT_LEAVES[:size]])

    assert hashes([(0, size)], nodes)[0].hex() == CT_ROOTS[size - 1]


def test_an_empty_tree_has_the_hash_of_nothing() -> None:
    assert merkle.Levels([]).root(0) == hashlib.sha256(b"").digest()


@given(st.integers(min_value=1, max_value=300))
def test_stored_nodes_compose_every_tree_head(size: int) -> None:
    leaves = leaves_of(size)
    nodes = stored_tree(leaves)

    for n in {1, size // 2 or 1, size - 1 or 1, size}:
        assert hashes([(0, n)], nodes)[0] == reference_root(leaves[:n])


def test_a_tree_stores_about_two_nodes_per_leaf() -> None:
    assert len(stored_tree(leaves_of(1000))) < 2 * 1000


@given(st.data())
def test_inclusion_proofs_from_stored_nodes_verify(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=200))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaves = leaves_of(size)
    nodes = stored_tree(leaves)

    path = hashes(merkle.inclusion_ranges(index, size), nodes)

    assert merkle.verify_inclusion(index, size, leaves[index], path, reference_root(leaves))
    assert len(path) <= size.bit_length()


@given(st.data())
def test_consistency_proofs_from_stored_nodes_verify(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=200))
    old_size = data.draw(st.integers(min_value=1, max_value=size))
    leaves = leaves_of(size)
    nodes = stored_tree(leaves)

    proof = hashes(merkle.consistency_ranges(old_size, size), nodes)

    assert merkle.verify_consistency(
        old_size, size, reference_root(leaves[:old_size]), reference_root(leaves), proof
    )


@given(st.data())
def test_an_inclusion_proof_with_any_hash_changed_is_rejected(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=100))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaves = leaves_of(size)
    path = hashes(merkle.inclusion_ranges(index, size), stored_tree(leaves))
    forged = data.draw(st.integers(min_value=0, max_value=len(path) - 1))
    path[forged] = hashlib.sha256(path[forged]).digest()

    assert not merkle.verify_inclusion(index, size, leaves[index], path, reference_root(leaves))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda i, n, leaf, path: (i, n, hashlib.sha256(leaf).digest(), path), "other leaf"),
        (lambda i, n, leaf, path: ((i + 1) % n, n, leaf, path), "other index"),
        (lambda i, n, leaf, path: (i, 7, leaf, path), "smaller tree"),
        (lambda i, n, leaf, path: (i, 2 * n, leaf, path), "larger tree"),
        (lambda i, n, leaf, path: (i, n, leaf, path[:-1]), "path cut short"),
        (lambda i, n, leaf, path: (i, n, leaf, [*path, path[0]]), "path too long"),
        (lambda i, n, leaf, path: (n, n, leaf, path), "index beyond the tree"),
    ],
)
def test_a_forged_inclusion_claim_is_rejected(change: object, why: str) -> None:
    size, index = 13, 6
    leaves = leaves_of(size)
    path = hashes(merkle.inclusion_ranges(index, size), stored_tree(leaves))
    claim = change(index, size, leaves[index], path)  # type: ignore[operator]

    assert not merkle.verify_inclusion(*claim, reference_root(leaves)), why


@given(st.data())
def test_a_consistency_proof_for_a_rewritten_prefix_is_rejected(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=100))
    old_size = data.draw(st.integers(min_value=1, max_value=size - 1))
    rewritten = data.draw(st.integers(min_value=0, max_value=old_size - 1))
    leaves = leaves_of(size)
    proof = hashes(merkle.consistency_ranges(old_size, size), stored_tree(leaves))
    history = list(leaves)
    history[rewritten] = merkle.leaf_hash(b"rewritten")

    assert not merkle.verify_consistency(
        old_size, size, reference_root(history[:old_size]), reference_root(leaves), proof
    )


def test_consistency_of_a_tree_with_itself_needs_an_empty_proof() -> None:
    root = reference_root(leaves_of(5))

    assert merkle.verify_consistency(5, 5, root, root, [])
    assert not merkle.verify_consistency(5, 5, root, root, [root])
    assert not merkle.verify_consistency(0, 5, root, root, [])
    assert not merkle.verify_consistency(6, 5, root, root, [])


def test_range_nodes_are_what_range_hash_reads() -> None:
    nodes = stored_tree(leaves_of(77))
    ranges = merkle.inclusion_ranges(40, 77) + merkle.consistency_ranges(33, 77)
    read: set[merkle.Node] = set()

    for a, b in ranges:
        merkle.range_hash(a, b, lambda level, i: read.add((level, i)) or nodes[(level, i)])

    assert read == merkle.range_nodes(ranges)
