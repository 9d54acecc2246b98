"""The client's transport behaviour against a scripted transport adapter mounted on its session:
which failures are retried, how long it waits, idempotency keys, paging and the feed stream."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from ledger.client import (
    LedgerClient,
    PreconditionFailed,
    RetryPolicy,
    RuleViolated,
    ServerError,
)
from ledger.client.retry import never_sent, outcome_unknown

BASE = "http://ledger.test"
CID = "6f0f6d55-2c39-4c8e-9d8a-4a4e7f0b7a01"


def event(version: int, position: int | None = None) -> dict[str, Any]:
    return {
        "collaboration_id": CID,
        "type": "PhaseStarted",
        "data": {"name": f"fase {version}"},
        "effective_at": "2025-03-01T09:00:00.000000Z",
        "recorded_at": "2025-03-01T09:00:01.000000Z",
        "actor": "recorder",
        "version": version,
        "position": position if position is not None else version,
    }


class Chunks(io.RawIOBase):
    """A response body that arrives in chunks and may then break, like a dropped connection."""

    def __init__(self, chunks: list[bytes], then: Exception | None = None) -> None:
        self.chunks, self.then = list(chunks), then

    def read(self, size: int | None = -1) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.then is not None:
            raise self.then
        return b""


Step = Exception | tuple[int, Any] | tuple[int, Any, Mapping[str, str]]


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next step of its script: an exception to raise, or a
    status with a body (JSON, text, or a `Chunks` stream) and headers. Keeps what was sent."""

    def __init__(self, *steps: Step) -> None:
        super().__init__()
        self.steps = list(steps)
        self.sent: list[requests.PreparedRequest] = []
        self.timeouts: list[Any] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:  # fmt: skip
        self.sent.append(request)
        self.timeouts.append(timeout)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        status, body, *rest = step
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(rest[0] if rest else {})
        response.request, response.url = request, str(request.url)
        if isinstance(body, Chunks):
            response.raw = body
        elif isinstance(body, str):
            response._content = body.encode()
        else:
            response._content = json.dumps(body).encode()
            response.headers.setdefault(
                "Content-Type", "application/problem+json" if status >= 400 else "application/json"
            )
        return response

    def close(self) -> None:
        pass

    def query(self, index: int) -> dict[str, list[str]]:
        return parse_qs(urlsplit(str(self.sent[index].url)).query)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client_with(adapter: ScriptedAdapter, sleeps: Sleeps, **policy: Any) -> LedgerClient:
    retry = RetryPolicy(jitter=lambda low, high: high, **policy)
    client = LedgerClient(BASE, "glt_secret", retry=retry, sleep=sleeps, timeout=(1.0, 2.0))
    client.session.mount(BASE, adapter)
    return client


def post(client: LedgerClient) -> Any:
    return client.post_event(CID, "PhaseStarted", {"name": "opbouw"})


def connection_refused() -> requests.ConnectionError:
    refused = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/", refused))  # type: ignore[arg-type]


def connection_dropped() -> requests.ConnectionError:
    return requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))


UNKNOWN_OUTCOMES = {
    "dropped": connection_dropped,
    "read-timeout": lambda: requests.ReadTimeout("read timed out"),
    "connect-timeout": lambda: requests.ConnectTimeout("connect timed out"),
    "broken-body": lambda: requests.exceptions.ChunkedEncodingError("incomplete chunk"),
    "refused": connection_refused,
}


