"""Persistence on the eventsourcing library's SQLite recorder, plus the ledger's own tables.

The ledger's tables (event index, idempotency keys, collaborations, tokens) are written in the
same transaction that stores the events, so an acknowledged event and its bookkeeping are one.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
)

LEDGER_TABLES = (
    "CREATE TABLE IF NOT EXISTS ledger_events ("
    " position INTEGER PRIMARY KEY,"
    " collaboration_id TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " effective_at TEXT NOT NULL,"
    " recorded_at TEXT NOT NULL,"
    " source_system TEXT,"
    " source_id TEXT,"
    " fingerprint TEXT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ledger_events_stream"
    " ON ledger_events (collaboration_id, version)",
    "CREATE INDEX IF NOT EXISTS ledger_events_recorded"
    " ON ledger_events (collaboration_id, recorded_at)",
    "CREATE INDEX IF NOT EXISTS ledger_events_recorded_global ON ledger_events (recorded_at)",
    "CREATE INDEX IF NOT EXISTS ledger_events_effective"
    " ON ledger_events (collaboration_id, effective_at)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ledger_events_source"
    " ON ledger_events (collaboration_id, source_system, source_id)"
    " WHERE source_system IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS ledger_collaborations ("
    " collaboration_id TEXT PRIMARY KEY,"
    " position INTEGER NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " founded_at TEXT NOT NULL,"
    " recorded_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_idempotency ("
    " actor TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL,"
    " collaboration_id TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " PRIMARY KEY (actor, key))",
    "CREATE TABLE IF NOT EXISTS ledger_tokens ("
    " name TEXT PRIMARY KEY,"
    " token_hash TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " revoked_at TEXT)",
)


class RecordedAtBehindError(Exception):
    """Another writer stored a later recorded_at first; the event must be stamped again."""

    def __init__(self, latest: str) -> None:
        super().__init__(f"recorded_at must not be earlier than {latest}")
        self.latest = latest


@dataclass(frozen=True)
class IndexEntry:
    """The ledger's bookkeeping for one event, stored with it."""

    collaboration_id: str
    version: int
    type: str
    effective_at: str
    recorded_at: str
    source_system: str | None
    source_id: str | None
    fingerprint: str


@dataclass(frozen=True)
class IdempotencyEntry:
    actor: str
    key: str
    fingerprint: str


class LedgerSQLitePool(SQLiteConnectionPool):
    """Connections with fully synced commits: acknowledged means on disk."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        raw = connection._sqlite_conn
        raw.execute("PRAGMA synchronous=FULL")
        return connection


class LedgerSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, with the ledger's pool, file mode and recorder."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        datastore = self.datastore
        db_name = datastore.pool.db_name
        if not SQLiteConnectionPool.detect_memory_mode(db_name):
            _create_private_file(Path(db_name))
        datastore.pool = LedgerSQLitePool(
            db_name=db_name,
            lock_timeout=datastore.pool.lock_timeout,
            pool_size=datastore.pool.pool_size,
            max_overflow=datastore.pool.max_overflow,
        )


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite creates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """Stores events and the ledger's bookkeeping rows in one transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *LEDGER_TABLES]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        index: Sequence[IndexEntry] = kwargs.get("index", ())
        positions = super()._insert_events(c, stored_events)
        assert positions is not None  # the application recorder always returns rowids
        # We hold the write lock now, so this is the latest recorded_at of the whole log.
        c.execute("SELECT MAX(recorded_at) FROM ledger_events")
        latest = c.fetchone()[0]
        if latest is not None and index and index[0].recorded_at < latest:
            raise RecordedAtBehindError(latest)
        c.executemany(
            "INSERT INTO ledger_events VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    position,
                    e.collaboration_id,
                    e.version,
                    e.type,
                    e.effective_at,
                    e.recorded_at,
                    e.source_system,
                    e.source_id,
                    e.fingerprint,
                )
                for position, e in zip(positions, index, strict=True)
            ],
        )
        founded = [(p, e) for p, e in zip(positions, index, strict=True) if e.version == 1]
        for position, entry in founded:
            c.execute(
                "INSERT INTO ledger_collaborations VALUES (?,?,?,?,?)",
                (
                    entry.collaboration_id,
                    position,
                    kwargs["collaboration_name"],
                    entry.effective_at,
                    entry.recorded_at,
                ),
            )
        idempotency: IdempotencyEntry | None = kwargs.get("idempotency")
        if idempotency is not None:
            last = index[-1]
            c.execute(
                "INSERT INTO ledger_idempotency VALUES (?,?,?,?,?)",
                (
                    idempotency.actor,
                    idempotency.key,
                    idempotency.fingerprint,
                    last.collaboration_id,
                    last.version,
                ),
            )
        return positions

    @contextmanager
    def reading(self) -> Iterator[SQLiteCursor]:
        with self.datastore.transaction(commit=False) as cursor:
            yield cursor

    @contextmanager
    def writing(self) -> Iterator[SQLiteCursor]:
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor


Row = sqlite3.Row
