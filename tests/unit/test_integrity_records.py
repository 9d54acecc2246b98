"""Canonical records: one per stored event, RFC 8785, hash-chained, with a receipt."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import rfc8785

from ledger.domain.model import Collaboration
from ledger.domain.timefmt import format_instant
from ledger.integrity.canonical import NotCanonicalError
from ledger.integrity.records import MissingRecordInputsError
from ledger.persistence import IndexEntry
from ledger.service import LedgerService
from ledger.settings import Settings

ENVELOPE = {"actor": "recorder"}


@pytest.fixture
def ledger() -> Iterator[LedgerService]:
    service = LedgerService(Settings(database_url="sqlite:///:memory:"))
    yield service
    service.close()


def found(ledger: LedgerService, name: str = "Netwerk Noord") -> str:
    return ledger.found_collaboration({"name": name, "mission": "Lezen"}, ENVELOPE).collaboration_id


def revisions(count: int, **extra: Any) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [("MissionRevised", {"mission": f"m{i}", **extra}, ENVELOPE) for i in range(count)]


def records(ledger: LedgerService) -> list[dict[str, Any]]:
    return ledger.store.query("SELECT * FROM ledger_integrity_records ORDER BY position")


def test_every_stored_event_gets_one_record_in_the_same_order(ledger: LedgerService) -> None:
    cid = found(ledger)
    ledger.import_events(cid, revisions(5))
    other = found(ledger, "Netwerk Zuid")

    stored = records(ledger)

    assert [r["position"] for r in stored] == [1, 2, 3, 4, 5, 6, 7]
    assert [r["leaf_index"] for r in stored] == list(range(7))
    assert json.loads(stored[-1]["record"])["collaboration_id"] == other


def test_a_record_is_rfc8785_and_its_hash_is_the_sha256_of_its_bytes(
    ledger: LedgerService,
) -> None:
    found(ledger)

    row = records(ledger)[0]
    record = row["record"].encode()

    assert rfc8785.dumps(json.loads(record)) == record
    assert hashlib.sha256(record).hexdigest() == row["hash"]


def test_each_record_holds_the_hash_of_the_one_before(ledger: LedgerService) -> None:
    ledger.import_events(found(ledger), revisions(4))

    stored = records(ledger)

    assert json.loads(stored[0]["record"])["previous_hash"] is None
    for before, record in itertools.pairwise(stored):
        assert json.loads(record["record"])["previous_hash"] == before["hash"]


def test_a_record_holds_the_event_its_envelope_and_the_hash_of_its_data(
    ledger: LedgerService,
) -> None:
    cid = found(ledger)
    envelope = {**ENVELOPE, "note": "ingevoerd", "capacity": "voorzitter"}
    ledger.import_events(cid, [("MissionRevised", {"mission": "Schrijven"}, envelope)])
    event = ledger.events(cid, 1, 1)[0]

    record = json.loads(records(ledger)[1]["record"])

    assert {k: record[k] for k in ("position", "collaboration_id", "version", "type")} == {
        "position": 2,
        "collaboration_id": cid,
        "version": 2,
        "type": "MissionRevised",
    }
    assert record["envelope"] == {
        "effective_at": event.envelope["effective_at"],
        "recorded_at": event.envelope["recorded_at"],
        "actor": "recorder",
        "acting_for": None,
        "capacity": "voorzitter",
        "cause": None,
        "source": None,
        "note": "ingevoerd",
        "shared_with_funders": None,
    }
    data_hash = hashlib.sha256(rfc8785.dumps({"mission": "Schrijven"})).hexdigest()
    assert record["data_hash"] == data_hash


def test_a_stored_event_carries_a_receipt_of_its_record(ledger: LedgerService) -> None:
    event = ledger.found_collaboration({"name": "N", "mission": "M"}, ENVELOPE)

    assert event.receipt is not None
    assert event.as_dict()["receipt"] == {"position": 1, "hash": records(ledger)[0]["hash"]}


def test_events_read_back_carry_their_receipts(ledger: LedgerService) -> None:
    cid = found(ledger)
    ledger.import_events(cid, revisions(3))

    read = ledger.events(cid, 0, 10)

    assert [e.receipt.hash if e.receipt else None for e in read] == [
        r["hash"] for r in records(ledger)
    ]


def test_a_correction_hashes_the_version_it_corrects(ledger: LedgerService) -> None:
    cid = found(ledger)
    partner = {"partner_id": "school", "name": "School", "kind": "school"}
    agreement = {
        "agreement_id": "a1",
        "title": "Afspraak",
        "formality": "covenant",
        "topics": ["goals"],
        "parties": [{"partner_id": "school", "capacity": "participant"}],
        "terms": "Samen lezen.",
    }
    ledger.import_events(
        cid,
        [
            ("PartnerJoined", {**partner, "capacities": ["participant"]}, ENVELOPE),
            ("AgreementMade", agreement, ENVELOPE),
            (
                "AgreementCorrected",
                {"agreement_id": "a1", "title": "Afspraak A1", "reason": "typo"},
                ENVELOPE,
            ),
        ],
    )

    record = json.loads(records(ledger)[-1]["record"])

    assert record["attributes"] == {"corrects_version": 1}


@pytest.mark.parametrize(
    "value",
    [2**53, -(2**53), float("nan"), float("inf")],
    ids=["2^53", "-2^53", "NaN", "infinity"],
)
def test_data_without_a_canonical_form_is_refused_and_nothing_is_stored(
    ledger: LedgerService, value: float
) -> None:
    cid = found(ledger)

    with pytest.raises(NotCanonicalError):
        ledger.import_events(cid, revisions(1, figure=value))

    assert ledger.stream_version(cid) == 1
    assert len(records(ledger)) == 1


def test_the_largest_exact_integers_and_unicode_are_stored_and_hashed(
    ledger: LedgerService,
) -> None:
    cid = found(ledger)
    data = {"mission": "Lezen 📚 voor iedereen — ü\u2028", "figures": [2**53 - 1, -(2**53 - 1)]}

    ledger.import_events(cid, [("MissionRevised", data, ENVELOPE)])

    record = json.loads(records(ledger)[-1]["record"])
    assert record["data_hash"] == hashlib.sha256(rfc8785.dumps(data)).hexdigest()
    assert ledger.integrity.verify().ok


def test_an_event_whose_record_cannot_be_written_is_not_stored(
    ledger: LedgerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = found(ledger)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("ledger.integrity.records.append_leaves", broken)
    with pytest.raises(RuntimeError):
        ledger.record_event(cid, "MissionRevised", {"mission": "Schrijven"}, ENVELOPE)

    assert ledger.stream_version(cid) == 1
    assert ledger.store.query_one("SELECT COUNT(*) AS n FROM ledger_event_index") == {"n": 1}
    assert len(records(ledger)) == 1


def test_saving_events_without_their_record_inputs_is_refused(ledger: LedgerService) -> None:
    collaboration = Collaboration.found({"name": "N", "mission": "M"}, ENVELOPE)
    (event,) = collaboration.pending_events
    entry = IndexEntry(
        collaboration_id=str(collaboration.id),
        version=1,
        type="CollaborationFounded",
        effective_at=event.envelope["effective_at"],  # type: ignore[attr-defined]
        recorded_at=format_instant(event.timestamp),
        source_system=None,
        source_id=None,
        fingerprint="f",
        request_id="r",
    )

    with pytest.raises(MissingRecordInputsError):
        ledger.app.save(collaboration, index=[entry], collaboration_name="N")

    assert records(ledger) == []
