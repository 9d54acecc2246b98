"""The Collaboration aggregate: one event stream per collaboration, its consistency boundary.

Every event carries the client's `data` and the `envelope` (design.md §2); the library's event
`timestamp` is the event's `recorded_at`, kept monotonic within the stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Aggregate

from ledger.domain import errors, rules
from ledger.domain.state import Data, Stamp, State, apply_event, empty_state
from ledger.domain.timefmt import format_instant
from ledger.domain.vocabulary import EVENT_TYPES


class Collaboration(Aggregate):
    """A multi-organisation collaboration and everything it decided about its governance."""

    TOPIC = "ledger:Collaboration"

    class Event(Aggregate.Event):
        TOPIC = "ledger:Collaboration.Event"
        data: dict[str, Any]
        envelope: dict[str, Any]

        @property
        def type(self) -> str:
            return type(self).__name__

        @property
        def stamp(self) -> Stamp:
            return Stamp(
                version=self.originator_version,
                effective_at=self.envelope["effective_at"],
                recorded_at=format_instant(self.timestamp),
                shared_with_funders=bool(self.envelope.get("shared_with_funders", False)),
            )

        def apply(self, aggregate: Collaboration) -> None:
            apply_event(aggregate.state, self.type, self.data, self.stamp)

    class CollaborationFounded(Event, Aggregate.Created):
        TOPIC = "ledger:CollaborationFounded"

    class MissionRevised(Event):
        TOPIC = "ledger:MissionRevised"

    class PhaseStarted(Event):
        TOPIC = "ledger:PhaseStarted"

    class PartnerJoined(Event):
        TOPIC = "ledger:PartnerJoined"

    class PartnerCapacitiesChanged(Event):
        TOPIC = "ledger:PartnerCapacitiesChanged"

    class PartnerLeft(Event):
        TOPIC = "ledger:PartnerLeft"

    class MemberJoined(Event):
        TOPIC = "ledger:MemberJoined"

    class MemberLeft(Event):
        TOPIC = "ledger:MemberLeft"

    class RoleDefined(Event):
        TOPIC = "ledger:RoleDefined"

    class RoleRedefined(Event):
        TOPIC = "ledger:RoleRedefined"

    class RoleAssigned(Event):
        TOPIC = "ledger:RoleAssigned"

    class RoleHandedOver(Event):
        TOPIC = "ledger:RoleHandedOver"

    class RoleVacated(Event):
        TOPIC = "ledger:RoleVacated"

    class RoleRetired(Event):
        TOPIC = "ledger:RoleRetired"

    class MandateGranted(Event):
        TOPIC = "ledger:MandateGranted"

    class MandateAmended(Event):
        TOPIC = "ledger:MandateAmended"

    class MandateRevoked(Event):
        TOPIC = "ledger:MandateRevoked"

    class AgreementMade(Event):
        TOPIC = "ledger:AgreementMade"

    class AgreementAmended(Event):
        TOPIC = "ledger:AgreementAmended"

    class AgreementCorrected(Event):
        """A clerical fix of the agreement version that was current when it was recorded."""

        TOPIC = "ledger:AgreementCorrected"
        corrects_version: int

    class AgreementReviewed(Event):
        TOPIC = "ledger:AgreementReviewed"

    class AgreementEnded(Event):
        TOPIC = "ledger:AgreementEnded"

    class DecisionRecorded(Event):
        TOPIC = "ledger:DecisionRecorded"

    class ReflectionHeld(Event):
        TOPIC = "ledger:ReflectionHeld"

    def __init__(self) -> None:
        self.state: State = empty_state()

    @classmethod
    def found(
        cls, data: Data, envelope: Mapping[str, Any], not_before: datetime | None = None
    ) -> Collaboration:
        """Found a collaboration; the ledger assigns its id."""
        recorded_at = _stamp(not_before)
        return cls._create(
            cls.CollaborationFounded,
            id=uuid4(),
            timestamp=recorded_at,
            data=dict(data),
            envelope=_complete(envelope, recorded_at),
        )

    def record(
        self,
        event_type: str,
        data: Data,
        envelope: Mapping[str, Any],
        not_before: datetime | None = None,
    ) -> None:
        """Check the rules for this event against the current state, then record it.

        `not_before` is the latest recorded_at of the whole log, when a writer learned it.
        """
        event_class = EVENT_CLASSES.get(event_type)
        if event_class is None or event_class is Collaboration.CollaborationFounded:
            raise errors.UnknownEventTypeError(
                f"'{event_type}' cannot be posted to a collaboration; "
                "see GET /event-types for the types that can."
            )
        # recorded_at never goes back in time within a stream, whatever the clock does.
        recorded_at = _stamp(not_before, self.modified_on)
        complete = _complete(envelope, recorded_at)
        rules.check(self.state, event_type, data, complete)
        extra: dict[str, Any] = {}
        if event_class is Collaboration.AgreementCorrected:
            extra["corrects_version"] = self.state["agreements"][data["agreement_id"]]["version"]
        self.trigger_event(
            event_class, timestamp=recorded_at, data=dict(data), envelope=complete, **extra
        )


def _stamp(*floors: datetime | None) -> datetime:
    """The library's timestamp for a new event, never earlier than the given floors."""
    return max([Collaboration.Event.create_timestamp(), *(f for f in floors if f is not None)])


def _complete(envelope: Mapping[str, Any], recorded_at: datetime) -> dict[str, Any]:
    """The envelope with `effective_at` defaulting to the moment of recording."""
    complete = {key: value for key, value in envelope.items() if value is not None}
    complete["effective_at"] = complete.get("effective_at") or format_instant(recorded_at)
    return complete


EVENT_CLASSES: dict[str, type[Collaboration.Event]] = {
    name: getattr(Collaboration, name) for name in EVENT_TYPES
}
