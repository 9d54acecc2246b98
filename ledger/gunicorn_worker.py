"""gunicorn's threaded worker, with requests read by the event loop before a thread takes them.

Stock `gthread` hands a connection to a thread as soon as its first byte arrives; the thread then
blocks reading the rest. A client that sends its request slowly (or stalls half way) keeps the
thread, and a few dozen of them starve every other client. Here the worker's event loop reads,
without blocking, the request head and a body of announced length up to the body limit; only a
complete request reaches a thread. A request not complete within `LEDGER_REQUEST_READ_TIMEOUT`
seconds is dropped. (Chunked bodies, and bodies above the limit, are handed over once the head is
in: the application refuses those at once.)

It relies on the internals of gunicorn's `ThreadWorker` (gunicorn 27, pinned in pyproject.toml).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import selectors
import time
from dataclasses import dataclass, field
from functools import partial
from socket import socket
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

HEAD_END = b"\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r\n", re.IGNORECASE)


@dataclass
class Reading:
    deadline: float
    data: bytearray = field(default_factory=bytearray)


def _settings() -> tuple[float, int]:
    timeout = float(os.environ.get("LEDGER_REQUEST_READ_TIMEOUT", "10"))
    body_limit = int(os.environ.get("LEDGER_MAX_BODY_BYTES", str(256 * 1024)))
    return timeout, body_limit


class RequestBufferingWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    def init_process(self) -> None:
        self.read_timeout, self.body_limit = _settings()
        self.reading: dict[TConn, Reading] = {}
        line, fields, field_size = (int(self.cfg.limit_request_line),
                                    int(self.cfg.limit_request_fields),
                                    int(self.cfg.limit_request_field_size))  # fmt: skip
        self.head_limit = line + 2 + fields * (field_size + 2) + 2
        super().init_process()

    # New connections and kept-alive ones that became readable start in the event loop.

    def accept(self, listener: socket) -> None:
        if self.cfg.is_ssl:
            return super().accept(listener)  # type: ignore[no-any-return]
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return None
        self.nr_conns += 1
        self._read(TConn(self.cfg, client, address, listener.getsockname()))
        return None

    def on_client_socket_readable(self, conn: TConn, client: socket) -> None:
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read(conn)

    def _read(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        self.reading[conn] = Reading(time.monotonic() + self.read_timeout)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: TConn, client: socket) -> None:
        reading = self.reading[conn]
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._drop(conn)
            return
        reading.data += chunk
        if self._complete(reading.data):
            self.poller.unregister(client)
            del self.reading[conn]
            self._hand_over(conn, bytes(reading.data))

    def _complete(self, data: bytearray) -> bool:
        end = data.find(HEAD_END)
        if end < 0:
            return len(data) > self.head_limit  # the parser refuses it from what is here
        head = bytes(data[: end + 2])
        match = CONTENT_LENGTH.search(head)
        if match is None:
            return True  # no body, or a chunked one
        length = int(match.group(1))
        return length > self.body_limit or len(data) >= end + len(HEAD_END) + length

    def _hand_over(self, conn: TConn, data: bytes) -> None:
        conn.init()  # blocking socket and the parser (no TLS here: see accept)
        conn.parser.unreader.unread(data)
        conn.data_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn: TConn) -> None:
        self.reading.pop(conn, None)
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    # Timeouts: checked on each turn of the event loop, like gunicorn's own.

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, reading in self.reading.items() if reading.deadline <= now]:
            self._drop(conn)

    def murder_keepalived(self, force: bool = False) -> Any:
        if force:
            for conn in list(self.reading):
                self._drop(conn)
        return super().murder_keepalived(force)
