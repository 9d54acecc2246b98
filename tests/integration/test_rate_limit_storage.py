"""The rate-limit counters in the ledger's own database: atomic hits shared by every process,
windows that end, Retry-After from the window, and requests still served (and limited, per
worker) when the counters fail."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from ledger.api import create_app
from ledger.ratelimits import (
    COUNTERS_FILE_SUFFIX,
    DatabaseCounters,
    PostgresCounters,
    SQLiteCounters,
    create_table,
    storage_uri,
)
from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests import pg
from tests.e2e.conftest import free_port
from tests.integration.helpers import assert_problem

PROCESSES = 4
HITS_EACH = 50


@pytest.fixture
def counters(settings: Settings) -> Iterator[DatabaseCounters[Any]]:
    create_table(settings)
    storage = storage_from_string(storage_uri(settings))  # as flask-limiter builds it
    assert isinstance(storage, DatabaseCounters)
    yield storage
    storage.close()


def fresh(storage: DatabaseCounters[Any]) -> DatabaseCounters[Any]:
    """Another instance on the same counters, as another worker has: nothing cached."""
    other = storage_from_string(storage_uri_of(storage))
    assert isinstance(other, DatabaseCounters)
    return other


def storage_uri_of(storage: DatabaseCounters[Any]) -> str:
    if isinstance(storage, SQLiteCounters):
        return f"ledger+sqlite:///{storage.path}"
    assert isinstance(storage, PostgresCounters)
    return "ledger+" + storage.conninfo


def stored_keys(storage: DatabaseCounters[Any]) -> set[str]:
    """The keys that have a row, read past the storage."""
    if isinstance(storage, SQLiteCounters):
        with closing(sqlite3.connect(storage.path)) as connection:
            return {key for (key,) in connection.execute("SELECT key FROM rate_limits")}
    assert isinstance(storage, PostgresCounters)
    with psycopg.connect(storage.conninfo) as connection:
        return {key for (key,) in connection.execute("SELECT key FROM ledger_rate_limits")}


# The storage itself


def test_the_default_storage_is_the_ledgers_database(settings: Settings, backend: str) -> None:
    expected = SQLiteCounters if backend == "sqlite" else PostgresCounters
    assert isinstance(storage_from_string(storage_uri(settings)), expected)


def test_another_storage_can_be_chosen(settings: Settings) -> None:
    chosen = dataclasses.replace(settings, rate_limit_storage="memory://")
    assert storage_uri(chosen) == "memory://"


def test_sqlite_counters_are_a_private_file_of_their_own(tmp_path: Path) -> None:
    database = tmp_path / "ledger.sqlite"
    create_table(Settings(database_url=f"sqlite:///{database}"))
    counters = Path(f"{database}{COUNTERS_FILE_SUFFIX}")
    assert counters.stat().st_mode & 0o777 == 0o600
    assert not database.exists()  # the event database is not touched
    with closing(sqlite3.connect(counters)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_postgres_counters_are_an_unlogged_table(postgres_cluster: pg.Cluster) -> None:
    settings = Settings(database_url=postgres_cluster.new_database())
    create_table(settings)
    with psycopg.connect(settings.database_url) as connection:
        row = connection.execute(
            "SELECT relpersistence FROM pg_class WHERE relname = 'ledger_rate_limits'"
        ).fetchone()
    assert row == ("u",)


def test_hits_count_up_within_a_window(counters: DatabaseCounters[Any]) -> None:
    assert [counters.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert counters.incr("k", 60, amount=2) == 5
    assert fresh(counters).get("k") == 5
    assert counters.get("k") == 5
    assert fresh(counters).get("other") == 0


def test_a_window_ends_and_the_next_hit_starts_a_new_one(counters: DatabaseCounters[Any]) -> None:
    assert [counters.incr("k", 1) for _ in range(2)] == [1, 2]
    time.sleep(1.1)
    assert fresh(counters).get("k") == 0
    assert counters.get("k") == 0
    assert counters.incr("k", 1) == 1


def test_the_window_ends_one_expiry_after_its_first_hit(counters: DatabaseCounters[Any]) -> None:
    before = time.time()
    counters.incr("k", 60)
    time.sleep(0.2)
    counters.incr("k", 60)  # a later hit does not move the end of the window
    after = time.time()
    for storage in (counters, fresh(counters)):
        assert before + 60 - 0.5 <= storage.get_expiry("k") <= after + 60 - 0.2 + 0.5
    reset, remaining = FixedWindowRateLimiter(fresh(counters)).get_window_stats(
        RateLimitItemPerMinute(5), "k-limited"
    )
    assert remaining == 5 and reset <= time.time() + 1  # no hits: nothing to wait for


def test_clear_and_reset_forget_hits(counters: DatabaseCounters[Any]) -> None:
    counters.incr("a", 60)
    counters.incr("b", 60)
    counters.clear("a")
    assert (counters.get("a"), fresh(counters).get("b")) == (0, 1)
    assert counters.reset() == 1
    assert fresh(counters).get("b") == 0


def test_expired_rows_are_pruned(counters: DatabaseCounters[Any]) -> None:
    counters.incr("gone", 1)
    time.sleep(1.1)
    fresh(counters).incr("kept", 60)  # a process prunes on its first hit, then once a minute
    assert stored_keys(counters) == {"kept"}


def hit(uri: str, key: str, times: int, start_at: float) -> list[int]:
    """In another process: wait for the others, then hit `key` `times` times."""
    storage = storage_from_string(uri)
    assert isinstance(storage, DatabaseCounters)
    time.sleep(max(0.0, start_at - time.time()))
    return [storage.incr(key, 60) for _ in range(times)]


def test_processes_hitting_one_key_at_once_share_its_count(settings: Settings) -> None:
    create_table(settings)
    uri = storage_uri(settings)
    start_at = time.time() + 3  # after every process has started
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.starmap(hit, [(uri, "shared", HITS_EACH, start_at)] * PROCESSES)
    # Every hit saw a count of its own: none was lost or counted twice.
    assert sorted(n for counts in results for n in counts) == list(
        range(1, 1 + PROCESSES * HITS_EACH)
    )
    assert all(counts == sorted(counts) for counts in results)
    storage = storage_from_string(uri)
    assert storage.get("shared") == PROCESSES * HITS_EACH


def unreachable_uri(backend: str, directory: Path) -> str:
    """Counters that cannot be reached: a file under a file, or a port nobody listens on."""
    if backend == "sqlite":
        (directory / "a-file").write_text("")
        return f"ledger+sqlite:///{directory / 'a-file' / 'counters.sqlite'}"
    return f"ledger+postgresql://ledger@127.0.0.1:{free_port()}/nothing"


def test_unreachable_counters_raise_and_fail_their_check(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = storage_from_string(unreachable_uri(backend, tmp_path))
    assert isinstance(storage, DatabaseCounters)
    with pytest.raises(storage.base_exceptions):
        storage.incr("k", 60)
    assert storage.check() is False
    assert "rate-limit counters unavailable" in caplog.text


# Through the app


@contextmanager
def limited_app(settings: Settings, limit: str, **overrides: Any) -> Iterator[Flask]:
    app = create_app(
        dataclasses.replace(settings, rate_limit=limit, log_level="WARNING", **overrides)
    )
    try:
        yield app
    finally:
        app.extensions["ledger.service"].close()


def bearer(app: Flask, name: str) -> dict[str, str]:
    tokens: TokenStore = app.extensions["ledger.tokens"]
    return {"Authorization": f"Bearer {tokens.create(name)}"}


@pytest.fixture
def short_window(settings: Settings) -> Iterator[Flask]:
    with limited_app(settings, "3 per 30 seconds") as app:
        yield app


def test_retry_after_is_what_is_left_of_the_window(short_window: Flask) -> None:
    client, auth = short_window.test_client(), bearer(short_window, "counted")
    started = time.time()
    assert [client.get("/collaborations", headers=auth).status_code for _ in range(3)] == [200] * 3
    refused = client.get("/collaborations", headers=auth)
    assert_problem(refused, 429)
    elapsed = time.time() - started
    assert 30 - elapsed - 1 <= int(refused.headers["Retry-After"]) <= 30
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_two_apps_on_one_database_share_a_budget(settings: Settings, short_window: Flask) -> None:
    """Two workers, each with its own app on the same database."""
    auth = bearer(short_window, "shared")
    with limited_app(settings, "3 per 30 seconds", create_tables=False) as other:
        apps = [short_window.test_client(), other.test_client()]
        codes = [apps[i % 2].get("/collaborations", headers=auth).status_code for i in range(6)]
    assert codes == [200] * 3 + [429] * 3


@pytest.fixture
def unreachable(settings: Settings, backend: str, tmp_path: Path) -> Iterator[Flask]:
    uri = unreachable_uri(backend, tmp_path)
    with limited_app(settings, "5 per minute", rate_limit_storage=uri) as app:
        yield app


def test_requests_are_served_and_limited_per_worker_when_the_counters_fail(
    unreachable: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client, auth = unreachable.test_client(), bearer(unreachable, "undaunted")
    codes = [client.get("/collaborations", headers=auth).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert "falling back to in-memory storage" in caplog.text
    assert "rate-limit counters unavailable" in caplog.text


@pytest.fixture
def generous(settings: Settings) -> Iterator[Flask]:
    with limited_app(settings, "1000 per minute") as app:
        yield app


def test_counting_in_the_database_resumes_when_the_counters_are_back(
    settings: Settings, generous: Flask
) -> None:
    client, auth = generous.test_client(), bearer(generous, "resilient")
    counters = database_counters_of(settings)
    assert client.get("/collaborations", headers=auth).status_code == 200
    drop_table(counters)
    assert client.get("/collaborations", headers=auth).status_code == 200  # counted in memory
    create_table(settings)
    deadline = time.monotonic() + 30  # the limiter retries its storage with back-off
    while not stored_keys(counters) and time.monotonic() < deadline:
        assert client.get("/collaborations", headers=auth).status_code == 200
        time.sleep(0.25)
    assert stored_keys(counters)


def database_counters_of(settings: Settings) -> DatabaseCounters[Any]:
    storage = storage_from_string(storage_uri(settings))
    assert isinstance(storage, DatabaseCounters)
    return storage


def drop_table(storage: DatabaseCounters[Any]) -> None:
    if isinstance(storage, SQLiteCounters):
        with closing(sqlite3.connect(storage.path, isolation_level=None)) as connection:
            connection.execute("DROP TABLE rate_limits")
        return
    assert isinstance(storage, PostgresCounters)
    with psycopg.connect(storage.conninfo, autocommit=True) as connection:
        connection.execute("DROP TABLE ledger_rate_limits")
