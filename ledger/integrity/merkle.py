"""RFC 9162 §2.1 Merkle trees: hashes, inclusion and consistency proofs, and their verifiers.

The ledger stores the hash of every perfect subtree: node (level, index) covers leaves
[index·2^level, (index+1)·2^level). Any tree head or proof is composed from O(log n) of them,
so nothing is rehashed from the leaves per request. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

Node = tuple[int, int]  # (level, index)
Range = tuple[int, int]  # leaves [start, end)
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two smaller than `size` (size ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_node(start: int, end: int) -> Node | None:
    """The stored node that covers exactly [start, end), if there is one."""
    size = end - start
    if size > 0 and size & (size - 1) == 0 and start % size == 0:
        return size.bit_length() - 1, start // size
    return None


def range_hash(start: int, end: int, node: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[start:end]) composed from perfect-subtree hashes."""
    if end == start:
        return EMPTY_ROOT
    found = perfect_node(start, end)
    if found is not None:
        return node(*found)
    k = split_point(end - start)
    return node_hash(range_hash(start, start + k, node), range_hash(start + k, end, node))


def range_nodes(ranges: Iterable[Range]) -> set[Node]:
    """The perfect-subtree nodes that `range_hash` reads for these ranges."""
    needed: set[Node] = set()
    pending = [r for r in ranges if r[1] > r[0]]
    while pending:
        start, end = pending.pop()
        found = perfect_node(start, end)
        if found is not None:
            needed.add(found)
        else:
            k = split_point(end - start)
            pending += [(start, start + k), (start + k, end)]
    return needed


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees whose hashes form the audit path of leaf `index` (RFC 9162 PATH)."""
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start = start + k
    path.reverse()
    return path


def consistency_ranges(old_size: int, size: int) -> list[Range]:
    """The subtrees whose hashes prove tree `old_size` a prefix of tree `size` (RFC 9162
    PROOF); empty when the sizes are equal."""
    proof: list[Range] = []
    start, end, m, whole = 0, size, old_size, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append((start + k, end))
            end = start + k
        else:
            proof.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        proof.append((start, end))
    proof.reverse()
    return proof


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `path` prove `leaf` at `index` of the tree with `root`?"""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does `proof` show tree `old_size` is a prefix of tree `size`?"""
    if old_size < 1 or old_size > size:
        return False
    if old_size == size:
        return not proof and old_root == root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == root and sn == 0


def frontier(size: int) -> list[Node]:
    """The perfect subtrees a tree of `size` leaves is made of, the right edge to append to."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length()) if size >> level & 1]


def append_leaves(
    size: int, known: Mapping[Node, bytes], leaves: Iterable[bytes]
) -> list[tuple[int, int, bytes]]:
    """The nodes that appending `leaves` to a tree of `size` completes, given its frontier."""
    nodes = dict(known)
    completed: list[tuple[int, int, bytes]] = []
    for leaf in leaves:
        level, index, digest = 0, size, leaf
        completed.append((level, index, digest))
        nodes[(level, index)] = digest
        while index & 1:
            digest = node_hash(nodes[(level, index - 1)], digest)
            level, index = level + 1, index >> 1
            nodes[(level, index)] = digest
            completed.append((level, index, digest))
        size += 1
    return completed


class Levels:
    """Every perfect-subtree hash of a list of leaves, computed in memory (for verifiers)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def range(self, start: int, end: int) -> bytes:
        return range_hash(start, end, self.node)

    def root(self, size: int) -> bytes:
        return range_hash(0, size, self.node)
