"""The feed as Server-Sent Events from real gunicorn: `id:` is the position, a client that
reconnects with Last-Event-ID gets exactly the events after it, and new events arrive live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Server

TIMEOUT = (5, 10)  # connect, and each read: events come within a poll of half a second


@dataclass
class EventStream:
    """The events of a text/event-stream response, read one at a time."""

    response: requests.Response
    retry: str | None = None
    comments: list[str] = field(default_factory=list)
    lines: Iterator[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = self.response.iter_lines()

    def next_event(self) -> dict[str, Any]:
        fields: dict[str, str] = {}
        for raw in self.lines:
            line = raw.decode("utf-8")
            if line == "":
                if "data" in fields:
                    return {"id": int(fields["id"]), "event": fields["event"],
                            "data": json.loads(fields["data"])}  # fmt: skip
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            if name == "retry":
                self.retry = value.strip()
            else:
                fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")


@pytest.fixture
def session(server: Server) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers.update(server.auth)
        yield http


def post(session: requests.Session, server: Server, cid: str, name: str) -> dict[str, Any]:
    response = session.post(f"{server.url}/collaborations/{cid}/events",
                            json={"type": "PhaseStarted", "data": {"name": name}}, timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 201, response.text
    return dict(response.json())


def found(session: requests.Session, server: Server, events: int) -> str:
    response = session.post(f"{server.url}/collaborations",
                            json={"name": "Netwerk", "mission": "Lezen"}, timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 201, response.text
    cid = str(response.json()["collaboration_id"])
    for n in range(events):
        post(session, server, cid, f"fase {n}")
    return cid


def whole_feed(session: requests.Session, server: Server) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        response = session.get(f"{server.url}/feed", params={"after": after, "limit": 50},
                               timeout=TIMEOUT)  # fmt: skip
        items.extend(response.json()["items"])
        after = response.json()["next_after"]
    return items


def open_stream(session: requests.Session, server: Server, **headers: str) -> requests.Response:
    response = session.get(f"{server.url}/feed/stream", headers=headers, stream=True,
                           timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-store"
    return response


def as_sent(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["position"], "event": item["type"], "data": item}


def test_a_client_that_reconnects_with_last_event_id_gets_exactly_the_events_after_it(
    server: Server, session: requests.Session
) -> None:
    cid = found(session, server, events=4)
    before = whole_feed(session, server)
    with open_stream(session, server) as response:
        stream = EventStream(response)
        first = [stream.next_event() for _ in range(3)]
        assert stream.retry == "2000"
    assert first == [as_sent(item) for item in before[:3]]

    post(session, server, cid, "while away")  # recorded while the client was disconnected
    expected = [as_sent(item) for item in whole_feed(session, server)[3:]]
    with open_stream(session, server, **{"Last-Event-ID": str(first[-1]["id"])}) as response:
        stream = EventStream(response)
        assert [stream.next_event() for _ in expected] == expected
        live = post(session, server, cid, "live")
        assert stream.next_event() == as_sent(live)
    post(session, server, cid, "after")  # the server drops streams when it next writes to them


def test_a_stream_can_start_after_a_position_given_as_a_query_parameter(
    server: Server, session: requests.Session
) -> None:
    cid = found(session, server, events=2)
    feed = whole_feed(session, server)
    after = feed[-2]["position"]
    response = session.get(f"{server.url}/feed/stream", params={"after": after}, stream=True,
                           timeout=TIMEOUT)  # fmt: skip
    with response:
        assert response.status_code == 200
        assert EventStream(response).next_event() == as_sent(feed[-1])
    post(session, server, cid, "after")


@pytest.mark.parametrize("last_event_id", ["abc", "-1", "1e3", "9" * 16])
def test_a_malformed_last_event_id_is_a_400_problem(
    server: Server, session: requests.Session, last_event_id: str
) -> None:
    response = session.get(f"{server.url}/feed/stream", headers={"Last-Event-ID": last_event_id},
                           timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/malformed-last-event-id")
