"""The audit: read the database itself (the library's events table, the ledger's index and
idempotency keys) and compare it with what the clients were told."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from tests.faults.clients import ACKNOWLEDGED, FAILED, UNKNOWN, Client, Intent

# Every test's one-line summary, repeated at the end of the run (see conftest.py).
SUMMARIES: list[str] = []

IDENTIFYING_FIELD = {"CollaborationFounded": "name", "PartnerJoined": "partner_id"}


@dataclass(frozen=True)
class StoredEvent:
    """A row of the library's events table, and its place in the ledger's index (if any)."""

    notification_id: int
    collaboration_id: str
    version: int
    type: str
    data: dict[str, Any]
    recorded_at: datetime
    position: int | None = None
    indexed_as: tuple[str, int, str, datetime] | None = None

    @property
    def identity(self) -> tuple[str, str]:
        """What the client that sent it called it: a founding's name, a partner's id."""
        key = IDENTIFYING_FIELD.get(self.type)
        return (self.type, str(self.data.get(key)) if key else f"#{self.notification_id}")


@dataclass(frozen=True)
class Snapshot:
    """What the database holds."""

    events: list[StoredEvent]  # in the events table's order (notification ids)
    index_rows_without_event: int
    idempotency: dict[tuple[str, str], tuple[str, int]]


def read_database(database_url: str) -> Snapshot:
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)
        connection.row_factory = sqlite3.Row
        try:
            return _snapshot(connection, "rowid", "stored_events")
        finally:
            connection.close()
    with psycopg.connect(database_url, row_factory=dict_row) as pg_connection:
        return _snapshot(pg_connection, "notification_id", "ledger_events")


def _snapshot(connection: Any, id_column: str, table: str) -> Snapshot:
    def fetch(statement: str) -> list[dict[str, Any]]:
        return [dict(row) for row in connection.execute(statement).fetchall()]

    rows = fetch(
        f"SELECT {id_column} AS notification_id, originator_id, originator_version, topic, state"
        f" FROM {table} ORDER BY {id_column}"
    )
    # The index keeps the library's id next to the ledger's own, gap-free position.
    index = {int(row["notification_id"]): row for row in fetch("SELECT * FROM ledger_event_index")}
    events = [_stored_event(row, index.get(int(row["notification_id"]))) for row in rows]
    idempotency = {
        (row["actor"], row["key"]): (str(row["collaboration_id"]), int(row["version"]))
        for row in fetch("SELECT actor, key, collaboration_id, version FROM ledger_idempotency")
    }
    return Snapshot(events, len(index.keys() - {e.notification_id for e in events}), idempotency)


def _stored_event(row: dict[str, Any], indexed: dict[str, Any] | None) -> StoredEvent:
    state = row["state"]
    attributes = json.loads(state if isinstance(state, str) else bytes(state))
    return StoredEvent(
        notification_id=int(row["notification_id"]),
        collaboration_id=str(UUID(str(row["originator_id"]))),
        version=int(row["originator_version"]),
        type=str(row["topic"]).rsplit(":", 1)[-1],
        data=attributes.get("data", {}),
        recorded_at=datetime.fromisoformat(attributes["timestamp"]["_data_"]),
        position=None if indexed is None else int(indexed["position"]),
        indexed_as=None
        if indexed is None
        else (str(indexed["collaboration_id"]), int(indexed["version"]), str(indexed["type"]),
              _instant(str(indexed["recorded_at"]))),
    )  # fmt: skip


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class BrokenPromise(AssertionError):
    """An acknowledged event is missing, stored twice or elsewhere, or out of commit order."""


class UnaskedForEvents(AssertionError):
    """The database holds an event no client was promised (or one it was refused), or an event
    without its bookkeeping rows."""


class PositionGaps(AssertionError):
    """The ledger's global positions skip numbers."""


