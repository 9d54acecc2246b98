"""Broken governance rules are 409 problems naming the rule, and nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.helpers import (
    LedgerApi,
    agreement,
    assert_problem,
    assignment,
    day,
    decision,
    handover,
    mandate,
    member,
    partner,
    role,
)
from tests.integration.one_app_per_module import app_per_module, token_per_module  # noqa: F401


@dataclass(frozen=True)
class Case:
    """An event that breaks `rule` in the `founded` collaboration, after `setup` events."""

    rule: str
    type: str
    data: dict[str, Any]
    envelope: dict[str, Any] = field(default_factory=dict)
    setup: tuple[tuple[str, dict[str, Any]], ...] = ()
    mentions: str | None = None


MADE_AND_ENDED = (
    ("AgreementMade", agreement("a1", "school", "city")),
    ("AgreementEnded", {"agreement_id": "a1", "reason": "done"}),
)
GRANTED_AND_REVOKED = (
    ("MandateGranted", mandate("m1", "person", "ann")),
    ("MandateRevoked", {"mandate_id": "m1", "reason": "done"}),
)
PHASE = {"name": "Pilot"}

CASES = {
    "member of unknown partner": Case(
        "unknown-partner", "MemberJoined", member("eve", "nobody"), mentions="nobody"
    ),
    "acting for unknown partner": Case(
        "unknown-partner", "PhaseStarted", PHASE, {"acting_for": {"partner_id": "nobody"}}
    ),
    "unknown participant": Case(
        "unknown-person", "DecisionRecorded", decision("d1", "ann", "ghost"), mentions="ghost"
    ),
    "assigned to unknown person": Case(
        "unknown-person", "RoleAssigned", assignment("secretary", "ghost"), mentions="ghost"
    ),
    "unknown role": Case(
        "unknown-role", "RoleAssigned", assignment("nope", "ann"), mentions="nope"
    ),
    "mandate held by unknown role": Case(
        "unknown-role", "MandateGranted", mandate("m1", "role", "nope")
    ),
    "unknown mandate": Case(
        "unknown-mandate", "MandateRevoked", {"mandate_id": "nope", "reason": "x"}, mentions="nope"
    ),
    "unknown agreement": Case(
        "unknown-agreement",
        "AgreementReviewed",
        {"agreement_id": "nope", "outcome": "keep"},
        mentions="nope",
    ),
    "caused by unknown decision": Case(
        "unknown-decision", "PhaseStarted", PHASE, {"cause": {"decision_id": "nope"}}
    ),
    "caused by unknown reflection": Case(
        "unknown-reflection", "PhaseStarted", PHASE, {"cause": {"reflection_id": "nope"}}
    ),
    "role not vacant": Case("role-not-vacant", "RoleAssigned", assignment("chair", "bob")),
    "vacating a vacant role": Case(
        "role-not-held", "RoleVacated", {"role_id": "secretary", "reason": "x"}
    ),
    "handover by someone else than the holder": Case(
        "not-current-holder", "RoleHandedOver", handover("chair", "bob", "ann")
    ),
    "handover to self": Case("handover-to-self", "RoleHandedOver", handover("chair", "ann", "ann")),
    "handover to a member who left": Case(
        "member-not-current", "RoleHandedOver", handover("chair", "ann", "dan")
    ),
    "assigned to a member who left": Case(
        "member-not-current", "RoleAssigned", assignment("secretary", "dan")
    ),
    "member of a partner who left": Case(
        "partner-not-current", "MemberJoined", member("eve", "gone")
    ),
    "party that left": Case(
        "partner-not-current", "AgreementMade", agreement("a1", "school", "gone")
    ),
    "mandate for a partner that left": Case(
        "partner-not-current", "MandateGranted", mandate("m1", "partner", "gone")
    ),
    "capacities of a partner that left": Case(
        "partner-not-current",
        "PartnerCapacitiesChanged",
        {"partner_id": "gone", "capacities": ["funder"]},
    ),
    "reviewing an ended agreement": Case(
        "already-ended",
        "AgreementReviewed",
        {"agreement_id": "a1", "outcome": "keep"},
        setup=MADE_AND_ENDED,
    ),
    "amending an ended agreement": Case(
        "already-ended",
        "AgreementAmended",
        {"agreement_id": "a1", "terms": "new", "reason": "x"},
        setup=MADE_AND_ENDED,
    ),
    "amending a revoked mandate": Case(
        "already-ended",
        "MandateAmended",
        {"mandate_id": "m1", "scope": "more", "reason": "x"},
        setup=GRANTED_AND_REVOKED,
    ),
    "assigning a retired role": Case(
        "already-ended",
        "RoleAssigned",
        assignment("secretary", "bob"),
        setup=(("RoleRetired", {"role_id": "secretary", "reason": "x"}),),
    ),
    "duplicate role id": Case("duplicate-id", "RoleDefined", role("chair"), mentions="chair"),
    "partner joining twice": Case("duplicate-id", "PartnerJoined", partner("school")),
    "duplicate agreement id": Case(
        "duplicate-id",
        "AgreementMade",
        agreement("a1", "school"),
        setup=(("AgreementMade", agreement("a1", "city")),),
    ),
    "effective before the partner joined": Case(
        "effective-before-reference",
        "MemberJoined",
        member("eve", "school"),
        {"effective_at": day(0.5)},
    ),
    "effective before the founding": Case(
        "effective-before-reference", "PhaseStarted", PHASE, {"effective_at": day(-1)}
    ),
    "handover before the holder took the role": Case(
        "effective-before-reference",
        "RoleHandedOver",
        handover("chair", "ann", "bob"),
        {"effective_at": day(3.5)},
    ),
}


class TestRuleTable:
    @pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
    def test_a_broken_rule_is_a_409_naming_it_and_stores_nothing(
        self, api: LedgerApi, founded: str, case: Case
    ) -> None:
        for event_type, data in case.setup:
            api.record(founded, event_type, data)
        version = api.version(founded)

        response = api.post_event(founded, case.type, case.data, **case.envelope)

        problem = assert_problem(response, 409)
        assert problem["rule"] == case.rule
        assert problem["type"].endswith("/" + case.rule)
        if case.mentions:
            assert case.mentions in problem["detail"]
        assert api.version(founded) == version
        assert len(api.events(founded)) == version


def test_the_table_covers_at_least_ten_distinct_rules() -> None:
    assert len({case.rule for case in CASES.values()}) >= 10


def test_a_rule_violation_does_not_change_the_state(api: LedgerApi, founded: str) -> None:
    before = api.state(founded, version=api.version(founded))

    response = api.post_event(founded, "RoleHandedOver", handover("chair", "bob", "ann"))

    assert assert_problem(response, 409)["rule"] == "not-current-holder"
    after = api.state(founded, version=api.version(founded))
    assert after["roles"] == before["roles"]
    assert after["basis"]["version"] == before["basis"]["version"]


def test_a_partner_who_left_may_join_again(api: LedgerApi, founded: str) -> None:
    response = api.post_event(founded, "PartnerJoined", partner("gone"))

    assert response.status_code == 201
    assert api.state(founded)["partners"]["gone"]["status"] == "current"
