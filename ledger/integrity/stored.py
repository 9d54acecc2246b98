"""Reading the integrity tables: records, tree heads and proofs from stored subtree hashes,
and the checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.integrity import merkle
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.errors import TreeDamagedError
from ledger.persistence import Cursorlike, LedgerStore, Row

NODE_BATCH = 200
GENESIS = ""  # the previous_hash column of the first checkpoint


@dataclass(frozen=True)
class Leaf:
    """A record's place in the tree: what a receipt and a proof are about."""

    position: int
    leaf_index: int
    hash: str


class StoredLog:
    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    # Records

    def head(self) -> Leaf | None:
        """The last record of the log: its index + 1 is the tree size."""
        return self._leaf("ORDER BY leaf_index DESC LIMIT 1", ())

    def leaf_at_position(self, position: int) -> Leaf | None:
        return self._leaf("WHERE position=?", (position,))

    def leaf_at_index(self, leaf_index: int) -> Leaf | None:
        return self._leaf("WHERE leaf_index=?", (leaf_index,))

    def last_leaf_up_to(self, position: int) -> Leaf | None:
        return self._leaf("WHERE position<=? ORDER BY position DESC LIMIT 1", (position,))

    def _leaf(self, clause: str, params: Sequence[Any]) -> Leaf | None:
        row = self.store.query_one(
            f"SELECT position, leaf_index, hash FROM ledger_integrity_records {clause}", params
        )
        return None if row is None else Leaf(row["position"], row["leaf_index"], row["hash"])

    def leaves(self, positions: Iterable[int]) -> dict[int, Leaf]:
        wanted = sorted(set(positions))
        found: dict[int, Leaf] = {}
        for start in range(0, len(wanted), NODE_BATCH):
            batch = wanted[start : start + NODE_BATCH]
            rows = self.store.query(
                "SELECT position, leaf_index, hash FROM ledger_integrity_records"
                f" WHERE position IN ({','.join('?' * len(batch))})",
                batch,
            )
            found.update(
                {r["position"]: Leaf(r["position"], r["leaf_index"], r["hash"]) for r in rows}
            )
        return found

    def records(self, after: int, up_to: int, limit: int) -> list[Row]:
        """Stored records by position, after `after`."""
        return self.store.query(
            "SELECT position, notification_id, leaf_index, record, hash"
            " FROM ledger_integrity_records"
            " WHERE position>? AND position<=? ORDER BY position LIMIT ?",
            (after, up_to, limit),
        )

    # The tree

    def nodes(self, wanted: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
        keys = sorted(set(wanted))
        found: dict[merkle.Node, bytes] = {}
        for start in range(0, len(keys), NODE_BATCH):
            batch = keys[start : start + NODE_BATCH]
            condition = " OR ".join("(level=? AND idx=?)" for _ in batch)
            rows = self.store.query(
                f"SELECT level, idx, hash FROM ledger_merkle_nodes WHERE {condition}",
                [value for node in batch for value in node],
            )
            found.update({(r["level"], r["idx"]): bytes.fromhex(r["hash"]) for r in rows})
        return found

    def leaf_nodes(self, first: int, last: int) -> dict[int, bytes]:
        """The stored leaf hashes (level 0) of leaf indexes first..last."""
        rows = self.store.query(
            "SELECT idx, hash FROM ledger_merkle_nodes WHERE level=0 AND idx>=? AND idx<=?",
            (first, last),
        )
        return {r["idx"]: bytes.fromhex(r["hash"]) for r in rows}

    def all_nodes(self, size: int) -> dict[merkle.Node, bytes]:
        """Every stored node within the first `size` leaves (for locating a rewrite)."""
        rows = self.store.query("SELECT level, idx, hash FROM ledger_merkle_nodes")
        return {
            (r["level"], r["idx"]): bytes.fromhex(r["hash"])
            for r in rows
            if (r["idx"] + 1) << r["level"] <= size
        }

    def range_hashes(self, ranges: Sequence[merkle.Range]) -> list[bytes]:
        found = self.nodes(merkle.range_nodes(ranges))

        def node(level: int, index: int) -> bytes:
            try:
                return found[(level, index)]
            except KeyError:
                raise TreeDamagedError(
                    f"The stored Merkle tree lacks node {level}/{index}; "
                    "GET /verify shows what was changed."
                ) from None

        return [merkle.range_hash(start, end, node) for start, end in ranges]

    def root(self, size: int) -> bytes:
        return self.range_hashes([(0, size)])[0]

    def inclusion_path(self, leaf_index: int, size: int) -> list[bytes]:
        return self.range_hashes(merkle.inclusion_ranges(leaf_index, size))

    def consistency_path(self, old_size: int, size: int) -> list[bytes]:
        return self.range_hashes(merkle.consistency_ranges(old_size, size))

    # Checkpoints

    def latest_checkpoint(self) -> Checkpoint | None:
        return self._checkpoint("ORDER BY tree_size DESC LIMIT 1", ())

    def covering_checkpoint(self, size: int) -> Checkpoint | None:
        """The first checkpoint whose tree holds the first `size` records."""
        return self._checkpoint("WHERE tree_size>=? ORDER BY tree_size LIMIT 1", (size,))

    def _checkpoint(self, clause: str, params: Sequence[Any]) -> Checkpoint | None:
        row = self.store.query_one(f"SELECT * FROM ledger_checkpoints {clause}", params)
        return None if row is None else Checkpoint.from_row(row)

    def checkpoints(self, after: int, up_to: int | None, limit: int) -> list[Checkpoint]:
        """Checkpoints by tree size, those larger than `after` (and at most `up_to`)."""
        rows = self.store.query(
            "SELECT * FROM ledger_checkpoints WHERE tree_size>? AND tree_size<=?"
            " ORDER BY tree_size LIMIT ?",
            (after, up_to if up_to is not None else 2**62, limit),
        )
        return [Checkpoint.from_row(row) for row in rows]

    def insert_checkpoint(self, cursor: Cursorlike, checkpoint: Checkpoint) -> None:
        self.store.run(
            cursor,
            "INSERT INTO ledger_checkpoints VALUES (?,?,?,?,?)",
            (
                checkpoint.tree_size,
                checkpoint.previous or GENESIS,
                checkpoint.message.decode(),
                checkpoint.hash,
                checkpoint.signature,
            ),
        )
