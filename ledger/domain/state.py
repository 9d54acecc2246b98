"""The governance state and the pure fold of events into it.

State is plain JSON-able data (dicts, lists, strings) so that snapshots store it as it is.
Folding never checks rules: rules are checked once, when an event is recorded.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

State = dict[str, Any]
Data = Mapping[str, Any]


@dataclass(frozen=True)
class Stamp:
    """Where an event stands: its version in the stream and its two times (formatted instants)."""

    version: int
    effective_at: str
    recorded_at: str
    shared_with_funders: bool = False


def empty_state() -> State:
    return {
        "collaboration": {},
        "phase": None,
        "phases": [],
        "partners": {},
        "members": {},
        "roles": {},
        "mandates": {},
        "agreements": {},
        "decisions": {},
        "reflections": {},
    }


def _pick(data: Data, *names: str) -> dict[str, Any]:
    return {name: copy.deepcopy(data[name]) for name in names if name in data}


def _collaboration_founded(state: State, data: Data, stamp: Stamp) -> None:
    state["collaboration"] = {
        "name": data["name"],
        "mission": data["mission"],
        "languages": list(data.get("languages", [])),
        "drivers": [],
        "values": [],
        "mission_version": 1,
        "founded_at": stamp.effective_at,
        "since": stamp.effective_at,
    }


def _mission_revised(state: State, data: Data, stamp: Stamp) -> None:
    collaboration = state["collaboration"]
    collaboration.update(_pick(data, "mission", "drivers", "values"))
    collaboration["mission_version"] += 1
    collaboration["mission_revised_at"] = stamp.effective_at


def _phase_started(state: State, data: Data, stamp: Stamp) -> None:
    if state["phase"] is not None:
        state["phases"][-1]["ended_at"] = stamp.effective_at
    phase = {
        "name": data["name"],
        "description": data.get("description"),
        "since": stamp.effective_at,
    }
    state["phases"].append({**phase, "ended_at": None})
    state["phase"] = phase


def _partner_joined(state: State, data: Data, stamp: Stamp) -> None:
    state["partners"][data["partner_id"]] = {
        **_pick(data, "partner_id", "name", "kind", "capacities"),
        "status": "current",
        "since": stamp.effective_at,
        "left_at": None,
        "left_reason": None,
    }


def _partner_capacities_changed(state: State, data: Data, stamp: Stamp) -> None:
    state["partners"][data["partner_id"]]["capacities"] = list(data["capacities"])


def _partner_left(state: State, data: Data, stamp: Stamp) -> None:
    partner = state["partners"][data["partner_id"]]
    partner.update(status="left", left_at=stamp.effective_at, left_reason=data["reason"])


def _member_joined(state: State, data: Data, stamp: Stamp) -> None:
    state["members"][data["person_id"]] = {
        "person_id": data["person_id"],
        "name": data["name"],
        "partner_id": data.get("partner_id"),
        "status": "current",
        "since": stamp.effective_at,
        "left_at": None,
        "left_reason": None,
    }


def _member_left(state: State, data: Data, stamp: Stamp) -> None:
    person_id = data["person_id"]
    state["members"][person_id].update(
        status="left", left_at=stamp.effective_at, left_reason=data["reason"]
    )
    # Whoever leaves the collaboration no longer holds its roles.
    for role in state["roles"].values():
        if role["holder"] == person_id:
            _vacate(role, stamp)


def _role_defined(state: State, data: Data, stamp: Stamp) -> None:
    state["roles"][data["role_id"]] = {
        **_pick(data, "role_id", "name", "purpose", "accountabilities"),
        "term_months": data.get("term_months"),
        "status": "vacant",
        "holder": None,
        "method": None,
        "held_since": None,
        "term_ends_on": None,
        "since": stamp.effective_at,
    }


def _role_redefined(state: State, data: Data, stamp: Stamp) -> None:
    state["roles"][data["role_id"]].update(
        _pick(data, "purpose", "accountabilities", "term_months")
    )


def _role_assigned(state: State, data: Data, stamp: Stamp) -> None:
    state["roles"][data["role_id"]].update(
        status="held",
        holder=data["person_id"],
        method=data["method"],
        held_since=stamp.effective_at,
        term_ends_on=data.get("term_ends_on"),
    )


def _role_handed_over(state: State, data: Data, stamp: Stamp) -> None:
    # The new holder's term is their own: it ends when the handover says, if it says.
    state["roles"][data["role_id"]].update(
        status="held",
        holder=data["to_person_id"],
        held_since=stamp.effective_at,
        term_ends_on=data.get("term_ends_on"),
    )


def _vacate(role: dict[str, Any], stamp: Stamp) -> None:
    role.update(
        status="vacant",
        holder=None,
        method=None,
        held_since=None,
        term_ends_on=None,
        vacated_at=stamp.effective_at,
    )


def _role_vacated(state: State, data: Data, stamp: Stamp) -> None:
    _vacate(state["roles"][data["role_id"]], stamp)


def _role_retired(state: State, data: Data, stamp: Stamp) -> None:
    role = state["roles"][data["role_id"]]
    _vacate(role, stamp)
    role.update(status="retired", retired_at=stamp.effective_at, retired_reason=data["reason"])


MANDATE_FIELDS = ("scope", "decision_rights", "budget_limit", "valid_until", "review_on")


def _mandate_granted(state: State, data: Data, stamp: Stamp) -> None:
    state["mandates"][data["mandate_id"]] = {
        "mandate_id": data["mandate_id"],
        "holder": dict(data["holder"]),
        "scope": data["scope"],
        "decision_rights": list(data["decision_rights"]),
        "budget_limit": copy.deepcopy(data.get("budget_limit")),
        "valid_until": data.get("valid_until"),
        "review_on": data.get("review_on"),
        "version": 1,
        "revoked": False,
        "revoked_at": None,
        "since": stamp.effective_at,
        "amended_at": None,
    }


def _mandate_amended(state: State, data: Data, stamp: Stamp) -> None:
    mandate = state["mandates"][data["mandate_id"]]
    mandate.update(_pick(data, *MANDATE_FIELDS))
    mandate["version"] += 1
    mandate["amended_at"] = stamp.effective_at


def _mandate_revoked(state: State, data: Data, stamp: Stamp) -> None:
    state["mandates"][data["mandate_id"]].update(
        revoked=True, revoked_at=stamp.effective_at, revoked_reason=data["reason"]
    )


AGREEMENT_FIELDS = (
    "title",
    "formality",
    "topics",
    "parties",
    "terms",
    "budget_commitments",
    "evaluation_criteria",
    "review_on",
    "valid_until",
)


def _agreement_made(state: State, data: Data, stamp: Stamp) -> None:
    agreement: dict[str, Any] = {name: None for name in AGREEMENT_FIELDS}
    agreement.update({"budget_commitments": [], **_pick(data, "agreement_id", *AGREEMENT_FIELDS)})
    agreement.update(
        version=1,
        version_since=stamp.effective_at,
        corrections=0,
        ended=False,
        ended_at=None,
        ended_reason=None,
        last_review=None,
        since=stamp.effective_at,
    )
    state["agreements"][data["agreement_id"]] = agreement


def _agreement_amended(state: State, data: Data, stamp: Stamp) -> None:
    agreement = state["agreements"][data["agreement_id"]]
    agreement.update(_pick(data, *AGREEMENT_FIELDS))
    agreement["version"] += 1
    agreement["version_since"] = stamp.effective_at


def _agreement_corrected(state: State, data: Data, stamp: Stamp) -> None:
    agreement = state["agreements"][data["agreement_id"]]
    agreement.update(_pick(data, *AGREEMENT_FIELDS))
    agreement["corrections"] += 1


def _agreement_reviewed(state: State, data: Data, stamp: Stamp) -> None:
    agreement = state["agreements"][data["agreement_id"]]
    agreement["last_review"] = {
        "outcome": data["outcome"],
        "reviewed_at": stamp.effective_at,
        "notes": data.get("notes"),
    }
    agreement["review_on"] = data.get("next_review_on")
    if data["outcome"] == "end":
        agreement.update(
            ended=True, ended_at=stamp.effective_at, ended_reason="review outcome: end"
        )


def _agreement_ended(state: State, data: Data, stamp: Stamp) -> None:
    state["agreements"][data["agreement_id"]].update(
        ended=True, ended_at=stamp.effective_at, ended_reason=data["reason"]
    )


def _decision_recorded(state: State, data: Data, stamp: Stamp) -> None:
    state["decisions"][data["decision_id"]] = {
        "objections": [],
        "minority_views": [],
        **copy.deepcopy(dict(data)),
        "decided_at": stamp.effective_at,
        "since": stamp.effective_at,
        "version": stamp.version,
        "shared_with_funders": stamp.shared_with_funders,
    }


def _reflection_held(state: State, data: Data, stamp: Stamp) -> None:
    state["reflections"][data["reflection_id"]] = {
        "actions": [],
        **copy.deepcopy(dict(data)),
        "held_at": stamp.effective_at,
        "since": stamp.effective_at,
        "version": stamp.version,
        "shared_with_funders": stamp.shared_with_funders,
    }


FOLDS: dict[str, Callable[[State, Data, Stamp], None]] = {
    "CollaborationFounded": _collaboration_founded,
    "MissionRevised": _mission_revised,
    "PhaseStarted": _phase_started,
    "PartnerJoined": _partner_joined,
    "PartnerCapacitiesChanged": _partner_capacities_changed,
    "PartnerLeft": _partner_left,
    "MemberJoined": _member_joined,
    "MemberLeft": _member_left,
    "RoleDefined": _role_defined,
    "RoleRedefined": _role_redefined,
    "RoleAssigned": _role_assigned,
    "RoleHandedOver": _role_handed_over,
    "RoleVacated": _role_vacated,
    "RoleRetired": _role_retired,
    "MandateGranted": _mandate_granted,
    "MandateAmended": _mandate_amended,
    "MandateRevoked": _mandate_revoked,
    "AgreementMade": _agreement_made,
    "AgreementAmended": _agreement_amended,
    "AgreementCorrected": _agreement_corrected,
    "AgreementReviewed": _agreement_reviewed,
    "AgreementEnded": _agreement_ended,
    "DecisionRecorded": _decision_recorded,
    "ReflectionHeld": _reflection_held,
}


def apply_event(state: State, event_type: str, data: Data, stamp: Stamp) -> None:
    """Fold one event into the state, in place."""
    FOLDS[event_type](state, data, stamp)
