"""Typed results of the ledger's API: frozen dataclasses read from its JSON.

Instants become aware UTC datetimes; amounts become Decimals; event data, state sections and
other open-ended objects stay mappings. Unknown fields are ignored, so newer servers still parse.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from ledger.domain.timefmt import parse_instant

T = TypeVar("T")
Json = Mapping[str, Any]


def _instant(value: Any) -> datetime | None:
    return parse_instant(value) if value else None


def _required_instant(value: Any) -> datetime:
    return parse_instant(str(value))


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


@dataclass(frozen=True)
class StoredEvent:
    """A governance event as the ledger stored it: its type and data, its envelope, its version
    in the collaboration's stream and its position in the global log."""

    collaboration_id: str
    type: str
    data: Json
    version: int
    position: int
    effective_at: datetime
    recorded_at: datetime
    actor: str
    acting_for: Json | None = None
    capacity: str | None = None
    cause: Json | None = None
    source: Json | None = None
    note: str | None = None
    shared_with_funders: bool = False
    receipt: Json | None = None  # the integrity receipt, when the ledger issues one
    replayed: bool = False  # True when a retry got the result of an earlier, stored post

    @classmethod
    def from_json(cls, body: Json, *, replayed: bool = False) -> StoredEvent:
        return cls(
            collaboration_id=str(body["collaboration_id"]),
            type=str(body["type"]),
            data=body.get("data") or {},
            version=int(body["version"]),
            position=int(body["position"]),
            effective_at=_required_instant(body["effective_at"]),
            recorded_at=_required_instant(body["recorded_at"]),
            actor=str(body.get("actor", "")),
            acting_for=body.get("acting_for"),
            capacity=body.get("capacity"),
            cause=body.get("cause"),
            source=body.get("source"),
            note=body.get("note"),
            shared_with_funders=bool(body.get("shared_with_funders", False)),
            receipt=body.get("receipt"),
            replayed=replayed,
        )


@dataclass(frozen=True)
class Basis:
    """Which moment an answer is about, so that it can be asked again (design.md §3)."""

    version: int | None = None
    known_at: datetime | None = None
    at: datetime | None = None
    as_of: datetime | None = None

    @classmethod
    def from_json(cls, body: Json) -> Basis:
        return cls(
            version=_int(body.get("version")),
            known_at=_instant(body.get("known_at")),
            at=_instant(body.get("at")),
            as_of=_instant(body.get("as_of")),
        )


