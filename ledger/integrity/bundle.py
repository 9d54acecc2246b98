"""Audit bundles and their offline verification — no database, no server, no network: every
hash is recomputed from the bytes in the directory (`ledger export bundle` writes bundles, see
ledger/integrity/export.py).

A bundle is a directory:
  manifest.json      format, basis (position, tree size, root, time), filter, each file's SHA-256
  events.jsonl       one stored event per line: position, ids, type, envelope, data, attributes
  records.jsonl      one integrity record per line, as stored, with its hash and tree leaf
  checkpoints.jsonl  the signed checkpoints up to the first that covers the basis
  consistency.json   proof that the basis tree is a prefix of that checkpoint's (whole bundles)
  proofs.jsonl       an inclusion proof per record (bundles of one collaboration)
  public-key.pem     the ledger's public key (verify with the one you trust, not this one)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from time import perf_counter
from typing import Any

from ledger.integrity import merkle
from ledger.integrity.audit import (
    Anchor,
    Entry,
    LogAudit,
    checkpoint_anchor,
    consistency_anchor,
    stored_range_of,
)
from ledger.integrity.canonical import RecordInput, canonical, sha256_hex
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.report import MANIPULATION, NOTICE, Report
from ledger.integrity.signing import KeyFileError, PublicKey, parse_public_key

FORMAT = "governance-ledger/bundle/v1"
MANIFEST = "manifest.json"
EVENTS, RECORDS, CHECKPOINTS = "events.jsonl", "records.jsonl", "checkpoints.jsonl"
CONSISTENCY, PROOFS, PUBLIC_KEY = "consistency.json", "proofs.jsonl", "public-key.pem"


class BundleError(Exception):
    """The bundle cannot be written or read at all; the message says why."""


def file_hash(path: Path) -> str:
    """SHA-256 of a file, in hex, as the manifest lists it."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_bundle(directory: Path, key: PublicKey) -> Report:
    """Verify a bundle against the public key you trust. Reads only the directory."""
    started = perf_counter()
    report = Report(source="bundle")
    manifest = _read_manifest(report, directory)
    if manifest is None:
        return report
    _check_files(report, directory, manifest)
    _check_public_key(report, directory, key)
    basis = manifest["basis"]
    filtered = manifest["filter"].get("collaboration_id") is not None
    audit = LogAudit(report, chained=not filtered, leaves_stored=not filtered)
    checkpoints = _read_checkpoints(report, directory / CHECKPOINTS)
    trusted = audit.check_checkpoints(checkpoints, key)
    events = _by_position(report, directory / EVENTS, "event")
    records = _by_position(report, directory / RECORDS, "record")
    proofs = _by_position(report, directory / PROOFS, "proof") if filtered else {}
    for position in sorted(set(events) | set(records) | set(proofs)):
        audit.add(_entry(position, events.get(position), records.get(position)))
    audit.finish()
    if filtered:
        _check_proofs(report, audit, records, proofs, trusted, basis)
        _check_versions(report, events)
    else:
        _check_whole(report, audit, directory, trusted, manifest)
    report.basis = {**basis, "filter": manifest["filter"]}
    report.seconds = perf_counter() - started
    return report


def _read_manifest(report: Report, directory: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((directory / MANIFEST).read_bytes())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"its format is {manifest.get('format')!r}, not {FORMAT}")
        basis = manifest["basis"]
        if not all(isinstance(basis.get(n), int) for n in ("position", "tree_size")):
            raise ValueError("its basis lacks position or tree_size")
        if not isinstance(manifest["files"], dict) or not isinstance(manifest["filter"], dict):
            raise ValueError("it lacks files or filter")
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        report.add(MANIPULATION, "manifest-unreadable", f"{MANIFEST} cannot be used: {error}")
        return None
    result: dict[str, Any] = manifest
    return result


