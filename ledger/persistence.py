"""Persistence on the eventsourcing library's recorders (SQLite, PostgreSQL), plus the ledger's
own tables, written in the same transaction that stores the events: an acknowledged event and
its bookkeeping (index, idempotency key, collaboration row) are one."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import ConnectionPool, PostgresApplicationRecorder, PostgresFactory
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
)
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from ledger.integrity.records import INTEGRITY_TABLES, append_records

SCHEMA_LOCK = 0x6C6564676572  # "ledger": the advisory lock PostgreSQL schema changes take

LEDGER_TABLES = (
    "CREATE TABLE IF NOT EXISTS ledger_event_index ("
    " position BIGINT PRIMARY KEY,"
    " notification_id BIGINT NOT NULL UNIQUE,"
    " collaboration_id TEXT NOT NULL,"
    " version BIGINT NOT NULL,"
    " type TEXT NOT NULL,"
    " effective_at TEXT NOT NULL,"
    " recorded_at TEXT NOT NULL,"
    " source_system TEXT,"
    " source_id TEXT,"
    " fingerprint TEXT NOT NULL,"
    " request_id TEXT NOT NULL,"
    " subject_kind TEXT,"
    " subject_id TEXT,"
    " cause_kind TEXT,"
    " cause_id TEXT)",
    "CREATE INDEX IF NOT EXISTS ledger_event_index_subject"
    " ON ledger_event_index (collaboration_id, subject_kind, subject_id)",
    "CREATE INDEX IF NOT EXISTS ledger_event_index_cause"
    " ON ledger_event_index (collaboration_id, cause_kind, cause_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ledger_event_index_stream"
    " ON ledger_event_index (collaboration_id, version)",
    "CREATE INDEX IF NOT EXISTS ledger_event_index_recorded"
    " ON ledger_event_index (collaboration_id, recorded_at)",
    "CREATE INDEX IF NOT EXISTS ledger_event_index_recorded_global ON ledger_event_index (recorded_at)",
    "CREATE INDEX IF NOT EXISTS ledger_event_index_effective"
    " ON ledger_event_index (collaboration_id, effective_at)",
    "CREATE INDEX IF NOT EXISTS ledger_event_index_request ON ledger_event_index (request_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ledger_event_index_source"
    " ON ledger_event_index (collaboration_id, source_system, source_id)"
    " WHERE source_system IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS ledger_collaborations ("
    " collaboration_id TEXT PRIMARY KEY,"
    " position BIGINT NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " founded_at TEXT NOT NULL,"
    " recorded_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_idempotency ("
    " actor TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL,"
    " collaboration_id TEXT NOT NULL,"
    " version BIGINT NOT NULL,"
    " PRIMARY KEY (actor, key))",
    "CREATE TABLE IF NOT EXISTS ledger_tokens ("
    " name TEXT PRIMARY KEY,"
    " token_hash TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL,"
    " collaborations TEXT NOT NULL,"
    " event_types TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " created_by TEXT NOT NULL,"
    " expires_at TEXT,"
    " revoked_at TEXT)",
    # Who issued or revoked which token, when, with which scope: kept for good.
    "CREATE TABLE IF NOT EXISTS ledger_token_log ("
    " at TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " scope TEXT NOT NULL)",
    *INTEGRITY_TABLES,
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
    request_id: str
    subject_kind: str | None = None
    subject_id: str | None = None
    cause_kind: str | None = None
    cause_id: str | None = None


@dataclass(frozen=True)
class IdempotencyEntry:
    actor: str
    key: str
    fingerprint: str


class Cursorlike(Protocol):
    def execute(self, statement: Any, params: Any = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


Row = dict[str, Any]


def rows_changed(cursor: Cursorlike) -> int:
    """How many rows the last statement changed (the library's SQLite cursor wraps sqlite3's)."""
    raw: Any = getattr(cursor, "sqlite_cursor", cursor)
    return int(raw.rowcount)


class LedgerStore:
    """The ledger's own tables, on whichever database the event recorder uses.

    Statements are written with `?` placeholders and adapted to the database's own.
    """

    placeholder = "?"

    def transaction(self, *, commit: bool) -> AbstractContextManager[Cursorlike]:
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    def run(self, cursor: Cursorlike, statement: str, params: Sequence[Any] = ()) -> None:
        cursor.execute(self._sql(statement), tuple(params))

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.transaction(commit=False) as cursor:
            cursor.execute(self._sql(statement), tuple(params))
            return [dict(row) for row in cursor.fetchall()]

    def query_one(self, statement: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(statement, params)
        return rows[0] if rows else None

    @contextmanager
    def writing(self) -> Iterator[Cursorlike]:
        with self.transaction(commit=True) as cursor:
            yield cursor

    @contextmanager
    def creating(self) -> Iterator[Cursorlike]:
        """A transaction for creating tables, one process at a time (see PostgreSQL's)."""
        with self.writing() as cursor:
            yield cursor

    def durability_problems(self) -> list[str]:
        """Settings that would let an acknowledged event be lost; empty when safe."""
        raise NotImplementedError

    def write_ledger_rows(
        self, cursor: Cursorlike, notification_ids: Sequence[int], kwargs: Mapping[str, Any]
    ) -> list[int]:
        """Index, collaboration and idempotency rows for the events just inserted; returns
        their positions in the global log: gap-free and in commit order, unlike the
        database's own ids (a PostgreSQL sequence skips the values of rolled-back inserts)."""
        index: Sequence[IndexEntry] = kwargs.get("index", ())
        # The events table is locked for writing now, so this is the head of the whole log.
        self.run(
            cursor,
            "SELECT position, recorded_at FROM ledger_event_index ORDER BY position DESC LIMIT 1",
        )
        head = cursor.fetchone()
        if head is not None and index and index[0].recorded_at < head["recorded_at"]:
            raise RecordedAtBehindError(head["recorded_at"])
        first = head["position"] + 1 if head is not None else 1
        positions = list(range(first, first + len(index)))
        for position, notification_id, e in zip(positions, notification_ids, index, strict=True):
            self.run(
                cursor,
                "INSERT INTO ledger_event_index VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (position, notification_id, e.collaboration_id, e.version, e.type,
                 e.effective_at, e.recorded_at, e.source_system, e.source_id, e.fingerprint,
                 e.request_id, e.subject_kind, e.subject_id, e.cause_kind, e.cause_id),
            )  # fmt: skip
            if e.version == 1:
                self.run(
                    cursor,
                    "INSERT INTO ledger_collaborations VALUES (?,?,?,?,?)",
                    (e.collaboration_id, position, kwargs["collaboration_name"],
                     e.effective_at, e.recorded_at),
                )  # fmt: skip
        idempotency: IdempotencyEntry | None = kwargs.get("idempotency")
        if idempotency is not None:
            self.run(
                cursor,
                "INSERT INTO ledger_idempotency VALUES (?,?,?,?,?)",
                (idempotency.actor, idempotency.key, idempotency.fingerprint,
                 index[-1].collaboration_id, index[-1].version),
            )  # fmt: skip
        append_records(self, cursor, positions, notification_ids, kwargs.get("integrity", ()))
        return positions


