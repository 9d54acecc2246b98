"""What each event is about (its subject) and what caused it, for indexes and histories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUBJECT_FIELDS = (
    ("partner", "partner_id"),
    ("person", "person_id"),
    ("role", "role_id"),
    ("mandate", "mandate_id"),
    ("agreement", "agreement_id"),
    ("decision", "decision_id"),
    ("reflection", "reflection_id"),
)
# Events that refer to others but are about a role, not a person.
_ROLE_FIRST = frozenset({"RoleAssigned", "RoleHandedOver"})


def subject_of(event_type: str, data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The kind and id of the thing the event is about; None for the collaboration itself."""
    if event_type in _ROLE_FIRST:
        return "role", str(data["role_id"])
    if event_type == "MemberJoined":
        return "person", str(data["person_id"])
    for kind, field in SUBJECT_FIELDS:
        if field in data:
            return kind, str(data[field])
    return None


def cause_of(envelope: Mapping[str, Any]) -> tuple[str, str] | None:
    """The decision or reflection the event cites as its cause."""
    cause = envelope.get("cause") or {}
    for kind in ("decision", "reflection"):
        if f"{kind}_id" in cause:
            return kind, str(cause[f"{kind}_id"])
    return None
