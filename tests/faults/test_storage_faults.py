"""Storage faults under the SQLite ledger: a full disk, a database locked by another process past
the lock timeout, a read-only database. Writes fail at once with a problem, reads go on,
nothing acknowledged is lost, and once the fault is gone the same requests succeed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import requests

from tests.faults.audit import Report, audit, read_database
from tests.faults.clients import (
    ACKNOWLEDGED,
    UNKNOWN,
    Client,
    Intent,
    is_problem,
    partner_joining,
    run_concurrently,
)
from tests.faults.known_bugs import (
    assert_status,
)
from tests.faults.server import LedgerServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

# A refusal must come well within the client's patience: a refusal is not a hang.
PROMPT = 4.0


@contextmanager
def mounted(target: Path, *options: str, source: str = "tmpfs") -> Iterator[Path]:
    """Mount `source` on `target` for the block; always unmounted afterwards."""
    target.mkdir(exist_ok=True)
    subprocess.run(["mount", *options, source, str(target)], check=True, capture_output=True)
    try:
        yield target
    finally:
        unmount(target)


def unmount(target: Path) -> None:
    for _ in range(50):
        if subprocess.run(["umount", str(target)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)  # a process that held a file there may still be exiting
    subprocess.run(["umount", "--lazy", str(target)], check=True, capture_output=True)


@contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """`source` seen through a read-only bind mount: root's writes fail there too."""
    with mounted(target, "--bind", source=str(source)):
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        yield target


def assert_refused_promptly(intent: Intent) -> None:
    """A write the storage cannot take: a 5xx problem, answered at once."""
    assert intent.outcome == UNKNOWN, f"not refused: {intent.outcome} {intent.result}"
    response = intent.last_response
    assert response is not None, f"no answer but {intent.last_error}"
    assert response.status_code >= 500, response.text
    assert is_problem(response), response.text
    assert intent.last_seconds < PROMPT, f"the refusal took {intent.last_seconds:.1f} s"


def events_of(client: Client, collaboration_id: str) -> list[dict[str, object]]:
    response = client.get(f"/collaborations/{collaboration_id}/events?after=0&limit=1000")
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def finish(name: str, seed: int, database_url: str, client: Client, started: float) -> Report:
    report = audit(name, seed, read_database(database_url), [client])
    report.elapsed = time.monotonic() - started
    report.publish()
    report.assert_intact()
    return report


# A full disk


def test_a_full_disk_refuses_appends_with_a_problem_and_they_succeed_once_there_is_room(
    tmp_path: Path, seed: int
) -> None:
    started = time.monotonic()
    refused: list[Intent] = []
    with mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=2m") as disk:
        url = f"sqlite:///{disk / 'ledger.sqlite'}"
        with LedgerServer(url, tmp_path, workers=2) as server:
            client = Client(server.url, server.create_token("writer"), "writer")
            [cid] = client.found(["disk-full"], "disk")

            def append_until_refused(thread: int) -> None:
                for n in range(300):
                    intent = partner_joining(cid, f"p-{thread}-{n}", f"disk-{thread}-{n}")
                    if client.submit(intent, resolve_within=0).outcome != ACKNOWLEDGED:
                        refused.append(intent)
                        return

            run_concurrently([partial(append_until_refused, t) for t in range(4)], 60)
            assert len(refused) == 4, "the disk never filled up"
            for intent in refused:
                assert_refused_promptly(intent)
            written = events_of(client, cid)  # reads go on while the disk is full
            subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
            for intent in refused:
                assert client.submit(intent).outcome == ACKNOWLEDGED, intent.last_error
            assert len(events_of(client, cid)) == len(written) + len(refused)
        report = finish("disk-full/sqlite", seed, url, client, started)
    assert report.acknowledged == len(written) + len(refused)


# A database locked by another process


@contextmanager
def locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's write transaction, held: BEGIN EXCLUSIVE and wait."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield holder
        holder.execute("ROLLBACK")
    finally:
        holder.close()


@dataclass
class LockedRun:
    """One event posted while another process held the write lock, then again after."""

    refusal: requests.Response | None
    refused_after: float
    stored_while_locked: int
    client: Client
    url: str
    started: float


