"""Audit bundles: exported from the ledger, verified offline, every edit caught where it is."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from ledger.integrity import merkle
from ledger.integrity.bundle import verify_bundle
from ledger.integrity.export import export_bundle
from ledger.integrity.report import Report
from ledger.integrity.signing import PublicKey, create_key_files, load_public_key
from ledger.service import LedgerService
from ledger.settings import Settings

ENVELOPE = {"actor": "recorder"}
EVENTS = 30  # over two collaborations; checkpoints every 8 events


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.key"
    create_key_files(path)
    return path


@pytest.fixture
def public(keys: Path) -> PublicKey:
    return load_public_key(keys.with_name("ledger.key.pub"))


@pytest.fixture
def ledger(tmp_path: Path, keys: Path) -> Iterator[LedgerService]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        signing_key_file=str(keys),
        checkpoint_interval=8,
    )
    service = LedgerService(settings)
    first = service.found_collaboration({"name": "Noord", "mission": "Lezen"}, ENVELOPE)
    second = service.found_collaboration({"name": "Zuid", "mission": "Rekenen"}, ENVELOPE)
    for i in range(EVENTS // 2 - 1):
        for cid in (first.collaboration_id, second.collaboration_id):
            note = {**ENVELOPE, "note": f"stap {i}"}
            service.record_event(cid, "MissionRevised", {"mission": f"m{i}"}, note)
    yield service
    service.close()


@pytest.fixture
def bundle(ledger: LedgerService, tmp_path: Path) -> Path:
    export_bundle(ledger.integrity, tmp_path / "bundle")
    return tmp_path / "bundle"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def write(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(rfc8785.dumps(item) + b"\n" for item in items))


def edit(bundle: Path, name: str, change: Callable[[list[dict[str, Any]]], None]) -> None:
    items = lines(bundle / name)
    change(items)
    write(bundle / name, items)


def at(items: list[dict[str, Any]], position: int) -> dict[str, Any]:
    return next(item for item in items if item["position"] == position)


def manipulated_at(report: Report) -> list[int]:
    return report.manipulated_at()


def rechain(records: list[dict[str, Any]], start: int, *, leaves: bool = False) -> None:
    """Recompute every record hash from `start` on, as a forger who hides an edit would."""
    previous = None
    for item in records:
        record = json.loads(item["record"])
        if item["position"] >= start:
            record["previous_hash"] = previous
            item["record"] = rfc8785.dumps(record).decode()
            item["hash"] = hashlib.sha256(item["record"].encode()).hexdigest()
            if leaves:
                item["leaf"] = merkle.leaf_hash(bytes.fromhex(item["hash"])).hex()
        previous = hashlib.sha256(item["record"].encode()).hexdigest()


# Clean bundles


def test_a_clean_bundle_verifies_without_findings_but_coverage(
    bundle: Path, public: PublicKey
) -> None:
    report = verify_bundle(bundle, public)

    assert report.ok, report.text()
    assert report.events == report.records == EVENTS
    assert report.checkpoints == 4  # at 8, 16, 24, and the head signed for the export
    assert [f.kind for f in report.findings] == []


def test_a_bundle_lists_every_file_with_its_hash(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())

    assert set(manifest["files"]) == {
        "events.jsonl",
        "records.jsonl",
        "checkpoints.jsonl",
        "public-key.pem",
    }
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest
    assert manifest["basis"]["position"] == EVENTS


def test_a_bundle_up_to_a_position_is_anchored_by_a_consistency_proof(
    ledger: LedgerService, tmp_path: Path, public: PublicKey
) -> None:
    export_bundle(ledger.integrity, tmp_path / "early", to_position=11)

    report = verify_bundle(tmp_path / "early", public)

    assert report.ok, report.text()
    assert report.records == 11
    assert (tmp_path / "early" / "consistency.json").exists()


def test_a_bundle_of_one_collaboration_proves_each_record_in_the_signed_tree(
    ledger: LedgerService, tmp_path: Path, public: PublicKey
) -> None:
    cid = ledger.events(ledger.collaborations(0, 1)[0].collaboration_id, 0, 1)[0].collaboration_id
    export_bundle(ledger.integrity, tmp_path / "one", collaboration_id=cid)

    report = verify_bundle(tmp_path / "one", public)

    assert report.ok, report.text()
    assert {e["collaboration_id"] for e in lines(tmp_path / "one" / "events.jsonl")} == {cid}
    assert len(lines(tmp_path / "one" / "proofs.jsonl")) == EVENTS // 2


def test_unicode_large_numbers_and_nesting_hash_the_same_from_the_export(
    ledger: LedgerService, tmp_path: Path, public: PublicKey
) -> None:
    cid = ledger.collaborations(0, 1)[0].collaboration_id
    data = {
        "mission": "Ieder kind leest 📚 — ç’est ça\u2028",
        "numbers": [2**53 - 1, -(2**53 - 1), 0.1, 1e21, 5e-324, -0.0],
        "nested": {"z": [{"ä": None, "a": [True, False, {"deep": {"deeper": "∞"}}]}]},
    }
    ledger.import_events(cid, [("MissionRevised", data, ENVELOPE)])
    export_bundle(ledger.integrity, tmp_path / "unicode")

    event = lines(tmp_path / "unicode" / "events.jsonl")[-1]
    record = json.loads(lines(tmp_path / "unicode" / "records.jsonl")[-1]["record"])
    stored = ledger.store.query_one(
        "SELECT record FROM ledger_integrity_records ORDER BY position DESC LIMIT 1"
    )

    assert hashlib.sha256(rfc8785.dumps(event["data"])).hexdigest() == record["data_hash"]
    assert stored is not None and json.loads(stored["record"]) == record
    assert verify_bundle(tmp_path / "unicode", public).ok


# Edits to a bundle exported before


def test_changed_event_data_is_caught_at_its_position(bundle: Path, public: PublicKey) -> None:
    edit(bundle, "events.jsonl", lambda items: at(items, 13)["data"].update(mission="vervalst"))

    report = verify_bundle(bundle, public)

    assert manipulated_at(report) == [13]
    assert any(f.check == "file-changed" for f in report.findings)


def test_a_changed_envelope_field_is_caught_at_its_position(
    bundle: Path, public: PublicKey
) -> None:
    edit(bundle, "events.jsonl", lambda items: at(items, 9)["envelope"].update(actor="iemand"))

    assert manipulated_at(verify_bundle(bundle, public)) == [9]


def test_an_event_deleted_from_the_middle_is_caught_at_its_position(
    bundle: Path, public: PublicKey
) -> None:
    for name in ("events.jsonl", "records.jsonl"):
        edit(bundle, name, lambda items: items.remove(at(items, 14)))

    assert manipulated_at(verify_bundle(bundle, public)) == [14]


def test_a_tail_cut_inside_a_checkpointed_range_is_caught_where_it_starts(
    bundle: Path, public: PublicKey
) -> None:
    for name in ("events.jsonl", "records.jsonl"):
        edit(bundle, name, lambda items: items.__delitem__(slice(20, None)))

    report = verify_bundle(bundle, public)

    assert manipulated_at(report) == [21]


def test_two_swapped_events_are_caught_at_both_positions(bundle: Path, public: PublicKey) -> None:
    def swap(items: list[dict[str, Any]]) -> None:
        a, b = at(items, 4), at(items, 17)
        for key in ("collaboration_id", "version", "data", "envelope"):
            a[key], b[key] = b[key], a[key]

    edit(bundle, "events.jsonl", swap)

    assert manipulated_at(verify_bundle(bundle, public)) == [4, 17]


def test_a_rewrite_with_every_later_hash_recomputed_is_caught_where_it_starts(
    bundle: Path, public: PublicKey
) -> None:
    edit(bundle, "events.jsonl", lambda items: at(items, 10)["data"].update(mission="vervalst"))
    data = at(lines(bundle / "events.jsonl"), 10)["data"]

    def forge(records: list[dict[str, Any]]) -> None:
        record = json.loads(at(records, 10)["record"])
        record["data_hash"] = hashlib.sha256(rfc8785.dumps(data)).hexdigest()
        at(records, 10)["record"] = rfc8785.dumps(record).decode()
        rechain(records, 10)

    edit(bundle, "records.jsonl", forge)

    report = verify_bundle(bundle, public)

    assert manipulated_at(report) == [10]
    assert {f.check for f in report.findings if f.kind == "manipulation"} >= {"tree-mismatch"}


def test_a_rewrite_with_the_tree_leaves_recomputed_too_is_caught_in_its_signed_range(
    bundle: Path, public: PublicKey
) -> None:
    edit(bundle, "events.jsonl", lambda items: at(items, 10)["data"].update(mission="vervalst"))
    data = at(lines(bundle / "events.jsonl"), 10)["data"]

    def forge(records: list[dict[str, Any]]) -> None:
        record = json.loads(at(records, 10)["record"])
        record["data_hash"] = hashlib.sha256(rfc8785.dumps(data)).hexdigest()
        at(records, 10)["record"] = rfc8785.dumps(record).decode()
        rechain(records, 10, leaves=True)

    edit(bundle, "records.jsonl", forge)

    report = verify_bundle(bundle, public)

    (finding,) = [f for f in report.findings if f.kind == "manipulation" and f.position]
    assert (finding.check, finding.position, finding.through) == ("tree-mismatch", 9, 16)


def test_a_checkpoint_signed_by_another_key_is_rejected(
    bundle: Path, public: PublicKey, tmp_path: Path
) -> None:
    create_key_files(tmp_path / "forger.key")

    report = verify_bundle(bundle, load_public_key(tmp_path / "forger.key.pub"))

    assert {f.check for f in report.findings if f.kind == "manipulation"} == {
        "checkpoint-signature"
    }
    assert not report.ok


def test_a_forged_inclusion_proof_is_rejected(
    ledger: LedgerService, tmp_path: Path, public: PublicKey
) -> None:
    cid = ledger.collaborations(0, 1)[0].collaboration_id
    export_bundle(ledger.integrity, tmp_path / "one", collaboration_id=cid)
    first_position = lines(tmp_path / "one" / "proofs.jsonl")[2]["position"]

    def forge(proofs: list[dict[str, Any]]) -> None:
        path = proofs[2]["audit_path"]
        path[0] = hashlib.sha256(bytes.fromhex(path[0])).hexdigest()

    edit(tmp_path / "one", "proofs.jsonl", forge)

    assert manipulated_at(verify_bundle(tmp_path / "one", public)) == [first_position]


def test_changed_data_in_a_bundle_of_one_collaboration_is_caught(
    ledger: LedgerService, tmp_path: Path, public: PublicKey
) -> None:
    cid = ledger.collaborations(0, 1)[0].collaboration_id
    export_bundle(ledger.integrity, tmp_path / "one", collaboration_id=cid)
    position = lines(tmp_path / "one" / "events.jsonl")[5]["position"]
    edit(tmp_path / "one", "events.jsonl", lambda items: items[5]["data"].update(mission="x"))

    assert manipulated_at(verify_bundle(tmp_path / "one", public)) == [position]


def test_an_unreadable_manifest_is_reported_not_raised(bundle: Path, public: PublicKey) -> None:
    (bundle / "manifest.json").write_text("{")

    report = verify_bundle(bundle, public)

    assert [f.check for f in report.findings] == ["manifest-unreadable"]
