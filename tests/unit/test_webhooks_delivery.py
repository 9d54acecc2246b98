"""The deliverer on an in-memory ledger, with a scripted receiver instead of HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from ledger.cloudevents import to_cloudevent
from ledger.service import LedgerService
from ledger.webhooks.delivery import DeliveryPolicy, Dispatcher, Outcome, backoff
from ledger.webhooks.signing import verify
from ledger.webhooks.subscriptions import Subscriptions
from tests.unit.conftest import DomainKit

SECRET = "unit-secret-0123456789"
URL = "http://127.0.0.1:9/in"
FAST = DeliveryPolicy(max_attempts=3, backoff_seconds=0.001, backoff_max_seconds=0.002,
                      timeout_seconds=1, lease_seconds=2)  # fmt: skip


@dataclass
class ScriptedReceiver:
    """Answers each POST with the next outcome of `failures` (then success), and records it."""

    failures: list[str] = field(default_factory=list)
    always_fail: bool = False
    received: list[tuple[bool, dict[str, Any], Mapping[str, str], bytes]] = field(
        default_factory=list
    )

    def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> Outcome:
        outcome = Outcome(False, "HTTP 500") if self.always_fail or self.failures else Outcome(True)
        if self.failures and not self.always_fail:
            self.failures.pop(0)
        self.received.append((outcome.ok, json.loads(body), headers, body))
        return outcome

    def accepted_ids(self) -> list[int]:
        return [int(event["id"]) for ok, event, _, _ in self.received if ok]


@pytest.fixture
def book(domain_service: LedgerService) -> Subscriptions:
    return Subscriptions(domain_service, allow_private=True)


@pytest.fixture
def cid(domain_service: LedgerService, domain_kit: DomainKit) -> Iterator[str]:
    founded = domain_service.found_collaboration(
        {"name": "Leerecosysteem Noord", "mission": "Every child reads"}, domain_kit.envelope(0)
    )
    yield founded.collaboration_id


def record_partners(service: LedgerService, kit: DomainKit, cid: str, *ids: str) -> list[int]:
    return [
        service.record_event(cid, "PartnerJoined", kit.partner(p), kit.envelope(1)).position
        for p in ids
    ]


def subscribe(book: Subscriptions, **extra: Any) -> str:
    options: dict[str, Any] = {"types": [], "collaboration_id": None, **extra}
    created = book.subscribe(url=URL, secret=SECRET, actor="admin", scope=None, **options)
    return str(created["id"])


def dispatcher(service: LedgerService, receiver: ScriptedReceiver, **policy: Any) -> Dispatcher:
    chosen = DeliveryPolicy(**{**FAST.__dict__, **policy})
    return Dispatcher(service, chosen, allow_private=True, send=receiver)


def test_backoff_doubles_up_to_its_cap_and_is_jittered_down_by_at_most_half() -> None:
    policy = DeliveryPolicy(backoff_seconds=10, backoff_max_seconds=60)

    assert [backoff(n, policy, lambda: 1.0) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    assert [backoff(n, policy, lambda: 0.0) for n in range(1, 4)] == [5, 10, 20]


def test_a_lease_shorter_than_two_timeouts_is_refused() -> None:
    with pytest.raises(ValueError, match="lease"):
        DeliveryPolicy(timeout_seconds=10, lease_seconds=15)


def test_events_after_subscribing_are_delivered_in_order_and_signed(
    domain_service: LedgerService, domain_kit: DomainKit, book: Subscriptions, cid: str
) -> None:
    subscription_id = subscribe(book)
    positions = record_partners(domain_service, domain_kit, cid, "a", "b", "c")
    receiver = ScriptedReceiver()

    dispatcher(domain_service, receiver).drain(0.001)

    assert receiver.accepted_ids() == positions
    for _, event, headers, body in receiver.received:
        assert verify(SECRET, headers["X-Ledger-Signature"], body)
        assert headers["X-Ledger-Subscription"] == subscription_id
        assert event["type"] == "org.governance-ledger.PartnerJoined"
    shown = book.get(subscription_id, None)
    assert (shown["state"], shown["position"], shown["delivered"]) == ("active", positions[-1], 3)


def test_each_delivery_is_the_event_as_a_structured_cloudevent(
    domain_service: LedgerService, domain_kit: DomainKit, book: Subscriptions, cid: str
) -> None:
    subscribe(book)
    record_partners(domain_service, domain_kit, cid, "school")
    receiver = ScriptedReceiver()

    dispatcher(domain_service, receiver, base_url="https://ledger.example.org/").drain(0.001)

    ((_, event, headers, _),) = receiver.received
    stored = domain_service.feed(int(event["id"]) - 1, 1)[0]
    assert event == to_cloudevent(stored.as_dict(), "https://ledger.example.org")
    assert event["dataschema"] == "https://ledger.example.org/event-types#PartnerJoined"
    assert (event["specversion"], event["subject"]) == ("1.0", cid)
    assert headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"


def test_a_backlog_longer_than_a_batch_is_delivered_over_several_claims_in_order(
    domain_service: LedgerService, domain_kit: DomainKit, book: Subscriptions, cid: str
) -> None:
    subscribe(book)
    positions = record_partners(domain_service, domain_kit, cid, *"abcdefg")
    receiver = ScriptedReceiver(failures=["500"])

    dispatcher(domain_service, receiver, batch=2).drain(0.001)

    assert receiver.accepted_ids() == positions


def test_only_wanted_types_of_the_chosen_collaboration_are_delivered(
    domain_service: LedgerService, domain_kit: DomainKit, book: Subscriptions, cid: str
) -> None:
    other = domain_service.found_collaboration(
        {"name": "Other", "mission": "Other"}, domain_kit.envelope(0)
    ).collaboration_id
    subscription_id = subscribe(book, types=["MemberJoined"], collaboration_id=cid)
    record_partners(domain_service, domain_kit, cid, "school")
    record_partners(domain_service, domain_kit, other, "school")
    wanted = domain_service.record_event(
        cid, "MemberJoined", domain_kit.member("ann", "school"), domain_kit.envelope(2)
    )
    record_partners(domain_service, domain_kit, cid, "city")
    receiver = ScriptedReceiver()

    dispatcher(domain_service, receiver).drain(0.001)

    assert receiver.accepted_ids() == [wanted.position]
    assert book.get(subscription_id, None)["position"] == domain_service.head_position()


def test_a_failing_event_is_retried_before_any_later_one(
    domain_service: LedgerService, domain_kit: DomainKit, book: Subscriptions, cid: str
) -> None:
    subscription_id = subscribe(book)
    positions = record_partners(domain_service, domain_kit, cid, "a", "b")
    receiver = ScriptedReceiver(failures=["500", "500"])

    dispatcher(domain_service, receiver).drain(0.001)

    assert [int(e["id"]) for _, e, _, _ in receiver.received] == [positions[0]] * 3 + positions[1:]
    shown = book.get(subscription_id, None)
    assert (shown["failed"], shown["attempts"], shown["last_error"]) == (2, 0, None)


def test_after_max_attempts_the_subscription_is_dead_lettered_and_can_resume(
    domain_service: LedgerService, domain_kit: DomainKit, book: Subscriptions, cid: str
) -> None:
    subscription_id = subscribe(book)
    positions = record_partners(domain_service, domain_kit, cid, "a", "b")
    failing = ScriptedReceiver(always_fail=True)

    dispatcher(domain_service, failing).drain(0.001)

    shown = book.get(subscription_id, None)
    assert len(failing.received) == FAST.max_attempts
    assert shown["state"] == "dead_lettered"
    assert (shown["attempts"], shown["failing_position"]) == (3, positions[0])
    assert shown["last_error"] == "HTTP 500"
    assert shown["dead_lettered_at"] is not None
    assert shown["next_attempt_at"] is None
    book.retry(subscription_id)
    receiver = ScriptedReceiver()
    dispatcher(domain_service, receiver).drain(0.001)
    assert receiver.accepted_ids() == positions


def test_a_leased_subscription_is_not_served_by_another_deliverer(
    domain_service: LedgerService, domain_kit: DomainKit, book: Subscriptions, cid: str
) -> None:
    subscribe(book)
    record_partners(domain_service, domain_kit, cid, "a")
    rival = dispatcher(domain_service, ScriptedReceiver())
    served_by_rival: list[int] = []

    def receiver_that_lets_the_rival_try(*args: Any) -> Outcome:
        served_by_rival.append(rival.run_pass())
        return Outcome(True)

    Dispatcher(
        domain_service, FAST, allow_private=True, send=receiver_that_lets_the_rival_try
    ).drain(0.001)

    assert served_by_rival == [0]


def test_a_deleted_subscription_receives_nothing(
    domain_service: LedgerService, domain_kit: DomainKit, book: Subscriptions, cid: str
) -> None:
    subscription_id = subscribe(book)
    record_partners(domain_service, domain_kit, cid, "a")
    book.delete(subscription_id, None)
    receiver = ScriptedReceiver()

    dispatcher(domain_service, receiver).drain(0.001)

    assert receiver.received == []
