"""The event-stream parser: events complete only at a blank line, whatever the chunking."""

from __future__ import annotations

import pytest

from ledger.client.sse import EventStreamParser, ServerSentEvent

STREAM = (
    "retry: 2000\n\n"
    ": heartbeat\n\n"
    'id: 7\nevent: PhaseStarted\ndata: {"name": "opbouw\u2028fase"}\n\n'
    "id: 8\r\nevent: MemberLeft\r\ndata: first\r\ndata: second\r\n\r\n"
).encode()


def parse(chunks: list[bytes]) -> tuple[list[ServerSentEvent], EventStreamParser]:
    parser = EventStreamParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events, parser


EXPECTED = [
    ServerSentEvent("7", "PhaseStarted", '{"name": "opbouw\u2028fase"}'),
    ServerSentEvent("8", "MemberLeft", "first\nsecond"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_events_are_the_same_however_the_stream_is_chunked(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    events, parser = parse(chunks)
    assert events == EXPECTED
    assert parser.retry_ms == 2000
    assert parser.last_event_id == "8"


def test_an_event_is_not_dispatched_before_its_blank_line() -> None:
    events, _ = parse([b"id: 1\ndata: x\n"])
    assert events == []


def test_a_carriage_return_at_the_end_of_a_chunk_waits_for_a_line_feed() -> None:
    events, _ = parse([b"data: a\r", b"\n\r", b"\n"])
    assert events == [ServerSentEvent(None, "message", "a")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    events, _ = parse([b": heartbeat\nfoo: bar\ndata:no-space\n\n"])
    assert events == [ServerSentEvent(None, "message", "no-space")]
