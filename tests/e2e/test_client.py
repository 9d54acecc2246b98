"""`ledger.client` against real gunicorn: it posts the demo story (every event type), retries an
unknown outcome without storing twice, and reads back every view: state at a moment, pages,
timeline, diff, histories, cause and effect, the register and its CSV, the feed and its stream,
and token administration."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from ledger.client import (
    Forbidden,
    LedgerClient,
    NotFound,
    PreconditionFailed,
    RetryPolicy,
    RuleViolated,
    StoredEvent,
    Unauthorized,
    ValidationFailed,
)
from ledger.demo import demo_events
from ledger.domain.vocabulary import EVENT_TYPES
from tests.e2e.conftest import Server

QUICK_RETRIES = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)


def connect(url: str, token: str) -> LedgerClient:
    return LedgerClient(url, token, retry=QUICK_RETRIES, timeout=(3.0, 20.0))


@pytest.fixture(scope="module")
def ledger(server: Server) -> Iterator[LedgerClient]:
    with connect(server.url, server.token) as client:
        yield client


@pytest.fixture(scope="module")
def story(ledger: LedgerClient) -> list[StoredEvent]:
    """The demo story, posted through the client with each event's whole envelope."""
    (_, founding, founding_envelope), *rest = demo_events()
    founded = ledger.found_collaboration(**founding, **founding_envelope)
    cid = founded.collaboration_id
    return [founded, *(ledger.post_event(cid, kind, data, **env) for kind, data, env in rest)]


def first(story: list[StoredEvent], event_type: str) -> StoredEvent:
    return next(event for event in story if event.type == event_type)


def found(ledger: LedgerClient, name: str = "Netwerk") -> str:
    return ledger.found_collaboration(
        f"{name} {uuid.uuid4().hex[:8]}", "Samen leren"
    ).collaboration_id


# Writing


def test_the_story_posts_every_event_type_with_its_envelope(story: list[StoredEvent]) -> None:
    posted = demo_events()
    assert {event.type for event in story} == set(EVENT_TYPES)
    assert [event.version for event in story] == list(range(1, len(posted) + 1))
    for event, (_, data, envelope) in zip(story, posted, strict=True):
        assert event.data == data
        assert event.actor == "e2e-admin"
        for field in ("acting_for", "capacity", "cause", "source", "note"):
            assert getattr(event, field) == envelope.get(field), field


def test_a_founded_collaboration_is_at_version_one(ledger: LedgerClient) -> None:
    founded = ledger.found_collaboration("Leerecosysteem Zuid", "Elk kind leest", languages=["nl"])
    state = ledger.state(founded.collaboration_id)
    assert (founded.type, founded.version, founded.replayed) == ("CollaborationFounded", 1, False)
    assert state.collaboration["name"] == "Leerecosysteem Zuid"
    assert state.stream_version == 1


