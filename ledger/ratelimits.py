"""Rate-limit counters in the ledger's own database, so that every worker (and, on PostgreSQL,
every host) spends one budget per token: a `limits` storage for flask-limiter's fixed window."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, Generic, TypeVar

import psycopg
from limits.storage import Storage

from ledger.persistence import _create_private_file
from ledger.settings import Settings

log = logging.getLogger("ledger.ratelimits")

SQLITE_SCHEME = "ledger+sqlite"
POSTGRES_SCHEME = "ledger+postgresql"
COUNTERS_FILE_SUFFIX = ".ratelimits.sqlite"
# A counter never holds a request up for longer: past it, it fails and the limiter falls back.
TIMEOUT_SECONDS = 1
PRUNE_INTERVAL_SECONDS = 60.0
# flask-limiter reads a key's hits and window end right after each hit, for the X-RateLimit
# headers: what the hit returned, this recently, saves those two round trips.
FRESH_SECONDS = 1.0

# One row per key: its hits in the current window and when that window ends (seconds since the
# epoch). A hit on an ended window starts a new one, in the same atomic statement.
INCREMENT = (
    "INSERT INTO {table} AS c (key, hits, expires_at) VALUES ({key}, {amount}, {now} + {expiry})"
    " ON CONFLICT (key) DO UPDATE SET"
    " hits = CASE WHEN c.expires_at > {now} THEN c.hits + excluded.hits ELSE excluded.hits END,"
    " expires_at = CASE WHEN c.expires_at > {now} THEN c.expires_at ELSE excluded.expires_at END"
    " RETURNING hits, expires_at"
)
WINDOW = "SELECT hits, expires_at FROM {table} WHERE key = {key} AND expires_at > {now}"
PRUNE = "DELETE FROM {table} WHERE expires_at <= {now}"
CLEAR = "DELETE FROM {table} WHERE key = {key}"
RESET = "DELETE FROM {table} RETURNING key"
PROBE = "SELECT 1 FROM {table} WHERE key = ''"

Connection = TypeVar("Connection", sqlite3.Connection, psycopg.Connection[tuple[Any, ...]])
Rows = list[tuple[Any, ...]]


def storage_uri(settings: Settings) -> str:
    """Where flask-limiter keeps its counters: LEDGER_RATE_LIMIT_STORAGE, else the ledger's
    database (a file of their own next to a SQLite database, a table in PostgreSQL)."""
    if settings.rate_limit_storage:
        return settings.rate_limit_storage
    url = settings.database_url
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path == ":memory:":
            return "memory://"  # one process holds that database anyway
        return f"{SQLITE_SCHEME}:///{path}{COUNTERS_FILE_SUFFIX}"
    return POSTGRES_SCHEME + url[url.index("://") :]


def create_table(settings: Settings) -> None:
    """Create the counters' table when they are kept in the ledger's database. Failing to is
    logged, not raised: the ledger serves without them (see `ledger.api.limits`)."""
    counters = database_counters(storage_uri(settings))
    if counters is None:
        return
    try:
        counters.create_table()
    except counters.base_exceptions as error:
        log.warning("could not create the rate-limit counters' table: %s", error)


def database_counters(uri: str) -> DatabaseCounters[Any] | None:
    scheme = uri.partition("://")[0]
    if scheme == SQLITE_SCHEME:
        return SQLiteCounters(uri)
    if scheme == POSTGRES_SCHEME:
        return PostgresCounters(uri)
    return None


class DatabaseCounters(Storage, Generic[Connection]):
    """Fixed-window counters in a database table, one connection per thread, opened lazily
    (after gunicorn forks). Errors are logged and raised, for flask-limiter to fall back on."""

    table: str
    placeholders: Mapping[str, str]
    create_statement: str

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._local = threading.local()
        self._next_prune = 0.0

    @property
    @abstractmethod
    def base_exceptions(self) -> tuple[type[Exception], ...]: ...

    @abstractmethod
    def _connect(self) -> Connection: ...

    @abstractmethod
    def _fetch(self, connection: Connection, statement: str, params: Mapping[str, Any]) -> Rows: ...

    def _sql(self, template: str) -> str:
        return template.format(table=self.table, **self.placeholders)

    def _rows(self, template: str, **params: Any) -> Rows:
        connection = getattr(self._local, "connection", None)
        try:
            if connection is None:
                connection = self._local.connection = self._connect()
            return self._fetch(connection, self._sql(template), {"now": time.time(), **params})
        except self.base_exceptions as error:
            log.warning("rate-limit counters unavailable: %s", error)
            self.close()
            raise

    def create_table(self) -> None:
        connection = self._connect()
        try:
            self._fetch(connection, self.create_statement, {})
        finally:
            connection.close()

    def close(self) -> None:
        """Close this thread's connection; the next use opens another."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with suppress(*self.base_exceptions):  # it may be broken already
                connection.close()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_INTERVAL_SECONDS
            self._rows(PRUNE)
        [(hits, expires_at)] = self._rows(INCREMENT, key=key, amount=amount, expiry=expiry)
        self._local.last = (key, int(hits), float(expires_at), time.monotonic())
        return int(hits)

    def _window(self, key: str) -> tuple[int, float]:
        """The key's hits and window end: as its last hit here returned them, just now, or as
        stored. A key without hits has none, and a window that ends now."""
        last = getattr(self._local, "last", None)
        if (
            last is not None
            and last[0] == key
            and time.monotonic() - last[3] < FRESH_SECONDS
            and last[2] > time.time()
        ):
            return last[1], last[2]
        rows = self._rows(WINDOW, key=key)
        return (int(rows[0][0]), float(rows[0][1])) if rows else (0, time.time())

    def get(self, key: str) -> int:
        return self._window(key)[0]

    def get_expiry(self, key: str) -> float:
        return self._window(key)[1]

    def check(self) -> bool:
        """Whether the counters answer (flask-limiter asks, with back-off, while it counts in
        memory instead)."""
        try:
            self._rows(PROBE)
        except Exception:  # a probe answers; it never raises
            return False
        return True

    def clear(self, key: str) -> None:
        self._local.last = None
        self._rows(CLEAR, key=key)

    def reset(self) -> int | None:
        self._local.last = None
        return len(self._rows(RESET))


