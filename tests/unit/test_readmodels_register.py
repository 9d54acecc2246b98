"""The agreement register keeps up with the log: every agreement event is processed once, whether
the register catches up in one go, a batch at a time, or after events arrive later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.domain.timefmt import format_instant
from ledger.service import LedgerService
from projections.register import AGREEMENT_TOPICS, BATCH, AgreementRegister, RegisterQuery

FOUNDED_AT = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
LATER = "2999-01-01T00:00:00.000000Z"  # after every recording and every taking effect


def _envelope(days: float) -> dict[str, Any]:
    return {"actor": "recorder", "effective_at": format_instant(FOUNDED_AT + timedelta(days=days))}


def _agreement(agreement_id: str) -> dict[str, Any]:
    return {
        "agreement_id": agreement_id,
        "title": f"Agreement {agreement_id}",
        "formality": "covenant",
        "topics": ["budget"],
        "parties": [{"partner_id": "agency", "capacity": "funder"}],
        "terms": "We fund the reading club.",
        "budget_commitments": [{"partner_id": "agency", "amount": "100.00", "currency": "EUR"}],
    }


def _founded(service: LedgerService) -> str:
    cid = service.found_collaboration({"name": "Netwerk", "mission": "Lezen"}, _envelope(0))
    collaboration_id = cid.collaboration_id
    agency = {"partner_id": "agency", "name": "Agency", "kind": "government",
              "capacities": ["funder"]}  # fmt: skip
    service.record_event(collaboration_id, "PartnerJoined", agency, _envelope(1))
    return collaboration_id


def _agreement_ids(register: AgreementRegister) -> list[str]:
    return [
        item["agreement_id"] for item in register.query(RegisterQuery(LATER, LATER, limit=10_000))
    ]


def _agreement_events(service: LedgerService) -> int:
    placeholders = ",".join("?" * len(AGREEMENT_TOPICS))
    types = [topic.removeprefix("ledger:") for topic in AGREEMENT_TOPICS]
    row = service.store.query_one(
        f"SELECT COUNT(*) AS n FROM ledger_event_index WHERE type IN ({placeholders})", types
    )
    assert row is not None
    return int(row["n"])


def _processed(service: LedgerService) -> int:
    row = service.store.query_one("SELECT COUNT(*) AS n FROM register_events")
    assert row is not None
    return int(row["n"])


def test_a_register_that_caught_up_has_nothing_more_to_do(domain_service: LedgerService) -> None:
    cid = _founded(domain_service)
    domain_service.record_event(cid, "AgreementMade", _agreement("a1"), _envelope(2))
    register = AgreementRegister(domain_service)
    assert register.catch_up() == 1
    assert register.catch_up() == 0
    assert AgreementRegister(domain_service).catch_up() == 0  # another runner on the same tables
    assert _processed(domain_service) == 1


def test_rebuilding_a_register_gives_identical_tables(domain_service: LedgerService) -> None:
    cid = _founded(domain_service)
    for n in range(5):
        domain_service.record_event(cid, "AgreementMade", _agreement(f"a{n}"), _envelope(2 + n))
    amendment = {"agreement_id": "a1", "terms": "We fund two clubs.", "reason": "more pupils"}
    domain_service.record_event(cid, "AgreementAmended", amendment, _envelope(30))
    register = AgreementRegister(domain_service)
    register.catch_up()
    before = register.checksum()
    assert register.rebuild() == 6
    assert register.checksum() == before


def test_the_register_shows_an_agreement_made_after_it_first_caught_up(
    domain_service: LedgerService,
) -> None:
    cid = _founded(domain_service)
    domain_service.record_event(cid, "AgreementMade", _agreement("first"), _envelope(2))
    register = AgreementRegister(domain_service)
    assert _agreement_ids(register) == ["first"]

    domain_service.record_event(cid, "AgreementMade", _agreement("second"), _envelope(3))
    assert _agreement_ids(register) == ["first", "second"]


def test_catching_up_processes_every_agreement_event_of_more_than_one_batch(
    domain_service: LedgerService,
) -> None:
    cid = _founded(domain_service)
    items = [("AgreementMade", _agreement(f"a{n:04}"), _envelope(2)) for n in range(BATCH + 20)]
    domain_service.import_events(cid, items)
    register = AgreementRegister(domain_service)
    assert register.catch_up() == BATCH + 20
    assert _processed(domain_service) == _agreement_events(domain_service) == BATCH + 20