@dataclass
class Report:
    """What a fault test did and what the database says about it."""

    name: str
    seed: int
    acknowledged: int = 0
    failed: int = 0
    unknown_then_resolved: int = 0
    unresolved: int = 0
    lost: int = 0
    mismatched: int = 0
    duplicated: int = 0
    phantom: int = 0
    gaps: int = 0
    out_of_commit_order: int = 0
    version_errors: int = 0
    index_errors: int = 0
    idempotency_errors: int = 0
    recorded_at_regressions: int = 0
    kills: int = 0
    restarts: int = 0
    longest_outage: float = 0.0
    elapsed: float = 0.0
    answers: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if len(self.problems) < 12:
            self.problems.append(problem)

    def summary(self) -> str:
        return (
            f"[faults] {self.name} seed={self.seed}: acknowledged={self.acknowledged} "
            f"lost={self.lost} duplicated={self.duplicated} phantom={self.phantom} "
            f"unknown-then-resolved={self.unknown_then_resolved} unresolved={self.unresolved} "
            f"kills={self.kills} restarts={self.restarts} "
            f"longest-outage={self.longest_outage:.2f}s | failed={self.failed} "
            f"mismatched={self.mismatched} gaps={self.gaps} "
            f"order-violations={self.out_of_commit_order} "
            f"recorded-at-regressions={self.recorded_at_regressions} "
            f"index-errors={self.index_errors} idempotency-errors={self.idempotency_errors} "
            f"elapsed={self.elapsed:.1f}s answers={dict(sorted(self.answers.items()))}"
        )

    def publish(self) -> None:
        line = self.summary()
        SUMMARIES.append(line)
        print(line, flush=True)

    def assert_intact(self) -> None:
        """Nothing acknowledged lost, nothing stored twice or unasked for, the log well ordered.

        Three stages, each with its own exception: the first says what kind of damage a
        failure is, and a known bug can be marked `xfail(raises=...)` without hiding others.
        """
        self._check(BrokenPromise, "unresolved", "lost", "mismatched", "duplicated",
                    "out_of_commit_order", "version_errors")  # fmt: skip
        self._check(UnaskedForEvents, "failed", "phantom", "index_errors",
                    "idempotency_errors", "recorded_at_regressions")  # fmt: skip
        self._check(PositionGaps, "gaps")

    def _check(self, error: type[AssertionError], *names: str) -> None:
        broken = {name: getattr(self, name) for name in names if getattr(self, name)}
        if broken:
            raise error(f"{broken}\n{self.summary()}\n" + "\n".join(self.problems))


def audit(
    name: str,
    seed: int,
    snapshot: Snapshot,
    clients: Sequence[Client],
    *,
    kills: int = 0,
    restarts: int = 0,
    elapsed: float = 0.0,
) -> Report:
    """Compare what the clients were told with what the database holds."""
    report = Report(name, seed, kills=kills, restarts=restarts, elapsed=elapsed)
    report.longest_outage = max(client.outages.longest for client in clients)
    report.answers = dict(sum((client.answers for client in clients), Counter()))
    intents = [intent for client in clients for intent in client.intents]
    _check_intents(report, snapshot, intents)
    _check_index(report, snapshot)
    _check_order(report, snapshot)
    _check_commit_order(report, intents)
    return report


def _check_intents(report: Report, snapshot: Snapshot, intents: Sequence[Intent]) -> None:
    stored: defaultdict[tuple[str, str], list[StoredEvent]] = defaultdict(list)
    for event in snapshot.events:
        stored[event.identity].append(event)
    sent = {intent.identity for intent in intents}
    for identity, events in stored.items():
        if len(events) > 1:
            report.duplicated += len(events) - 1
            report.note(f"stored {len(events)} times: {identity}")
        if identity not in sent:
            report.phantom += len(events)
            report.note(f"stored but never sent: {identity}")
    for key in snapshot.idempotency.keys() - {(intent.actor, intent.key) for intent in intents}:
        report.idempotency_errors += 1
        report.note(f"idempotency key nobody sent: {key}")
    for intent in intents:
        resolved = intent.outcome in (ACKNOWLEDGED, FAILED)
        report.unknown_then_resolved += resolved and intent.unknown_attempts > 0
        _check_intent(report, intent, stored.get(intent.identity, []), snapshot)


