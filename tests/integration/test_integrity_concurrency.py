"""Concurrent writers: the chain stays one line and checkpoints one chain, whoever writes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

import pytest

from ledger.integrity.signing import create_key_files
from ledger.service import LedgerService
from ledger.settings import Settings
from tests.conftest import database_url

# A defect outside the integrity module, found by its verifier (see the lead's report).
WRITERS = 4
EVENTS_EACH = 12
ENVELOPE = {"actor": "writer"}


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    create_key_files(tmp_path / "ledger.key")
    return Settings(
        database_url=database_url(backend, tmp_path, request),
        signing_key_file=str(tmp_path / "ledger.key"),
        checkpoint_interval=5,
    )


def write(service: LedgerService, writer: int) -> None:
    cid = service.found_collaboration({"name": f"W{writer}", "mission": "M"}, ENVELOPE)
    for i in range(EVENTS_EACH - 1):
        service.record_event(
            cid.collaboration_id, "MissionRevised", {"mission": f"{writer}-{i}"}, ENVELOPE
        )


@pytest.mark.timeout(300)
def test_concurrent_writers_leave_one_unbroken_chain_and_checkpoint_chain(
    service: LedgerService,
) -> None:
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda w: write(service, w), range(WRITERS)))

    report = service.integrity.verify()
    stored = service.store.query(
        "SELECT record, hash FROM ledger_integrity_records ORDER BY position"
    )
    checkpoints = service.integrity.checkpoints(0, 100)

    assert report.ok, report.text()
    assert report.records == WRITERS * EVENTS_EACH
    assert [json.loads(r["record"])["previous_hash"] for r in stored[1:]] == [
        r["hash"] for r in stored[:-1]
    ]
    assert [c.tree_size for c in checkpoints] == list(range(5, WRITERS * EVENTS_EACH + 1, 5))
    assert [c.previous for c in checkpoints[1:]] == [c.hash for c in checkpoints[:-1]]


def test_an_event_whose_record_cannot_be_written_is_not_stored(
    service: LedgerService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = service.found_collaboration({"name": "N", "mission": "M"}, ENVELOPE).collaboration_id

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("ledger.integrity.records.append_leaves", broken)
    with pytest.raises(RuntimeError):
        service.record_event(cid, "MissionRevised", {"mission": "x"}, ENVELOPE)

    assert service.app.repository.get(UUID(cid)).version == 1
    assert service.integrity.verify().ok