@pytest.fixture(scope="module")
def locked_run(tmp_path_factory: pytest.TempPathFactory) -> LockedRun:
    """Post one event while another process holds the write lock past the 1 s lock timeout;
    release it, and post the event again with the same key."""
    started = time.monotonic()
    tmp_path = tmp_path_factory.mktemp("locked")
    path = tmp_path / "ledger.sqlite"
    url = f"sqlite:///{path}"
    with LedgerServer(url, tmp_path, workers=1, env={"LEDGER_SQLITE_LOCK_TIMEOUT": "1"}) as server:
        client = Client(server.url, server.create_token("writer"), "writer")
        [cid] = client.found(["locked"], "locked")
        intent = partner_joining(cid, "p-locked", "locked-1")
        with locked(path):
            client.submit(intent, resolve_within=0)
            refusal, refused_after = intent.last_response, intent.last_seconds
            stored_while_locked = len(events_of(client, cid))
        assert client.submit(intent).outcome == ACKNOWLEDGED, intent.last_error
        assert len(events_of(client, cid)) == 2
    return LockedRun(refusal, refused_after, stored_while_locked, client, url, started)


def test_a_database_locked_past_the_timeout_refuses_promptly_stores_nothing_then_works(
    locked_run: LockedRun, seed: int
) -> None:
    run = locked_run
    assert run.refusal is not None and run.refusal.status_code >= 500, "not refused"
    assert is_problem(run.refusal), run.refusal.text
    assert 0.5 < run.refused_after < PROMPT, f"refused after {run.refused_after:.1f} s"
    assert run.stored_while_locked == 1, "the refused event was stored"
    report = finish("locked/sqlite", seed, run.url, run.client, run.started)
    assert report.acknowledged == 2


def test_a_database_locked_past_the_timeout_answers_a_retryable_503(locked_run: LockedRun) -> None:
    assert_status(locked_run.refusal, 503)


# A read-only database


def test_a_read_only_mount_of_the_live_database_serves_reads_and_refuses_writes(
    tmp_path: Path, seed: int
) -> None:
    started = time.monotonic()
    directory = tmp_path / "db"
    url = f"sqlite:///{directory / 'ledger.sqlite'}"
    with LedgerServer(url, tmp_path, workers=1) as writable:
        client = Client(writable.url, writable.create_token("writer"), "writer")
        [cid] = client.found(["read-only"], "ro")
        for n in range(3):
            assert client.submit(partner_joining(cid, f"p-{n}", f"ro-{n}")).outcome == ACKNOWLEDGED
        written = events_of(client, cid)
        with (
            read_only_view(directory, tmp_path / "ro") as ro,
            LedgerServer(f"sqlite:///{ro / 'ledger.sqlite'}", tmp_path, workers=1) as read_only,
        ):
            client.url = read_only.url
            assert events_of(client, cid) == written
            refused = client.submit(partner_joining(cid, "p-ro", "ro-refused"), resolve_within=0)
            assert_refused_promptly(refused)
            assert events_of(client, cid) == written
        client.url = writable.url
        assert events_of(client, cid) == written
        assert client.submit(refused).outcome == ACKNOWLEDGED, refused.last_error
    report = finish("read-only/sqlite", seed, url, client, started)
    assert report.acknowledged == 5


def close_cleanly(path: Path) -> None:
    """Leave the database as its last connection leaves it when it closes: all of the WAL
    checkpointed into the file, and no -wal or -shm file beside it."""
    connection = sqlite3.connect(path)
    try:
        (busy, _, _) = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "another connection keeps the database open"
    finally:
        connection.close()
    for suffix in ("-wal", "-shm"):  # an emptied WAL and its index: nothing is lost
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_read_only_copy_of_a_cleanly_closed_database_serves_reads(tmp_path: Path) -> None:
    directory = tmp_path / "db"
    url = f"sqlite:///{directory / 'ledger.sqlite'}"
    with LedgerServer(url, tmp_path, workers=1) as writable:
        client = Client(writable.url, writable.create_token("reader"), "reader")
        [cid] = client.found(["closed"], "closed")
    close_cleanly(directory / "ledger.sqlite")
    with (
        read_only_view(directory, tmp_path / "ro") as ro,
        LedgerServer(f"sqlite:///{ro / 'ledger.sqlite'}", tmp_path, workers=1) as read_only,
    ):
        client.url = read_only.url
        assert len(events_of(client, cid)) == 1
        refused = client.submit(partner_joining(cid, "p-ro", "closed-refused"), resolve_within=0)
        assert_refused_promptly(refused)
        assert len(events_of(client, cid)) == 1
