"""The rules of design.md §2, checked against the current state before an event is recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ledger.domain import errors
from ledger.domain.state import Data, State

Envelope = Mapping[str, Any]

_UNKNOWN: dict[str, type[errors.UnknownReferenceError]] = {
    "partners": errors.UnknownPartnerError,
    "members": errors.UnknownPersonError,
    "roles": errors.UnknownRoleError,
    "mandates": errors.UnknownMandateError,
    "agreements": errors.UnknownAgreementError,
    "decisions": errors.UnknownDecisionError,
    "reflections": errors.UnknownReflectionError,
}
_NOUN = {
    "partners": "partner",
    "members": "person",
    "roles": "role",
    "mandates": "mandate",
    "agreements": "agreement",
    "decisions": "decision",
    "reflections": "reflection",
}


def _existing(state: State, kind: str, item_id: str, effective_at: str) -> dict[str, Any]:
    """The referenced item, which must exist and have taken effect no later than the event."""
    item: dict[str, Any] | None = state[kind].get(item_id)
    noun = _NOUN[kind]
    if item is None:
        raise _UNKNOWN[kind](f"There is no {noun} '{item_id}' in this collaboration.")
    if item["since"] > effective_at:
        raise errors.EffectiveBeforeReferenceError(
            f"The event takes effect at {effective_at}, before {noun} '{item_id}' "
            f"took effect at {item['since']}."
        )
    return item


def _left_by(item: dict[str, Any], effective_at: str) -> bool:
    """Whether the partner or person had left when the event takes effect (a backdated event
    from before they left still counts them in)."""
    return bool(item["status"] != "current" and item["left_at"] <= effective_at)


def _current_partner(state: State, partner_id: str, effective_at: str) -> dict[str, Any]:
    partner = _existing(state, "partners", partner_id, effective_at)
    if _left_by(partner, effective_at):
        raise errors.PartnerNotCurrentError(
            f"Partner '{partner_id}' left the collaboration at {partner['left_at']}."
        )
    return partner


def _current_member(state: State, person_id: str, effective_at: str) -> dict[str, Any]:
    member = _existing(state, "members", person_id, effective_at)
    if _left_by(member, effective_at):
        raise errors.MemberNotCurrentError(
            f"Person '{person_id}' left the collaboration at {member['left_at']}."
        )
    return member


def _new_id(state: State, kind: str, item_id: str) -> None:
    if item_id in state[kind]:
        raise errors.DuplicateIdError(
            f"A {_NOUN[kind]} with id '{item_id}' already exists in this collaboration; "
            "choose another id."
        )


def _rejoining(state: State, kind: str, item_id: str) -> None:
    """Partners and people may come back after leaving, but not join twice."""
    item = state[kind].get(item_id)
    if item is not None and item["status"] == "current":
        raise errors.DuplicateIdError(
            f"{_NOUN[kind].capitalize()} '{item_id}' is already part of this collaboration."
        )


def _not_ended(item: Mapping[str, Any], flag: str, noun: str, item_id: str) -> None:
    if item[flag]:
        raise errors.AlreadyEndedError(
            f"{noun.capitalize()} '{item_id}' has ended; it cannot be changed any more."
        )


def _people(state: State, person_ids: Iterable[str], effective_at: str) -> None:
    for person_id in person_ids:
        _existing(state, "members", person_id, effective_at)


def check_envelope(state: State, envelope: Envelope) -> None:
    """Rules on the envelope: it refers only to things that exist and took effect."""
    effective_at: str = envelope["effective_at"]
    founded_at = state["collaboration"]["founded_at"]
    if effective_at < founded_at:
        raise errors.EffectiveBeforeReferenceError(
            f"The event takes effect at {effective_at}, before the collaboration was founded "
            f"({founded_at})."
        )
    acting_for = envelope.get("acting_for")
    if acting_for:
        _current_partner(state, acting_for["partner_id"], effective_at)
    cause = envelope.get("cause")
    if cause:
        for key, kind in (("decision_id", "decisions"), ("reflection_id", "reflections")):
            if key in cause:
                _existing(state, kind, cause[key], effective_at)


def _partner_joined(state: State, data: Data, at: str) -> None:
    _rejoining(state, "partners", data["partner_id"])


def _partner_current(state: State, data: Data, at: str) -> None:
    _current_partner(state, data["partner_id"], at)


def _member_joined(state: State, data: Data, at: str) -> None:
    _rejoining(state, "members", data["person_id"])
    if data.get("partner_id"):
        _current_partner(state, data["partner_id"], at)


def _member_left(state: State, data: Data, at: str) -> None:
    _current_member(state, data["person_id"], at)


def _role_defined(state: State, data: Data, at: str) -> None:
    _new_id(state, "roles", data["role_id"])


def _active_role(state: State, role_id: str, at: str) -> dict[str, Any]:
    role = _existing(state, "roles", role_id, at)
    if role["status"] == "retired":
        raise errors.AlreadyEndedError(f"Role '{role_id}' was retired; it cannot be changed.")
    return role


def _role_changed(state: State, data: Data, at: str) -> None:
    _active_role(state, data["role_id"], at)


def _role_assigned(state: State, data: Data, at: str) -> None:
    role = _active_role(state, data["role_id"], at)
    if role["holder"] is not None:
        raise errors.RoleNotVacantError(
            f"Role '{data['role_id']}' is held by '{role['holder']}'; hand it over instead."
        )
    vacated_at = role.get("vacated_at")  # absent in states folded before it was tracked
    if vacated_at is not None and vacated_at > at:
        raise errors.EffectiveBeforeReferenceError(
            f"The assignment takes effect at {at}, before role '{data['role_id']}' became "
            f"vacant ({vacated_at})."
        )
    _current_member(state, data["person_id"], at)


def _held_role(state: State, role_id: str, at: str) -> dict[str, Any]:
    role = _active_role(state, role_id, at)
    if role["holder"] is None:
        raise errors.RoleNotHeldError(f"Role '{role_id}' is vacant; assign it instead.")
    if role["held_since"] > at:
        raise errors.EffectiveBeforeReferenceError(
            f"The event takes effect at {at}, before the current holder of role '{role_id}' "
            f"took it up ({role['held_since']})."
        )
    return role


def _role_handed_over(state: State, data: Data, at: str) -> None:
    role = _held_role(state, data["role_id"], at)
    if role["holder"] != data["from_person_id"]:
        raise errors.NotCurrentHolderError(
            f"Role '{data['role_id']}' is held by '{role['holder']}', "
            f"not by '{data['from_person_id']}'."
        )
    if data["to_person_id"] == data["from_person_id"]:
        raise errors.HandoverToSelfError("A role cannot be handed over to its own holder.")
    _current_member(state, data["to_person_id"], at)


def _role_vacated(state: State, data: Data, at: str) -> None:
    _held_role(state, data["role_id"], at)


def _mandate_holder(state: State, holder: Mapping[str, str], at: str) -> None:
    kind, holder_id = holder["kind"], holder["id"]
    if kind == "role":
        _active_role(state, holder_id, at)
    elif kind == "person":
        _current_member(state, holder_id, at)
    else:
        _current_partner(state, holder_id, at)


def _mandate_granted(state: State, data: Data, at: str) -> None:
    _new_id(state, "mandates", data["mandate_id"])
    _mandate_holder(state, data["holder"], at)


def _open_mandate(state: State, data: Data, at: str) -> None:
    mandate = _existing(state, "mandates", data["mandate_id"], at)
    _not_ended(mandate, "revoked", "mandate", data["mandate_id"])


def _agreement_partners(state: State, data: Data, at: str) -> None:
    for party in data.get("parties", []):
        _current_partner(state, party["partner_id"], at)
    for commitment in data.get("budget_commitments") or []:
        _current_partner(state, commitment["partner_id"], at)


def _agreement_made(state: State, data: Data, at: str) -> None:
    _new_id(state, "agreements", data["agreement_id"])
    _agreement_partners(state, data, at)


def _open_agreement(state: State, data: Data, at: str) -> None:
    agreement = _existing(state, "agreements", data["agreement_id"], at)
    _not_ended(agreement, "ended", "agreement", data["agreement_id"])


def _agreement_changed(state: State, data: Data, at: str) -> None:
    _open_agreement(state, data, at)
    _agreement_partners(state, data, at)


def _decision_recorded(state: State, data: Data, at: str) -> None:
    _new_id(state, "decisions", data["decision_id"])
    _people(state, (p["person_id"] for p in data["participants"]), at)
    _people(state, (o["person_id"] for o in data.get("objections") or []), at)


def _reflection_held(state: State, data: Data, at: str) -> None:
    _new_id(state, "reflections", data["reflection_id"])
    _people(state, data["participants"], at)


def _no_rule(state: State, data: Data, at: str) -> None:
    """Compass events refer to nothing but the collaboration itself."""


CHECKS: dict[str, Callable[[State, Data, str], None]] = {
    "MissionRevised": _no_rule,
    "PhaseStarted": _no_rule,
    "PartnerJoined": _partner_joined,
    "PartnerCapacitiesChanged": _partner_current,
    "PartnerLeft": _partner_current,
    "MemberJoined": _member_joined,
    "MemberLeft": _member_left,
    "RoleDefined": _role_defined,
    "RoleRedefined": _role_changed,
    "RoleAssigned": _role_assigned,
    "RoleHandedOver": _role_handed_over,
    "RoleVacated": _role_vacated,
    "RoleRetired": _role_changed,
    "MandateGranted": _mandate_granted,
    "MandateAmended": _open_mandate,
    "MandateRevoked": _open_mandate,
    "AgreementMade": _agreement_made,
    "AgreementAmended": _agreement_changed,
    "AgreementCorrected": _agreement_changed,
    "AgreementReviewed": _open_agreement,
    "AgreementEnded": _open_agreement,
    "DecisionRecorded": _decision_recorded,
    "ReflectionHeld": _reflection_held,
}


def check(state: State, event_type: str, data: Data, envelope: Envelope) -> None:
    """Raise the RuleViolation that recording this event would break, if any."""
    try:
        rule = CHECKS[event_type]
    except KeyError:
        raise errors.UnknownEventTypeError(f"'{event_type}' is not an event type.") from None
    check_envelope(state, envelope)
    rule(state, data, envelope["effective_at"])
