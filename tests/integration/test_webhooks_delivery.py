"""Webhook deliveries from the app's database to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ledger.service import LedgerService
from ledger.settings import Settings
from ledger.webhooks.delivery import DeliveryPolicy, Dispatcher
from ledger.webhooks.signing import verify
from ledger.webhooks.subscriptions import Subscriptions
from tests.conftest import database_url
from tests.integration.helpers import LedgerApi, partner

SECRET = "integration-secret-0123456789"
FAST = DeliveryPolicy(max_attempts=5, backoff_seconds=0.01, backoff_max_seconds=0.05,
                      timeout_seconds=2, lease_seconds=5)  # fmt: skip


@dataclass
class Delivery:
    status: int
    headers: dict[str, str]
    body: bytes
    after_mark: bool

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class Receiver:
    """A webhook receiver on a free loopback port: answers 500 to its first `fail_first`
    deliveries (or to all of them), then 204; records every delivery."""

    fail_first: int = 0
    always_fail: bool = False
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    marked: bool = False

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                after_mark = receiver.marked  # sent before or after the restart
                time.sleep(receiver.delay)
                with receiver.lock:
                    failing = receiver.always_fail or len(receiver.deliveries) < receiver.fail_first
                    status = 500 if failing else 204
                    receiver.deliveries.append(
                        Delivery(status, dict(self.headers), body, after_mark)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def mark(self) -> None:
        """Deliveries from now on count as after a restart."""
        with self.lock:
            self.marked = True

    def accepted(self) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.status < 300]

    def retries(self) -> int:
        with self.lock:
            return sum(d.status >= 300 for d in self.deliveries)


def check_in_order(receiver: Receiver, expected: list[int], secret: str = SECRET) -> int:
    """Every expected event arrived in order and signed; a repeat only as the first delivery
    after a restart. Returns how many repeats there were."""
    accepted = receiver.accepted()
    ids = [int(d.event["id"]) for d in accepted]
    deduplicated = [p for i, p in enumerate(ids) if i == 0 or p != ids[i - 1]]
    assert deduplicated == expected
    first_after_restart = next((i for i, d in enumerate(accepted) if d.after_mark), None)
    repeats = [i for i in range(1, len(ids)) if ids[i] == ids[i - 1]]
    assert all(i == first_after_restart for i in repeats), (repeats, first_after_restart)
    for delivery in receiver.deliveries:
        assert verify(secret, delivery.headers["X-Ledger-Signature"], delivery.body)
        assert delivery.headers["Content-Type"].startswith("application/cloudevents+json")
    return len(repeats)


def report(capsys: pytest.CaptureFixture[str], name: str, **counts: int) -> None:
    with capsys.disabled():
        print(f"\n[webhooks] {name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return Settings(
        database_url=database_url(backend, tmp_path, request), webhook_allow_private=True
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(fail_first=3) as started:
        yield started


def subscribe(api: LedgerApi, url: str, **body: Any) -> dict[str, Any]:
    response = api.client.post(
        "/subscriptions", json={"url": url, "secret": SECRET, **body}, headers=api.auth
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return dict(response.get_json())


def record_partners(api: LedgerApi, cid: str, count: int, prefix: str = "p") -> list[int]:
    return [
        int(api.record(cid, "PartnerJoined", partner(f"{prefix}{n}"))["position"])
        for n in range(count)
    ]


def drain(app: Flask, policy: DeliveryPolicy = FAST) -> None:
    service: LedgerService = app.extensions["ledger.service"]
    Dispatcher(service, policy, allow_private=True, threads=2).drain(0.01)


def test_every_event_arrives_in_order_signed_after_the_receiver_recovers(
    api: LedgerApi,
    app: Flask,
    bare: str,
    receiver: Receiver,
    backend: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    subscription = subscribe(api, receiver.url)
    expected = record_partners(api, bare, 12)

    drain(app)

    repeats = check_in_order(receiver, expected)
    first = receiver.accepted()[0].event
    assert (first["type"], first["subject"], first["specversion"]) == (
        "org.governance-ledger.PartnerJoined", bare, "1.0",
    )  # fmt: skip
    assert first["data"]["data"]["partner_id"] == "p0"
    shown = api.client.get(f"/subscriptions/{subscription['id']}", headers=api.auth).get_json()
    assert (shown["position"], shown["delivered"], shown["failed"], shown["attempts"]) == (
        expected[-1], len(expected), 3, 0,
    )  # fmt: skip
    assert repeats == 0
    report(capsys, f"recovering receiver [{backend}]", delivered=len(receiver.accepted()),
           duplicates=repeats, retries=receiver.retries(), dead_lettered=0)  # fmt: skip


def test_a_receiver_that_always_fails_gets_the_subscription_dead_lettered(
    api: LedgerApi, app: Flask, bare: str, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Receiver(always_fail=True) as failing:
        subscription = subscribe(api, failing.url)
        expected = record_partners(api, bare, 3)
        drain(app)

    shown = api.client.get(f"/subscriptions/{subscription['id']}", headers=api.auth).get_json()

    assert len(failing.deliveries) == FAST.max_attempts
    assert {int(d.event["id"]) for d in failing.deliveries} == {expected[0]}
    assert shown["state"] == "dead_lettered"
    assert (shown["attempts"], shown["failed"], shown["delivered"]) == (5, 5, 0)
    assert (shown["position"], shown["failing_position"]) == (expected[0] - 1, expected[0])
    assert shown["last_error"].startswith("HTTP 500")
    report(capsys, f"always failing receiver [{backend}]", delivered=0, duplicates=0,
           retries=len(failing.deliveries), dead_lettered=1)  # fmt: skip


def test_a_dead_lettered_subscription_resumes_where_it_stopped(
    api: LedgerApi, app: Flask, bare: str
) -> None:
    subscriptions: Subscriptions = app.extensions["ledger.webhooks"]
    with Receiver(always_fail=True) as receiver:
        subscription = subscribe(api, receiver.url)
        expected = record_partners(api, bare, 3)
        drain(app)
        receiver.always_fail = False

        subscriptions.retry(subscription["id"])
        drain(app)

    assert check_in_order(receiver, expected) == 0
    assert subscriptions.get(subscription["id"], None)["state"] == "active"


def test_subscribers_get_only_their_collaboration_and_types(
    api: LedgerApi, app: Flask, bare: str, receiver: Receiver
) -> None:
    other = api.found_id("Other")
    with Receiver() as narrow:
        subscribe(api, narrow.url, collaboration=bare, types=["MemberJoined"])
        record_partners(api, other, 2)
        record_partners(api, bare, 1)
        wanted = api.record(bare, "MemberJoined", {"person_id": "ann", "name": "Ann"})
        record_partners(api, other, 1, prefix="q")
        drain(app)

    assert [int(d.event["id"]) for d in narrow.accepted()] == [wanted["position"]]
