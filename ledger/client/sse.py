"""An incremental parser of Server-Sent Events (the WHATWG event-stream format), fed the bytes
of a response as they arrive. It splits lines on CR, LF and CRLF only, on bytes, so that a
line separator inside the JSON of an event (U+2028) cannot cut it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    id: str | None
    event: str
    data: str


class EventStreamParser:
    """Feed it chunks; it returns the events they complete. `last_event_id` and `retry_ms` keep
    what the stream said so far."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        self._buffer += chunk
        events: list[ServerSentEvent] = []
        while True:
            line, found = self._next_line()
            if not found:
                return events
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)

    def _next_line(self) -> tuple[bytes, bool]:
        lf, cr = self._buffer.find(b"\n"), self._buffer.find(b"\r")
        if cr == -1 and lf == -1:
            return b"", False
        if cr != -1 and (lf == -1 or cr < lf):
            if cr == len(self._buffer) - 1:
                return b"", False  # a CR last: wait to see whether an LF follows
            end = cr + 2 if self._buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
            line, self._buffer = self._buffer[:cr], self._buffer[end:]
            return line, True
        line, self._buffer = self._buffer[:lf], self._buffer[lf + 1 :]
        return line, True

    def _line(self, line: str) -> ServerSentEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: the server's heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(self.last_event_id, event or "message", "\n".join(data))
