"""The application service: commands that record governance events, queries that read state."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError, Recording

from ledger.application import LedgerApplication
from ledger.domain import errors
from ledger.domain.model import Collaboration
from ledger.domain.moments import fold_at
from ledger.domain.state import State, empty_state
from ledger.domain.subjects import cause_of, subject_of
from ledger.domain.timefmt import format_instant, parse_instant
from ledger.domain.views import derive
from ledger.integrity.canonical import record_inputs
from ledger.integrity.service import IntegrityService, Receipt
from ledger.persistence import IdempotencyEntry, IndexEntry, RecordedAtBehindError
from ledger.settings import ConfigError, Settings

ENVELOPE_FIELDS = (
    "effective_at",
    "actor",
    "acting_for",
    "capacity",
    "cause",
    "source",
    "note",
    "shared_with_funders",
)
# Writers racing on one hot stream each win in turn: enough attempts for dozens of them.
MAX_ATTEMPTS = 64


@dataclass(frozen=True)
class RecordedEvent:
    """A stored event as callers see it: type, data, full envelope and its two positions."""

    collaboration_id: str
    type: str
    data: dict[str, Any]
    envelope: dict[str, Any]
    version: int
    position: int
    replayed: bool = False
    receipt: Receipt | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "collaboration_id": self.collaboration_id,
            "type": self.type,
            "data": self.data,
            **{name: self.envelope.get(name) for name in ENVELOPE_FIELDS},
            "recorded_at": self.envelope["recorded_at"],
            "shared_with_funders": bool(self.envelope.get("shared_with_funders", False)),
            "version": self.version,
            "position": self.position,
            "receipt": self.receipt.as_dict() if self.receipt else None,
        }


@dataclass(frozen=True)
class StateView:
    """The governance state at one moment, with the basis that reproduces it."""

    collaboration_id: str
    state: dict[str, Any]
    basis: dict[str, Any]
    stream_version: int


@dataclass(frozen=True)
class CollaborationSummary:
    collaboration_id: str
    name: str
    founded_at: str
    recorded_at: str
    version: int
    position: int


def fingerprint(*parts: Any) -> str:
    """A stable hash of a request's content, to recognise a retry of the same request."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class LedgerService:
    """Commands and queries over collaborations; the one place that talks to the event store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = LedgerApplication(settings)
        self.store = self.app.store
        problems = self.store.durability_problems()
        if problems:
            self.app.close()
            raise ConfigError(
                "Refusing to start: acknowledged events could be lost because "
                + "; ".join(problems)
                + ". Turn these settings on."
            )
        self.integrity = IntegrityService(self.app, settings)

    def close(self) -> None:
        self.app.close()

    # Commands

    def found_collaboration(
        self,
        data: Mapping[str, Any],
        envelope: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> RecordedEvent:
        content = fingerprint("CollaborationFounded", data, _posted(envelope))
        idempotency = _idempotency(envelope, idempotency_key, content)
        not_before: datetime | None = None
        for _ in range(MAX_ATTEMPTS):
            if idempotency_key is not None:
                replay = self._replay_key(envelope["actor"], idempotency_key, content)
                if replay is not None:
                    return replay
            collaboration = Collaboration.found(data, envelope, not_before)
            try:
                recorded = self._save(collaboration, [content], idempotency)
            except RecordedAtBehindError as behind:
                not_before = parse_instant(behind.latest)
                continue
            except RecordConflictError:
                # For a brand-new stream only the idempotency key can collide: replay it.
                continue
            return recorded
        raise _too_busy()

    def record_event(
        self,
        collaboration_id: str,
        event_type: str,
        data: Mapping[str, Any],
        envelope: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> RecordedEvent:
        """Record one governance event, at most once per idempotency key or source id."""
        content = fingerprint(collaboration_id, event_type, data, _posted(envelope))
        idempotency = _idempotency(envelope, idempotency_key, content)
        replay_args = (collaboration_id, envelope, idempotency_key, content)
        not_before: datetime | None = None
        for attempt in range(MAX_ATTEMPTS):
            replay = self._replay(*replay_args)
            if replay is not None:
                return replay
            collaboration = self._load(collaboration_id)
            try:
                if expected_version is not None and collaboration.version != expected_version:
                    raise _mismatch(expected_version, collaboration.version)
                collaboration.record(event_type, data, envelope, not_before)
                recorded = self._save(collaboration, [content], idempotency)
            except RecordedAtBehindError as behind:
                # Another writer stamped a later recorded_at first: stamp again, after it.
                not_before = parse_instant(behind.latest)
            except RecordConflictError:
                # Another writer got there first; the loaded aggregate is stale: discard it.
                if expected_version is not None:
                    current = self.stream_version(collaboration_id)
                    self._raise_unless_replayed(_mismatch(expected_version, current), replay_args)
                # Spread the herd of writers on a hot stream a little.
                time.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))
            except (errors.RuleViolation, errors.VersionMismatchError) as error:
                # A concurrent retry of this very request may have landed since we looked.
                return self._raise_unless_replayed(error, replay_args)
            else:
                return recorded
        raise _too_busy()

    def _raise_unless_replayed(
        self, error: errors.LedgerError, replay_args: tuple[str, Mapping[str, Any], str | None, str]
    ) -> RecordedEvent:
        replay = self._replay(*replay_args)
        if replay is None:
            raise error
        return replay

    def _save(
        self,
        collaboration: Collaboration,
        fingerprints: list[str],
        idempotency: IdempotencyEntry | None = None,
    ) -> RecordedEvent:
        """Save the pending events with their index entries, in one transaction; the last."""
        pending = [e for e in collaboration.pending_events if isinstance(e, Collaboration.Event)]
        request_id = uuid4().hex
        index = [
            IndexEntry(
                collaboration_id=str(collaboration.id),
                version=event.originator_version,
                type=event.type,
                effective_at=event.envelope["effective_at"],
                recorded_at=format_instant(event.timestamp),
                source_system=event.envelope.get("source", {}).get("system"),
                source_id=event.envelope.get("source", {}).get("id"),
                fingerprint=content,
                request_id=request_id,
                subject_kind=subject[0] if subject else None,
                subject_id=subject[1] if subject else None,
                cause_kind=cause[0] if cause else None,
                cause_id=cause[1] if cause else None,
            )
            for event, content in zip(pending, fingerprints, strict=True)
            for subject, cause in [(subject_of(event.type, event.data), cause_of(event.envelope))]
        ]
        try:
            recordings = self.app.save(
                collaboration,
                index=index,
                idempotency=idempotency,
                collaboration_name=collaboration.state["collaboration"]["name"],
                integrity=record_inputs(pending),
            )
        except RecordConflictError:
            # The recorder retries after a lost connection: a commit whose reply was lost
            # then comes back as a conflict. If our own events are stored, it succeeded.
            row = self.store.query_one(
                "SELECT collaboration_id, MAX(version) AS version FROM ledger_event_index"
                " WHERE request_id=? GROUP BY collaboration_id",
                (request_id,),
            )
            if row is None:
                raise
            return self._event_at(row["collaboration_id"], row["version"], replayed=False)
        return self._recorded(recordings[-1])

    def import_events(
        self,
        collaboration_id: str,
        items: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
    ) -> int:
        """Record many events (type, data, envelope) atomically: all or none. Returns the version.

        Keep batches to a few thousand events: one very large transaction stalls PostgreSQL.
        """
        return self._record_all(collaboration_id, items, _fingerprints(collaboration_id, items))

    def record_batch(
        self,
        collaboration_id: str,
        items: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
    ) -> list[RecordedEvent]:
        """Record a batch atomically, at most once: when every event of it is already stored
        under its source id with the same content, the stored events are returned instead."""
        fingerprints = _fingerprints(collaboration_id, items)
        for _ in range(MAX_ATTEMPTS):
            replayed = self._replay_batch(collaboration_id, items, fingerprints)
            if replayed is not None:
                return replayed
            try:
                version = self._record_all(collaboration_id, items, fingerprints, retry=False)
            except RecordConflictError:
                continue  # a concurrent copy of this batch may have landed: look again
            except errors.RuleViolation:
                # ... or landed between our look and our load, and now breaks a rule.
                replayed = self._replay_batch(collaboration_id, items, fingerprints)
                if replayed is not None:
                    return replayed
                raise
            return self.events(collaboration_id, version - len(items), len(items))
        raise _too_busy()

    def _replay_batch(
        self,
        collaboration_id: str,
        items: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
        fingerprints: list[str],
    ) -> list[RecordedEvent] | None:
        """The stored batch when all of it is stored already; None when none of it is.

        Each item is looked up on its own, so a concurrent copy of the batch that commits
        between two lookups shows as part of it stored: once it is seen, all of it is, so a
        second look tells such a race from a batch that reuses some source ids."""
        for _ in range(2):
            replays = [self._replay(collaboration_id, envelope, None, content)
                       for (_, _, envelope), content in zip(items, fingerprints, strict=True)]  # fmt: skip
            stored = [r for r in replays if r is not None]
            if len(stored) == len(replays):
                return stored
            if not stored:
                return None
        raise errors.SourceIdReusedError(
            "Part of this batch was recorded before (same source ids); send the rest "
            "as a new batch."
        )

    def _record_all(
        self,
        collaboration_id: str,
        items: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
        fingerprints: list[str],
        *,
        retry: bool = True,
    ) -> int:
        not_before: datetime | None = None
        for _ in range(MAX_ATTEMPTS):
            collaboration = self._load(collaboration_id)
            for index, (event_type, data, envelope) in enumerate(items):
                try:
                    collaboration.record(event_type, data, envelope, not_before)
                except errors.RuleViolation as violation:
                    if len(items) == 1:
                        raise
                    raise type(violation)(
                        f"Event {index + 1} of the batch: {violation.detail}"
                    ) from None
            try:
                self._save(collaboration, fingerprints)
            except RecordedAtBehindError as behind:
                not_before = parse_instant(behind.latest)
                continue
            except RecordConflictError:
                if not retry:
                    raise
                continue
            return int(collaboration.version)
        raise _too_busy()

    def _replay(
        self,
        collaboration_id: str,
        envelope: Mapping[str, Any],
        idempotency_key: str | None,
        content: str,
    ) -> RecordedEvent | None:
        if idempotency_key is not None:
            replay = self._replay_key(envelope["actor"], idempotency_key, content)
            if replay is not None:
                return replay
        source = envelope.get("source")
        if source:
            return self._replay_source(collaboration_id, source, content)
        return None

    def _replay_key(self, actor: str, key: str, content: str) -> RecordedEvent | None:
        row = self.store.query_one(
            "SELECT fingerprint, collaboration_id, version FROM ledger_idempotency"
            " WHERE actor=? AND key=?",
            (actor, key),
        )
        if row is None:
            return None
        if row["fingerprint"] != content:
            raise errors.IdempotencyKeyReusedError(
                f"Idempotency-Key '{key}' was already used for a different request; "
                "use a new key for a new request."
            )
        return self._event_at(row["collaboration_id"], row["version"], replayed=True)

    def _replay_source(
        self, collaboration_id: str, source: Mapping[str, str], content: str
    ) -> RecordedEvent | None:
        row = self.store.query_one(
            "SELECT version, fingerprint FROM ledger_event_index"
            " WHERE collaboration_id=? AND source_system=? AND source_id=?",
            (collaboration_id, source["system"], source["id"]),
        )
        if row is None:
            return None
        if row["fingerprint"] != content:
            raise errors.SourceIdReusedError(
                f"Source id '{source['id']}' of system '{source['system']}' was already recorded "
                "with other content; a source id names one event."
            )
        return self._event_at(collaboration_id, row["version"], replayed=True)

    # Queries

    def _load(self, collaboration_id: str, version: int | None = None) -> Collaboration:
        try:
            aggregate: object = self.app.repository.get(_uuid(collaboration_id), version=version)
        except AggregateNotFoundError:
            raise _not_found(collaboration_id) from None
        if not isinstance(aggregate, Collaboration):
            raise _not_found(collaboration_id)
        return aggregate

    def stream_version(self, collaboration_id: str) -> int:
        """The number of events in the collaboration's stream (its ETag)."""
        row = self.store.query_one(
            "SELECT MAX(version) AS v FROM ledger_event_index WHERE collaboration_id=?",
            (str(_uuid(collaboration_id)),),
        )
        version = row["v"] if row else None
        if version is None:
            raise _not_found(collaboration_id)
        return int(version)

    def events(self, collaboration_id: str, after: int, limit: int) -> list[RecordedEvent]:
        """The stream, oldest first, from after version `after`."""
        self.stream_version(collaboration_id)
        stored = self.app.events.get(_uuid(collaboration_id), gt=after, limit=limit)
        events = [e for e in stored if isinstance(e, Collaboration.Event)]
        if not events:
            return []
        positions = self._positions(collaboration_id, after, events[-1].originator_version)
        receipts = self.integrity.receipts(positions.values())
        return [
            _as_recorded(e, p, receipts.get(p))
            for e in events
            for p in [positions[e.originator_version]]
        ]

    def _positions(self, collaboration_id: str, after: int, last: int) -> dict[int, int]:
        rows = self.store.query(
            "SELECT version, position FROM ledger_event_index"
            " WHERE collaboration_id=? AND version>? AND version<=?",
            (str(_uuid(collaboration_id)), after, last),
        )
        return {row["version"]: row["position"] for row in rows}

    def folded_state(self, collaboration_id: str, version: int) -> State:
        """The plain fold of the first `version` events (no derived statuses); a copy."""
        if version == 0:
            self.stream_version(collaboration_id)
            return empty_state()
        return copy.deepcopy(self._load(collaboration_id, version).state)

    def events_at(self, collaboration_id: str, versions: Sequence[int]) -> list[RecordedEvent]:
        """The events at the given versions of the stream, in stream order."""
        return [self.events(collaboration_id, v - 1, 1)[0] for v in sorted(set(versions))]

    def versions_where(
        self, collaboration_id: str, condition: str, params: Sequence[Any]
    ) -> list[int]:
        """Versions of the stream's events whose index row meets `condition` (SQL, `?` params)."""
        rows = self.store.query(
            "SELECT version FROM ledger_event_index WHERE collaboration_id=? AND "
            + condition
            + " ORDER BY version",
            (str(_uuid(collaboration_id)), *params),
        )
        return [int(row["version"]) for row in rows]

    def _event_at(self, collaboration_id: str, version: int, replayed: bool) -> RecordedEvent:
        event = self.events(collaboration_id, version - 1, 1)[0]
        return RecordedEvent(**{**event.__dict__, "replayed": replayed})

    def _recorded(self, recording: Recording[UUID]) -> RecordedEvent:
        event = recording.domain_event
        assert isinstance(event, Collaboration.Event)
        position = recording.notification.id
        return _as_recorded(event, position, self.integrity.after_save(position))

    def feed(
        self, after: int, limit: int, scope: Collection[str] | None = None
    ) -> list[RecordedEvent]:
        """Events of every collaboration (in `scope`, when given) after global position
        `after`, in commit order."""
        condition, params = _in_scope(scope)
        rows = self.store.query(
            "SELECT position, notification_id FROM ledger_event_index WHERE position>?"
            + condition
            + " ORDER BY position LIMIT ?",
            (after, *params, limit),
        )
        if not rows:
            return []
        position_of = {row["notification_id"]: row["position"] for row in rows}
        receipts = self.integrity.receipts(position_of.values())
        notifications = self.app.recorder.select_notifications(
            start=rows[0]["notification_id"],
            stop=rows[-1]["notification_id"],
            limit=rows[-1]["notification_id"] - rows[0]["notification_id"] + 1,
        )
        events = []
        for notification in notifications:
            if notification.id not in position_of:
                continue  # another tenant's event
            event = self.app.mapper.to_domain_event(notification)
            if isinstance(event, Collaboration.Event):
                position = position_of[notification.id]
                events.append(_as_recorded(event, position, receipts.get(position)))
        return events

    def head_position(self) -> int:
        row = self.store.query_one("SELECT MAX(position) AS head FROM ledger_event_index")
        return int(row["head"]) if row and row["head"] is not None else 0

    def collaborations(
        self, after: int, limit: int, scope: Collection[str] | None = None
    ) -> list[CollaborationSummary]:
        """Collaborations (in `scope`, when given) in the order they were founded, after
        global position `after`."""
        condition, params = _in_scope(scope, "c.")
        rows = self.store.query(
            "SELECT c.*, (SELECT MAX(version) FROM ledger_event_index e"
            "  WHERE e.collaboration_id=c.collaboration_id) AS version"
            " FROM ledger_collaborations c WHERE position>?"
            + condition
            + " ORDER BY position LIMIT ?",
            (after, *params, limit),
        )
        return [CollaborationSummary(**row) for row in rows]

    def state(
        self,
        collaboration_id: str,
        *,
        version: int | None = None,
        known_at: datetime | None = None,
        at: datetime | None = None,
        now: datetime | None = None,
    ) -> StateView:
        """The state at a version, as known at a record time, and/or in force at a valid time.

        With no moment given, the state in force now, as known now.
        """
        stream_version = self.stream_version(collaboration_id)
        now = now or datetime.now(UTC)
        if version is None and known_at is None and at is None:
            at = now
        basis_version = self._basis_version(collaboration_id, stream_version, version, known_at)
        if basis_version == 0:
            state = empty_state()  # before the first event: nothing yet
        elif at is None:
            state = self._load(collaboration_id, basis_version).state
        else:
            state = self._state_in_force(collaboration_id, basis_version, format_instant(at))
        as_of = at or known_at or now
        basis = {
            "version": basis_version,
            "known_at": format_instant(known_at) if known_at else None,
            "at": format_instant(at) if at else None,
            "as_of": format_instant(as_of),
        }
        view = derive(state, _day(as_of))
        return StateView(collaboration_id, view, basis, stream_version)

    def _basis_version(
        self,
        collaboration_id: str,
        stream_version: int,
        version: int | None,
        known_at: datetime | None,
    ) -> int:
        if version is not None:
            if version > stream_version:
                raise errors.MomentOutOfRangeError(
                    f"The collaboration has {stream_version} events; ask for version "
                    f"1 to {stream_version}."
                )
            return version
        if known_at is None:
            return stream_version
        # recorded_at grows with the version: the last event recorded by then, by index seek.
        row = self.store.query_one(
            "SELECT version AS v FROM ledger_event_index WHERE collaboration_id=?"
            " AND recorded_at<=? ORDER BY recorded_at DESC, version DESC LIMIT 1",
            (str(_uuid(collaboration_id)), format_instant(known_at)),
        )
        known = row["v"] if row else None
        if known is None:
            raise errors.NotYetRecordedError(
                f"The ledger knew nothing of collaboration {collaboration_id} at "
                f"{format_instant(known_at)}; ask for a later known_at."
            )
        return int(known)

    def _state_in_force(self, collaboration_id: str, last_version: int, at: str) -> State:
        """Fold the known events in force at `at`, starting from the longest prefix that is.

        A correction counts whenever the version it corrects is in view (moments.counts); it
        was recorded against the version in view of the whole stream before it, so within a
        prefix in which every event counts, every correction counts too: only events that take
        effect after `at` end the prefix."""
        cid = str(_uuid(collaboration_id))
        row = self.store.query_one(
            "SELECT MIN(version) AS v FROM ledger_event_index WHERE collaboration_id=?"
            " AND version<=? AND effective_at>? AND type<>'AgreementCorrected'",
            (cid, last_version, at),
        )
        first_exception = row["v"] if row else None
        if first_exception is None:
            return self._load(collaboration_id, last_version).state
        if first_exception == 1:
            raise errors.NotYetInForceError(
                f"Collaboration {collaboration_id} was not founded yet at {at}; "
                "ask for a later moment."
            )
        base = self._load(collaboration_id, first_exception - 1).state
        # Decode only the events that may count: those in force by `at`, and corrections
        # (whether one counts depends on the state it meets).
        counting = {
            int(r["version"])
            for r in self.store.query(
                "SELECT version FROM ledger_event_index WHERE collaboration_id=? AND version>=?"
                " AND version<=? AND (effective_at<=? OR type='AgreementCorrected')",
                (cid, first_exception, last_version, at),
            )
        }
        stored = self.app.recorder.select_events(
            _uuid(collaboration_id), gt=first_exception - 1, lte=last_version
        )
        rest = (
            self.app.mapper.to_domain_event(s) for s in stored if s.originator_version in counting
        )
        return fold_at(base, (e for e in rest if isinstance(e, Collaboration.Event)), at)

    def is_ready(self) -> bool:
        return self.store.query_one("SELECT 1 AS ok") is not None


