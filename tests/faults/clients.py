"""Clients that know what they were told: every request is acknowledged (2xx), failed (a
definite 4xx) or unknown (no answer, a timeout, a 5xx), and unknown ones are retried with the
same Idempotency-Key until they resolve or a deadline passes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests

REQUEST_TIMEOUT = 5.0
RESOLVE_WITHIN = 40.0
RETRYABLE_4XX = frozenset({408, 425, 429})

ACKNOWLEDGED, FAILED, UNKNOWN, PENDING = "acknowledged", "failed", "unknown", "pending"


@dataclass
class Intent:
    """One request a client means to have stored exactly once, and what became of it."""

    path: str
    body: dict[str, Any]
    key: str
    identity: tuple[str, str]
    actor: str = ""
    outcome: str = PENDING
    result: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    unknown_attempts: int = 0
    first_sent: float = 0.0
    acknowledged_at: float = 0.0
    last_error: str = ""
    last_response: requests.Response | None = None
    last_seconds: float = 0.0

    @property
    def collaboration_id(self) -> str:
        return str(self.result["collaboration_id"])


def founding(name: str, key: str) -> Intent:
    body = {"name": name, "mission": f"Fault test {name}"}
    return Intent("/collaborations", body, key, ("CollaborationFounded", name))


def partner_joining(collaboration_id: str, partner_id: str, key: str) -> Intent:
    body = {
        "type": "PartnerJoined",
        "data": {"partner_id": partner_id, "name": partner_id, "kind": "school", "capacities": []},
    }
    path = f"/collaborations/{collaboration_id}/events"
    return Intent(path, body, key, ("PartnerJoined", partner_id))


class Outages:
    """The longest time from a request that was not acknowledged at once to the next
    acknowledgment: how long writers found the ledger down or stalled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting = 0
        self._since: float | None = None
        self._longest = 0.0

    def begin(self) -> None:
        with self._lock:
            self._waiting += 1
            if self._since is None:
                self._since = time.monotonic()

    def acknowledged(self) -> None:
        with self._lock:
            now = time.monotonic()
            assert self._since is not None
            self._longest = max(self._longest, now - self._since)
            # Whoever else is waiting has waited since now; nobody waiting: no outage.
            self._since = now if self._waiting > 1 else None

    def end(self) -> None:
        with self._lock:
            self._waiting -= 1

    @property
    def longest(self) -> float:
        with self._lock:
            ongoing = 0.0 if self._since is None else time.monotonic() - self._since
            return max(self._longest, ongoing)


