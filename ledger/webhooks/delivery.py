"""The deliverer: claims a subscription with a lease, POSTs its next events in log order, and
stores each outcome in the same transaction that moves the subscription's cursor."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from ledger.cloudevents import to_cloudevent
from ledger.domain.timefmt import format_instant
from ledger.persistence import Cursorlike, rows_changed
from ledger.service import LedgerService, RecordedEvent
from ledger.webhooks.signing import HEADER, signature
from ledger.webhooks.subscriptions import (
    ACTIVE,
    DEAD_LETTERED,
    Subscription,
)
from ledger.webhooks.targets import TargetRefusedError, check_target

log = logging.getLogger("ledger.webhooks")

USER_AGENT = "governance-ledger-webhooks/1"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
ERROR_CHARS = 300


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try: attempts before dead-lettering, the pause before each retry (doubling
    from `backoff_seconds` up to `backoff_max_seconds`, jittered), the request timeout, and the
    lease that keeps other deliverers off a subscription while one delivers to it."""

    max_attempts: int = 8
    backoff_seconds: float = 60.0
    backoff_max_seconds: float = 6 * 3600.0
    timeout_seconds: float = 10.0
    lease_seconds: float = 60.0
    batch: int = 100
    base_url: str = ""  # the ledger's public URL, for each CloudEvent's `dataschema`

    def __post_init__(self) -> None:
        if self.lease_seconds < 2 * self.timeout_seconds:
            # A lease that ran out mid-request would let a second deliverer send the same event.
            raise ValueError("the lease must last at least twice the request timeout")


