"""The verification engine, shared by `GET /verify` (the live database) and `ledger verify`
(an audit bundle): every hash is recomputed from the stored bytes.

Evidence, from weakest to strongest: a stored event against its record; each record against the
one it chains to; each record against the tree leaf stored when it was recorded; the tree against
signed checkpoints. A finding names the position that the strongest evidence points at.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.integrity import merkle
from ledger.integrity.canonical import NotCanonicalError, RecordInput
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.report import MANIPULATION, NOTICE, Report
from ledger.integrity.signing import PublicKey

StoredRange = Callable[[int, int], bytes | None]


@dataclass(frozen=True)
class Anchor:
    """A signed statement about the first `size` records, the last at `position`."""

    size: int
    position: int
    label: str
    confirms: Callable[[bytes], bool]  # does a tree head of `size` leaves agree with it?


def checkpoint_anchor(checkpoint: Checkpoint) -> Anchor:
    return Anchor(
        checkpoint.tree_size,
        checkpoint.position,
        f"the checkpoint of tree size {checkpoint.tree_size}",
        lambda root: root == checkpoint.root,
    )


def consistency_anchor(
    size: int, position: int, checkpoint: Checkpoint, proof: Sequence[bytes]
) -> Anchor:
    """The first `size` records, confirmed by a later checkpoint through a consistency proof."""
    return Anchor(
        size,
        position,
        f"the checkpoint of tree size {checkpoint.tree_size} (by consistency proof)",
        lambda root: merkle.verify_consistency(
            size, checkpoint.tree_size, root, checkpoint.root, proof
        ),
    )


@dataclass(frozen=True)
class Entry:
    """What is stored at one position: the event, its record, and the tree leaf for it."""

    position: int
    event: RecordInput | None = None
    event_problem: str | None = None  # why the stored event could not be read
    record: bytes | None = None
    stored_hash: str | None = None  # the record hash the ledger stored beside the record
    stored_leaf: bytes | None = None  # the tree leaf the ledger stored when it was recorded


class LogAudit:
    """Walks the log in position order; then checks the tree against the checkpoints.

    `chained`: the entries are the whole log (else a filtered bundle, checked by proofs).
    `leaves_stored`: entries carry the stored tree leaves to compare with.
    """

    def __init__(self, report: Report, *, chained: bool, leaves_stored: bool) -> None:
        self.report = report
        self.chained = chained
        self.leaves_stored = leaves_stored
        self.positions: list[int] = []  # of the records present, in order
        self.record_hashes: list[bytes] = []
        self.stored_leaves: list[bytes | None] = []
        self.missing: list[tuple[int, int]] = []  # position runs the chain shows deleted
        self.rechained: list[tuple[int, int]] = []  # deleted runs the chain was rebuilt over
        self.events_at: list[int] = []  # positions where an event is stored
        self.horizon = 0  # the last position an anchor signed
        self.previous: tuple[int, str] | None = None  # position and hash of the last record
        self.last_position = 0
        self.rewritten: list[int] = []  # the current run of records that differ from the tree
        self._levels: merkle.Levels | None = None
        self._anchored: set[tuple[str, int]] = set()  # anchor findings made, by start

    # The walk

    def add(self, entry: Entry) -> None:
        p = entry.position
        if entry.event is not None or entry.event_problem is not None:
            self.report.events += 1
            self.events_at.append(p)
        if entry.record is None:
            if entry.event is not None or entry.event_problem is not None:
                self._manipulation(
                    "record-missing",
                    f"the event at position {p} has no integrity record: it was added outside "
                    "the ledger, or its record was deleted",
                    p,
                )
            self.last_position = max(self.last_position, p)
            return
        self.report.records += 1
        digest = hashlib.sha256(entry.record).digest()
        record_hash = digest.hex()
        chain_previous = self.previous[1] if self.previous else None
        if _expected(entry, p, chain_previous) == entry.record:
            self._gap_before(p)
        else:
            self._diagnose(entry, chain_previous)
        if entry.stored_hash is not None and entry.stored_hash != record_hash:
            self._manipulation(
                "record-hash-differs",
                f"the hash stored beside the record at position {p} is not the record's hash: "
                "one of them was edited, and receipts for it no longer verify",
                p,
            )
        leaf = merkle.leaf_hash(digest)
        if self.leaves_stored:
            self._compare_leaf(p, leaf, entry.stored_leaf)
        self.positions.append(p)
        self.record_hashes.append(digest)
        self.stored_leaves.append(entry.stored_leaf)
        self.previous = (p, record_hash)
        self.last_position = max(self.last_position, p)

    def _diagnose(self, entry: Entry, chain_previous: str | None) -> None:
        """The slow path: say what differs between the event, its record and the chain."""
        p, record = entry.position, entry.record
        assert record is not None
        try:
            stored = json.loads(record)
            claimed = stored["previous_hash"]
            if claimed is not None and not isinstance(claimed, str):
                raise TypeError("previous_hash is not text")
        except (ValueError, KeyError, TypeError) as error:
            self._manipulation("record-unreadable", f"the record at position {p}: {error}", p)
            claimed = chain_previous
            stored = None
        if entry.event_problem is not None:
            self._manipulation(
                "event-unreadable",
                f"the stored event at position {p} cannot be read: {entry.event_problem}",
                p,
            )
        elif entry.event is None:
            self._manipulation(
                "event-missing",
                f"the event at position {p} was deleted: its record remains",
                p,
            )
        elif stored is not None:
            expected = _expected(entry, p, claimed)
            if expected is None:
                self._manipulation(
                    "event-unreadable",
                    f"the stored event at position {p} holds data without an RFC 8785 form",
                    p,
                )
            elif expected != record:
                differing = _differing(json.loads(expected), stored)
                if differing:
                    self._manipulation(
                        "event-changed",
                        f"the stored event at position {p} differs from its record in "
                        + ", ".join(differing),
                        p,
                    )
                else:
                    self._manipulation(
                        "record-not-canonical",
                        f"the record at position {p} is not in RFC 8785 form",
                        p,
                    )
        if self.chained:
            self._chain(p, claimed, chain_previous)

    def _chain(self, p: int, claimed: str | None, chain_previous: str | None) -> None:
        if claimed == chain_previous:
            self._gap_before(p)
            return
        before = self.previous[0] if self.previous else 0
        if p - before > 1:
            self.missing.append((before + 1, p - 1))
            self._manipulation(
                "records-missing",
                f"the record at position {p} chains to a record that is not here: "
                f"{_positions(before + 1, p - 1)} deleted",
                before + 1,
                p - 1,
            )
        elif self.previous is None:
            self._manipulation(
                "chain-broken",
                f"the first record (position {p}) claims a predecessor; the log was cut",
                p,
            )
        else:
            self._manipulation(
                "chain-broken",
                f"the record at position {p} was chained to another record at position "
                f"{before} than the one stored there now: that record was rewritten",
                before,
            )

    def _gap_before(self, p: int) -> None:
        """Positions never skip: missing ones across an unbroken chain were deleted, and the
        chain rebuilt over the hole."""
        before = self.previous[0] if self.previous else 0
        if self.chained and p - self.last_position > 1 and self.last_position == before:
            self.rechained.append((before + 1, p - 1))
            self._manipulation(
                "records-missing",
                f"{_positions(before + 1, p - 1)} deleted, and the record at position {p} "
                "rechained over the hole",
                before + 1,
                p - 1,
            )

    def _compare_leaf(self, p: int, leaf: bytes, stored: bytes | None) -> None:
        if stored == leaf:
            self._end_rewritten_run()
        elif stored is None:
            self._end_rewritten_run()
            self._manipulation(
                "tree-leaf-missing",
                f"the tree has no leaf for the record at position {p}: it was deleted",
                p,
            )
        else:
            self.rewritten.append(p)

    def _end_rewritten_run(self) -> None:
        if not self.rewritten:
            return
        first, last, count = self.rewritten[0], self.rewritten[-1], len(self.rewritten)
        later = f", and the {count - 1} records after it," if count > 1 else ""
        self._manipulation(
            "record-rewritten",
            f"the record at position {first}{later} differ from the tree leaves stored when "
            "they were recorded: rewritten after the fact",
            first,
            last,
        )
        self.rewritten = []

    def finish(self) -> None:
        self._end_rewritten_run()

    def gaps(self) -> list[tuple[int, int]]:
        """Runs of positions, up to the last one known or signed, where no event is stored."""
        runs: list[tuple[int, int]] = []
        expected = 1
        for p in [*self.events_at, max(self.last_position, self.horizon) + 1]:
            if p > expected:
                runs.append((expected, p - 1))
            expected = max(expected, p + 1)
        return runs

    # The tree

    @property
    def size(self) -> int:
        return len(self.positions)

    @property
    def levels(self) -> merkle.Levels:
        if self._levels is None:
            self._levels = merkle.Levels([merkle.leaf_hash(h) for h in self.record_hashes])
        return self._levels

    def root(self, size: int) -> bytes:
        return self.levels.root(size)

    def check_checkpoints(
        self, checkpoints: Sequence[Checkpoint], key: PublicKey | None
    ) -> list[Checkpoint]:
        """The checkpoints signed by `key` and chained to each other: those to trust."""
        trusted: list[Checkpoint] = []
        self.report.checkpoints += len(checkpoints)
        if key is None:
            if checkpoints:
                self.report.add(
                    NOTICE,
                    "no-public-key",
                    f"{len(checkpoints)} checkpoints were not checked: no public key to check "
                    "their signatures with",
                )
            return trusted
        for checkpoint in sorted(checkpoints, key=lambda c: c.tree_size):
            if not checkpoint.is_signed_by(key):
                self._manipulation(
                    "checkpoint-signature",
                    f"the checkpoint of tree size {checkpoint.tree_size} is not signed by the "
                    f"trusted key {key.key_id[:16]}…: it was forged or altered",
                    checkpoint.position,
                )
                continue
            expected = trusted[-1].hash if trusted else None
            if checkpoint.previous != expected:
                self._manipulation(
                    "checkpoint-chain",
                    f"the checkpoint of tree size {checkpoint.tree_size} does not follow the "
                    "one before it: a checkpoint was removed",
                    checkpoint.position,
                )
            trusted.append(checkpoint)
        return trusted

    def check_tree(self, anchors: Sequence[Anchor], stored: StoredRange) -> None:
        """Each anchor must confirm exactly the records up to its position."""
        good, good_position = 0, 0  # the largest tree an anchor confirmed
        for anchor in sorted(anchors, key=lambda a: a.size):
            self.horizon = max(self.horizon, anchor.position)
            present = bisect_right(self.positions, anchor.position)
            if present < anchor.size:
                self._signed_records_missing(anchor, present, good_position)
            elif present > anchor.size or not anchor.confirms(self.root(anchor.size)):
                self._locate(anchor, good, stored)
            else:
                good, good_position = anchor.size, anchor.position

    def _signed_records_missing(self, anchor: Anchor, present: int, after: int) -> None:
        """Attribute the records an anchor signed but that are gone: to the runs the chain
        shows deleted, else to unused positions since the last good anchor (the chain was
        rebuilt across them), else to the tail."""
        runs = [run for run in self.missing if run[0] <= anchor.position]
        runs = runs or [run for run in self.rechained if after < run[0] <= anchor.position]
        if runs:
            first, last = runs[0]
            where = f"{_positions(first, last)} deleted"
        else:
            first = self.positions[present - 1] + 1 if present else 1
            last = anchor.position
            where = f"the records after position {first - 1} were deleted"
        self._anchor_finding(
            "signed-records-missing",
            f"{anchor.label} signed {anchor.size} records up to position {anchor.position}, "
            f"{anchor.size - present} more than are here: {where}",
            first,
            last,
        )

    def _locate(self, anchor: Anchor, good: int, stored: StoredRange) -> None:
        authentic = stored(0, anchor.size)
        if authentic is not None and anchor.confirms(authentic):
            start, end = locate(anchor.size, authentic, stored, self.levels.range, floor=good)
        else:  # the stored tree was changed too: only the signed range is known
            start, end = good, anchor.size
        first, last = self.positions[start], self.positions[end - 1]
        where = (
            f"the first difference is the record at position {first}"
            if first == last
            else f"the first difference lies between positions {first} and {last} "
            "(the stored tree cannot narrow it further)"
        )
        self._anchor_finding(
            "tree-mismatch",
            f"the records differ from those {anchor.label} signed: {where}",
            first,
            last,
        )

    def _anchor_finding(self, check: str, detail: str, first: int, last: int) -> None:
        """Later anchors repeat what an earlier one showed: say it once."""
        if (check, first) not in self._anchored:
            self._anchored.add((check, first))
            self._manipulation(check, detail, first, last)

    def _manipulation(
        self, check: str, detail: str, position: int | None, through: int | None = None
    ) -> None:
        self.report.add(MANIPULATION, check, detail, position, through)


def locate(
    size: int, root: bytes, stored: StoredRange, computed: StoredRange, floor: int = 0
) -> tuple[int, int]:
    """The smallest leaf range [start, end) known to hold the first leaf that differs from
    the tree with `root`, descending through stored subtree hashes that `root` authenticates.
    Leaves below `floor` were confirmed by an earlier checkpoint."""
    start, end, authentic = 0, size, root
    while end - start > 1:
        k = merkle.split_point(end - start)
        left, right = stored(start, start + k), stored(start + k, end)
        if left is None or right is None or merkle.node_hash(left, right) != authentic:
            break
        if computed(start, start + k) != left:
            end, authentic = start + k, left
        else:
            start, authentic = start + k, right
    start = max(start, min(floor, end - 1))
    return start, end


def stored_range_of(node: Callable[[int, int], bytes | None]) -> StoredRange:
    """A range hasher over stored nodes that answers None where a node is missing."""

    def lookup(level: int, index: int) -> bytes:
        found = node(level, index)
        if found is None:
            raise LookupError
        return found

    def range_hash(start: int, end: int) -> bytes | None:
        try:
            return merkle.range_hash(start, end, lookup)
        except (LookupError, IndexError):
            return None

    return range_hash


def _expected(entry: Entry, position: int, previous_hash: str | None) -> bytes | None:
    """The record the stored event should have; None when it has no canonical form."""
    if entry.event is None:
        return None
    try:
        return entry.event.record(position, previous_hash)
    except NotCanonicalError:
        return None


def _differing(expected: Any, stored: Any) -> list[str]:
    if not isinstance(stored, dict):
        return ["its whole form"]
    names = sorted((set(expected) | set(stored)) - {"previous_hash"})
    differing = []
    for name in names:
        if name == "envelope" and isinstance(stored.get(name), dict):
            inner = expected[name]
            for key in sorted(set(inner) | set(stored[name])):
                if inner.get(key, ...) != stored[name].get(key, ...):
                    differing.append(f"envelope.{key}")
        elif expected.get(name, ...) != stored.get(name, ...):
            differing.append("data" if name == "data_hash" else name)
    return differing


def _positions(first: int, last: int) -> str:
    return f"position {first} was" if first == last else f"positions {first}..{last} were"