class Client:
    """Posts intents, classifies every answer, and retries the unknown ones with the same key."""

    def __init__(self, url: str, token: str, actor: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self.url = url
        self.actor = actor
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"}
        self.outages = Outages()
        self.answers: Counter[str] = Counter()
        self.intents: list[Intent] = []
        self._lock = threading.Lock()
        self._giving_up = threading.Event()

    def submit(self, intent: Intent, resolve_within: float = RESOLVE_WITHIN) -> Intent:
        """Send until acknowledged or definitely failed, or `resolve_within` seconds passed.

        Submitting an unresolved intent again goes on retrying it, with the same key.
        """
        if not intent.actor:
            intent.actor, intent.first_sent = self.actor, time.monotonic()
            with self._lock:
                self.intents.append(intent)
        self.outages.begin()
        try:
            self._resolve(intent, time.monotonic() + resolve_within)
        finally:
            self.outages.end()
        return intent

    def _resolve(self, intent: Intent, deadline: float) -> None:
        delay = 0.05
        while True:
            intent.attempts += 1
            outcome, answer, response = self.attempt(intent)
            with self._lock:
                self.answers[answer] += 1
            if outcome == ACKNOWLEDGED:
                assert response is not None
                intent.outcome, intent.result = ACKNOWLEDGED, response.json()
                intent.acknowledged_at = time.monotonic()
                self.outages.acknowledged()
                return
            if outcome == FAILED:
                intent.outcome = FAILED
                return
            intent.outcome = UNKNOWN
            intent.unknown_attempts += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._giving_up.is_set():
                return
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.5)

    def attempt(self, intent: Intent) -> tuple[str, str, requests.Response | None]:
        """One try: acknowledged (2xx), failed (a definite 4xx) or unknown (anything else)."""
        headers = {**self.headers, "Idempotency-Key": intent.key}
        sent = time.monotonic()
        intent.last_response = None
        try:
            response = requests.post(
                self.url + intent.path, json=intent.body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as error:
            intent.last_error = f"{type(error).__name__}: {error}"
            return UNKNOWN, type(error).__name__, None
        finally:
            intent.last_seconds = time.monotonic() - sent
        intent.last_response = response
        answer = str(response.status_code)
        if 200 <= response.status_code < 300:
            return ACKNOWLEDGED, answer, response
        intent.last_error = f"{response.status_code}: {response.text[:300]}"
        if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_4XX:
            return FAILED, answer, response
        return UNKNOWN, answer, response

    @contextmanager
    def alongside(self, fault: Callable[[threading.Event], object]) -> Iterator[None]:
        """Run `fault(stopped)` in the background during the block. If it fails, the client
        stops retrying at once, and the fault's failure is what the test reports."""
        stopped = threading.Event()
        errors: list[BaseException] = []
        thread = _started(lambda: fault(stopped), errors, on_error=self._giving_up.set)
        try:
            yield
        finally:
            stopped.set()
            thread.join(60)
            if errors:
                raise errors[0]
        assert not thread.is_alive(), "the fault injector did not stop"

    def submit_all(self, batches: Sequence[Sequence[Intent]]) -> None:
        """One thread per batch, each submitting its intents in order."""
        run_writers([(self, batch) for batch in batches])

    def found(self, names: Sequence[str], prefix: str) -> list[str]:
        """Found one collaboration per name; their ids."""
        intents = [self.submit(founding(name, f"{prefix}-found-{name}")) for name in names]
        failed = [i.last_error for i in intents if i.outcome != ACKNOWLEDGED]
        assert not failed, f"founding failed: {failed}"
        return [intent.collaboration_id for intent in intents]

    def acknowledged_count(self) -> int:
        with self._lock:
            return sum(intent.outcome == ACKNOWLEDGED for intent in self.intents)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers, timeout=self.timeout)


def run_writers(work: Sequence[tuple[Client, Sequence[Intent]]], seconds: float = 90) -> None:
    """One thread per (client, batch), each submitting its intents in order; none may hang."""

    def writer(client: Client, batch: Sequence[Intent]) -> Callable[[], None]:
        def write() -> None:
            for intent in batch:
                client.submit(intent)

        return write

    run_concurrently([writer(client, batch) for client, batch in work], seconds)


def run_concurrently(tasks: Sequence[Callable[[], object]], seconds: float = 90) -> None:
    """Run each task in a thread of its own; none may hang or fail."""
    errors: list[BaseException] = []
    threads = [_started(task, errors) for task in tasks]
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0, f"{stuck} threads still running after {seconds} s: a hang"
    if errors:
        raise errors[0]


def _started(
    task: Callable[[], object],
    errors: list[BaseException],
    on_error: Callable[[], object] = lambda: None,
) -> threading.Thread:
    """A daemon thread running `task`, started; what it raises is appended to `errors`."""

    def run() -> None:
        try:
            task()
        except BaseException as error:
            errors.append(error)
            on_error()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def batches(
    collaboration_ids: Sequence[str], threads: int, per_thread: int, prefix: str
) -> list[list[Intent]]:
    """Work for `threads` writers, spread over the collaborations, every event unique."""
    return [
        [
            partner_joining(
                collaboration_ids[t % len(collaboration_ids)], f"p-{t}-{i}", f"{prefix}-{t}-{i}"
            )
            for i in range(per_thread)
        ]
        for t in range(threads)
    ]


def is_problem(response: requests.Response) -> bool:
    """An RFC 9457 problem with a type, a status that matches, and a detail."""
    if not response.headers.get("Content-Type", "").startswith("application/problem+json"):
        return False
    body = response.json()
    return (
        bool(body.get("type"))
        and body.get("status") == response.status_code
        and bool(body.get("detail"))
    )
