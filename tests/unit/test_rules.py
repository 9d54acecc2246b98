"""Every rule of design.md §2 rejects the event that breaks it and records nothing; valid events
change the state as their type says."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from typing import Any

import pytest

from ledger.domain import errors
from ledger.domain.model import Collaboration
from ledger.domain.timefmt import format_instant
from ledger.domain.vocabulary import EVENT_TYPES

FOUNDED_DAY = 0
LATER = 20  # a day after everything in the `governed` world took effect
LATER_AT = "2024-01-21T09:00:00.000000Z"  # day LATER after the founding (conftest.FOUNDED_AT)


@pytest.fixture
def governed(domain_collaboration: Collaboration, domain_kit: Any) -> Collaboration:
    """A collaboration with something of every kind, current and ended.

    Partners school, city (day 1) and library (day 1, left day 9); members ann (school), bob (city),
    cy (school) and eve (library, left day 8); roles chair (ann since day 4), secretary (vacant) and
    treasurer (retired); mandates m-chair (role chair) and m-city (partner city, revoked);
    agreements covenant (in force), pilot (ended) and trial (ended by review); decision d-1 and
    reflection r-1 on day 7.
    """
    kit, collaboration = domain_kit, domain_collaboration

    def record(event_type: str, data: dict[str, Any], day: float) -> None:
        collaboration.record(event_type, data, kit.envelope(day))

    record("PartnerJoined", kit.partner("library"), 1)
    record("MemberJoined", kit.member("cy", "school"), 2)
    record("MemberJoined", kit.member("eve", "library"), 2)
    for role_id in ("chair", "secretary", "treasurer"):
        record("RoleDefined", kit.role(role_id), 3)
    record("RoleAssigned", kit.assignment("chair", "ann"), 4)
    record("MandateGranted", kit.mandate("m-chair", "role", "chair"), 5)
    record("MandateGranted", kit.mandate("m-city", "partner", "city"), 5)
    record("AgreementMade", kit.agreement("covenant", "school", "city"), 6)
    record("AgreementMade", kit.agreement("pilot", "school"), 6)
    record("AgreementMade", kit.agreement("trial", "city"), 6)
    record("DecisionRecorded", kit.decision("d-1", "ann", "bob"), 7)
    record("ReflectionHeld", kit.reflection("r-1", "ann", "bob"), 7)
    record("MemberLeft", {"person_id": "eve", "reason": "moved"}, 8)
    record("PartnerLeft", {"partner_id": "library", "reason": "budget cuts"}, 9)
    record("RoleRetired", {"role_id": "treasurer", "reason": "no budget"}, 10)
    record("MandateRevoked", {"mandate_id": "m-city", "reason": "done"}, 10)
    record("AgreementEnded", {"agreement_id": "pilot", "reason": "pilot over"}, 10)
    record("AgreementReviewed", {"agreement_id": "trial", "outcome": "end"}, 10)
    return collaboration


def assert_rejected(
    collaboration: Collaboration,
    event_type: str,
    data: dict[str, Any],
    envelope: dict[str, Any],
    error: type[errors.LedgerError],
) -> None:
    """Recording raises exactly `error` (or a subclass) and leaves the aggregate as it was."""
    version = collaboration.version
    pending = list(collaboration.pending_events)
    state = copy.deepcopy(collaboration.state)
    with pytest.raises(errors.LedgerError) as raised:
        collaboration.record(event_type, data, envelope)
    assert raised.type is error, raised.value
    assert collaboration.version == version
    assert collaboration.pending_events == pending
    assert collaboration.state == state


@dataclass(frozen=True)
class Case:
    event_type: str
    data: dict[str, Any]
    error: type[errors.LedgerError]
    day: float
    envelope: dict[str, Any]


def _case(
    case_id: str,
    event_type: str,
    data: dict[str, Any],
    error: type[errors.LedgerError],
    day: float = LATER,
    **envelope: Any,
) -> Any:
    return pytest.param(Case(event_type, data, error, day, envelope), id=case_id)


def _party(*partner_ids: str) -> list[dict[str, str]]:
    return [{"partner_id": p, "capacity": "participant"} for p in partner_ids]


def _agreement(agreement_id: str, **extra: Any) -> dict[str, Any]:
    data = {
        "agreement_id": agreement_id,
        "title": "New agreement",
        "formality": "oral",
        "topics": ["tasks"],
        "parties": _party("school"),
        "terms": "Terms.",
    }
    return {**data, **extra}


def _mandate(mandate_id: str, kind: str, holder_id: str) -> dict[str, Any]:
    return {
        "mandate_id": mandate_id,
        "holder": {"kind": kind, "id": holder_id},
        "scope": "events",
        "decision_rights": ["book rooms"],
    }


def _handover(role_id: str, from_person: str, to_person: str) -> dict[str, Any]:
    return {"role_id": role_id, "from_person_id": from_person, "to_person_id": to_person}


def _decision(decision_id: str, *people: str, **extra: Any) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "subject": "Budget",
        "method": "consent",
        "outcome": "approved",
        "participants": [{"person_id": p} for p in people],
        **extra,
    }


def _reflection(reflection_id: str, *people: str) -> dict[str, Any]:
    return {
        "reflection_id": reflection_id,
        "title": "Review",
        "method": "timeline",
        "loop": "single",
        "participants": list(people),
        "findings": [],
        "outcome": "keep",
    }


def _assign(role_id: str, person_id: str) -> dict[str, Any]:
    return {"role_id": role_id, "person_id": person_id, "method": "appointed"}


REASON = {"reason": "because"}
MISSION = {"mission": "A new mission"}


def _run(governed: Collaboration, kit: Any, case: Case) -> None:
    envelope = kit.envelope(case.day, **case.envelope)
    assert_rejected(governed, case.event_type, case.data, envelope, case.error)


# fmt: off
UNKNOWN_REFERENCES = [
    _case("partner-capacities", "PartnerCapacitiesChanged",
          {"partner_id": "ghost", "capacities": ["host"]}, errors.UnknownPartnerError),
    _case("partner-left", "PartnerLeft", {"partner_id": "ghost", **REASON},
          errors.UnknownPartnerError),
    _case("member-partner", "MemberJoined", {"person_id": "dan", "name": "Dan",
          "partner_id": "ghost"}, errors.UnknownPartnerError),
    _case("agreement-party", "AgreementMade", _agreement("new", parties=_party("ghost")),
          errors.UnknownPartnerError),
    _case("budget-commitment", "AgreementMade", _agreement("new", budget_commitments=[
          {"partner_id": "ghost", "amount": "100.00", "currency": "EUR"}]),
          errors.UnknownPartnerError),
    _case("amended-party", "AgreementAmended", {"agreement_id": "covenant",
          "parties": _party("ghost"), **REASON}, errors.UnknownPartnerError),
    _case("mandate-partner", "MandateGranted", _mandate("m-new", "partner", "ghost"),
          errors.UnknownPartnerError),
    _case("acting-for", "MissionRevised", MISSION, errors.UnknownPartnerError,
          acting_for={"partner_id": "ghost"}),
    _case("member-left", "MemberLeft", {"person_id": "ghost", **REASON},
          errors.UnknownPersonError),
    _case("assignee", "RoleAssigned", _assign("secretary", "ghost"),
          errors.UnknownPersonError),
    _case("handover-target", "RoleHandedOver", _handover("chair", "ann", "ghost"),
          errors.UnknownPersonError),
    _case("mandate-person", "MandateGranted", _mandate("m-new", "person", "ghost"),
          errors.UnknownPersonError),
    _case("decision-participant", "DecisionRecorded", _decision("d-2", "ann", "ghost"),
          errors.UnknownPersonError),
    _case("objection", "DecisionRecorded", _decision("d-2", "ann", objections=[
          {"person_id": "ghost", "text": "No"}]), errors.UnknownPersonError),
    _case("reflection-participant", "ReflectionHeld", _reflection("r-2", "ghost"),
          errors.UnknownPersonError),
    _case("role-redefined", "RoleRedefined", {"role_id": "ghost", "purpose": "x"},
          errors.UnknownRoleError),
    _case("role-assigned", "RoleAssigned", _assign("ghost", "bob"), errors.UnknownRoleError),
    _case("role-handed-over", "RoleHandedOver", _handover("ghost", "ann", "bob"),
          errors.UnknownRoleError),
    _case("role-vacated", "RoleVacated", {"role_id": "ghost", **REASON},
          errors.UnknownRoleError),
    _case("role-retired", "RoleRetired", {"role_id": "ghost", **REASON},
          errors.UnknownRoleError),
    _case("mandate-role", "MandateGranted", _mandate("m-new", "role", "ghost"),
          errors.UnknownRoleError),
    _case("mandate-amended", "MandateAmended", {"mandate_id": "ghost", "scope": "x", **REASON},
          errors.UnknownMandateError),
    _case("mandate-revoked", "MandateRevoked", {"mandate_id": "ghost", **REASON},
          errors.UnknownMandateError),
    _case("agreement-amended", "AgreementAmended", {"agreement_id": "ghost", **REASON},
          errors.UnknownAgreementError),
    _case("agreement-corrected", "AgreementCorrected", {"agreement_id": "ghost", **REASON},
          errors.UnknownAgreementError),
    _case("agreement-reviewed", "AgreementReviewed", {"agreement_id": "ghost",
          "outcome": "keep"}, errors.UnknownAgreementError),
    _case("agreement-ended", "AgreementEnded", {"agreement_id": "ghost", **REASON},
          errors.UnknownAgreementError),
    _case("cause-decision", "MissionRevised", MISSION, errors.UnknownDecisionError,
          cause={"decision_id": "ghost"}),
    _case("cause-reflection", "MissionRevised", MISSION, errors.UnknownReflectionError,
          cause={"reflection_id": "ghost"}),
]
# fmt: on


@pytest.mark.parametrize("case", UNKNOWN_REFERENCES)
def test_reference_to_something_unknown_is_rejected(
    governed: Collaboration, domain_kit: Any, case: Case
) -> None:
    _run(governed, domain_kit, case)


# fmt: off
PARTNER_NOT_CURRENT = [
    _case("capacities-changed", "PartnerCapacitiesChanged",
          {"partner_id": "library", "capacities": ["host"]}, errors.PartnerNotCurrentError),
    _case("leaving-twice", "PartnerLeft", {"partner_id": "library", **REASON},
          errors.PartnerNotCurrentError),
    _case("member-partner", "MemberJoined", {"person_id": "dan", "name": "Dan",
          "partner_id": "library"}, errors.PartnerNotCurrentError),
    _case("agreement-party", "AgreementMade", _agreement("new", parties=_party("library")),
          errors.PartnerNotCurrentError),
    _case("budget-commitment", "AgreementMade", _agreement("new", budget_commitments=[
          {"partner_id": "library", "amount": "100.00", "currency": "EUR"}]),
          errors.PartnerNotCurrentError),
    _case("corrected-party", "AgreementCorrected", {"agreement_id": "covenant",
          "parties": _party("school", "library"), **REASON}, errors.PartnerNotCurrentError),
    _case("mandate-holder", "MandateGranted", _mandate("m-new", "partner", "library"),
          errors.PartnerNotCurrentError),
    _case("acting-for", "MissionRevised", MISSION, errors.PartnerNotCurrentError,
          acting_for={"partner_id": "library"}),
]
# fmt: on


@pytest.mark.parametrize("case", PARTNER_NOT_CURRENT)
def test_partner_that_left_cannot_take_part_any_more(
    governed: Collaboration, domain_kit: Any, case: Case
) -> None:
    _run(governed, domain_kit, case)


# fmt: off
MEMBER_NOT_CURRENT = [
    _case("assigned", "RoleAssigned", _assign("secretary", "eve"),
          errors.MemberNotCurrentError),
    _case("handover-target", "RoleHandedOver", _handover("chair", "ann", "eve"),
          errors.MemberNotCurrentError),
    _case("mandate-holder", "MandateGranted", _mandate("m-new", "person", "eve"),
          errors.MemberNotCurrentError),
    _case("leaving-twice", "MemberLeft", {"person_id": "eve", **REASON},
          errors.MemberNotCurrentError),
]
# fmt: on


@pytest.mark.parametrize("case", MEMBER_NOT_CURRENT)
def test_member_who_left_cannot_hold_roles_or_mandates(
    governed: Collaboration, domain_kit: Any, case: Case
) -> None:
    _run(governed, domain_kit, case)


# fmt: off
HOLDING_ROLES = [
    _case("assign-held-role", "RoleAssigned", _assign("chair", "bob"), errors.RoleNotVacantError),
    _case("hand-over-vacant-role", "RoleHandedOver", _handover("secretary", "ann", "bob"),
          errors.RoleNotHeldError),
    _case("vacate-vacant-role", "RoleVacated", {"role_id": "secretary", **REASON},
          errors.RoleNotHeldError),
    _case("hand-over-from-non-holder", "RoleHandedOver", _handover("chair", "bob", "cy"),
          errors.NotCurrentHolderError),
    _case("hand-over-to-self", "RoleHandedOver", _handover("chair", "ann", "ann"),
          errors.HandoverToSelfError),
]
# fmt: on


def test_assigning_a_role_that_is_held_is_rejected(
    governed: Collaboration, domain_kit: Any
) -> None:
    _run(governed, domain_kit, HOLDING_ROLES[0].values[0])


@pytest.mark.parametrize("case", HOLDING_ROLES[1:3])
def test_handing_over_or_vacating_a_vacant_role_is_rejected(
    governed: Collaboration, domain_kit: Any, case: Case
) -> None:
    _run(governed, domain_kit, case)


def test_handover_from_someone_else_than_the_holder_is_rejected(
    governed: Collaboration, domain_kit: Any
) -> None:
    _run(governed, domain_kit, HOLDING_ROLES[3].values[0])


def test_handover_to_the_holder_themself_is_rejected(
    governed: Collaboration, domain_kit: Any
) -> None:
    _run(governed, domain_kit, HOLDING_ROLES[4].values[0])


# fmt: off
ALREADY_ENDED = [
    _case("amend-ended-agreement", "AgreementAmended", {"agreement_id": "pilot",
          "terms": "x", **REASON}, errors.AlreadyEndedError),
    _case("correct-ended-agreement", "AgreementCorrected", {"agreement_id": "pilot",
          "title": "x", **REASON}, errors.AlreadyEndedError),
    _case("review-ended-agreement", "AgreementReviewed", {"agreement_id": "pilot",
          "outcome": "keep"}, errors.AlreadyEndedError),
    _case("end-ended-agreement", "AgreementEnded", {"agreement_id": "pilot", **REASON},
          errors.AlreadyEndedError),
    _case("amend-agreement-ended-by-review", "AgreementAmended", {"agreement_id": "trial",
          "terms": "x", **REASON}, errors.AlreadyEndedError),
    _case("amend-revoked-mandate", "MandateAmended", {"mandate_id": "m-city", "scope": "x",
          **REASON}, errors.AlreadyEndedError),
    _case("revoke-revoked-mandate", "MandateRevoked", {"mandate_id": "m-city", **REASON},
          errors.AlreadyEndedError),
    _case("redefine-retired-role", "RoleRedefined", {"role_id": "treasurer",
          "purpose": "x"}, errors.AlreadyEndedError),
    _case("assign-retired-role", "RoleAssigned", _assign("treasurer", "bob"),
          errors.AlreadyEndedError),
    _case("retire-retired-role", "RoleRetired", {"role_id": "treasurer", **REASON},
          errors.AlreadyEndedError),
    _case("vacate-retired-role", "RoleVacated", {"role_id": "treasurer", **REASON},
          errors.AlreadyEndedError),
    _case("hand-over-retired-role", "RoleHandedOver", _handover("treasurer", "ann", "bob"),
          errors.AlreadyEndedError),
    _case("mandate-to-retired-role", "MandateGranted", _mandate("m-new", "role",
          "treasurer"), errors.AlreadyEndedError),
]
# fmt: on


@pytest.mark.parametrize("case", ALREADY_ENDED)
def test_changing_what_already_ended_is_rejected(
    governed: Collaboration, domain_kit: Any, case: Case
) -> None:
    _run(governed, domain_kit, case)


# fmt: off
DUPLICATE_IDS = [
    _case("role", "RoleDefined", {"role_id": "chair", "name": "Chair", "purpose": "p",
          "accountabilities": []}, errors.DuplicateIdError),
    _case("retired-role", "RoleDefined", {"role_id": "treasurer", "name": "T",
          "purpose": "p", "accountabilities": []}, errors.DuplicateIdError),
    _case("mandate", "MandateGranted", _mandate("m-chair", "person", "bob"),
          errors.DuplicateIdError),
    _case("revoked-mandate", "MandateGranted", _mandate("m-city", "person", "bob"),
          errors.DuplicateIdError),
    _case("agreement", "AgreementMade", _agreement("covenant"), errors.DuplicateIdError),
    _case("ended-agreement", "AgreementMade", _agreement("pilot"), errors.DuplicateIdError),
    _case("decision", "DecisionRecorded", _decision("d-1", "ann"), errors.DuplicateIdError),
    _case("reflection", "ReflectionHeld", _reflection("r-1", "ann"),
          errors.DuplicateIdError),
    _case("partner-joining-twice", "PartnerJoined", {"partner_id": "school", "name": "S",
          "kind": "school", "capacities": []}, errors.DuplicateIdError),
    _case("member-joining-twice", "MemberJoined", {"person_id": "ann", "name": "Ann"},
          errors.DuplicateIdError),
]
# fmt: on


@pytest.mark.parametrize("case", DUPLICATE_IDS)
def test_reusing_an_id_is_rejected(governed: Collaboration, domain_kit: Any, case: Case) -> None:
    _run(governed, domain_kit, case)


EBR = errors.EffectiveBeforeReferenceError

# fmt: off
EFFECTIVE_BEFORE_REFERENCE = [
    _case("before-founding", "MissionRevised", MISSION, EBR, day=-1),
    _case("partner-later", "PartnerLeft", {"partner_id": "city", **REASON}, EBR, day=0.5),
    _case("acting-for-partner-later", "MissionRevised", MISSION, EBR, day=0.5,
          acting_for={"partner_id": "school"}),
    _case("member-partner-later", "MemberJoined", {"person_id": "dan", "name": "Dan",
          "partner_id": "city"}, EBR, day=0.5),
    _case("member-later", "MemberLeft", {"person_id": "bob", **REASON}, EBR, day=1.5),
    _case("participant-later", "DecisionRecorded", _decision("d-2", "ann"), EBR, day=1.5),
    _case("reflection-participant-later", "ReflectionHeld", _reflection("r-2", "bob"), EBR,
          day=1.5),
    _case("role-later", "RoleRedefined", {"role_id": "chair", "purpose": "x"}, EBR,
          day=2.5),
    _case("mandate-holder-role-later", "MandateGranted", _mandate("m-new", "role",
          "secretary"), EBR, day=2.5),
    _case("mandate-later", "MandateAmended", {"mandate_id": "m-chair", "scope": "x",
          **REASON}, EBR, day=4.5),
    _case("agreement-later", "AgreementAmended", {"agreement_id": "covenant",
          "terms": "x", **REASON}, EBR, day=5.5),
    _case("cause-decision-later", "MissionRevised", MISSION, EBR, day=6.5,
          cause={"decision_id": "d-1"}),
    _case("cause-reflection-later", "MissionRevised", MISSION, EBR, day=6.5,
          cause={"reflection_id": "r-1"}),
    _case("handover-before-assignment", "RoleHandedOver", _handover("chair", "ann", "bob"),
          EBR, day=3.5),
    _case("vacate-before-assignment", "RoleVacated", {"role_id": "chair", **REASON}, EBR,
          day=3.5),
]
# fmt: on


@pytest.mark.parametrize("case", EFFECTIVE_BEFORE_REFERENCE)
def test_event_taking_effect_before_what_it_refers_to_is_rejected(
    governed: Collaboration, domain_kit: Any, case: Case
) -> None:
    _run(governed, domain_kit, case)


@pytest.mark.parametrize("event_type", ["CollaborationFounded", "PartnerPromoted", ""])
def test_founding_again_or_an_unknown_event_type_is_rejected(
    governed: Collaboration, domain_kit: Any, event_type: str
) -> None:
    assert_rejected(
        governed,
        event_type,
        {"name": "x", "mission": "y"},
        domain_kit.envelope(LATER),
        errors.UnknownEventTypeError,
    )


ALL_RULE_CASES = [
    *UNKNOWN_REFERENCES,
    *PARTNER_NOT_CURRENT,
    *MEMBER_NOT_CURRENT,
    *HOLDING_ROLES,
    *ALREADY_ENDED,
    *DUPLICATE_IDS,
    *EFFECTIVE_BEFORE_REFERENCE,
]


def test_every_rule_error_is_exercised_by_a_case() -> None:
    leaves = {
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.RuleViolation)
        and not cls.__subclasses__()
    }
    exercised = {param.values[0].error for param in ALL_RULE_CASES}
    assert len(leaves) == 16
    assert exercised == leaves


@pytest.mark.parametrize(
    ("event_type", "data", "kind", "item_id"),
    [
        pytest.param("PartnerJoined", {"partner_id": "library", "name": "Library",
                     "kind": "library", "capacities": ["host"]}, "partners", "library",
                     id="partner"),
        pytest.param("MemberJoined", {"person_id": "eve", "name": "Eve", "partner_id": "city"},
                     "members", "eve", id="member"),
    ],
)  # fmt: skip
def test_rejoining_after_leaving_is_allowed(
    governed: Collaboration,
    domain_kit: Any,
    event_type: str,
    data: dict[str, Any],
    kind: str,
    item_id: str,
) -> None:
    assert governed.state[kind][item_id]["status"] == "left"
    version = governed.version

    governed.record(event_type, data, domain_kit.envelope(LATER))

    item = governed.state[kind][item_id]
    assert governed.version == version + 1
    assert item["status"] == "current"
    assert item["since"] == domain_kit.at(LATER)
    assert item["left_at"] is None


def test_member_leaving_vacates_the_roles_they_hold(
    governed: Collaboration, domain_kit: Any
) -> None:
    governed.record("MemberLeft", {"person_id": "ann", **REASON}, domain_kit.envelope(LATER))

    chair = governed.state["roles"]["chair"]
    assert (chair["status"], chair["holder"], chair["held_since"]) == ("vacant", None, None)


def test_a_member_who_left_may_still_be_named_as_participant(
    governed: Collaboration, domain_kit: Any
) -> None:
    governed.record("DecisionRecorded", _decision("d-2", "eve"), domain_kit.envelope(LATER))

    assert governed.state["decisions"]["d-2"]["participants"] == [{"person_id": "eve"}]


def test_founding_sets_up_the_collaboration(domain_kit: Any) -> None:
    collaboration = domain_kit.found()

    assert collaboration.version == 1
    assert collaboration.state["collaboration"]["name"] == "Leerecosysteem Noord"
    assert collaboration.state["collaboration"]["founded_at"] == domain_kit.at(0)
    assert collaboration.state["collaboration"]["mission_version"] == 1
    assert [e.type for e in collaboration.pending_events] == ["CollaborationFounded"]


def test_effective_at_defaults_to_the_moment_of_recording(governed: Collaboration) -> None:
    governed.record("PhaseStarted", {"name": "Phase 2"}, {"actor": "recorder"})

    event = governed.pending_events[-1]
    assert isinstance(event, Collaboration.Event)
    assert event.envelope["effective_at"] == event.stamp.recorded_at
    assert governed.state["phase"]["since"] == event.stamp.recorded_at


def test_recorded_at_never_goes_back_within_a_stream_when_the_clock_does(
    governed: Collaboration, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = governed.modified_on
    clock_gone_back = last - timedelta(hours=1)
    monkeypatch.setattr(
        Collaboration.Event, "create_timestamp", staticmethod(lambda: clock_gone_back)
    )

    governed.record("PhaseStarted", {"name": "p"}, {"actor": "recorder"})

    event = governed.pending_events[-1]
    assert event.timestamp == last
    assert event.envelope["effective_at"] == format_instant(last)  # type: ignore[attr-defined]


def test_a_correction_fixes_the_version_current_when_it_is_recorded(
    governed: Collaboration, domain_kit: Any
) -> None:
    governed.record(
        "AgreementAmended",
        {"agreement_id": "covenant", "terms": "v2", **REASON},
        domain_kit.envelope(LATER),
    )
    governed.record(
        "AgreementCorrected",
        {"agreement_id": "covenant", "title": "Fixed", **REASON},
        domain_kit.envelope(LATER + 1),
    )

    correction = governed.pending_events[-1]
    assert isinstance(correction, Collaboration.AgreementCorrected)
    assert correction.corrects_version == 2


def _get(state: dict[str, Any], path: str) -> Any:
    return reduce(
        lambda node, key: node[int(key) if key.isdigit() else key], path.split("/"), state
    )


def _lookup(state: dict[str, Any], path: str) -> Any:
    try:
        return _get(state, path)
    except (KeyError, IndexError, TypeError):
        return "<absent>"


POSITIVE_PATHS = [
    ("MissionRevised", {"mission": "Every child writes", "values": ["trust"]},
     {"collaboration/mission": "Every child writes", "collaboration/values": ["trust"],
      "collaboration/mission_version": 2}),
    ("PhaseStarted", {"name": "Pilot"},
     {"phase/name": "Pilot", "phases/0/ended_at": None}),
    ("PartnerJoined", {"partner_id": "museum", "name": "Museum", "kind": "other",
                       "capacities": ["host"]},
     {"partners/museum/status": "current", "partners/museum/capacities": ["host"],
      "partners/museum/since": LATER_AT}),
    ("PartnerCapacitiesChanged", {"partner_id": "school", "capacities": ["funder", "host"]},
     {"partners/school/capacities": ["funder", "host"]}),
    ("PartnerLeft", {"partner_id": "city", "reason": "merger"},
     {"partners/city/status": "left", "partners/city/left_reason": "merger",
      "partners/city/left_at": LATER_AT}),
    ("MemberJoined", {"person_id": "dan", "name": "Dan", "partner_id": "city"},
     {"members/dan/status": "current", "members/dan/partner_id": "city"}),
    ("MemberLeft", {"person_id": "bob", "reason": "retired"},
     {"members/bob/status": "left", "members/bob/left_reason": "retired"}),
    ("RoleDefined", {"role_id": "host", "name": "Host", "purpose": "welcome",
                     "accountabilities": ["coffee"], "term_months": 6},
     {"roles/host/status": "vacant", "roles/host/term_months": 6}),
    ("RoleRedefined", {"role_id": "chair", "purpose": "lead", "term_months": 12},
     {"roles/chair/purpose": "lead", "roles/chair/term_months": 12,
      "roles/chair/holder": "ann"}),
    ("RoleAssigned", {"role_id": "secretary", "person_id": "bob", "method": "volunteered",
                      "term_ends_on": "2025-06-30"},
     {"roles/secretary/status": "held", "roles/secretary/holder": "bob",
      "roles/secretary/term_ends_on": "2025-06-30"}),
    ("RoleHandedOver", {"role_id": "chair", "from_person_id": "ann", "to_person_id": "bob"},
     {"roles/chair/holder": "bob", "roles/chair/status": "held",
      "roles/chair/held_since": LATER_AT}),
    ("RoleVacated", {"role_id": "chair", "reason": "burn-out"},
     {"roles/chair/holder": None, "roles/chair/status": "vacant"}),
    ("RoleRetired", {"role_id": "secretary", "reason": "not needed"},
     {"roles/secretary/status": "retired", "roles/secretary/retired_reason": "not needed"}),
    ("MandateGranted", {"mandate_id": "m-bob", "holder": {"kind": "person", "id": "bob"},
                        "scope": "press", "decision_rights": ["speak"],
                        "budget_limit": {"amount": "500.00", "currency": "EUR"}},
     {"mandates/m-bob/holder": {"kind": "person", "id": "bob"},
      "mandates/m-bob/budget_limit": {"amount": "500.00", "currency": "EUR"},
      "mandates/m-bob/revoked": False}),
    ("MandateAmended", {"mandate_id": "m-chair", "scope": "all spending", "reason": "growth"},
     {"mandates/m-chair/scope": "all spending", "mandates/m-chair/version": 2}),
    ("MandateRevoked", {"mandate_id": "m-chair", "reason": "abuse"},
     {"mandates/m-chair/revoked": True, "mandates/m-chair/revoked_reason": "abuse"}),
    ("AgreementMade", {"agreement_id": "loi", "title": "Letter", "formality": "letter_of_intent",
                       "topics": ["mission"], "parties": _party("school", "city"),
                       "terms": "We intend.", "review_on": "2024-12-01"},
     {"agreements/loi/version": 1, "agreements/loi/formality": "letter_of_intent",
      "agreements/loi/review_on": "2024-12-01", "agreements/loi/budget_commitments": []}),
    ("AgreementAmended", {"agreement_id": "covenant", "terms": "More reading", "budget_commitments":
                          [{"partner_id": "city", "amount": "2500.00", "currency": "EUR"}],
                          "reason": "phase 2"},
     {"agreements/covenant/terms": "More reading", "agreements/covenant/version": 2,
      "agreements/covenant/version_since": LATER_AT,
      "agreements/covenant/budget_commitments/0/amount": "2500.00"}),
    ("AgreementCorrected", {"agreement_id": "covenant", "title": "Covenant (fixed)",
                            "reason": "typo"},
     {"agreements/covenant/title": "Covenant (fixed)", "agreements/covenant/version": 1,
      "agreements/covenant/corrections": 1}),
    ("AgreementReviewed", {"agreement_id": "covenant", "outcome": "keep",
                           "next_review_on": "2025-01-31"},
     {"agreements/covenant/last_review/outcome": "keep",
      "agreements/covenant/review_on": "2025-01-31", "agreements/covenant/ended": False}),
    ("AgreementEnded", {"agreement_id": "covenant", "reason": "goal reached"},
     {"agreements/covenant/ended": True, "agreements/covenant/ended_reason": "goal reached"}),
    ("DecisionRecorded", _decision("d-2", "ann", "bob", minority_views=["slower"]),
     {"decisions/d-2/outcome": "approved", "decisions/d-2/minority_views": ["slower"],
      "decisions/d-2/decided_at": LATER_AT,
      "decisions/d-2/objections": []}),
    ("ReflectionHeld", _reflection("r-2", "ann"),
     {"reflections/r-2/loop": "single", "reflections/r-2/participants": ["ann"]}),
]  # fmt: skip


def test_the_positive_table_covers_every_posted_event_type() -> None:
    assert {row[0] for row in POSITIVE_PATHS} == set(EVENT_TYPES) - {"CollaborationFounded"}


@pytest.mark.parametrize(
    ("event_type", "data", "expected"), [pytest.param(*row, id=row[0]) for row in POSITIVE_PATHS]
)
def test_valid_event_changes_the_state_as_its_type_says(
    governed: Collaboration,
    domain_kit: Any,
    event_type: str,
    data: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    before = copy.deepcopy(governed.state)
    version = governed.version
    assert {path: _lookup(before, path) for path in expected} != expected

    governed.record(event_type, data, domain_kit.envelope(LATER))

    assert governed.version == version + 1
    assert governed.pending_events[-1].type == event_type  # type: ignore[attr-defined]
    assert {path: _get(governed.state, path) for path in expected} == expected


def test_starting_a_phase_ends_the_previous_one(governed: Collaboration, domain_kit: Any) -> None:
    governed.record("PhaseStarted", {"name": "Start"}, domain_kit.envelope(LATER))
    governed.record("PhaseStarted", {"name": "Scale"}, domain_kit.envelope(LATER + 1))

    phases = governed.state["phases"]
    assert [(p["name"], p["ended_at"]) for p in phases] == [
        ("Start", domain_kit.at(LATER + 1)),
        ("Scale", None),
    ]
    assert governed.state["phase"]["name"] == "Scale"


def test_a_review_with_outcome_end_ends_the_agreement(
    governed: Collaboration, domain_kit: Any
) -> None:
    review = {"agreement_id": "covenant", "outcome": "end", "notes": "goal reached"}
    governed.record("AgreementReviewed", review, domain_kit.envelope(LATER))

    covenant = governed.state["agreements"]["covenant"]
    assert (covenant["ended"], covenant["ended_at"]) == (True, LATER_AT)
    assert covenant["last_review"]["outcome"] == "end"


def test_agreement_made_with_budget_commitments_records_them(
    governed: Collaboration, domain_kit: Any
) -> None:
    commitment = {"partner_id": "city", "amount": "2500.00", "currency": "EUR"}
    data = _agreement("funded", parties=_party("city"), budget_commitments=[commitment])

    governed.record("AgreementMade", data, domain_kit.envelope(LATER))

    assert governed.state["agreements"]["funded"]["budget_commitments"] == [commitment]


def test_assigning_a_role_before_it_became_vacant_is_rejected(
    governed: Collaboration, domain_kit: Any
) -> None:
    governed.record("RoleVacated", {"role_id": "chair", **REASON}, domain_kit.envelope(15))
    version = governed.version

    # ann held the chair from day 4 to day 15: on day 12 it was not vacant.
    with pytest.raises((errors.RoleNotVacantError, errors.EffectiveBeforeReferenceError)):
        governed.record("RoleAssigned", _assign("chair", "bob"), domain_kit.envelope(12))
    assert governed.version == version