def _posted(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope as the client posted it (the actor is the principal, not content)."""
    return {k: v for k, v in envelope.items() if k != "actor" and v is not None}


def _fingerprints(
    collaboration_id: str, items: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]]
) -> list[str]:
    return [
        fingerprint(collaboration_id, t, data, _posted(envelope)) for t, data, envelope in items
    ]


def _in_scope(scope: Collection[str] | None, prefix: str = "") -> tuple[str, list[str]]:
    """A SQL condition limiting rows to the collaborations in scope (none: no limit)."""
    if scope is None:
        return "", []
    ids = sorted(scope) or [""]
    return f" AND {prefix}collaboration_id IN ({','.join('?' * len(ids))})", ids


def _idempotency(
    envelope: Mapping[str, Any], key: str | None, content: str
) -> IdempotencyEntry | None:
    return None if key is None else IdempotencyEntry(envelope["actor"], key, content)


def _as_recorded(
    event: Collaboration.Event, position: int, receipt: Receipt | None = None
) -> RecordedEvent:
    return RecordedEvent(
        collaboration_id=str(event.originator_id),
        type=event.type,
        data=event.data,
        envelope={**event.envelope, "recorded_at": format_instant(event.timestamp)},
        version=event.originator_version,
        position=position,
        receipt=receipt,
    )


def _uuid(collaboration_id: str) -> UUID:
    try:
        return UUID(collaboration_id)
    except ValueError:
        raise _not_found(collaboration_id) from None


def _not_found(collaboration_id: str) -> errors.CollaborationNotFoundError:
    return errors.CollaborationNotFoundError(
        f"There is no collaboration '{collaboration_id}' that this token can see."
    )


def _too_busy() -> errors.ConcurrentWriteError:
    return errors.ConcurrentWriteError(
        "The collaboration is being changed by many writers at once; retry the request."
    )


def _mismatch(expected: int, current: int) -> errors.VersionMismatchError:
    return errors.VersionMismatchError(
        f"The collaboration is at version {current}, not {expected} as If-Match says; "
        "read it again and retry with the current ETag.",
        current_version=current,
    )


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()
