"""Slow and stalled clients against real gunicorn: they cannot hold the worker threads (ledger/
gunicorn_worker.py reads each request in the event loop first), and a request not complete in
LEDGER_REQUEST_READ_TIMEOUT seconds is dropped."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from ledger.demo import demo_events
from tests.conftest import database_url
from tests.e2e.conftest import Server, running_server

READ_TIMEOUT = 3  # seconds
STALLED = 60  # connections per kind of stall: far more than the 8 threads of 2 workers


@pytest.fixture(scope="module")
def patient_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    directory: Path = tmp_path_factory.mktemp("slow")
    database = database_url(backend, directory, request)
    extra = {"LEDGER_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT)}
    with running_server(directory, database, extra) as running:
        yield running


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def founding_request(server: Server) -> bytes:
    (_, founding, envelope), *_ = demo_events()
    body = json.dumps({**founding, **envelope}).encode()
    head = (
        "POST /collaborations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def stall(server: Server, stack: ExitStack, count: int, sent: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        client = stack.enter_context(connect(server))
        client.sendall(sent)
        sockets.append(client)
    return sockets


def timed_get(server: Server) -> float:
    started = time.monotonic()
    response = requests.get(f"{server.url}/collaborations", headers=server.auth, timeout=10)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_stalled_heads_and_bodies_do_not_starve_other_clients(patient_server: Server) -> None:
    with ExitStack() as stack:
        stall(patient_server, stack, STALLED, b"GET /collaborations HTTP/1.1\r\nHost: x\r\n")
        partial_body = founding_request(patient_server)[:-20]
        stall(patient_server, stack, STALLED, partial_body)
        time.sleep(0.5)
        seconds = [timed_get(patient_server) for _ in range(20)]
    print(f"\n[slow clients] {2 * STALLED} stalled connections open; 20 other requests took "
          f"at most {max(seconds) * 1000:.0f} ms")  # fmt: skip
    assert max(seconds) < 2, seconds


def test_a_request_sent_in_slow_pieces_within_the_timeout_is_served(
    patient_server: Server,
) -> None:
    request = founding_request(patient_server)
    pieces = [request[i : i + 97] for i in range(0, len(request), 97)]
    pause = (READ_TIMEOUT / 3) / len(pieces)
    with connect(patient_server) as client:
        for piece in pieces:
            client.sendall(piece)
            time.sleep(pause)
        answer = client.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]


def test_a_stalled_request_is_dropped_after_the_timeout(patient_server: Server) -> None:
    with connect(patient_server) as client:
        client.sendall(founding_request(patient_server)[:-5])
        started = time.monotonic()
        client.settimeout(READ_TIMEOUT + 5)
        assert client.recv(65536) == b""  # closed, without an answer: nothing was stored
        waited = time.monotonic() - started
    assert READ_TIMEOUT - 0.5 <= waited <= READ_TIMEOUT + 2.5, waited


def test_a_kept_alive_connection_that_stalls_on_its_next_request_starves_nobody(
    patient_server: Server,
) -> None:
    with ExitStack() as stack:
        kept = []
        for _ in range(STALLED):
            client = stack.enter_context(connect(patient_server))
            client.sendall(
                f"GET /collaborations HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {patient_server.token}\r\n\r\n".encode()
            )
            kept.append(client)
        for client in kept:
            assert client.recv(65536).startswith(b"HTTP/1.1 200")
            client.sendall(b"GET /collaborations HTTP/1.1\r\nHo")
        time.sleep(0.5)
        assert max(timed_get(patient_server) for _ in range(10)) < 2
