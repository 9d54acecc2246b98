"""PostgreSQL stopped in immediate mode (a crash: no checkpoint, crash recovery on start) and
restarted, under load: nothing acknowledged is lost, nothing stored twice or unasked for."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg
from tests.faults.audit import audit, read_database
from tests.faults.clients import (
    ACKNOWLEDGED,
    Client,
    batches,
    is_problem,
    partner_joining,
)
from tests.faults.known_bugs import (
    assert_status,
)
from tests.faults.server import (
    LedgerServer,
    crash_postgres,
    own_postgres_cluster,
    restart_postgres,
)

THREADS, PER_THREAD, STREAMS, CRASHES = 6, 40, 4, 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[pg.Cluster]:
    with own_postgres_cluster() as own:
        yield own


def test_postgres_crashing_and_restarting_under_load_loses_and_duplicates_nothing(
    cluster: pg.Cluster, tmp_path: Path, seed: int, rng: random.Random
) -> None:
    started = time.monotonic()
    total = STREAMS + THREADS * PER_THREAD
    with LedgerServer(cluster.new_database(), tmp_path, workers=2) as server:
        client = Client(server.url, server.create_token("writer"), "writer")
        ids = client.found([f"pg-crash-{n}" for n in range(STREAMS)], "pg-crash")
        work = batches(ids, THREADS, PER_THREAD, "pg-crash")
        crashes = 0

        def crash_during_load(stopped: threading.Event) -> None:
            nonlocal crashes
            for n in range(CRASHES):
                threshold = total * (n + 1) // (CRASHES + 2) + rng.randint(0, total // 20)
                while client.acknowledged_count() < threshold and not stopped.is_set():
                    time.sleep(0.01)
                crash_postgres(cluster)
                crashes += 1
                time.sleep(rng.uniform(0.2, 1.0))
                restart_postgres(cluster)

        with client.alongside(crash_during_load):
            client.submit_all(work)
        assert crashes == CRASHES
    report = audit(
        "postgres-crashes/postgres",
        seed,
        read_database(server.database_url),
        [client],
        restarts=crashes,
        elapsed=time.monotonic() - started,
    )
    report.publish()
    report.assert_intact()
    assert report.acknowledged == total
    assert report.longest_outage > 0.2, "the crashes kept no writer waiting: they proved nothing"


def test_positions_stay_gap_free_across_a_postgres_crash(
    cluster: pg.Cluster, tmp_path: Path, seed: int
) -> None:
    started = time.monotonic()
    with LedgerServer(cluster.new_database(), tmp_path, workers=1) as server:
        client = Client(server.url, server.create_token("writer"), "writer")
        [cid] = client.found(["pg-gaps"], "pg-gaps")
        for n in range(6):
            if n == 3:
                crash_postgres(cluster)
                restart_postgres(cluster)
            client.submit(partner_joining(cid, f"p-{n}", f"pg-gaps-{n}"))
    snapshot = read_database(server.database_url)
    report = audit(
        "postgres-crash-gaps/postgres",
        seed,
        snapshot,
        [client],
        restarts=1,
        elapsed=time.monotonic() - started,
    )
    report.publish()
    report.assert_intact()
    assert report.acknowledged == 7
    # Crash recovery made PostgreSQL's own sequence skip numbers; the positions must not.
    ids = [event.notification_id for event in snapshot.events]
    assert ids[-1] > len(ids), f"the sequence did not skip ({ids}): the test proves nothing"


def test_the_first_write_after_postgres_is_back_is_stored(
    cluster: pg.Cluster, tmp_path: Path
) -> None:
    with LedgerServer(cluster.new_database(), tmp_path, workers=1) as server:
        client = Client(server.url, server.create_token("writer"), "writer", timeout=30)
        [cid] = client.found(["pg-back"], "pg-back")
        crash_postgres(cluster)
        restart_postgres(cluster)  # and ready: it answers a new connection
        intent = client.submit(partner_joining(cid, "p-back", "pg-back-1"), resolve_within=0)
        first = intent.last_response
        assert client.submit(intent).outcome == ACKNOWLEDGED, intent.last_error
    assert_status(first, 201)


def test_a_write_while_postgres_is_down_is_a_retryable_503_and_works_after_restart(
    cluster: pg.Cluster, tmp_path: Path
) -> None:
    with LedgerServer(cluster.new_database(), tmp_path, workers=1) as server:
        # Patient enough to hear the ledger's own answer, however long it takes.
        client = Client(server.url, server.create_token("writer"), "writer", timeout=30)
        [cid] = client.found(["pg-down"], "pg-down")
        intent = partner_joining(cid, "p-down", "pg-down-1")
        crash_postgres(cluster)
        try:
            client.submit(intent, resolve_within=0)
            refusal, refused_after = intent.last_response, intent.last_seconds
        finally:
            restart_postgres(cluster)
        assert client.submit(intent).outcome == ACKNOWLEDGED, intent.last_error
        events = client.get(f"/collaborations/{cid}/events?after=0").json()["items"]
    assert [e["data"].get("partner_id") for e in events] == [None, "p-down"]
    assert refusal is not None and is_problem(refusal), intent.last_error
    assert refused_after < 10, f"the refusal took {refused_after:.1f} s"
    assert_status(refusal, 503)
