"""Webhook subscriptions: who wants which events where, and each one's delivery cursor.

A subscription's row is also its outbox state: `position` (every event up to there was delivered
or did not match), the failed `attempts` at the next event, when to try again, and its lease.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from ledger.domain import errors
from ledger.domain.timefmt import format_instant
from ledger.persistence import LedgerStore
from ledger.service import LedgerService
from ledger.webhooks.targets import check_target

ACTIVE, DEAD_LETTERED = "active", "dead_lettered"

TABLES = (
    "CREATE TABLE IF NOT EXISTS webhook_subscriptions ("
    " id TEXT PRIMARY KEY,"
    " url TEXT NOT NULL,"
    " types TEXT NOT NULL,"
    " collaboration_id TEXT,"
    " secret TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " created_by TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " position BIGINT NOT NULL,"
    " delivered BIGINT NOT NULL,"
    " failed BIGINT NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " failing_position BIGINT,"
    " next_attempt_at TEXT NOT NULL,"
    " last_attempt_at TEXT,"
    " last_delivered_at TEXT,"
    " last_error TEXT,"
    " dead_lettered_at TEXT,"
    " leased_until TEXT,"
    " lease_owner TEXT)",
    "CREATE INDEX IF NOT EXISTS webhook_subscriptions_due"
    " ON webhook_subscriptions (state, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS webhook_subscriptions_collaboration"
    " ON webhook_subscriptions (collaboration_id)",
)
# What callers may see of a subscription: never its secret, nor the lease bookkeeping.
PUBLIC_COLUMNS = (
    "id, url, types, collaboration_id, created_at, created_by, state, position, delivered,"
    " failed, attempts, failing_position, next_attempt_at, last_attempt_at, last_delivered_at,"
    " last_error, dead_lettered_at"
)


class SubscriptionNotFoundError(errors.ItemNotFoundError):
    rule = "subscription-not-found"


class SubscriptionScopeError(errors.LedgerError):
    """A token that does not see every collaboration subscribed to all of them."""

    rule = "subscription-needs-collaboration"


@dataclass(frozen=True)
class Subscription:
    """A subscription as the deliverer needs it."""

    id: str
    url: str
    types: frozenset[str]
    collaboration_id: str | None
    secret: str
    position: int
    attempts: int

    def wants(self, event_type: str) -> bool:
        return not self.types or event_type in self.types


def now() -> str:
    return format_instant(datetime.now(UTC))


def create_tables(store: LedgerStore) -> None:
    with store.creating() as c:
        for statement in TABLES:
            store.run(c, statement)


class Subscriptions:
    """Subscribe, list, read and delete; `scope` is the collaborations the caller sees (None:
    every one). Subscriptions of collaborations out of scope answer as if they did not exist."""

    def __init__(self, service: LedgerService, *, allow_private: bool, create: bool = True) -> None:
        self.service = service
        self.store: LedgerStore = service.store
        self.allow_private = allow_private
        if create:  # never in gunicorn workers: `ledger db init` creates the tables first
            create_tables(self.store)

    def subscribe(
        self,
        *,
        url: str,
        secret: str,
        types: Sequence[str],
        collaboration_id: str | None,
        actor: str,
        scope: Collection[str] | None,
    ) -> dict[str, Any]:
        """Subscribe `url` to the events stored from now on."""
        if collaboration_id is None and scope is not None:
            raise SubscriptionScopeError(
                "This token sees only some collaborations: give the `collaboration` to "
                "subscribe to (an admin token may subscribe to all of them)."
            )
        if collaboration_id is not None:
            if scope is not None and collaboration_id not in scope:
                raise errors.CollaborationNotFoundError(
                    f"There is no collaboration '{collaboration_id}' that this token can see."
                )
            self.service.stream_version(collaboration_id)
        check_target(url, allow_private=self.allow_private)
        subscription_id = str(uuid4())
        created, head = now(), self.service.head_position()
        with self.store.writing() as c:
            self.store.run(
                c,
                "INSERT INTO webhook_subscriptions VALUES"
                " (?,?,?,?,?,?,?,?,?,0,0,0,NULL,?,NULL,NULL,NULL,NULL,NULL,NULL)",
                (subscription_id, url, json.dumps(sorted(set(types))), collaboration_id, secret,
                 created, actor, ACTIVE, head, created),
            )  # fmt: skip
        return self.get(subscription_id, scope)

    def all(self, scope: Collection[str] | None) -> list[dict[str, Any]]:
        condition, params = _visible(scope)
        rows = self.store.query(
            f"SELECT {PUBLIC_COLUMNS} FROM webhook_subscriptions WHERE 1=1{condition}"
            " ORDER BY created_at, id",
            params,
        )
        return [_public(row) for row in rows]

    def get(self, subscription_id: str, scope: Collection[str] | None) -> dict[str, Any]:
        condition, params = _visible(scope)
        row = self.store.query_one(
            f"SELECT {PUBLIC_COLUMNS} FROM webhook_subscriptions WHERE id=?{condition}",
            (_id(subscription_id), *params),
        )
        if row is None:
            raise _not_found(subscription_id)
        return _public(row)

    def delete(self, subscription_id: str, scope: Collection[str] | None) -> None:
        found = self.get(subscription_id, scope)
        with self.store.writing() as c:
            self.store.run(c, "DELETE FROM webhook_subscriptions WHERE id=?", (found["id"],))

    def retry(self, subscription_id: str) -> dict[str, Any]:
        """Make a dead-lettered subscription active again, from where it stopped."""
        found = self.get(subscription_id, None)
        with self.store.writing() as c:
            self.store.run(
                c,
                "UPDATE webhook_subscriptions SET state=?, attempts=0, next_attempt_at=?,"
                " dead_lettered_at=NULL WHERE id=?",
                (ACTIVE, now(), found["id"]),
            )
        return self.get(found["id"], None)


def _visible(scope: Collection[str] | None) -> tuple[str, list[str]]:
    if scope is None:
        return "", []
    ids = sorted(scope) or [""]
    return f" AND collaboration_id IN ({','.join('?' * len(ids))})", ids


def _id(subscription_id: str) -> str:
    try:
        return str(UUID(subscription_id))
    except ValueError:
        raise _not_found(subscription_id) from None


def _not_found(subscription_id: str) -> SubscriptionNotFoundError:
    return SubscriptionNotFoundError(
        f"There is no subscription '{subscription_id}' that this token can see."
    )


def _public(row: dict[str, Any]) -> dict[str, Any]:
    shown = {key: value for key, value in row.items() if key != "collaboration_id"}
    return {
        **shown,
        "types": json.loads(row["types"]),
        "collaboration": row["collaboration_id"],
        # Only an active subscription has a next attempt; after a success it is "when due".
        "next_attempt_at": row["next_attempt_at"] if row["state"] == ACTIVE else None,
    }