@dataclass(frozen=True)
class GovernanceState:
    """The governance state of a collaboration at one moment, with the basis that reproduces it.
    `stream_version` is the whole stream's (the ETag to send as `expected_version`)."""

    SECTIONS: ClassVar[tuple[str, ...]] = ("partners", "members", "roles", "mandates",
                                           "agreements", "decisions", "reflections")  # fmt: skip

    collaboration_id: str
    basis: Basis
    stream_version: int
    collaboration: Json
    phase: Json | None
    phases: tuple[Json, ...]
    partners: Mapping[str, Json]
    members: Mapping[str, Json]  # empty for funder tokens, which do not see people
    roles: Mapping[str, Json]
    mandates: Mapping[str, Json]
    agreements: Mapping[str, Json]
    decisions: Mapping[str, Json]
    reflections: Mapping[str, Json]
    attention: tuple[Json, ...]

    @classmethod
    def from_json(cls, body: Json) -> GovernanceState:
        return cls(
            collaboration_id=str(body["collaboration_id"]),
            basis=Basis.from_json(body["basis"]),
            stream_version=int(body["stream_version"]),
            collaboration=body.get("collaboration") or {},
            phase=body.get("phase"),
            phases=tuple(body.get("phases") or ()),
            attention=tuple(body.get("attention") or ()),
            **{section: body.get(section) or {} for section in cls.SECTIONS},
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing. Exactly one kind of cursor applies to each listing: `next_after`
    (events, feed), `next_cursor` (collaborations, agreements) or `next_offset` (timeline);
    None when this is the last page."""

    items: tuple[T, ...]
    next_after: int | None = None
    next_cursor: str | None = None
    next_offset: int | None = None
    total: int | None = None  # timeline: events between the two moments
    basis: Basis | None = None  # agreements: the moment they were asked about
    stream_version: int | None = None  # events: the stream's version (its ETag)

    @property
    def has_more(self) -> bool:
        return (self.next_after, self.next_cursor, self.next_offset) != (None, None, None)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class CollaborationSummary:
    collaboration_id: str
    name: str
    founded_at: datetime
    recorded_at: datetime
    version: int

    @classmethod
    def from_json(cls, body: Json) -> CollaborationSummary:
        return cls(
            collaboration_id=str(body["collaboration_id"]),
            name=str(body["name"]),
            founded_at=_required_instant(body["founded_at"]),
            recorded_at=_required_instant(body["recorded_at"]),
            version=int(body["version"]),
        )


@dataclass(frozen=True)
class Change:
    """One difference between two states: an item added or removed (`value`), or changed
    (`fields`: name → {"from": …, "to": …}). `id` is None for the compass and the phase."""

    section: str
    id: str | None
    change: str  # added, removed, changed
    value: Json | None = None
    fields: Mapping[str, Json] | None = None

    @classmethod
    def from_json(cls, body: Json) -> Change:
        return cls(
            section=str(body["section"]),
            id=body.get("id"),
            change=str(body["change"]),
            value=body.get("value"),
            fields=body.get("fields"),
        )


def _changes(body: Json) -> tuple[Change, ...]:
    return tuple(Change.from_json(change) for change in body.get("changes") or ())


@dataclass(frozen=True)
class Entry:
    """An event in a timeline or a history: the event, its one-line summary (in the language
    asked for, and in every language), and the changes it made. `backdated` is set in
    timelines, `item_version` in the life of a mandate or an agreement."""

    event: StoredEvent
    summary: str | None
    summaries: Mapping[str, str]
    changes: tuple[Change, ...] = ()
    backdated: bool | None = None
    item_version: int | None = None

    @classmethod
    def from_json(cls, body: Json) -> Entry:
        backdated = body.get("backdated")
        return cls(
            event=StoredEvent.from_json(body),
            summary=body.get("summary"),
            summaries=body.get("summaries") or {},
            changes=_changes(body),
            backdated=bool(backdated) if backdated is not None else None,
            item_version=_int(body.get("item_version")),
        )


def entries(items: Any) -> tuple[Entry, ...]:
    return tuple(Entry.from_json(item) for item in items or ())


@dataclass(frozen=True)
class Diff:
    """What was added, removed and changed between two moments."""

    collaboration_id: str
    from_: Basis
    to: Basis
    changes: tuple[Change, ...]

    @classmethod
    def from_json(cls, body: Json) -> Diff:
        return cls(
            collaboration_id=str(body["collaboration_id"]),
            from_=Basis.from_json(body["from"]),
            to=Basis.from_json(body["to"]),
            changes=_changes(body),
        )


@dataclass(frozen=True)
class Tenure:
    """Who held a role from when to when (valid time), and when the ledger learned of it."""

    person_id: str
    name: str | None  # None for funder tokens
    method: str | None
    from_: datetime
    to: datetime | None
    recorded_from: datetime
    recorded_to: datetime | None
    started_by: str
    ended_by: str | None
    start_version: int
    end_version: int | None

    @classmethod
    def from_json(cls, body: Json) -> Tenure:
        return cls(
            person_id=str(body["person_id"]),
            name=body.get("name"),
            method=body.get("method"),
            from_=_required_instant(body["from"]),
            to=_instant(body.get("to")),
            recorded_from=_required_instant(body["recorded_from"]),
            recorded_to=_instant(body.get("recorded_to")),
            started_by=str(body["started_by"]),
            ended_by=body.get("ended_by"),
            start_version=int(body["start_version"]),
            end_version=_int(body.get("end_version")),
        )


@dataclass(frozen=True)
class RoleHistory:
    role_id: str
    tenures: tuple[Tenure, ...]
    events: tuple[Entry, ...]

    @classmethod
    def from_json(cls, body: Json) -> RoleHistory:
        return cls(
            role_id=str(body["role_id"]),
            tenures=tuple(Tenure.from_json(tenure) for tenure in body.get("tenures") or ()),
            events=entries(body.get("events")),
        )


@dataclass(frozen=True)
class ItemLife:
    """The life of a mandate or an agreement: versions, amendments, corrections, reviews, end."""

    kind: str  # mandate, agreement
    item_id: str
    life: tuple[Entry, ...]

    @classmethod
    def from_json(cls, body: Json) -> ItemLife:
        kind = str(body["kind"])
        return cls(kind=kind, item_id=str(body[f"{kind}_id"]), life=entries(body.get("life")))


@dataclass(frozen=True)
class CauseAndEffect:
    """A decision or a reflection, and every event that cites it as its cause."""

    kind: str  # decision, reflection
    item_id: str
    item: Json
    effects: tuple[Entry, ...]

    @classmethod
    def from_json(cls, kind: str, body: Json) -> CauseAndEffect:
        item = body[kind]
        return cls(
            kind=kind,
            item_id=str(item[f"{kind}_id"]),
            item=item,
            effects=entries(body.get("effects")),
        )


@dataclass(frozen=True)
class RegisterEntry:
    """One agreement in the register: its version in force from `valid_from` to `valid_to`,
    as the ledger knew it from `recorded_from` to `recorded_to`, with its status then."""

    collaboration_id: str
    agreement_id: str
    status: str  # in_force, review_due, expired, ended
    valid_from: datetime
    valid_to: datetime | None
    recorded_from: datetime
    recorded_to: datetime | None
    agreement: Json

    @classmethod
    def from_json(cls, body: Json) -> RegisterEntry:
        return cls(
            collaboration_id=str(body["collaboration_id"]),
            agreement_id=str(body["agreement_id"]),
            status=str(body["status"]),
            valid_from=_required_instant(body["valid_from"]),
            valid_to=_instant(body.get("valid_to")),
            recorded_from=_required_instant(body["recorded_from"]),
            recorded_to=_instant(body.get("recorded_to")),
            agreement=body.get("agreement") or {},
        )


def _amounts(amounts: Mapping[str, Any]) -> dict[str, Decimal]:
    return {currency: Decimal(str(amount)) for currency, amount in amounts.items()}


@dataclass(frozen=True)
class BudgetSummary:
    """Budget committed per currency, overall and per collaboration, by agreements in force."""

    at: datetime
    known_at: datetime
    party: str | None
    agreements_in_force: int
    totals: Mapping[str, Decimal]
    per_collaboration: Mapping[str, Mapping[str, Decimal]]

    @classmethod
    def from_json(cls, body: Json) -> BudgetSummary:
        basis = body["basis"]
        return cls(
            at=_required_instant(basis["at"]),
            known_at=_required_instant(basis["known_at"]),
            party=basis.get("party"),
            agreements_in_force=int(body["agreements_in_force"]),
            totals=_amounts(body.get("totals") or {}),
            per_collaboration={
                cid: _amounts(amounts)
                for cid, amounts in (body.get("per_collaboration") or {}).items()
            },
        )


@dataclass(frozen=True)
class EventType:
    """An entry of the catalogue: an event type, what it means, the JSON schema of its data."""

    type: str
    description: str
    schema: Json

    @classmethod
    def from_json(cls, body: Json) -> EventType:
        return cls(str(body["type"]), str(body.get("description", "")), body.get("schema") or {})


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the secret itself."""

    name: str
    role: str
    collaborations: tuple[str, ...]
    event_types: tuple[str, ...]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_json(cls, body: Json) -> TokenInfo:
        return cls(
            name=str(body["name"]),
            role=str(body["role"]),
            collaborations=tuple(body.get("collaborations") or ()),
            event_types=tuple(body.get("event_types") or ()),
            created_at=_required_instant(body["created_at"]),
            created_by=str(body.get("created_by", "")),
            expires_at=_instant(body.get("expires_at")),
            revoked_at=_instant(body.get("revoked_at")),
        )


@dataclass(frozen=True)
class IssuedToken:
    """A newly issued token: `token` is the secret, shown this once."""

    name: str
    role: str
    token: str

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"IssuedToken(name={self.name!r}, role={self.role!r}, token='…')"