def backoff(
    attempts: int, policy: DeliveryPolicy, draw: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after the `attempts`-th failure: doubling, capped, then jittered down
    by up to half so that subscribers that failed together do not retry together."""
    delay = min(policy.backoff_max_seconds, policy.backoff_seconds * 2.0 ** (attempts - 1))
    return delay * (0.5 + draw() / 2)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str | None = None


Send = Callable[[str, bytes, Mapping[str, str], float], Outcome]


def send_with_requests(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> Outcome:
    """POST once; success is a 2xx answer. Redirects are not followed: they could lead anywhere."""
    import requests  # only the deliverer needs it: the API never imports it

    try:
        response = requests.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=(min(3.0, timeout), timeout),
            allow_redirects=False,
            stream=True,  # the answer's body is never read
        )
    except requests.Timeout:
        return Outcome(False, f"no answer within {timeout:g} s")
    except requests.RequestException as error:
        return Outcome(False, f"could not connect ({type(error).__name__})")
    with response:
        if 200 <= response.status_code < 300:
            return Outcome(True)
        return Outcome(False, f"HTTP {response.status_code} {response.reason or ''}".strip())


def _at(seconds_from_now: float = 0.0) -> str:
    return format_instant(datetime.now(UTC) + timedelta(seconds=seconds_from_now))


class Dispatcher:
    """Delivers to every due subscription; any number may run at once, on any hosts."""

    def __init__(
        self,
        service: LedgerService,
        policy: DeliveryPolicy,
        *,
        allow_private: bool,
        send: Send = send_with_requests,
        threads: int = 1,
    ) -> None:
        self.service = service
        self.store = service.store
        self.policy = policy
        self.allow_private = allow_private
        self.send = send
        self.threads = threads
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Finish the delivery in flight, then stop."""
        self.stopping.set()

    def run_forever(self, poll_seconds: float) -> None:
        while not self.stopping.is_set():
            try:
                served = self.run_pass()
            except Exception:
                log.exception("delivery pass failed; trying again")
                served = 0
            if not served:
                self.stopping.wait(poll_seconds)

    def drain(self, poll_seconds: float) -> None:
        """Deliver every event stored until now, waiting out retries: return once each active
        subscription has reached it (or was dead-lettered)."""
        target = self.service.head_position()
        while not self.stopping.is_set() and self._behind(target):
            if not self.run_pass():
                self.stopping.wait(poll_seconds)

    def run_pass(self) -> int:
        """Serve each subscription that is due and behind the log; how many were served."""
        head = self.service.head_position()
        due = self._due(head)
        if self.threads == 1 or len(due) < 2:
            return sum(self._serve(subscription_id, head) for subscription_id in due)
        with ThreadPoolExecutor(min(self.threads, len(due))) as pool:
            return sum(pool.map(lambda subscription_id: self._serve(subscription_id, head), due))

    def _behind(self, target: int) -> bool:
        row = self.store.query_one(
            "SELECT COUNT(*) AS n FROM webhook_subscriptions WHERE state=? AND position<?",
            (ACTIVE, target),
        )
        return bool(row and row["n"])

    def _due(self, head: int) -> list[str]:
        moment = _at()
        rows = self.store.query(
            "SELECT id FROM webhook_subscriptions WHERE state=? AND position<?"
            " AND next_attempt_at<=? AND (leased_until IS NULL OR leased_until<?)"
            " ORDER BY next_attempt_at LIMIT ?",
            (ACTIVE, head, moment, moment, 100),
        )
        return [str(row["id"]) for row in rows]

    def _serve(self, subscription_id: str, head: int) -> bool:
        subscription = self._claim(subscription_id)
        if subscription is None:
            return False  # another deliverer holds it, or it is no longer due
        try:
            self._deliver_pending(subscription, head)
        finally:
            self._release(subscription_id)
        return True

    def _claim(self, subscription_id: str) -> Subscription | None:
        """Lease the subscription, unless another deliverer holds an unexpired lease on it."""
        moment = _at()
        with self.store.writing() as c:
            self.store.run(
                c,
                "UPDATE webhook_subscriptions SET leased_until=?, lease_owner=?"
                " WHERE id=? AND state=? AND next_attempt_at<=?"
                " AND (leased_until IS NULL OR leased_until<?)",
                (_at(self.policy.lease_seconds), self.owner, subscription_id, ACTIVE, moment,
                 moment),
            )  # fmt: skip
            if rows_changed(c) != 1:
                return None
            self.store.run(
                c,
                "SELECT id, url, types, collaboration_id, secret, position, attempts"
                " FROM webhook_subscriptions WHERE id=?",
                (subscription_id,),
            )
            row = dict(c.fetchone())
        return Subscription(
            id=row["id"],
            url=row["url"],
            types=frozenset(json.loads(row["types"])),
            collaboration_id=row["collaboration_id"],
            secret=row["secret"],
            position=int(row["position"]),
            attempts=int(row["attempts"]),
        )

    def _release(self, subscription_id: str) -> None:
        with self.store.writing() as c:
            self.store.run(
                c,
                "UPDATE webhook_subscriptions SET leased_until=NULL, lease_owner=NULL"
                " WHERE id=? AND lease_owner=?",
                (subscription_id, self.owner),
            )

    def _deliver_pending(self, subscription: Subscription, head: int) -> None:
        """Deliver the subscription's next batch of events in log order, until an attempt fails
        or the lease is lost, and move its cursor past the events it does not want."""
        scope = None if subscription.collaboration_id is None else [subscription.collaboration_id]
        events = self.service.feed(subscription.position, self.policy.batch, scope)
        # None in scope: every event up to `head` (committed before we read it) is unwanted.
        reached = subscription.position if events else max(head, subscription.position)
        current = subscription
        for event in events:
            if self.stopping.is_set():
                break
            if current.wants(event.type):
                delivered = self._deliver(current, event, reached)
                if delivered is None:
                    return
                current = delivered
            reached = event.position
        if reached > current.position:
            self._skip_to(current, reached)

    def _deliver(
        self, subscription: Subscription, event: RecordedEvent, reached: int
    ) -> Subscription | None:
        """Deliver one event and store the outcome; the subscription as it is now, or None when
        this deliverer must stop serving it (the attempt failed, or the lease was lost)."""
        outcome = self._attempt(subscription, event)
        with self.store.writing() as c:
            if outcome.ok:
                stored = self._store_success(c, subscription, event)
            else:
                stored = self._store_failure(c, subscription, event, reached, outcome)
        if not stored:
            log.warning("subscription %s was deleted or taken over by another deliverer",
                        subscription.id)  # fmt: skip
            return None
        return replace(subscription, position=event.position, attempts=0) if outcome.ok else None

    def _attempt(self, subscription: Subscription, event: RecordedEvent) -> Outcome:
        try:
            if not self.allow_private:  # again: the name may resolve elsewhere by now
                check_target(subscription.url, allow_private=False)
            body = _body(event, self.policy.base_url)
            headers = {
                "Content-Type": CONTENT_TYPE,
                "User-Agent": USER_AGENT,
                "X-Ledger-Subscription": subscription.id,
                HEADER: signature(subscription.secret, body, int(time.time())),
            }
            return self.send(subscription.url, body, headers, self.policy.timeout_seconds)
        except TargetRefusedError as refused:
            return Outcome(False, refused.detail)
        except Exception as error:
            log.exception("delivery to subscription %s failed unexpectedly", subscription.id)
            return Outcome(False, f"unexpected error ({type(error).__name__})")

    def _store_success(
        self, c: Cursorlike, subscription: Subscription, event: RecordedEvent
    ) -> bool:
        moment = _at()
        self.store.run(
            c,
            "UPDATE webhook_subscriptions SET position=?, delivered=delivered+1, attempts=0,"
            " failing_position=NULL, last_error=NULL, last_attempt_at=?, last_delivered_at=?,"
            " next_attempt_at=?, leased_until=? WHERE id=? AND lease_owner=? AND position=?",
            (event.position, moment, moment, moment, _at(self.policy.lease_seconds),
             subscription.id, self.owner, subscription.position),
        )  # fmt: skip
        return rows_changed(c) == 1

    def _store_failure(
        self,
        c: Cursorlike,
        subscription: Subscription,
        event: RecordedEvent,
        reached: int,
        outcome: Outcome,
    ) -> bool:
        attempts = subscription.attempts + 1
        dead = attempts >= self.policy.max_attempts
        moment = _at()
        error = (outcome.error or "failed")[:ERROR_CHARS]
        self.store.run(
            c,
            "UPDATE webhook_subscriptions SET position=?, failed=failed+1, attempts=?,"
            " failing_position=?, last_error=?, last_attempt_at=?, next_attempt_at=?, state=?,"
            " dead_lettered_at=?, leased_until=NULL, lease_owner=NULL"
            " WHERE id=? AND lease_owner=? AND position=?",
            (reached, attempts, event.position, error, moment,
             _at(0 if dead else backoff(attempts, self.policy)), DEAD_LETTERED if dead else ACTIVE,
             moment if dead else None, subscription.id, self.owner, subscription.position),
        )  # fmt: skip
        stored = rows_changed(c) == 1
        if stored and dead:
            log.error("subscription %s dead-lettered at position %d after %d attempts: %s",
                      subscription.id, event.position, attempts, error)  # fmt: skip
        elif stored:
            log.warning("delivery of position %d to subscription %s failed (attempt %d): %s",
                        event.position, subscription.id, attempts, error)  # fmt: skip
        return stored

    def _skip_to(self, subscription: Subscription, position: int) -> None:
        """Move the cursor past events the subscription does not want."""
        with self.store.writing() as c:
            self.store.run(
                c,
                "UPDATE webhook_subscriptions SET position=? WHERE id=? AND lease_owner=?"
                " AND position=?",
                (position, subscription.id, self.owner, subscription.position),
            )


def _body(event: RecordedEvent, base_url: str) -> bytes:
    """The event as a structured CloudEvent, exactly as `GET /feed?format=cloudevents` shows it."""
    cloudevent = to_cloudevent(event.as_dict(), base_url.rstrip("/"))
    return json.dumps(
        cloudevent, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode()
