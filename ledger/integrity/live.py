"""Reading the live ledger position by position — the library's stored events, the integrity
records with their stored tree leaves, and the index rows — for verification and export."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from eventsourcing.persistence import Mapper, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from ledger.application import LedgerApplication
from ledger.domain.model import EVENT_CLASSES
from ledger.domain.timefmt import format_instant
from ledger.integrity import merkle
from ledger.integrity.audit import Entry, LogAudit, checkpoint_anchor, stored_range_of
from ledger.integrity.canonical import RecordInput, input_from_state
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.report import MANIPULATION, NOTICE, Report
from ledger.integrity.signing import PublicKey
from ledger.integrity.stored import StoredLog
from ledger.persistence import Row

PAGE = 1000
TOPIC_TYPES = {get_topic(cls): name for name, cls in EVENT_CLASSES.items()}


@dataclass(frozen=True)
class Stored:
    """Everything the database holds for one position."""

    position: int
    notification: Notification | None = None
    record: Row | None = None
    stored_leaf: bytes | None = None
    index: Row | None = None


def upper_bound(app: LedgerApplication) -> int:
    """The last position known; events committed later are left for next time."""
    row = app.store.query_one(
        "SELECT (SELECT MAX(position) FROM ledger_integrity_records) AS records,"
        " (SELECT MAX(position) FROM ledger_event_index) AS indexed"
    )
    return int(max(row["records"] or 0, row["indexed"] or 0)) if row else 0


def stored_positions(
    app: LedgerApplication, up_to: int, named: set[int] | None = None
) -> Iterator[Stored]:
    """Every position with a record or an index row, in order, with the event they name.
    The storage ids of the events named are added to `named`."""
    for page in _batched(_records_and_index(app, up_to)):
        ids = {int(row["notification_id"]) for _, *rows in page for row in rows if row is not None}
        events = _notifications(app, ids)
        if named is not None:
            named.update(ids)
        for position, record, index in page:
            named_by = record or index
            assert named_by is not None
            yield Stored(
                position=position,
                notification=events.get(int(named_by["notification_id"])),
                record=record,
                stored_leaf=record["stored_leaf"] if record else None,
                index=index,
            )


def _batched(rows: Iterator[tuple[int, Row | None, Row | None]]) -> Iterator[list[Any]]:
    while page := list(itertools.islice(rows, PAGE)):
        yield page


def unnamed_events(app: LedgerApplication, named: set[int], up_to_id: int) -> list[int]:
    """Storage ids (up to `up_to_id`) of events that no record and no index row names:
    added behind the ledger's back."""
    recorder = app.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        column = "notification_id"
    else:
        table, column = getattr(recorder, "events_table_name", "stored_events"), "rowid"
    rows = app.store.query(f"SELECT {column} AS id FROM {table} WHERE {column}<=?", (up_to_id,))
    return sorted({int(row["id"]) for row in rows} - named)


def _records_and_index(
    app: LedgerApplication, up_to: int
) -> Iterator[tuple[int, Row | None, Row | None]]:
    streams = [
        ((r["position"], "record", r) for r in _records(app, up_to)),
        ((r["position"], "index", r) for r in _index_rows(app, up_to)),
    ]
    merged = heapq.merge(*streams, key=lambda item: item[0])
    for position, items in itertools.groupby(merged, key=lambda item: item[0]):
        found: dict[str, Row] = {kind: row for _, kind, row in items}
        yield position, found.get("record"), found.get("index")


def _paged(fetch: Callable[[int], list[Row]]) -> Iterator[Row]:
    after = 0
    while True:
        page = fetch(after)
        yield from page
        if len(page) < PAGE:
            return
        after = int(page[-1]["position"])


def _records(app: LedgerApplication, up_to: int) -> Iterator[Row]:
    log = StoredLog(app.store)

    def fetch(after: int) -> list[Row]:
        rows = log.records(after, up_to, PAGE)
        if rows:
            indexes = [row["leaf_index"] for row in rows]
            leaves = log.leaf_nodes(min(indexes), max(indexes))
            for row in rows:
                row["stored_leaf"] = leaves.get(row["leaf_index"])
        return rows

    return _paged(fetch)


def _index_rows(app: LedgerApplication, up_to: int) -> Iterator[Row]:
    def fetch(after: int) -> list[Row]:
        return app.store.query(
            "SELECT * FROM ledger_event_index WHERE position>? AND position<=?"
            " ORDER BY position LIMIT ?",
            (after, up_to, PAGE),
        )

    return _paged(fetch)


def _notifications(app: LedgerApplication, ids: set[int]) -> dict[int, Notification]:
    """The stored events with these storage ids: one range read, then any stragglers."""
    if not ids:
        return {}
    low, high = min(ids), max(ids)
    found: dict[int, Notification] = {}
    if high - low < 2 * len(ids) + PAGE:
        notifications = app.recorder.select_notifications(
            start=low, stop=high, limit=high - low + 1
        )
        found = {n.id: n for n in notifications if n.id in ids}
    for straggler in sorted(ids - found.keys()):  # ids far apart: an edit moved them
        for n in app.recorder.select_notifications(start=straggler, stop=straggler, limit=1):
            found[n.id] = n
    return found