# SQLite


class LedgerSQLitePool(SQLiteConnectionPool):
    """Connections with fully synced commits: acknowledged means on disk."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return connection


class LedgerSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, with the ledger's pool and a private database file."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        db_name = pool.db_name
        if not SQLiteConnectionPool.detect_memory_mode(db_name):
            _create_private_file(Path(db_name))
            db_name = _read_only_uri(Path(db_name)) or db_name
        self.datastore.pool = LedgerSQLitePool(
            db_name=db_name,
            lock_timeout=pool.lock_timeout,
            pool_size=pool.pool_size,
            max_overflow=pool.max_overflow,
        )


class LedgerPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory, with a pool that drops every broken connection as soon
    as it finds one: after a database restart all pooled connections are dead, and checking
    them one by one (with the pool's backoff between checks) outlasts the pool timeout, so the
    first request after PostgreSQL is back would fail."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        # psycopg_pool takes `check` only in its constructor
        pool._check = _check_dropping_broken(weakref.ref(pool))

    # The library creates each recorder's types, tables and functions as it builds it; two
    # processes doing so at once fail on PostgreSQL (a duplicate key in the catalogue, or "tuple
    # concurrently updated"), so they take turns under the schema lock.

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        with self._schema_lock():
            return super().aggregate_recorder(purpose)

    def application_recorder(self) -> ApplicationRecorder:
        with self._schema_lock():
            return super().application_recorder()

    @contextmanager
    def _schema_lock(self) -> Iterator[None]:
        if not self.env_create_table():
            yield
            return
        with self.datastore.get_connection() as connection:  # autocommit: a session lock
            connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def _check_dropping_broken(pool: weakref.ref[ConnectionPool[Any]]) -> Callable[[Any], None]:
    def check(connection: Any) -> None:
        try:
            ConnectionPool.check_connection(connection)
        except Exception:
            if (alive := pool()) is not None:
                alive.check()  # the others were broken by the same event: replace them all now
            raise

    return check


def _read_only_uri(path: Path) -> str | None:
    """On storage we cannot write, a cleanly closed database (no -wal file beside it) opens as
    immutable: SQLite would otherwise try to create its -shm file there and fail. With a -wal
    file present SQLite reads it normally (its content must not be ignored)."""
    if os.access(path.parent, os.W_OK) or Path(f"{path}-wal").exists() or not path.exists():
        return None
    return f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite creates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class LedgerSQLiteRecorder(LedgerStore, SQLiteApplicationRecorder):
    """Stores events and the ledger's bookkeeping rows in one SQLite transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *LEDGER_TABLES]

    def transaction(self, *, commit: bool) -> AbstractContextManager[SQLiteCursor]:
        return self.datastore.transaction(commit=commit)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        rowids = super()._insert_events(c, stored_events)
        assert rowids is not None  # the application recorder returns rowids
        return self.write_ledger_rows(c, rowids, kwargs)

    def durability_problems(self) -> list[str]:
        synchronous = self.query_one("PRAGMA synchronous")
        if synchronous is not None and next(iter(synchronous.values())) != 2:
            return ["SQLite synchronous is not FULL"]
        return []


