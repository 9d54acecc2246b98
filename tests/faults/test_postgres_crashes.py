"""PostgreSQL stopped in immediate mode (a crash: no checkpoint, crash recovery on start) and
restarted, under load: nothing acknowledged is lost, nothing stored twice or unasked for."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import pg
from tests.faults.harness import (
    ORPHAN_COMMIT_ON_POSTGRES,
    SEQUENCE_GAPS_ON_POSTGRES,
    Client,
    LedgerServer,
    PositionGaps,
    UnaskedForEvents,
    audit,
    batches,
    crash_postgres,
    in_background,
    is_problem,
    own_postgres_cluster,
    partner_joining,
    read_database,
    restart_postgres,
)

THREADS, PER_THREAD, STREAMS, CRASHES = 6, 40, 4, 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[pg.Cluster]:
    with own_postgres_cluster() as own:
        yield own


@pytest.mark.xfail(strict=True, raises=UnaskedForEvents, reason=ORPHAN_COMMIT_ON_POSTGRES)
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

        with in_background(crash_during_load):
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
    # Positions skip numbers after every crash: the dedicated test below shows it.
    report.gaps = 0
    report.assert_intact()
    assert report.acknowledged == total
    assert report.unknown_then_resolved > 0, "no request met a crash: the test proves nothing"


@pytest.mark.xfail(strict=True, raises=PositionGaps, reason=SEQUENCE_GAPS_ON_POSTGRES)
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
    report = audit(
        "postgres-crash-gaps/postgres",
        seed,
        read_database(server.database_url),
        [client],
        restarts=1,
        elapsed=time.monotonic() - started,
    )
    report.publish()
    report.assert_intact()


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="an unreachable PostgreSQL surfaces as the library's OperationalError, which the "
    "error table does not know: 500 internal-error instead of a retryable 503",
)
def test_a_write_while_postgres_is_down_is_a_retryable_503_and_works_after_restart(
    cluster: pg.Cluster, tmp_path: Path
) -> None:
    with LedgerServer(cluster.new_database(), tmp_path, workers=1) as server:
        client = Client(server.url, server.create_token("writer"), "writer")
        [cid] = client.found(["pg-down"], "pg-down")
        intent = partner_joining(cid, "p-down", "pg-down-1")
        crash_postgres(cluster)
        try:
            asked = time.monotonic()
            response = requests.post(
                server.url + intent.path,
                json=intent.body,
                headers={**client.headers, "Idempotency-Key": intent.key},
                timeout=30,
            )
            waited = time.monotonic() - asked
        finally:
            restart_postgres(cluster)
        assert client.submit(intent).outcome == "acknowledged"
        events = client.get(f"/collaborations/{cid}/events?after=0").json()["items"]
    assert [e["data"].get("partner_id") for e in events] == [None, "p-down"]
    assert waited < 10, f"the refusal took {waited:.1f} s"
    assert is_problem(response), response.text
    assert response.status_code == 503, response.text
