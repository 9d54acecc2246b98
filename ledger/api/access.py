"""Who may do what, in one place: the action of each route, the actions of each role, the
collaborations a token sees (others answer 404, as if they did not exist), and the fields a
role may see (an allow-list per role)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.api.problems import ApiProblem
from ledger.domain import errors
from ledger.tokens import Principal, Role

# Actions: what a route does, whatever its collaboration.
CATALOGUE, LIST, FOUND, READ_STATE, READ_EVENTS, WRITE = (
    "catalogue", "list", "found", "read_state", "read_events", "write")  # fmt: skip
READ_HISTORY, READ_GOVERNANCE, READ_REFLECTIVE, READ_REGISTER, AUDIT, ADMINISTER = (
    "read_history", "read_governance", "read_reflective", "read_register", "audit", "administer")  # fmt: skip
SUBSCRIBE = "subscribe"  # webhooks: recorders only for collaborations in scope (ledger.webhooks)

ROUTE_ACTIONS: dict[str, dict[str, str]] = {
    "collaborations.Collaborations": {"GET": LIST, "POST": FOUND},
    "collaborations.Collaboration": {"GET": READ_STATE},
    "collaborations.Events": {"GET": READ_EVENTS, "POST": WRITE},
    "read-models.Timeline": {"GET": READ_HISTORY},
    "read-models.Diff": {"GET": READ_HISTORY},
    "read-models.RoleHistory": {"GET": READ_GOVERNANCE},
    "read-models.ItemHistory": {"GET": READ_GOVERNANCE},
    "read-models.CauseAndEffect": {"GET": READ_REFLECTIVE},
    "register.Agreements": {"GET": READ_REGISTER},
    "register.AgreementSummary": {"GET": READ_REGISTER},
    "register.Feed": {"GET": READ_EVENTS},
    "register.FeedStream": {"GET": READ_EVENTS},
    "event-types.EventTypes": {"GET": CATALOGUE},
    "tokens.Tokens": {"GET": ADMINISTER, "POST": ADMINISTER},
    "tokens.Token": {"DELETE": ADMINISTER},
    # Auditors read proofs and checkpoints; only admins sign a checkpoint on demand.
    "integrity.Checkpoints": {"GET": AUDIT, "POST": ADMINISTER},
    # The pages (ledger/ui): each does what the API route it shows does.
    "ui.index": {"GET": LIST},
    "ui.overview": {"GET": READ_STATE},
    "ui.timeline": {"GET": READ_HISTORY},
    "ui.diff": {"GET": READ_HISTORY},
    "ui.cause": {"GET": READ_REFLECTIVE},
    "ui.charts": {"GET": READ_GOVERNANCE},
    "ui.register": {"GET": READ_REGISTER},
    "ui.register_csv": {"GET": READ_REGISTER},
    "webhooks.Subscriptions": {"GET": SUBSCRIBE, "POST": SUBSCRIBE},
    "webhooks.Subscription": {"GET": SUBSCRIBE, "DELETE": SUBSCRIBE},
}
# Integrity routes (proofs, checkpoints, keys, verification) are the auditors'.
AUDIT_BLUEPRINTS = ("integrity.",)

_READS = {CATALOGUE, LIST, READ_STATE, READ_EVENTS, READ_GOVERNANCE, READ_REGISTER}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.RECORDER: frozenset({*_READS, WRITE, READ_HISTORY, READ_REFLECTIVE, SUBSCRIBE}),
    Role.EVALUATOR: frozenset({*_READS, READ_HISTORY, READ_REFLECTIVE}),
    Role.FUNDER: frozenset(_READS),
    Role.AUDITOR: frozenset({CATALOGUE, AUDIT}),
    Role.SYSTEM: frozenset({CATALOGUE, WRITE}),
}


def action_of(endpoint: str, method: str) -> str | None:
    method = "GET" if method == "HEAD" else method
    action = ROUTE_ACTIONS.get(endpoint, {}).get(method)
    if action is None and endpoint.startswith(AUDIT_BLUEPRINTS):
        return AUDIT
    return action


def authorize(
    principal: Principal, endpoint: str, method: str, view_args: Mapping[str, Any]
) -> None:
    """Raise unless the principal may call this route: 404 for a collaboration outside its
    scope (exactly as for one that does not exist), 403 for an action its role may not do."""
    collaboration_id = view_args.get("collaboration_id")
    if collaboration_id is not None and not principal.sees(str(collaboration_id)):
        raise errors.CollaborationNotFoundError(
            f"There is no collaboration '{collaboration_id}' that this token can see."
        )
    if principal.role == Role.ADMIN:
        return
    action = action_of(endpoint, method)
    if action is None or action not in ROLE_ACTIONS.get(principal.role, frozenset()):
        raise ApiProblem(403, "forbidden", f"A {principal.role} token may not do this.")


def check_event_type(principal: Principal, event_type: str) -> None:
    """System tokens post only the event types in their scope."""
    if principal.role == Role.SYSTEM and event_type not in principal.event_types:
        raise ApiProblem(
            403,
            "event-type-not-allowed",
            f"This token may post only: {', '.join(sorted(principal.event_types))}.",
        )


# What funders may see: governance, not what was said in confidence nor about people.

FUNDER_EVENT_DATA: dict[str, frozenset[str]] = {
    "DecisionRecorded": frozenset({"decision_id", "subject", "method", "outcome", "participants"}),
    "ReflectionHeld": frozenset({"reflection_id", "title", "method", "loop", "outcome"}),
    "MemberJoined": frozenset({"person_id", "partner_id"}),
    "MemberLeft": frozenset({"person_id"}),
}
FUNDER_DECISION_FIELDS = frozenset({"decision_id", "subject", "method", "outcome", "participants",
                                    "decided_at", "since", "version", "shared_with_funders"})  # fmt: skip
FUNDER_REFLECTION_FIELDS = frozenset({"reflection_id", "title", "method", "loop", "outcome",
                                      "held_at", "since", "version", "shared_with_funders"})  # fmt: skip
FUNDER_STATE_SECTIONS = frozenset({"collaboration_id", "basis", "stream_version", "collaboration",
                                   "phase", "phases", "partners", "roles", "mandates",
                                   "agreements", "decisions", "reflections", "attention"})  # fmt: skip


def _only(item: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key in allowed}


def present_event(principal: Principal, event: dict[str, Any]) -> dict[str, Any]:
    """An event as this principal may see it."""
    if principal.role != Role.FUNDER or event.get("shared_with_funders"):
        return event
    allowed = FUNDER_EVENT_DATA.get(event["type"])
    if allowed is None:
        return event
    return {**event, "data": _only(event["data"], allowed)}


def present_state(principal: Principal, state: dict[str, Any]) -> dict[str, Any]:
    """A governance state as this principal may see it."""
    if principal.role != Role.FUNDER:
        return state
    shown = _only(state, FUNDER_STATE_SECTIONS)
    for section, allowed in (("decisions", FUNDER_DECISION_FIELDS),
                             ("reflections", FUNDER_REFLECTION_FIELDS)):  # fmt: skip
        shown[section] = {
            key: item if item.get("shared_with_funders") else _only(item, allowed)
            for key, item in state.get(section, {}).items()
        }
    return shown


def present_history(principal: Principal, history: dict[str, Any]) -> dict[str, Any]:
    """Role tenures and lives: funders see who held what by id, not people's names."""
    if principal.role != Role.FUNDER:
        return history
    shown = dict(history)
    if "tenures" in shown:
        shown["tenures"] = [{k: v for k, v in t.items() if k != "name"} for t in shown["tenures"]]
    for key in ("events", "life"):
        if key in shown:
            shown[key] = [_redacted_entry(principal, entry) for entry in shown[key]]
    return shown


def _redacted_entry(principal: Principal, entry: dict[str, Any]) -> dict[str, Any]:
    shown = present_event(principal, entry)
    # Summaries and changes quote names and confidential text: funders get neither.
    return {k: v for k, v in shown.items() if k not in ("summary", "summaries", "changes")}
