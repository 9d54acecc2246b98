"""Canonical records: RFC 8785 JSON of each stored event, hashed with SHA-256 and chained.

A record holds the event's position, collaboration id, version, type, envelope and the hash of
its canonical data, plus the previous record's hash; `attributes` carries whatever else the
event stored (corrects_version, the library's originator_topic), so no stored byte goes
unhashed. The same functions compute records when events are stored and when they are verified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785

from ledger.domain.errors import LedgerError
from ledger.domain.timefmt import format_instant

# The envelope as design.md §2 lists it; a field the event does not carry is null.
ENVELOPE_NAMES = (
    "effective_at",
    "recorded_at",
    "actor",
    "acting_for",
    "capacity",
    "cause",
    "source",
    "note",
    "shared_with_funders",
)
# What the eventsourcing library keeps outside the stored state, or as the event's own fields.
IDENTITY_NAMES = ("originator_id", "originator_version")
CONTENT_NAMES = ("timestamp", "data", "envelope")


class NotCanonicalError(LedgerError):
    """Data that has no RFC 8785 form (a number beyond ±2^53, NaN, a non-string key)."""

    rule = "not-canonical-json"


def canonical(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        raise NotCanonicalError(
            "Event data must be plain JSON that hashes the same everywhere: integers within "
            f"±9007199254740991, finite numbers, text keys ({error})."
        ) from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RecordInput:
    """One stored event, as a record is computed from it."""

    collaboration_id: str
    version: int
    type: str
    envelope: Mapping[str, Any]
    data: Any
    data_hash: str
    attributes: Mapping[str, Any]

    def record(self, position: int, previous_hash: str | None) -> bytes:
        """The canonical record of this event at `position`, chained to `previous_hash`."""
        record: dict[str, Any] = {
            "position": position,
            "collaboration_id": self.collaboration_id,
            "version": self.version,
            "type": self.type,
            "envelope": dict(self.envelope),
            "data_hash": self.data_hash,
            "previous_hash": previous_hash,
        }
        if self.attributes:
            record["attributes"] = dict(self.attributes)
        return canonical(record)


def input_from_state(
    collaboration_id: str, version: int, event_type: str, state: Mapping[str, Any]
) -> RecordInput:
    """The record input of an event from its stored state (the library's decoded JSON)."""
    timestamp = state["timestamp"]
    if not isinstance(timestamp, datetime):
        raise ValueError("the stored timestamp is not a date-time")
    envelope = state["envelope"]
    data = state["data"]
    if not isinstance(envelope, Mapping):
        raise ValueError("the stored envelope is not an object")
    complete = {**envelope, **{name: envelope.get(name) for name in ENVELOPE_NAMES}}
    complete["recorded_at"] = format_instant(timestamp)
    attributes = {k: v for k, v in state.items() if k not in CONTENT_NAMES + IDENTITY_NAMES}
    return RecordInput(
        collaboration_id=collaboration_id,
        version=version,
        type=event_type,
        envelope=complete,
        data=data,
        data_hash=sha256_hex(canonical(data)),
        attributes=attributes,
    )


def record_inputs(events: Sequence[Any]) -> list[RecordInput]:
    """Record inputs of domain events about to be saved, from the state the library stores.

    Called before the transaction, so data without a canonical form is refused up front.
    """
    inputs = []
    for event in events:
        state = dict(vars(event))
        class_version = getattr(type(event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version  # as the library's mapper stores it
        item = input_from_state(
            str(event.originator_id), event.originator_version, type(event).__name__, state
        )
        item.record(0, None)  # an envelope or attribute without a canonical form fails here
        inputs.append(item)
    return inputs