def read_event(mapper: Mapper[Any], notification: Notification) -> RecordInput:
    """The record input of a stored event, from its raw stored state (never upcast, so the
    bytes are checked as they were written). Raises when the state cannot be read."""
    event_type = TOPIC_TYPES.get(notification.topic)
    if event_type is None:
        raise ValueError(f"unknown topic {notification.topic!r}")
    state: Any = notification.state
    if isinstance(state, str):  # an edit through SQL may leave text where bytes were
        state = state.encode()
    state = bytes(state)
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    decoded = mapper.transcoder.decode(state)
    if not isinstance(decoded, Mapping):
        raise ValueError("the stored state is not an object")
    return input_from_state(
        str(notification.originator_id), notification.originator_version, event_type, decoded
    )


def entry_of(mapper: Mapper[Any], stored: Stored) -> Entry:
    event, problem = None, None
    if stored.notification is not None:
        try:
            event = read_event(mapper, stored.notification)
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
    record = stored.record
    return Entry(
        position=stored.position,
        event=event,
        event_problem=problem,
        record=record["record"].encode() if record else None,
        stored_hash=record["hash"] if record else None,
        stored_leaf=stored.stored_leaf,
    )


def verify_ledger(app: LedgerApplication, key: PublicKey | None) -> Report:
    """Verify the live database: every event, record, index row, tree leaf and checkpoint."""
    started = perf_counter()
    report = Report(source="ledger")
    audit = LogAudit(report, chained=True, leaves_stored=True)
    log = StoredLog(app.store)
    # Read in this order, so that every event and checkpoint read is covered by what follows.
    signed = log.checkpoints(0, None, 2**31)
    up_to_id = app.recorder.max_notification_id() or 0
    up_to = upper_bound(app)
    named: set[int] = set()
    for stored in stored_positions(app, up_to, named):
        entry = entry_of(app.mapper, stored)
        audit.add(entry)
        _check_index(report, stored, entry)
    audit.finish()
    for storage_id in unnamed_events(app, named, up_to_id):
        report.add(
            MANIPULATION,
            "event-unrecorded",
            f"the library's table holds an event (storage id {storage_id}) that has neither an "
            "integrity record nor an index row: it was added behind the ledger's back",
        )
    trusted = audit.check_checkpoints(signed, key)
    audit.check_tree([checkpoint_anchor(c) for c in trusted], _stored_tree(log, audit.size))
    report.gaps = audit.gaps()
    _notice_coverage(report, audit, trusted, key)
    report.basis = {
        "tree_size": audit.size,
        "position": audit.positions[-1] if audit.positions else 0,
        "root": audit.root(audit.size).hex(),
        "checkpoint": trusted[-1].tree_size if trusted else None,
        "verified_at": format_instant(datetime.now(UTC)),
    }
    report.seconds = perf_counter() - started
    return report


def _stored_tree(log: StoredLog, size: int) -> Callable[[int, int], bytes | None]:
    """Stored subtree hashes, loaded only when a checkpoint disagrees and must be located."""
    nodes: dict[merkle.Node, bytes] = {}

    def node(level: int, index: int) -> bytes | None:
        if not nodes:
            nodes.update(log.all_nodes(size))
        return nodes.get((level, index))

    return stored_range_of(node)


def _check_index(report: Report, stored: Stored, entry: Entry) -> None:
    """The index drives every query by time: it must say what the event says."""
    p, index = stored.position, stored.index
    if index is None:
        if entry.event is not None:
            report.add(
                MANIPULATION, "index-missing", f"the event at position {p} has no index row", p
            )
        return
    if stored.notification is None and stored.record is None:
        report.add(
            MANIPULATION,
            "event-missing",
            f"the index names an event at position {p}, but the event and its record were deleted",
            p,
        )
        return
    if entry.event is None:
        return
    source = entry.event.envelope.get("source")
    source = source if isinstance(source, Mapping) else {}
    expected = {
        "collaboration_id": entry.event.collaboration_id,
        "version": entry.event.version,
        "type": entry.event.type,
        "effective_at": entry.event.envelope.get("effective_at"),
        "recorded_at": entry.event.envelope.get("recorded_at"),
        "source_system": source.get("system"),
        "source_id": source.get("id"),
    }
    differing = [name for name, value in expected.items() if index.get(name) != value]
    if differing:
        report.add(
            MANIPULATION,
            "index-differs",
            f"the index row at position {p} differs from its event in " + ", ".join(differing),
            p,
        )


def _notice_coverage(
    report: Report, audit: LogAudit, trusted: list[Checkpoint], key: PublicKey | None
) -> None:
    if key is None:
        report.add(
            NOTICE,
            "no-signing-key",
            "the ledger has no signing key (LEDGER_SIGNING_KEY_FILE): it issues no checkpoints, "
            "so a rewrite that recomputes every later hash would show only in the stored tree",
        )
    if not audit.positions:
        return
    covered = trusted[-1].position if trusted else 0
    last = audit.positions[-1]
    if covered < last:
        report.add(
            NOTICE,
            "not-checkpointed",
            f"positions {covered + 1}..{last} are not covered by a signed checkpoint yet",
            covered + 1,
            last,
        )
