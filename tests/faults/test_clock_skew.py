"""A second server whose clock is an hour behind writes to the same database: recorded_at still
never goes back, in position order and within every stream."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import database_url
from tests.faults.audit import audit, read_database
from tests.faults.clients import Client, batches, run_writers
from tests.faults.server import LedgerServer

# Loaded at interpreter start (by `ledger serve` and the gunicorn it execs, whose workers fork
# from it): every event the ledger stamps there is stamped an hour early.
SLOW_CLOCK = """\
from datetime import timedelta

from ledger.domain.model import Collaboration

_now = Collaboration.Event.create_timestamp
Collaboration.Event.create_timestamp = staticmethod(lambda: _now() - timedelta(hours=1))
"""
THREADS, PER_THREAD, STREAMS = 4, 20, 4


def slow_clock_env(directory: Path) -> dict[str, str]:
    directory.mkdir()
    (directory / "sitecustomize.py").write_text(SLOW_CLOCK)
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


def test_a_writer_an_hour_behind_never_makes_recorded_at_go_back(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, seed: int
) -> None:
    started = time.monotonic()
    url = database_url(backend, tmp_path, request)
    with (
        LedgerServer(url, tmp_path, workers=2) as punctual,
        LedgerServer(url, tmp_path, workers=2, env=slow_clock_env(tmp_path / "slow")) as slow,
    ):
        on_time = Client(punctual.url, punctual.create_token("on-time"), "on-time")
        behind = Client(slow.url, slow.create_token("behind"), "behind")
        # The punctual server writes first: from then on nothing may be stamped before it.
        ids = on_time.found([f"clock-{n}" for n in range(STREAMS)], "clock")
        ids += behind.found(["clock-late"], "clock")
        work = batches(ids, THREADS * 2, PER_THREAD, "clock")
        run_writers([(on_time if n % 2 else behind, batch) for n, batch in enumerate(work)])
    snapshot = read_database(url)
    report = audit(
        f"clock-behind/{backend}",
        seed,
        snapshot,
        [on_time, behind],
        elapsed=time.monotonic() - started,
    )
    report.publish()
    report.assert_intact()
    assert report.acknowledged == STREAMS + 1 + 2 * THREADS * PER_THREAD
    hour_ago = datetime.now(UTC) - timedelta(minutes=30)
    assert all(event.recorded_at > hour_ago for event in snapshot.events)