def _check_files(report: Report, directory: Path, manifest: dict[str, Any]) -> None:
    listed: dict[str, Any] = manifest["files"]
    for name, digest in sorted(listed.items()):
        path = directory / name
        if Path(name).name != name or not path.is_file():
            report.add(MANIPULATION, "file-missing", f"{name}, listed in the manifest, is missing")
        elif file_hash(path) != digest:
            report.add(
                MANIPULATION,
                "file-changed",
                f"{name} is not the file that was exported (its SHA-256 differs from the manifest)",
            )
    extra = sorted(
        p.name for p in directory.iterdir() if p.name not in listed and p.name != MANIFEST
    )
    if extra:
        report.add(NOTICE, "file-unlisted", "files the manifest does not list: " + ", ".join(extra))


def _check_public_key(report: Report, directory: Path, key: PublicKey) -> None:
    path = directory / PUBLIC_KEY
    try:
        bundled = parse_public_key(path.read_bytes())
    except (OSError, KeyFileError):
        report.add(NOTICE, "no-bundled-key", f"the bundle carries no usable {PUBLIC_KEY}")
        return
    if bundled.key_id != key.key_id:
        report.add(
            NOTICE,
            "other-bundled-key",
            f"the bundle's {PUBLIC_KEY} is not the key you trust; checkpoints are checked "
            "against the key you gave",
        )


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    if not path.exists():
        return
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                yield number, json.loads(line)
            except ValueError:
                yield number, None


def _read_checkpoints(report: Report, path: Path) -> list[Checkpoint]:
    checkpoints = []
    for number, value in _lines(path):
        try:
            checkpoints.append(Checkpoint.from_dict(value))
        except ValueError as error:
            report.add(MANIPULATION, "checkpoint-unreadable", f"{path.name} line {number}: {error}")
    return checkpoints


def _by_position(report: Report, path: Path, what: str) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for number, value in _lines(path):
        position = value.get("position") if isinstance(value, dict) else None
        if not isinstance(position, int):
            report.add(
                MANIPULATION, f"{what}-unreadable", f"{path.name} line {number} is not a {what}"
            )
        elif position in found:
            report.add(
                MANIPULATION,
                f"{what}-duplicated",
                f"{path.name} holds two {what}s for position {position}",
                position,
            )
        else:
            found[position] = value
    return found


def _entry(position: int, event: dict[str, Any] | None, record: dict[str, Any] | None) -> Entry:
    item, problem = None, None
    if event is not None:
        try:
            item = _event_input(event)
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
    stored_leaf = None
    record_bytes = None
    stored_hash = None
    if record is not None:
        text = record.get("record")
        record_bytes = text.encode() if isinstance(text, str) else b""
        stored_hash = record.get("hash") if isinstance(record.get("hash"), str) else ""
        leaf = record.get("leaf")
        stored_leaf = _hex_bytes(leaf)
    return Entry(position, item, problem, record_bytes, stored_hash, stored_leaf)


def _event_input(line: dict[str, Any]) -> RecordInput:
    if "unreadable" in line:
        raise ValueError(f"the ledger could not read it: {line['unreadable']}")
    for name, kind in (("collaboration_id", str), ("version", int), ("type", str)):
        if not isinstance(line.get(name), kind):
            raise ValueError(f"its {name} is missing or not a {kind.__name__}")
    envelope, attributes = line.get("envelope"), line.get("attributes", {})
    if not isinstance(envelope, dict) or not isinstance(attributes, dict):
        raise ValueError("its envelope or attributes is not an object")
    return RecordInput(
        collaboration_id=line["collaboration_id"],
        version=line["version"],
        type=line["type"],
        envelope=envelope,
        data=line.get("data"),
        data_hash=sha256_hex(canonical(line.get("data"))),
        attributes=attributes,
    )


