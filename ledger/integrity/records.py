"""The integrity tables, and the records and tree nodes written in the transaction that stores
the events: the recorder holds the events table's write lock, so the latest record read here is
the previous one of the whole log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ledger.integrity.canonical import RecordInput, sha256_hex
from ledger.integrity.merkle import append_leaves, frontier, leaf_hash

if TYPE_CHECKING:
    from ledger.persistence import Cursorlike, LedgerStore

INTEGRITY_TABLES = (
    # One canonical record per stored event; leaf_index is its place in the Merkle tree,
    # notification_id the event's row in the library's table (as in ledger_event_index).
    "CREATE TABLE IF NOT EXISTS ledger_integrity_records ("
    " position BIGINT PRIMARY KEY,"
    " notification_id BIGINT NOT NULL UNIQUE,"
    " leaf_index BIGINT NOT NULL UNIQUE,"
    " record TEXT NOT NULL,"
    " hash TEXT NOT NULL)",
    # Every perfect subtree of the Merkle tree: level 0 holds the leaf hashes.
    "CREATE TABLE IF NOT EXISTS ledger_merkle_nodes ("
    " level INTEGER NOT NULL,"
    " idx BIGINT NOT NULL,"
    " hash TEXT NOT NULL,"
    " PRIMARY KEY (level, idx))",
    # Signed checkpoints; a unique predecessor keeps concurrent issuers from forking the chain.
    "CREATE TABLE IF NOT EXISTS ledger_checkpoints ("
    " tree_size BIGINT PRIMARY KEY,"
    " previous_hash TEXT NOT NULL UNIQUE,"
    " body TEXT NOT NULL,"
    " hash TEXT NOT NULL,"
    " signature TEXT NOT NULL)",
)


class MissingRecordInputsError(Exception):
    """Events were saved without the record inputs that their integrity records need."""


class FrontierMissingError(Exception):
    """The stored Merkle tree lacks nodes it needs to grow: run `GET /verify` to see why."""


def append_records(
    store: LedgerStore,
    cursor: Cursorlike,
    positions: Sequence[int],
    notification_ids: Sequence[int],
    inputs: Sequence[RecordInput],
) -> None:
    """Chain a record to each event just inserted, and extend the Merkle tree over them."""
    if not positions:
        return
    if not len(inputs) == len(positions) == len(notification_ids):
        raise MissingRecordInputsError(
            "save events with integrity=record_inputs(events): every stored event needs its record"
        )
    store.run(
        cursor,
        "SELECT leaf_index, hash FROM ledger_integrity_records ORDER BY leaf_index DESC LIMIT 1",
    )
    last = cursor.fetchone()
    size = 0 if last is None else int(last["leaf_index"]) + 1
    previous: str | None = None if last is None else str(last["hash"])
    rows: list[tuple[int, int, int, str, str]] = []
    for position, notification_id, item in zip(positions, notification_ids, inputs, strict=True):
        record = item.record(position, previous)
        previous = sha256_hex(record)
        rows.append((position, notification_id, size + len(rows), record.decode(), previous))
    nodes = append_leaves(
        size, _frontier(store, cursor, size), (leaf_hash(bytes.fromhex(r[4])) for r in rows)
    )
    _insert_many(store, cursor, "INSERT INTO ledger_integrity_records VALUES (?,?,?,?,?)", rows)
    _insert_many(
        store,
        cursor,
        "INSERT INTO ledger_merkle_nodes VALUES (?,?,?)",
        [(level, index, digest.hex()) for level, index, digest in nodes],
    )


def _frontier(store: LedgerStore, cursor: Cursorlike, size: int) -> dict[tuple[int, int], bytes]:
    wanted = frontier(size)
    if not wanted:
        return {}
    condition = " OR ".join("(level=? AND idx=?)" for _ in wanted)
    store.run(
        cursor,
        f"SELECT level, idx, hash FROM ledger_merkle_nodes WHERE {condition}",
        [value for node in wanted for value in node],
    )
    found = {(int(r["level"]), int(r["idx"])): bytes.fromhex(r["hash"]) for r in cursor.fetchall()}
    missing = set(wanted) - set(found)
    if missing:
        raise FrontierMissingError(f"the Merkle tree lacks its frontier nodes {sorted(missing)}")
    return found


def _insert_many(
    store: LedgerStore, cursor: Cursorlike, statement: str, rows: Sequence[Sequence[Any]]
) -> None:
    many: Any = cursor
    many.executemany(store._sql(statement), rows)
