"""`ledger export bundle`: write an audit bundle (see ledger/integrity/bundle.py) from the
database — the whole log or one collaboration, up to a position."""

from __future__ import annotations

import base64
import json
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ledger.domain.timefmt import format_instant
from ledger.integrity import merkle
from ledger.integrity.audit import Entry
from ledger.integrity.bundle import (
    CHECKPOINTS,
    CONSISTENCY,
    EVENTS,
    FORMAT,
    MANIFEST,
    PROOFS,
    PUBLIC_KEY,
    RECORDS,
    BundleError,
    file_hash,
)
from ledger.integrity.canonical import canonical
from ledger.integrity.live import Stored, entry_of, stored_positions, upper_bound
from ledger.integrity.service import IntegrityService

PROOF_PAGE = 500


def export_bundle(
    integrity: IntegrityService,
    directory: Path,
    *,
    collaboration_id: str | None = None,
    to_position: int | None = None,
) -> dict[str, Any]:
    """Write an audit bundle of the whole log, or of one collaboration, up to a position.
    Returns the manifest."""
    if directory.exists() and any(directory.iterdir()):
        raise BundleError(f"{directory} is not empty; export into a new directory.")
    directory.mkdir(parents=True, exist_ok=True)
    log = integrity.log
    bound = upper_bound(integrity.app) if to_position is None else to_position
    if to_position is None and integrity.key is not None and log.head() is not None:
        # A whole bundle ends where a checkpoint of the head (issued now, or the latest if it
        # covers the head) ends; a checkpoint beyond its last record then shows a cut tail.
        bound = integrity.issue_checkpoint().position
    last = log.last_leaf_up_to(bound)
    size, position = (last.leaf_index + 1, last.position) if last else (0, 0)
    cover = log.covering_checkpoint(size) if size else None
    checkpoints = log.checkpoints(0, cover.tree_size if cover else size, 2**31)
    writer = _Writer(integrity, directory, collaboration_id, cover.tree_size if cover else size)
    writer.write(bound)
    (directory / CHECKPOINTS).write_bytes(b"".join(c.line() + b"\n" for c in checkpoints))
    if collaboration_id is None and cover is not None and cover.tree_size > size:
        proof = log.consistency_path(size, cover.tree_size)
        consistency = {"from": size, "to": cover.tree_size, "proof": [h.hex() for h in proof]}
        (directory / CONSISTENCY).write_bytes(canonical(consistency) + b"\n")
    if integrity.key is not None:
        (directory / PUBLIC_KEY).write_text(integrity.key.public.pem)
    manifest = {
        "format": FORMAT,
        "created_at": format_instant(datetime.now(UTC)),
        "basis": {
            "position": position,
            "tree_size": size,
            "root": log.root(size).hex() if size else merkle.EMPTY_ROOT.hex(),
            "recorded_at": writer.last_recorded_at,
        },
        "filter": {"collaboration_id": collaboration_id, "to_position": to_position},
        "checkpoint": cover.tree_size if cover else None,
        "counts": {
            "events": writer.events,
            "records": writer.records,
            "checkpoints": len(checkpoints),
        },
        "files": {
            path.name: file_hash(path) for path in sorted(directory.iterdir()) if path.is_file()
        },
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


class _Writer:
    """Streams events, records and (for one collaboration) inclusion proofs to their files."""

    def __init__(
        self,
        integrity: IntegrityService,
        directory: Path,
        collaboration_id: str | None,
        proof_size: int,
    ) -> None:
        self.integrity, self.directory = integrity, directory
        self.collaboration_id, self.proof_size = collaboration_id, proof_size
        self.events = self.records = 0
        self.last_recorded_at: str | None = None
        self.pending_proofs: list[tuple[int, int]] = []

    def write(self, bound: int) -> None:
        names = [EVENTS, RECORDS] + ([PROOFS] if self.collaboration_id else [])
        with ExitStack() as stack:
            files: dict[str, IO[bytes]] = {
                name: stack.enter_context((self.directory / name).open("wb")) for name in names
            }
            for stored in stored_positions(self.integrity.app, bound):
                if self.collaboration_id is None or self._belongs(stored):
                    self._write(stored, files)
            if self.collaboration_id:
                self._flush_proofs(files[PROOFS])

    def _belongs(self, stored: Stored) -> bool:
        owners = {
            str(stored.notification.originator_id) if stored.notification else None,
            stored.index["collaboration_id"] if stored.index else None,
        }
        if stored.record is not None:
            with suppress(ValueError, AttributeError):
                owners.add(json.loads(stored.record["record"]).get("collaboration_id"))
        return self.collaboration_id in owners

    def _write(self, stored: Stored, files: dict[str, IO[bytes]]) -> None:
        entry = entry_of(self.integrity.app.mapper, stored)
        if stored.notification is not None:
            files[EVENTS].write(_event_line(stored, entry) + b"\n")
            self.events += 1
            if entry.event is not None:
                self.last_recorded_at = entry.event.envelope.get("recorded_at")
        record = stored.record
        if record is not None:
            line = {
                "position": stored.position,
                "leaf_index": record["leaf_index"],
                "hash": record["hash"],
                "leaf": stored.stored_leaf.hex() if stored.stored_leaf else None,
                "record": record["record"],
            }
            files[RECORDS].write(canonical(line) + b"\n")
            self.records += 1
            if self.collaboration_id and record["leaf_index"] < self.proof_size:
                self.pending_proofs.append((stored.position, record["leaf_index"]))
                if len(self.pending_proofs) >= PROOF_PAGE:
                    self._flush_proofs(files[PROOFS])

    def _flush_proofs(self, file: IO[bytes]) -> None:
        """Inclusion proofs of a page of records, from one fetch of the stored nodes."""
        size, log = self.proof_size, self.integrity.log
        paths = [merkle.inclusion_ranges(index, size) for _, index in self.pending_proofs]
        hashes = iter(log.range_hashes([r for path in paths for r in path]))
        for (position, index), path in zip(self.pending_proofs, paths, strict=True):
            audit_path = [next(hashes).hex() for _ in path]
            line = {
                "position": position,
                "leaf_index": index,
                "tree_size": size,
                "audit_path": audit_path,
            }
            file.write(canonical(line) + b"\n")
        self.pending_proofs = []


def _event_line(stored: Stored, entry: Entry) -> bytes:
    event = entry.event
    if event is None:  # export what is there, so that the verifier can say what is wrong
        assert stored.notification is not None
        state = stored.notification.state
        raw = state.encode() if isinstance(state, str) else bytes(state)
        return canonical(
            {
                "position": stored.position,
                "unreadable": entry.event_problem,
                "state": base64.b64encode(raw).decode(),
            }
        )
    line: dict[str, Any] = {
        "position": stored.position,
        "collaboration_id": event.collaboration_id,
        "version": event.version,
        "type": event.type,
        "envelope": dict(event.envelope),
        "data": event.data,
    }
    if event.attributes:
        line["attributes"] = dict(event.attributes)
    return canonical(line)