def _hex_bytes(value: Any) -> bytes | None:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _check_whole(
    report: Report,
    audit: LogAudit,
    directory: Path,
    trusted: list[Checkpoint],
    manifest: dict[str, Any],
) -> None:
    """A bundle of the whole log (up to a position): chained records, anchored in checkpoints."""
    basis, whole = manifest["basis"], manifest["filter"].get("to_position") is None
    size, position = basis["tree_size"], basis["position"]
    anchors = [checkpoint_anchor(c) for c in trusted if c.tree_size <= size]
    cover = next((c for c in trusted if c.tree_size > size), None)
    if cover is not None and whole:
        audit.horizon = cover.position
        report.add(
            MANIPULATION,
            "signed-records-missing",
            f"the bundle claims the whole log ends at position {position}, but the checkpoint "
            f"of tree size {cover.tree_size} signed records up to position {cover.position}: "
            f"the records after position {position} were deleted",
            position + 1,
            cover.position,
        )
    elif cover is not None:
        proof = _consistency(directory, size, cover)
        anchors.append(consistency_anchor(size, position, cover, proof))
    _notice_coverage(report, audit, anchors)
    root = _hex_bytes(basis.get("root"))
    unsigned = Anchor(size, position, "the manifest's basis (unsigned)", lambda r: r == root)
    audit.check_tree([*anchors, unsigned], _stored_tree(audit))
    report.gaps = audit.gaps()


def _stored_tree(audit: LogAudit) -> Any:
    """Subtree hashes over the leaves the ledger stored when each record was recorded."""
    stored = audit.stored_leaves
    if any(leaf is None for leaf in stored):
        return lambda start, end: None
    levels = merkle.Levels([leaf for leaf in stored if leaf is not None])
    return stored_range_of(lambda level, index: levels.node(level, index))


def _consistency(directory: Path, size: int, cover: Checkpoint) -> list[bytes]:
    try:
        proof = json.loads((directory / CONSISTENCY).read_bytes())
        if proof["from"] != size or proof["to"] != cover.tree_size:
            return []
        return [bytes.fromhex(h) for h in proof["proof"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _notice_coverage(report: Report, audit: LogAudit, anchors: list[Anchor]) -> None:
    covered = max((a.position for a in anchors), default=0)
    if audit.positions and covered < audit.positions[-1]:
        report.add(
            NOTICE,
            "not-checkpointed",
            f"positions {covered + 1}..{audit.positions[-1]} are not covered by a signed "
            "checkpoint: they are checked against each other only",
            covered + 1,
            audit.positions[-1],
        )


def _check_proofs(
    report: Report,
    audit: LogAudit,
    records: dict[int, dict[str, Any]],
    proofs: dict[int, dict[str, Any]],
    trusted: list[Checkpoint],
    basis: dict[str, Any],
) -> None:
    """A bundle of one collaboration: each record must be in the signed tree."""
    for position, proof in sorted(proofs.items()):
        record = records.get(position)
        if record is None:
            report.add(
                MANIPULATION,
                "records-missing",
                f"the record at position {position} was removed from the bundle (its proof "
                "remains)",
                position,
            )
            continue
        size = proof.get("tree_size")
        anchor = next((c for c in trusted if c.tree_size == size), None)
        root = anchor.root if anchor else _hex_bytes(basis.get("root"))
        if anchor is None:
            report.add(
                NOTICE,
                "not-checkpointed",
                f"the proof for position {position} is to an unsigned tree of size {size}",
                position,
            )
        text = record.get("record")
        leaf = merkle.leaf_hash(hashlib.sha256(str(text).encode()).digest())
        path = [_hex_bytes(h) or b"" for h in proof.get("audit_path") or []]
        index = proof.get("leaf_index")
        if not (
            isinstance(index, int)
            and isinstance(size, int)
            and root is not None
            and merkle.verify_inclusion(index, size, leaf, path, root)
        ):
            report.add(
                MANIPULATION,
                "not-in-signed-log",
                f"the record at position {position} is not the one the tree of size {size} "
                "holds: it was changed, or its proof forged",
                position,
            )
    for position in sorted(set(records) - set(proofs)):
        report.add(
            MANIPULATION,
            "proof-missing",
            f"the record at position {position} has no proof",
            position,
        )


def _check_versions(report: Report, events: dict[int, dict[str, Any]]) -> None:
    versions = sorted(
        (e["version"], p) for p, e in events.items() if isinstance(e.get("version"), int)
    )
    expected = 1
    for version, position in versions:
        if version > expected:
            report.add(
                MANIPULATION,
                "versions-missing",
                f"versions {expected}..{version - 1} of the collaboration are missing before "
                f"position {position}",
                None,
            )
        expected = version + 1
