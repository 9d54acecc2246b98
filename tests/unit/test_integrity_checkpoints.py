"""Signing keys and checkpoints: issued every N events and on demand, chained, verifiable."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.integrity import merkle
from ledger.integrity.checkpoints import Checkpoint, sign_checkpoint
from ledger.integrity.errors import NoSigningKeyError
from ledger.integrity.signing import (
    KeyFileError,
    create_key_files,
    load_public_key,
    load_signing_key,
)
from ledger.service import LedgerService
from ledger.settings import ConfigError, Settings

ENVELOPE = {"actor": "recorder"}
Make = Callable[..., LedgerService]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "ledger.key"
    create_key_files(path)
    return path


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    services: list[LedgerService] = []

    def make(**settings: object) -> LedgerService:
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        service = LedgerService(Settings(database_url=url, **settings))  # type: ignore[arg-type]
        services.append(service)
        return service

    yield make
    for service in services:
        service.close()


def record(ledger: LedgerService, count: int) -> str:
    cid = ledger.found_collaboration({"name": "N", "mission": "M"}, ENVELOPE).collaboration_id
    for i in range(count - 1):
        ledger.record_event(cid, "MissionRevised", {"mission": f"m{i}"}, ENVELOPE)
    return cid


# Keys


def test_a_private_key_file_is_readable_by_its_owner_only(key_file: Path) -> None:
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.with_name("ledger.key.pub").read_text().startswith("-----BEGIN PUBLIC KEY")


def test_the_public_key_file_matches_the_private_key(key_file: Path) -> None:
    public = load_public_key(key_file.with_name("ledger.key.pub"))

    assert public.key_id == load_signing_key(key_file).public.key_id


def test_creating_a_key_never_overwrites_one(key_file: Path) -> None:
    before = key_file.read_bytes()

    with pytest.raises(KeyFileError, match="exists"):
        create_key_files(key_file)

    assert key_file.read_bytes() == before


def test_a_public_key_is_not_accepted_as_a_signing_key(key_file: Path) -> None:
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        load_signing_key(key_file.with_name("ledger.key.pub"))


def test_the_service_refuses_to_start_with_an_unreadable_key(make: Make, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LEDGER_SIGNING_KEY_FILE"):
        make(signing_key_file=str(tmp_path / "missing.key"))


def test_settings_read_the_key_file_and_the_interval_from_the_environment() -> None:
    env = {"LEDGER_SIGNING_KEY_FILE": "/etc/ledger.key", "LEDGER_CHECKPOINT_INTERVAL": "250"}

    settings = Settings.from_env(env)

    assert (settings.signing_key_file, settings.checkpoint_interval) == ("/etc/ledger.key", 250)
    assert Settings.from_env({}).signing_key_file is None


# Checkpoints


def test_a_checkpoint_is_issued_at_every_multiple_of_the_interval(
    make: Make, key_file: Path
) -> None:
    ledger = make(signing_key_file=str(key_file), checkpoint_interval=4)
    record(ledger, 9)

    assert [c.tree_size for c in ledger.integrity.checkpoints(0, 10)] == [4, 8]


def test_imports_crossing_several_multiples_get_a_checkpoint_at_each(
    make: Make, key_file: Path
) -> None:
    ledger = make(signing_key_file=str(key_file), checkpoint_interval=3)
    cid = record(ledger, 1)

    ledger.import_events(cid, [("MissionRevised", {"mission": str(i)}, ENVELOPE) for i in range(9)])

    assert [c.tree_size for c in ledger.integrity.checkpoints(0, 10)] == [3, 6, 9]


def test_checkpoints_sign_the_tree_and_chain_to_each_other(make: Make, key_file: Path) -> None:
    ledger = make(signing_key_file=str(key_file), checkpoint_interval=3)
    record(ledger, 7)
    public = load_public_key(key_file.with_name("ledger.key.pub"))

    first, second = ledger.integrity.checkpoints(0, 10)

    assert first.is_signed_by(public) and second.is_signed_by(public)
    assert (first.previous, second.previous) == (None, first.hash)
    assert second.root == ledger.integrity.log.root(6)
    assert second.body["chain_head"] == ledger.integrity.log.leaf_at_index(5).hash  # type: ignore[union-attr]
    assert second.position == 6


def test_issuing_on_demand_is_idempotent(make: Make, key_file: Path) -> None:
    ledger = make(signing_key_file=str(key_file))
    record(ledger, 3)

    first = ledger.integrity.issue_checkpoint()
    again = ledger.integrity.issue_checkpoint()

    assert first == again
    assert first.tree_size == 3
    assert len(ledger.integrity.checkpoints(0, 10)) == 1


def test_without_a_key_events_are_recorded_but_no_checkpoint_is_issued(make: Make) -> None:
    ledger = make(checkpoint_interval=2)
    cid = record(ledger, 5)

    with pytest.raises(NoSigningKeyError, match="ledger keys create"):
        ledger.integrity.issue_checkpoint()

    assert ledger.stream_version(cid) == 5
    assert ledger.integrity.checkpoints(0, 10) == []


def test_a_checkpoint_signed_by_another_key_is_rejected(key_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    create_key_files(other)
    checkpoint = sign_checkpoint(
        load_signing_key(other),
        tree_size=1,
        position=1,
        root=merkle.leaf_hash(b"x"),
        chain_head="00" * 32,
        issued_at="2025-01-01T00:00:00.000000Z",
        previous=None,
    )

    assert checkpoint.is_signed_by(load_public_key(other.with_name("other.key.pub")))
    assert not checkpoint.is_signed_by(load_public_key(key_file.with_name("ledger.key.pub")))


@pytest.mark.parametrize("field", ["tree_size", "position", "root", "issued_at"])
def test_a_checkpoint_with_an_altered_body_is_rejected(key_file: Path, field: str) -> None:
    checkpoint = sign_checkpoint(
        load_signing_key(key_file),
        tree_size=8,
        position=8,
        root=merkle.leaf_hash(b"x"),
        chain_head="11" * 32,
        issued_at="2025-01-01T00:00:00.000000Z",
        previous=None,
    )
    altered = {
        "tree_size": 9,
        "position": 9,
        "root": "22" * 32,
        "issued_at": "2025-01-02T00:00:00.000000Z",
    }
    forged = Checkpoint(
        {**checkpoint.body, field: altered[field]}, checkpoint.hash, checkpoint.signature
    )

    assert not forged.is_signed_by(load_public_key(key_file.with_name("ledger.key.pub")))


def test_the_live_verifier_flags_a_checkpoint_replaced_by_one_of_another_key(
    make: Make, key_file: Path, tmp_path: Path
) -> None:
    ledger = make(signing_key_file=str(key_file), checkpoint_interval=2)
    record(ledger, 4)
    other = tmp_path / "other.key"
    create_key_files(other)
    genuine = ledger.integrity.checkpoints(0, 1)[0]
    forged = sign_checkpoint(
        load_signing_key(other),
        tree_size=genuine.tree_size,
        position=genuine.position,
        root=genuine.root,
        chain_head=genuine.body["chain_head"],
        issued_at=genuine.body["issued_at"],
        previous=None,
    )
    with ledger.store.writing() as cursor:
        ledger.store.run(
            cursor,
            "UPDATE ledger_checkpoints SET body=?, hash=?, signature=? WHERE tree_size=?",
            (forged.message.decode(), forged.hash, forged.signature, genuine.tree_size),
        )

    report = ledger.integrity.verify()

    checks = {(f.check, f.position) for f in report.findings if f.kind == "manipulation"}
    assert ("checkpoint-signature", 2) in checks