class DroppingProxy:
    """A TCP proxy to the ledger that forwards the first connection's request, waits until the
    ledger has answered it, and then hangs up without passing the answer on: the client cannot
    know whether the event was stored. Later connections pass through. Keeps what it relayed."""

    def __init__(self, upstream_url: str) -> None:
        host, port = upstream_url.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sent = bytearray()
        self.dropped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(downstream,), daemon=True).start()

    def _relay(self, downstream: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump, args=(downstream, upstream, True), daemon=True).start()
        if self.dropped.is_set():
            self._pump(upstream, downstream, False)
            return
        self.dropped.set()
        upstream.recv(1)  # the ledger answers only after it committed
        for end in (downstream, upstream):
            with contextlib.suppress(OSError):  # the pump may have closed it already
                end.shutdown(socket.SHUT_RDWR)  # at once, though the pump still reads from it
            end.close()

    def _pump(self, source: socket.socket, target: socket.socket, record: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if record:
                    self.sent += chunk
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            target.close()

    def idempotency_keys(self) -> list[bytes]:
        return re.findall(rb"Idempotency-Key: (\S+)", bytes(self.sent))

    def close(self) -> None:
        self.listener.close()


def test_a_post_whose_answer_was_lost_is_retried_and_stored_once(
    server: Server, ledger: LedgerClient
) -> None:
    cid = found(ledger)
    proxy = DroppingProxy(server.url)
    try:
        with connect(proxy.url, server.token) as through_proxy:
            # If-Match too: the retry must get its own result back, not a 412 for its own write.
            stored = through_proxy.post_event(
                cid, "PhaseStarted", {"name": "verkenning"}, expected_version=1
            )
    finally:
        proxy.close()
    events = list(ledger.iter_events(cid))
    assert proxy.dropped.is_set()
    assert [event.type for event in events] == ["CollaborationFounded", "PhaseStarted"]
    assert stored.replayed is True
    assert (stored.version, stored.position) == (events[1].version, events[1].position)
    keys = proxy.idempotency_keys()
    assert len(keys) == 2
    assert keys[0] == keys[1]


class AnswerLost(HTTPAdapter):
    """Sends the first request to the ledger, then reports a read timeout instead of its answer."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        response = super().send(request, *args, **kwargs)
        if self.lost == 0:
            self.lost += 1
            raise requests.ReadTimeout("the answer was lost", request=request)
        return response


def test_a_founding_retried_after_a_timeout_founds_one_collaboration(server: Server) -> None:
    name = f"Eenmalig {uuid.uuid4().hex}"
    adapter = AnswerLost()
    with connect(server.url, server.token) as client:
        client.session.mount(server.url, adapter)
        founded = client.found_collaboration(name, "Eén keer opgeslagen")
        namesakes = [c for c in client.iter_collaborations() if c.name == name]
    assert adapter.lost == 1
    assert founded.replayed is True
    assert [c.collaboration_id for c in namesakes] == [founded.collaboration_id]


def test_if_match_with_a_stale_version_fails_the_precondition(ledger: LedgerClient) -> None:
    cid = found(ledger)
    ledger.post_event(cid, "PhaseStarted", {"name": "verkenning"}, expected_version=1)
    with pytest.raises(PreconditionFailed) as stale:
        ledger.post_event(cid, "PhaseStarted", {"name": "opbouw"}, expected_version=1)
    assert stale.value.current_version == 2
    assert ledger.state(cid).stream_version == 2


def test_a_broken_rule_raises_rule_violated_naming_the_rule(ledger: LedgerClient) -> None:
    cid = found(ledger)
    assignment = {"role_id": "voorzitter", "person_id": "els", "method": "elected"}
    with pytest.raises(RuleViolated) as broken:
        ledger.post_event(cid, "RoleAssigned", assignment)
    assert broken.value.status == 409
    assert broken.value.rule == "unknown-role"
    assert broken.value.type.endswith("/unknown-role")
    assert ledger.state(cid).stream_version == 1


def test_an_invalid_event_raises_validation_failed_per_field(ledger: LedgerClient) -> None:
    cid = found(ledger)
    with pytest.raises(ValidationFailed) as invalid:
        ledger.post_event(cid, "RoleAssigned", {"role_id": "voorzitter"})
    assert {problem.field for problem in invalid.value.errors} == {"data.person_id", "data.method"}


def test_unknown_collaborations_and_tokens_raise_their_problems(server: Server) -> None:
    with connect(server.url, server.token) as client, pytest.raises(NotFound):
        client.state(str(uuid.uuid4()))
    with connect(server.url, "glt_not-a-token") as stranger, pytest.raises(Unauthorized):
        stranger.collaborations()


# Reading one collaboration


def test_the_events_iterator_pages_through_the_whole_stream(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    page = ledger.events(cid, limit=7)
    assert page.next_after == 7
    assert page.stream_version == len(story)
    assert list(ledger.iter_events(cid, page_size=7)) == story


def test_the_collaborations_iterator_pages_with_the_cursor(ledger: LedgerClient) -> None:
    mine = [found(ledger, "Pagina") for _ in range(3)]
    assert ledger.collaborations(limit=2).next_cursor is not None
    listed = [c.collaboration_id for c in ledger.iter_collaborations(page_size=2)]
    assert [cid for cid in listed if cid in mine] == mine
    assert len(listed) == len(set(listed))


def test_the_state_at_a_version_as_known_at_and_in_force_at(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    at_version = ledger.state(cid, version=5)
    as_known = ledger.state(cid, known_at=story[9].recorded_at)
    made = next(
        e for e in story if e.type == "AgreementMade" and e.effective_at > story[0].effective_at
    )
    agreement_id = made.data["agreement_id"]
    before = ledger.state(cid, at=made.effective_at - timedelta(microseconds=1))
    since = ledger.state(cid, at=made.effective_at)
    assert at_version.basis.version == 5
    assert set(at_version.partners) == {
        e.data["partner_id"] for e in story[:5] if e.type == "PartnerJoined"
    }
    assert as_known.basis.version == 10
    assert as_known.basis.known_at == story[9].recorded_at
    assert since.basis.at == made.effective_at
    assert agreement_id not in before.agreements
    assert since.agreements[agreement_id]["title"] == made.data["title"]


def test_the_timeline_pages_with_offsets_and_summarises_each_event(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    page = ledger.timeline(cid, to=20, limit=8, lang="nl")
    entries = list(ledger.iter_timeline(cid, to=20, page_size=8, lang="nl"))
    assert (page.total, page.next_offset) == (20, 8)
    assert [entry.event for entry in entries] == story[:20]
    assert all(entry.summary == entry.summaries["nl"] for entry in entries)
    assert entries[1].changes[0].section == "phase"


def test_the_diff_between_two_versions_is_the_timeline_between_them(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    diff = ledger.diff(cid, 3, 5)
    between = ledger.timeline(cid, from_=3, to=5)
    start, end = story[1].effective_at, story[-1].effective_at
    by_valid_time = ledger.diff(cid, start, end)
    assert (diff.from_.version, diff.to.version) == (3, 5)
    assert (by_valid_time.from_.at, by_valid_time.to.at) == (start, end)
    assert by_valid_time.changes
    assert [(c.section, c.id) for c in diff.changes] == [
        (c.section, c.id) for entry in between for c in entry.changes
    ]


def test_histories_of_a_role_a_mandate_and_an_agreement(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    handover = first(story, "RoleHandedOver")
    role = ledger.role_history(cid, handover.data["role_id"])
    mandate_id = first(story, "MandateAmended").data["mandate_id"]
    mandate = ledger.mandate_history(cid, mandate_id)
    agreement_id = first(story, "AgreementAmended").data["agreement_id"]
    agreement = ledger.agreement_history(cid, agreement_id)
    assert [t.person_id for t in role.tenures][:2] == [
        handover.data["from_person_id"], handover.data["to_person_id"]]  # fmt: skip
    assert role.tenures[0].to == handover.effective_at
    assert [e.event.type for e in mandate.life] == ["MandateGranted", "MandateAmended"]
    assert (agreement.kind, agreement.item_id) == ("agreement", agreement_id)
    assert agreement.life[0].item_version == 1
    assert agreement.life[-1].item_version == agreement.life[-1].changes[0].fields["version"]["to"]  # type: ignore[index]
    with pytest.raises(NotFound):
        ledger.role_history(cid, "no-such-role")


def test_a_decision_and_a_reflection_with_the_events_they_caused(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    for kind, fetch in (("decision", ledger.decision), ("reflection", ledger.reflection)):
        caused = [e for e in story if e.cause and f"{kind}_id" in e.cause]
        item_id = caused[0].cause[f"{kind}_id"]  # type: ignore[index]
        answer = fetch(cid, item_id)
        assert (answer.kind, answer.item_id) == (kind, item_id)
        assert [e.event for e in answer.effects] == [
            e for e in caused if e.cause == {f"{kind}_id": item_id}
        ]


# Across collaborations


def test_the_register_pages_and_agrees_with_the_state(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    entries = list(ledger.iter_agreements(collaborations=[cid], page_size=2))
    state = ledger.state(cid)
    assert ledger.agreements(collaborations=[cid], limit=2).next_cursor is not None
    assert {e.agreement_id: e.status for e in entries} == {
        agreement_id: agreement["status"] for agreement_id, agreement in state.agreements.items()
    }


def test_the_register_as_csv_has_every_row(ledger: LedgerClient, story: list[StoredEvent]) -> None:
    cid = story[0].collaboration_id
    document = ledger.agreements_csv(collaborations=[cid], page_size=2)
    header, *rows = list(csv.reader(io.StringIO(document)))
    expected = [e.agreement_id for e in ledger.iter_agreements(collaborations=[cid])]
    assert header[:2] == ["collaboration_id", "agreement_id"]
    assert [row[1] for row in rows] == expected


def test_the_budget_summary_adds_up_the_agreements_in_force(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    in_force = [e for e in ledger.iter_agreements(collaborations=[cid])
                if e.status in ("in_force", "review_due")]  # fmt: skip
    summary = ledger.agreement_summary(collaborations=[cid])
    commitments = [c for e in in_force for c in e.agreement["budget_commitments"] or ()]
    assert summary.agreements_in_force == len(in_force)
    assert {c["currency"] for c in commitments} == {"EUR"}
    assert summary.per_collaboration[cid]["EUR"] == sum(Decimal(c["amount"]) for c in commitments)


def test_the_feed_pages_in_commit_order(ledger: LedgerClient, story: list[StoredEvent]) -> None:
    start = story[0].position - 1
    assert ledger.feed(after=start, limit=10).next_after == start + 10
    assert list(islice(ledger.iter_feed(after=start, page_size=10), len(story))) == story


def test_the_feed_stream_delivers_events_after_the_last_one_seen(
    ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    start = story[-4].position
    stream = ledger.stream_feed(after=start)
    try:
        received = list(islice(stream, 3))
    finally:
        stream.close()  # type: ignore[attr-defined]
    # The server notices the client left only when it next writes: give it events to write, so
    # that its thread ends now rather than holding up gunicorn's shutdown.
    cid = found(ledger)
    for name in ("verkenning", "opbouw"):
        ledger.post_event(cid, "PhaseStarted", {"name": name})
    assert received == story[-3:]


def test_tokens_are_issued_listed_scoped_and_revoked(
    server: Server, ledger: LedgerClient, story: list[StoredEvent]
) -> None:
    cid = story[0].collaboration_id
    name = f"financier-{uuid.uuid4().hex[:8]}"
    issued = ledger.create_token(name, "funder", collaborations=[cid], expires_in_days=30)
    listed = {token.name: token for token in ledger.tokens()}
    with connect(server.url, issued.token) as funder:
        seen = funder.state(cid)
        with pytest.raises(Forbidden):
            funder.post_event(cid, "PhaseStarted", {"name": "x"})
        ledger.revoke_token(name)
        with pytest.raises(Unauthorized):
            funder.state(cid)
    assert (listed[name].role, listed[name].collaborations) == ("funder", (cid,))
    assert listed[name].expires_at is not None
    assert seen.members == {}
    assert seen.partners == ledger.state(cid).partners


def test_retry_after_is_sent_only_when_the_client_should_wait(server: Server) -> None:
    response = requests.get(f"{server.url}/collaborations", headers=server.auth, timeout=10)
    assert response.status_code == 200
    assert "Retry-After" not in response.headers