def _check_intent(
    report: Report, intent: Intent, events: list[StoredEvent], snapshot: Snapshot
) -> None:
    if intent.outcome == UNKNOWN:
        report.unresolved += 1
        report.note(
            f"unresolved after {intent.attempts} tries: {intent.identity}: {intent.last_error}"
        )
    elif intent.outcome == FAILED:
        report.failed += 1
        report.note(f"failed: {intent.identity}: {intent.last_error}")
        if events:
            report.phantom += len(events)
            report.note(f"refused but stored: {intent.identity}")
    elif intent.outcome == ACKNOWLEDGED:
        report.acknowledged += 1
        if not events:
            report.lost += 1
            report.note(f"acknowledged but not stored: {intent.identity} {intent.result}")
            return
        result = intent.result
        told = (result["collaboration_id"], result["version"], result["position"],
                _instant(result["recorded_at"]))  # fmt: skip
        if not any(
            told == (e.collaboration_id, e.version, e.position, e.recorded_at) for e in events
        ):
            report.mismatched += 1
            report.note(f"told {told}, stored {events}")
        kept = snapshot.idempotency.get((intent.actor, intent.key))
        if kept != told[:2]:
            report.idempotency_errors += 1
            report.note(f"idempotency row for {intent.key}: {kept}, told {told[:2]}")


def _check_index(report: Report, snapshot: Snapshot) -> None:
    """Every event has its index row, and the row describes it."""
    report.index_errors = snapshot.index_rows_without_event
    if snapshot.index_rows_without_event:
        report.note(f"{snapshot.index_rows_without_event} index rows without an event")
    for event in snapshot.events:
        described = (event.collaboration_id, event.version, event.type, event.recorded_at)
        if event.indexed_as != described:
            report.index_errors += 1
            report.note(
                f"event #{event.notification_id} {described} is indexed as {event.indexed_as}"
            )


def _check_order(report: Report, snapshot: Snapshot) -> None:
    """Positions 1..N in the order of the events table; versions 1..n per stream; recorded_at
    never earlier than the previous event's, in the log and within every stream."""
    positions = [event.position for event in snapshot.events if event.position is not None]
    if positions != sorted(positions):
        report.out_of_commit_order += 1
        report.note(f"positions out of the events table's order: {positions[:20]}…")
    if positions:
        report.gaps = max(positions) - len(positions)
        if report.gaps:
            missing = sorted(set(range(1, len(positions) + report.gaps + 1)) - set(positions))
            report.note(f"{report.gaps} positions missing, e.g. {missing[:10]}")
    streams: defaultdict[str, list[StoredEvent]] = defaultdict(list)
    previous: StoredEvent | None = None
    for event in snapshot.events:
        streams[event.collaboration_id].append(event)
        if previous is not None and event.recorded_at < previous.recorded_at:
            report.recorded_at_regressions += 1
            report.note(f"recorded_at goes back: #{event.notification_id} {event.recorded_at} "
                        f"after #{previous.notification_id} {previous.recorded_at}")  # fmt: skip
        if previous is None or event.recorded_at >= previous.recorded_at:
            previous = event
    for collaboration_id, stream in streams.items():
        versions = [event.version for event in stream]
        if versions != list(range(1, len(stream) + 1)):
            report.version_errors += 1
            report.note(f"stream {collaboration_id}: versions {versions[:20]}…")
        for before, after in pairwise(stream):
            if after.recorded_at < before.recorded_at:
                report.recorded_at_regressions += 1
                report.note(f"stream {collaboration_id}: recorded_at goes back at v{after.version}")


def _check_commit_order(report: Report, intents: Sequence[Intent]) -> None:
    """An event acknowledged before another was first sent has the lower position."""
    done = sorted(
        (i for i in intents if i.outcome == ACKNOWLEDGED), key=lambda i: i.acknowledged_at
    )
    highest: Intent | None = None
    earlier = 0
    for later in sorted(done, key=lambda i: i.first_sent):
        while earlier < len(done) and done[earlier].acknowledged_at < later.first_sent:
            if highest is None or done[earlier].result["position"] > highest.result["position"]:
                highest = done[earlier]
            earlier += 1
        if highest is not None and later.result["position"] <= highest.result["position"]:
            report.out_of_commit_order += 1
            report.note(
                f"{later.identity} at position {later.result['position']} was sent after "
                f"{highest.identity} at {highest.result['position']} was acknowledged"
            )
