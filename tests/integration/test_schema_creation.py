"""Processes starting at once on an empty database (a deployment without `ledger db init`, a
runner started beside the server) all create the schema without failing."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import Queue
from pathlib import Path

import pytest

from tests.conftest import database_url

PROCESSES = 8


def start(url: str, answers: Queue[str]) -> None:
    try:
        from ledger.service import LedgerService
        from ledger.settings import Settings
        from ledger.webhooks.subscriptions import create_tables
        from projections.register import AgreementRegister

        service = LedgerService(Settings(database_url=url))
        AgreementRegister(service, create=True)
        create_tables(service.store)
        service.close()
        answers.put("ok")
    except Exception as error:  # reported to the test, not lost in a child process
        answers.put(f"{type(error).__name__}: {error}")


@pytest.mark.timeout(300)
def test_processes_creating_the_schema_at_once_all_start(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    failures = []
    for attempt in range(3):  # the race is narrow: a few empty databases
        directory = tmp_path / f"attempt-{attempt}"
        directory.mkdir()
        url = database_url(backend, directory, request)
        context = multiprocessing.get_context("spawn")
        answers: Queue[str] = context.Queue()
        processes = [context.Process(target=start, args=(url, answers)) for _ in range(PROCESSES)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=120)
        failures += [a for a in (answers.get(timeout=10) for _ in processes) if a != "ok"]
    assert failures == []
