"""The ceiling for appends: the least a web app must do per event (parse the body, validate it
with the ledger's own schema, insert one row, commit durably), served the way the ledger is.

gunicorn starts `bench.ceiling_app:create_app()` with `ledger/gunicorn_conf.py`; the database
comes from LEDGER_DATABASE_URL, and `create_table(url)` runs once before the workers start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any, Protocol
from uuid import UUID

from flask import Flask, request
from marshmallow import ValidationError
from psycopg_pool import ConnectionPool

from ledger.api.schemas import EventSubmissionSchema
from ledger.settings import Settings

TABLE = "ceiling_events"
COLUMNS = "collaboration_id, type, body, idempotency_key"


class Database(Protocol):
    def insert(self, row: tuple[str, str, str, str | None]) -> None: ...


class SQLiteDatabase:
    """One connection per thread, WAL, synchronous=FULL: the ledger's SQLite durability."""

    def __init__(self, path: str, lock_timeout: int) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.local = threading.local()

    def connection(self) -> sqlite3.Connection:
        found: sqlite3.Connection | None = getattr(self.local, "connection", None)
        if found is None:
            found = sqlite3.connect(self.path, timeout=self.lock_timeout, isolation_level=None)
            found.execute("PRAGMA synchronous=FULL")
            self.local.connection = found
        return found

    def insert(self, row: tuple[str, str, str, str | None]) -> None:
        connection = self.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (?,?,?,?)", row)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


class PostgresDatabase:
    """A pool per worker as large as its threads; synchronous_commit is the server's (on)."""

    def __init__(self, conninfo: str, size: int) -> None:
        self.pool = ConnectionPool(conninfo, min_size=1, max_size=size, open=True)

    def insert(self, row: tuple[str, str, str, str | None]) -> None:
        with self.pool.connection() as connection:
            connection.execute(f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (%s,%s,%s,%s)", row)


def create_table(url: str) -> None:
    """The one table, before any worker starts; in WAL mode on SQLite."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " collaboration_id TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,"
                " idempotency_key TEXT UNIQUE)"
            )
        connection.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as server:
        server.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY,"
            " collaboration_id TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,"
            " idempotency_key TEXT UNIQUE)"
        )


def open_database(settings: Settings, threads: int) -> Database:
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return SQLiteDatabase(url.removeprefix("sqlite:///"), settings.sqlite_lock_timeout)
    return PostgresDatabase(url, threads)


def create_app() -> Flask:
    from ledger import gunicorn_conf

    settings = Settings.from_env()
    database = open_database(settings, gunicorn_conf.threads)
    schema = EventSubmissionSchema()
    app = Flask(__name__)

    @app.post("/collaborations/<collaboration_id>/events")
    def append(collaboration_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        try:
            UUID(collaboration_id)
            item = schema.load(json.loads(request.get_data()))
        except (ValueError, ValidationError) as error:
            return {"detail": str(error)}, 422, {}
        body = json.dumps(item["data"], sort_keys=True)
        key = request.headers.get("Idempotency-Key")
        database.insert((collaboration_id, item["type"], body, key))
        location = f"/collaborations/{collaboration_id}"
        return (
            {"collaboration_id": collaboration_id, "type": item["type"]},
            201,
            {"Location": location},
        )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
