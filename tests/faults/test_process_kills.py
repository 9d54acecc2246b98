"""kill -9 of gunicorn workers, and of the whole server, while writers append concurrently:
nothing acknowledged is lost, nothing is stored twice, nothing is stored that nobody sent."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import database_url
from tests.faults.audit import audit, read_database
from tests.faults.clients import Client, batches
from tests.faults.server import LedgerServer

THREADS, PER_THREAD, STREAMS = 8, 40, 4
# Between two kills the ledger acknowledges this many events: on a slow machine the workers
# restart slowly, and killing them faster than they boot would only measure the machine.
PROGRESS_BETWEEN_KILLS = 10


def test_killing_workers_at_random_loses_and_duplicates_nothing(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    seed: int,
    rng: random.Random,
) -> None:
    started = time.monotonic()
    with LedgerServer(database_url(backend, tmp_path, request), tmp_path, workers=2) as server:
        client = Client(server.url, server.create_token("writer"), "writer")
        ids = client.found([f"kill-{n}" for n in range(STREAMS)], "kill")
        work = batches(ids, THREADS, PER_THREAD, "kill")

        def kill_workers(stopped: threading.Event) -> None:
            progress = 0
            while not stopped.wait(rng.uniform(0.15, 0.6)):
                if client.acknowledged_count() >= progress:
                    server.kill_worker(rng)
                    progress = client.acknowledged_count() + PROGRESS_BETWEEN_KILLS

        with client.alongside(kill_workers):
            client.submit_all(work)
        # A quiet machine appends fast: at least one worker must have died under load.
        assert server.kills >= 1, "no worker was killed; the load ended too soon"
    report = audit(
        f"worker-kills/{backend}",
        seed,
        read_database(server.database_url),
        [client],
        kills=server.kills,
        elapsed=time.monotonic() - started,
    )
    report.publish()
    report.assert_intact()
    assert report.acknowledged == STREAMS + THREADS * PER_THREAD


def test_killing_the_whole_server_once_and_restarting_it_loses_and_duplicates_nothing(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    seed: int,
    rng: random.Random,
) -> None:
    started = time.monotonic()
    with LedgerServer(database_url(backend, tmp_path, request), tmp_path, workers=2) as server:
        client = Client(server.url, server.create_token("writer"), "writer")
        ids = client.found([f"crash-{n}" for n in range(STREAMS)], "crash")
        work = batches(ids, THREADS, PER_THREAD, "crash")
        threshold = STREAMS + rng.randint(THREADS * PER_THREAD // 5, THREADS * PER_THREAD // 2)

        def crash_and_restart(stopped: threading.Event) -> None:
            while client.acknowledged_count() < threshold and not stopped.is_set():
                time.sleep(0.01)
            server.kill()
            server.restart()

        with client.alongside(crash_and_restart):
            client.submit_all(work)
        assert server.restarts == 1
    report = audit(
        f"server-kill/{backend}",
        seed,
        read_database(server.database_url),
        [client],
        kills=server.kills,
        restarts=server.restarts,
        elapsed=time.monotonic() - started,
    )
    report.publish()
    report.assert_intact()
    assert report.acknowledged == STREAMS + THREADS * PER_THREAD
    assert report.unknown_then_resolved > 0, "the crash interrupted no request: it proves nothing"