# PostgreSQL

DURABILITY_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


class LedgerPostgresRecorder(LedgerStore, PostgresApplicationRecorder):
    """Stores events and the ledger's bookkeeping rows in one PostgreSQL transaction."""

    placeholder = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(SQL(statement) for statement in LEDGER_TABLES)  # type: ignore[misc]

    def transaction(self, *, commit: bool) -> AbstractContextManager[Cursor[DictRow]]:
        return self.datastore.transaction(commit=commit)

    # Two processes creating the same tables at once fail on PostgreSQL (a duplicate key in
    # the catalogue), even with IF NOT EXISTS: they take turns under the schema lock.

    @contextmanager
    def creating(self) -> Iterator[Cursorlike]:
        with self.writing() as cursor:
            self.run(cursor, "SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            yield cursor

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert the events and the ledger's rows in one transaction that any exception
        rolls back. (The library's own version catches exceptions raised while it fetches the
        new ids and commits before raising them again, which would keep events without
        their index rows.)"""
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert notification_ids is not None  # RETURNING notification_id
        return self.write_ledger_rows(curs, notification_ids, kwargs)

    def durability_problems(self) -> list[str]:
        problems = []
        for name, safe in DURABILITY_SETTINGS.items():
            row = self.query_one(f"SHOW {name}")
            value = next(iter(row.values())) if row else None
            if value != safe:
                problems.append(f"PostgreSQL {name} is {value!r}, not {safe!r}")
        return problems