class SQLiteCounters(DatabaseCounters[sqlite3.Connection]):
    """Counters in a SQLite file of their own, so that they never wait for the event
    database's write lock. Losing the last hits in a power cut is harmless: no fsync per hit."""

    STORAGE_SCHEME = [SQLITE_SCHEME]  # noqa: RUF012 - as limits declares it
    table = "rate_limits"
    placeholders = {"key": ":key", "amount": ":amount", "expiry": ":expiry", "now": ":now"}  # noqa: RUF012
    create_statement = (
        "CREATE TABLE IF NOT EXISTS rate_limits (key TEXT PRIMARY KEY,"
        " hits INTEGER NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"
    )

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = Path(uri.removeprefix(f"{SQLITE_SCHEME}:///"))

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (sqlite3.Error, OSError)

    def _connect(self) -> sqlite3.Connection:
        _create_private_file(self.path)
        connection = sqlite3.connect(self.path, timeout=TIMEOUT_SECONDS, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            # The file is the counters' alone: whoever opens it first creates the table.
            connection.execute(self.create_statement)
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    def _fetch(
        self, connection: sqlite3.Connection, statement: str, params: Mapping[str, Any]
    ) -> Rows:
        # fetchall, not fetchone: SQLite commits (and lets go of the lock) when the statement ends.
        return connection.execute(statement, params).fetchall()


class PostgresCounters(DatabaseCounters[psycopg.Connection[tuple[Any, ...]]]):
    """Counters in an UNLOGGED table of the ledger's PostgreSQL database: no WAL per hit, and
    emptied after a crash, which only forgives the hits of the current window. Windows are
    timed by the database's clock, which every host shares."""

    STORAGE_SCHEME = [POSTGRES_SCHEME]  # noqa: RUF012 - as limits declares it
    table = "ledger_rate_limits"
    placeholders = {  # noqa: RUF012
        "key": "%(key)s",
        "amount": "%(amount)s",
        "expiry": "%(expiry)s",
        "now": "extract(epoch FROM now())::float8",
    }
    # Room on each page for the updated rows (HOT updates, no index churn).
    create_statement = (
        "CREATE UNLOGGED TABLE IF NOT EXISTS ledger_rate_limits (key TEXT PRIMARY KEY,"
        " hits BIGINT NOT NULL, expires_at DOUBLE PRECISION NOT NULL) WITH (fillfactor = 70)"
    )

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.conninfo = "postgresql" + uri.removeprefix(POSTGRES_SCHEME)

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (psycopg.Error,)

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        timeout_ms = TIMEOUT_SECONDS * 1000
        return psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=max(2, TIMEOUT_SECONDS),  # libpq's least
            application_name="ledger-rate-limits",
            options=f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
        )

    def _fetch(
        self, connection: psycopg.Connection[tuple[Any, ...]], statement: str,
        params: Mapping[str, Any],
    ) -> Rows:  # fmt: skip
        cursor = connection.execute(statement, params)
        return cursor.fetchall() if cursor.description is not None else []
