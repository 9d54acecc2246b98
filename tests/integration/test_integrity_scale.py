"""No false alarms at scale: a clean ledger of 5,000 events verifies clean, live and offline.
(bench/verify_speed.py does the same for 100,000 events and prints the speed.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.integrity import merkle
from ledger.integrity.bundle import verify_bundle
from ledger.integrity.export import export_bundle
from ledger.integrity.report import NOTICE
from ledger.integrity.signing import create_key_files, load_public_key
from ledger.service import LedgerService
from ledger.settings import Settings
from tests.conftest import database_url

EVENTS = 5000
CHUNK = 1000


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    create_key_files(tmp_path / "ledger.key")
    return Settings(
        database_url=database_url(backend, tmp_path, request),
        signing_key_file=str(tmp_path / "ledger.key"),
    )


@pytest.fixture
def loaded(service: LedgerService) -> LedgerService:
    envelope = {"actor": "importer", "note": "één keer — ingevoerd 📥"}
    for chunk in range(EVENTS // CHUNK):
        founded = service.found_collaboration(
            {"name": f"Netwerk {chunk}", "mission": "Ieder kind leest"}, envelope
        )
        items = [
            ("MissionRevised", {"mission": f"Missie {i}", "values": ["ü", "∞"]}, envelope)
            for i in range(CHUNK - 1)
        ]
        service.import_events(founded.collaboration_id, items)
    return service


@pytest.mark.timeout(600)
def test_a_clean_ledger_of_thousands_of_events_raises_no_alarm(
    loaded: LedgerService, settings: Settings, tmp_path: Path
) -> None:
    live = loaded.integrity.verify()
    export_bundle(loaded.integrity, tmp_path / "bundle")
    public = load_public_key(tmp_path / "ledger.key.pub")
    offline = verify_bundle(tmp_path / "bundle", public)

    assert [f for f in live.findings if f.kind != NOTICE] == []
    assert offline.findings == []
    assert (live.records, offline.records, offline.checkpoints) == (EVENTS, EVENTS, EVENTS // 1000)
    assert live.basis["root"] == loaded.integrity.latest_checkpoint().root.hex()


def test_proofs_over_thousands_of_leaves_verify_against_the_signed_head(
    loaded: LedgerService,
) -> None:
    checkpoint = loaded.integrity.latest_checkpoint()

    for position in (1, 1024, 2049, 4097, EVENTS):
        proof = loaded.integrity.inclusion_proof(position, checkpoint.tree_size)
        assert merkle.verify_inclusion(
            proof["leaf_index"],
            checkpoint.tree_size,
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(h) for h in proof["audit_path"]],
            checkpoint.root,
        )
    consistency = loaded.integrity.consistency_proof(1000, checkpoint.tree_size)
    first = loaded.integrity.checkpoints(0, 1)[0]
    assert merkle.verify_consistency(
        1000,
        checkpoint.tree_size,
        first.root,
        checkpoint.root,
        [bytes.fromhex(h) for h in consistency["proof"]],
    )
