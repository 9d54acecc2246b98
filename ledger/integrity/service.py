"""The integrity service: receipts, checkpoints (every N events and on demand), proofs and
verification of the live ledger. One per LedgerService."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import PersistenceError

from ledger.application import LedgerApplication
from ledger.domain.timefmt import format_instant
from ledger.integrity import merkle
from ledger.integrity.checkpoints import Checkpoint, sign_checkpoint
from ledger.integrity.errors import (
    IntegrityProblem,
    NoCheckpointError,
    NoSigningKeyError,
    NotInLogError,
    TreeSizeError,
)
from ledger.integrity.live import verify_ledger
from ledger.integrity.report import Report
from ledger.integrity.signing import KeyFileError, PublicKey, SigningKey, load_signing_key
from ledger.integrity.stored import Leaf, StoredLog
from ledger.settings import ConfigError, Settings

log = logging.getLogger(__name__)
ISSUE_ATTEMPTS = 8


@dataclass(frozen=True)
class Receipt:
    """Proof of storage handed back with every stored event: its position and record hash."""

    position: int
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "hash": self.hash}


class EmptyLogError(IntegrityProblem):
    rule = "empty-log"
    status = 409


class IntegrityService:
    def __init__(self, app: LedgerApplication, settings: Settings) -> None:
        self.app = app
        self.log = StoredLog(app.store)
        self.interval = settings.checkpoint_interval
        self.key: SigningKey | None = None
        if settings.signing_key_file:
            try:
                self.key = load_signing_key(Path(settings.signing_key_file))
            except KeyFileError as error:
                raise ConfigError(f"LEDGER_SIGNING_KEY_FILE: {error}") from None

    # Receipts

    def receipts(self, positions: Iterable[int]) -> dict[int, Receipt]:
        return {p: Receipt(p, leaf.hash) for p, leaf in self.log.leaves(positions).items()}

    def after_save(self, position: int) -> Receipt | None:
        """The receipt of an event just committed; issues the checkpoints that fell due."""
        row = self.app.store.query_one(
            "SELECT r.hash, r.leaf_index,"
            " (SELECT MAX(tree_size) FROM ledger_checkpoints) AS checkpointed"
            " FROM ledger_integrity_records r WHERE r.position=?",
            (position,),
        )
        if row is None:
            return None
        if self.key is not None:
            self._issue_due(int(row["leaf_index"]) + 1, int(row["checkpointed"] or 0))
        return Receipt(position, row["hash"])

    def _issue_due(self, size: int, checkpointed: int) -> None:
        # Checkpoints fall at every multiple of the interval; the events are committed already,
        # so a failure here only delays the checkpoint to the next save.
        first_due = (checkpointed // self.interval + 1) * self.interval
        try:
            for tree_size in range(first_due, size + 1, self.interval):
                self.issue_checkpoint(tree_size)
        except Exception:
            log.exception("checkpoint failed; the events are stored, the next save retries")

    # Checkpoints

    def public_key(self) -> PublicKey:
        return self._signing_key().public

    def _signing_key(self) -> SigningKey:
        if self.key is None:
            raise NoSigningKeyError(
                "This ledger has no signing key, so it issues no checkpoints: create one with "
                "'ledger keys create PATH' and set LEDGER_SIGNING_KEY_FILE=PATH."
            )
        return self.key

    def issue_checkpoint(self, tree_size: int | None = None) -> Checkpoint:
        """Sign the tree of `tree_size` records (default: all); the existing checkpoint if the
        latest already covers that size. Safe to call from several workers at once."""
        key = self._signing_key()
        for _ in range(ISSUE_ATTEMPTS):
            head = self.log.head()
            if head is None:
                raise EmptyLogError("The ledger holds no events yet; record one first.")
            size = tree_size or head.leaf_index + 1
            latest = self.log.latest_checkpoint()
            if latest is not None and latest.tree_size >= size:
                return latest
            last = head if size == head.leaf_index + 1 else self.log.leaf_at_index(size - 1)
            if last is None:
                raise TreeSizeError(f"The tree has no leaf {size - 1}.")
            checkpoint = sign_checkpoint(
                key,
                tree_size=size,
                position=last.position,
                root=self.log.root(size),
                chain_head=last.hash,
                issued_at=format_instant(datetime.now(UTC)),
                previous=latest.hash if latest else None,
            )
            try:
                with self.app.store.writing() as cursor:
                    self.log.insert_checkpoint(cursor, checkpoint)
            except PersistenceError:
                continue  # another worker issued one first: build on it
            return checkpoint
        raise PersistenceError("could not issue a checkpoint: too many concurrent issuers")

    def latest_checkpoint(self) -> Checkpoint:
        latest = self.log.latest_checkpoint()
        if latest is None:
            raise NoCheckpointError(self._why_no_checkpoint())
        return latest

    def _why_no_checkpoint(self) -> str:
        if self.key is None:
            return (
                "No checkpoint has been issued: this ledger has no signing key "
                "(set LEDGER_SIGNING_KEY_FILE to a key from 'ledger keys create PATH')."
            )
        return (
            f"No checkpoint has been issued yet: one follows every {self.interval} events, "
            "or an admin issues one with POST /checkpoints."
        )

    def checkpoints(self, after: int, limit: int) -> list[Checkpoint]:
        return self.log.checkpoints(after, None, limit)

    # Proofs

    def tree_size(self) -> int:
        head = self.log.head()
        return 0 if head is None else head.leaf_index + 1

    def inclusion_proof(self, position: int, tree_size: int | None) -> dict[str, Any]:
        leaf = self.log.leaf_at_position(position)
        if leaf is None:
            raise NotInLogError(
                f"No event is stored at position {position}; positions are in each stored "
                "event's receipt."
            )
        size = self._size(tree_size)
        if leaf.leaf_index >= size:
            raise TreeSizeError(
                f"Position {position} joined the tree at size {leaf.leaf_index + 1}; ask for "
                f"tree_size {leaf.leaf_index + 1} or more."
            )
        ranges = merkle.inclusion_ranges(leaf.leaf_index, size)
        *path, root = self.log.range_hashes([*ranges, (0, size)])
        return {
            **self._leaf_dict(leaf),
            "tree_size": size,
            "root": root.hex(),
            "audit_path": [h.hex() for h in path],
            "checkpoint": self._checkpoint_at(size),
        }

    def consistency_proof(self, old_size: int, tree_size: int | None) -> dict[str, Any]:
        size = self._size(tree_size)
        if not 1 <= old_size <= size:
            raise TreeSizeError(
                f"Ask for 1 ≤ from ≤ to ≤ {size} (the current tree size); got from={old_size}, "
                f"to={size}."
            )
        ranges = merkle.consistency_ranges(old_size, size)
        *proof, old_root, root = self.log.range_hashes([*ranges, (0, old_size), (0, size)])
        return {
            "from": old_size,
            "to": size,
            "from_root": old_root.hex(),
            "to_root": root.hex(),
            "proof": [h.hex() for h in proof],
            "from_checkpoint": self._checkpoint_at(old_size),
            "to_checkpoint": self._checkpoint_at(size),
        }

    def _size(self, tree_size: int | None) -> int:
        current = self.tree_size()
        if current == 0:
            raise EmptyLogError("The ledger holds no events yet; there is no tree to prove.")
        if tree_size is None:
            return current
        if tree_size > current:
            raise TreeSizeError(
                f"The tree has {current} leaves; ask for a tree_size of at most {current}."
            )
        return tree_size

    def _checkpoint_at(self, size: int) -> dict[str, Any] | None:
        found = self.log.checkpoints(size - 1, size, 1)
        return found[0].as_dict() if found else None

    @staticmethod
    def _leaf_dict(leaf: Leaf) -> dict[str, Any]:
        return {
            "position": leaf.position,
            "leaf_index": leaf.leaf_index,
            "record_hash": leaf.hash,
            "leaf_hash": merkle.leaf_hash(bytes.fromhex(leaf.hash)).hex(),
        }

    # Verification

    def verify(self) -> Report:
        return verify_ledger(self.app, self.key.public if self.key else None)