@pytest.mark.parametrize("failure", UNKNOWN_OUTCOMES.values(), ids=UNKNOWN_OUTCOMES.keys())
def test_a_post_whose_outcome_is_unknown_is_retried_with_the_same_idempotency_key(
    failure: Any, sleeps: Sleeps
) -> None:
    adapter = ScriptedAdapter(failure(), (201, event(7), {"Idempotent-Replayed": "true"}))
    stored = post(client_with(adapter, sleeps))
    keys = [request.headers["Idempotency-Key"] for request in adapter.sent]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert stored.version == 7
    assert stored.replayed is True


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_failure_is_retried(status: int, sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter((status, "<html>bad gateway</html>"), (201, event(3)))
    assert post(client_with(adapter, sleeps)).version == 3
    assert len(adapter.sent) == 2


@pytest.mark.parametrize(
    ("status", "problem"), [(500, ServerError), (409, RuleViolated), (412, PreconditionFailed)]
)
def test_an_answer_that_is_known_is_not_retried(
    status: int, problem: type[Exception], sleeps: Sleeps
) -> None:
    body = {"type": "t", "title": "x", "status": status, "detail": "d", "rule": "some-rule"}
    adapter = ScriptedAdapter((status, body))
    with pytest.raises(problem):
        post(client_with(adapter, sleeps))
    assert len(adapter.sent) == 1
    assert sleeps == []


def test_each_call_has_its_own_idempotency_key_unless_one_is_given(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter((201, event(1)), (201, event(2)), (201, event(3)))
    client = client_with(adapter, sleeps)
    post(client)
    post(client)
    client.post_event(CID, "PhaseStarted", {"name": "x"}, idempotency_key="meeting-12:3")
    keys = [request.headers["Idempotency-Key"] for request in adapter.sent]
    assert keys[0] != keys[1]
    assert keys[2] == "meeting-12:3"


def test_retries_stop_after_the_attempts_and_raise_the_last_failure(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter(*(connection_dropped() for _ in range(3)))
    with pytest.raises(requests.ConnectionError):
        post(client_with(adapter, sleeps, attempts=3))
    assert len(adapter.sent) == 3
    assert len(sleeps) == 2


def test_a_gateway_that_keeps_failing_raises_a_server_error(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter(*((503, "busy") for _ in range(2)))
    with pytest.raises(ServerError) as raised:
        post(client_with(adapter, sleeps, attempts=2))
    assert raised.value.status == 503
    assert raised.value.detail == "busy"


def test_the_waits_grow_exponentially_up_to_the_maximum(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter(*(connection_dropped() for _ in range(7)))
    with pytest.raises(requests.ConnectionError):
        post(client_with(adapter, sleeps, attempts=7, base_delay=0.5, max_delay=4.0))
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_the_waits_are_jittered_between_zero_and_the_ceiling() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0)
    waits = [policy.delay(3) for _ in range(200)]
    assert all(0.0 <= wait <= 8.0 for wait in waits)
    assert len(set(waits)) > 100


def test_a_policy_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("error", "unknown", "unsent"),
    [
        (requests.ConnectTimeout(), True, True),
        (connection_refused(), True, True),
        (requests.ReadTimeout(), True, False),
        (connection_dropped(), True, False),
        (requests.exceptions.ChunkedEncodingError(), True, False),
        (requests.exceptions.SSLError(), False, False),
        (requests.exceptions.InvalidURL(), False, False),
        (requests.exceptions.TooManyRedirects(), False, False),
    ],
    ids=["connect-timeout", "refused", "read-timeout", "dropped", "broken-body", "tls",
         "bad-url", "redirects"],
)  # fmt: skip
def test_failures_are_classified_by_what_the_ledger_may_have_done(
    error: requests.RequestException, unknown: bool, unsent: bool
) -> None:
    assert outcome_unknown(error) is unknown
    assert never_sent(error) is unsent


def test_issuing_a_token_is_not_retried_once_it_may_have_reached_the_ledger(
    sleeps: Sleeps,
) -> None:
    adapter = ScriptedAdapter(requests.ReadTimeout("read timed out"))
    with pytest.raises(requests.ReadTimeout):
        client_with(adapter, sleeps).create_token("crm", "system")
    assert len(adapter.sent) == 1


def test_issuing_a_token_is_retried_when_it_never_left(sleeps: Sleeps) -> None:
    issued = {"name": "crm", "role": "recorder", "token": "glt_new"}
    adapter = ScriptedAdapter(connection_refused(), (201, issued))
    token = client_with(adapter, sleeps).create_token("crm", "recorder", collaborations=[CID])
    assert token.token == "glt_new"
    assert "glt_new" not in repr(token)
    assert len(adapter.sent) == 2


def test_every_request_has_the_timeout_the_token_and_if_match(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter((201, event(5)), (200, {"items": [], "next_after": None}))
    client = client_with(adapter, sleeps)
    client.post_event(CID, "PhaseStarted", {"name": "x"}, expected_version=4)
    client.events(CID)
    assert adapter.timeouts == [(1.0, 2.0), (1.0, 2.0)]
    assert all(r.headers["Authorization"] == "Bearer glt_secret" for r in adapter.sent)
    assert adapter.sent[0].headers["If-Match"] == '"4"'
    assert "If-Match" not in adapter.sent[1].headers


def test_values_are_sent_as_the_ledger_writes_them(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter((201, event(1)), (200, {"items": [], "next_cursor": None}))
    client = client_with(adapter, sleeps)
    client.post_event(
        CID,
        "MandateGranted",
        {"budget_limit": {"amount": Decimal("2500.00"), "currency": "EUR"},
         "valid_until": date(2025, 6, 30)},
        effective_at=datetime(2025, 3, 1, 10, tzinfo=UTC),
    )  # fmt: skip
    client.agreements(at=datetime(2025, 3, 1, tzinfo=UTC), collaborations=[CID, "other"])
    body = json.loads(adapter.sent[0].body or b"")
    assert body["data"] == {"budget_limit": {"amount": "2500.00", "currency": "EUR"},
                            "valid_until": "2025-06-30"}  # fmt: skip
    assert body["effective_at"] == "2025-03-01T10:00:00.000000Z"
    assert "note" not in body
    assert adapter.query(1) == {
        "at": ["2025-03-01T00:00:00.000000Z"],
        "collaboration": [CID, "other"],
    }


def test_the_events_iterator_follows_next_after_until_the_last_page(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter(
        (200, {"items": [event(1), event(2)], "next_after": 2}, {"ETag": '"5"'}),
        (200, {"items": [event(3), event(4)], "next_after": 4}),
        (200, {"items": [event(5)], "next_after": None}),
    )
    versions = [e.version for e in client_with(adapter, sleeps).iter_events(CID, page_size=2)]
    assert versions == [1, 2, 3, 4, 5]
    assert [adapter.query(i)["after"] for i in range(3)] == [["0"], ["2"], ["4"]]


def test_the_events_page_carries_the_stream_version(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter((200, {"items": [event(1)], "next_after": None}, {"ETag": '"5"'}))
    page = client_with(adapter, sleeps).events(CID)
    assert page.stream_version == 5
    assert not page.has_more


def test_the_csv_register_is_fetched_page_by_page_into_one_document(sleeps: Sleeps) -> None:
    header = "collaboration_id,agreement_id,title\r\n"
    adapter = ScriptedAdapter(
        (200, header + f'{CID},a1,Eerste\r\n{CID},a2,"Twee, met komma"\r\n'),
        (200, header + f"{CID},a3,Derde\r\n"),
    )
    document = client_with(adapter, sleeps).agreements_csv(page_size=2, status="in_force")
    assert (
        document == header + f'{CID},a1,Eerste\r\n{CID},a2,"Twee, met komma"\r\n{CID},a3,Derde\r\n'
    )
    assert adapter.sent[0].headers["Accept"] == "text/csv"
    assert adapter.query(1)["cursor"] == [f"{CID}/a2"]
    assert adapter.query(1)["status"] == ["in_force"]


def sse(*events: dict[str, Any]) -> list[bytes]:
    return [
        b"retry: 0\n\n",
        *(
            f"id: {e['position']}\nevent: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
            for e in events
        ),
    ]


def take(stream: Iterator[Any], count: int) -> list[Any]:
    taken = [item for _, item in zip(range(count), stream, strict=False)]
    stream.close()  # type: ignore[attr-defined]
    return taken


def test_the_feed_stream_resumes_after_the_last_event_when_it_ends(sleeps: Sleeps) -> None:
    adapter = ScriptedAdapter(
        (200, Chunks(sse(event(1, 11), event(2, 12)))),
        (200, Chunks(sse(event(3, 13)))),
    )
    received = take(client_with(adapter, sleeps).stream_feed(after=10), 3)
    assert [e.position for e in received] == [11, 12, 13]
    assert [r.headers["Last-Event-ID"] for r in adapter.sent] == ["10", "12"]
    assert adapter.timeouts[0] == (1.0, 60.0)


def test_the_feed_stream_reconnects_when_the_connection_breaks(sleeps: Sleeps) -> None:
    broken = requests.exceptions.ChunkedEncodingError("connection broken")
    adapter = ScriptedAdapter(
        (200, Chunks([*sse(event(1, 21))[:2], b'id: 22\ndata: {"trunc'], then=broken)),
        (200, Chunks(sse(event(2, 22)))),
    )
    received = take(client_with(adapter, sleeps).stream_feed(after=20), 2)
    assert [e.position for e in received] == [21, 22]
    assert adapter.sent[1].headers["Last-Event-ID"] == "21"
    assert len(sleeps) == 1


def test_the_feed_stream_gives_up_after_the_attempts_in_a_row(sleeps: Sleeps) -> None:
    broken = requests.exceptions.ChunkedEncodingError("connection broken")
    adapter = ScriptedAdapter(*((200, Chunks([], then=broken)) for _ in range(2)))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list(client_with(adapter, sleeps, attempts=2).stream_feed())
    assert len(adapter.sent) == 2
