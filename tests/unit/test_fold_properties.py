"""Properties of the fold, whatever the sequence of valid events: the state the service gives at a
version, a record time or a valid time is the plain fold of the events that count at that moment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain import errors
from ledger.domain.state import Stamp, State, apply_event, empty_state
from ledger.domain.timefmt import format_instant, parse_instant
from ledger.domain.views import derive
from ledger.service import LedgerService, RecordedEvent
from ledger.settings import Settings

FOUNDED_AT = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2031, 1, 1, tzinfo=UTC)
MAX_STEPS = 30
IDS = {
    kind: [f"{prefix}{n}" for n in range(count)]
    for kind, prefix, count in [
        ("partners", "p", 3),
        ("members", "a", 4),
        ("roles", "r", 3),
        ("mandates", "m", 3),
        ("agreements", "g", 3),
        ("decisions", "d", 3),
        ("reflections", "f", 2),
    ]
}
PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Draw = Callable[[st.SearchStrategy[Any]], Any]
Command = tuple[str, dict[str, Any], list[str]]  # event type, data, `since` of what it refers to


# The model: which references would be valid now, judged on the fold of what was recorded.


def _ids(state: State, kind: str, keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    return sorted(item_id for item_id, item in state[kind].items() if keep(item))


def _current(state: State, kind: str) -> list[str]:
    return _ids(state, kind, lambda item: item["status"] == "current")


def _roles(state: State, status: str | None = None) -> list[str]:
    if status is None:
        return _ids(state, "roles", lambda role: role["status"] != "retired")
    return _ids(state, "roles", lambda role: role["status"] == status)


def _often(draw: Draw) -> bool:
    return bool(draw(st.sampled_from([True, True, True, True, False])))


def _fresh_id(draw: Draw, state: State, kind: str) -> str:
    """Mostly an id not in use (or of someone who left); now and then one that is, to be refused."""
    unused = [i for i in IDS[kind] if state[kind].get(i, {}).get("status") in (None, "left")]
    if unused and _often(draw):
        return str(draw(st.sampled_from(unused)))
    return str(draw(st.sampled_from(IDS[kind])))


def _day(draw: Draw) -> str:
    return (FOUNDED_AT + timedelta(days=draw(st.integers(0, 400)))).date().isoformat()


def _dates(draw: Draw, *names: str) -> dict[str, str]:
    return {name: _day(draw) for name in names if draw(st.booleans())}


def _some(draw: Draw, choices: Sequence[str], min_size: int = 0) -> list[str]:
    if not choices:
        return []
    return draw(st.lists(st.sampled_from(choices), min_size=min_size, max_size=3, unique=True))


def _since(state: State, kind: str, *item_ids: str) -> list[str]:
    return [state[kind][item_id]["since"] for item_id in item_ids]


def _compass(draw: Draw, state: State) -> Command:
    if draw(st.booleans()):
        return "MissionRevised", {"mission": draw(st.sampled_from(["read", "write"]))}, []
    return "PhaseStarted", {"name": draw(st.sampled_from(["start", "pilot", "scale"]))}, []


def _partner_joined(draw: Draw, state: State) -> Command:
    partner_id = _fresh_id(draw, state, "partners")
    capacities = _some(draw, ["funder", "host", "participant"], min_size=1)
    data = {
        "partner_id": partner_id,
        "name": partner_id,
        "kind": "school",
        "capacities": capacities,
    }
    return "PartnerJoined", data, []


def _partner_changed(draw: Draw, state: State) -> Command:
    partner_id = draw(st.sampled_from(_current(state, "partners")))
    if draw(st.booleans()):
        data = {"partner_id": partner_id, "capacities": _some(draw, ["funder", "knowledge"])}
        return "PartnerCapacitiesChanged", data, _since(state, "partners", partner_id)
    return "PartnerLeft", {"partner_id": partner_id, "reason": "r"}, []


def _member_joined(draw: Draw, state: State) -> Command:
    person_id = _fresh_id(draw, state, "members")
    data: dict[str, Any] = {"person_id": person_id, "name": person_id}
    partners = _current(state, "partners")
    if partners and draw(st.booleans()):
        data["partner_id"] = draw(st.sampled_from(partners))
        return "MemberJoined", data, _since(state, "partners", data["partner_id"])
    return "MemberJoined", data, []


def _member_left(draw: Draw, state: State) -> Command:
    person_id = draw(st.sampled_from(_current(state, "members")))
    return (
        "MemberLeft",
        {"person_id": person_id, "reason": "r"},
        _since(state, "members", person_id),
    )


def _role_defined(draw: Draw, state: State) -> Command:
    role_id = _fresh_id(draw, state, "roles")
    data = {"role_id": role_id, "name": role_id, "purpose": "p", "accountabilities": []}
    return "RoleDefined", data, []


def _role_changed(draw: Draw, state: State) -> Command:
    role_id = draw(st.sampled_from(_roles(state)))
    refs = _since(state, "roles", role_id)
    if draw(st.booleans()):
        data = {"role_id": role_id, "purpose": draw(st.sampled_from(["lead", "host"]))}
        return "RoleRedefined", data, refs
    return "RoleRetired", {"role_id": role_id, "reason": "r"}, refs


def _role_assigned(draw: Draw, state: State) -> Command:
    role_id = draw(st.sampled_from(_roles(state, "vacant")))
    person_id = draw(st.sampled_from(_current(state, "members")))
    data = {"role_id": role_id, "person_id": person_id, "method": "elected"}
    data.update(_dates(draw, "term_ends_on"))
    refs = _since(state, "roles", role_id) + _since(state, "members", person_id)
    return "RoleAssigned", data, refs


def _role_held(draw: Draw, state: State) -> Command:
    role_id = draw(st.sampled_from(_roles(state, "held")))
    role = state["roles"][role_id]
    refs = [role["since"], role["held_since"]]
    others = [p for p in _current(state, "members") if p != role["holder"]]
    if others and _often(draw):
        to_person = draw(st.sampled_from(others))
        data = {"role_id": role_id, "from_person_id": role["holder"], "to_person_id": to_person}
        return "RoleHandedOver", data, refs + _since(state, "members", to_person)
    return "RoleVacated", {"role_id": role_id, "reason": "r"}, refs


def _mandate_granted(draw: Draw, state: State) -> Command:
    holders = [("role", r) for r in _roles(state)]
    holders += [("person", p) for p in _current(state, "members")]
    holders += [("partner", p) for p in _current(state, "partners")]
    kind, holder_id = draw(st.sampled_from(holders))
    data = {
        "mandate_id": _fresh_id(draw, state, "mandates"),
        "holder": {"kind": kind, "id": holder_id},
        "scope": "s",
        "decision_rights": _some(draw, ["spend", "hire"]),
        **_dates(draw, "valid_until", "review_on"),
    }
    kinds = {"role": "roles", "person": "members", "partner": "partners"}
    return "MandateGranted", data, _since(state, kinds[kind], holder_id)


def _mandate_changed(draw: Draw, state: State) -> Command:
    mandate_id = draw(st.sampled_from(_ids(state, "mandates", lambda m: not m["revoked"])))
    refs = _since(state, "mandates", mandate_id)
    if draw(st.booleans()):
        data = {"mandate_id": mandate_id, "reason": "r", **_dates(draw, "valid_until", "review_on")}
        if draw(st.booleans()):
            data["budget_limit"] = {"amount": "100.00", "currency": "EUR"}
        return "MandateAmended", data, refs
    return "MandateRevoked", {"mandate_id": mandate_id, "reason": "r"}, refs


def _parties(draw: Draw, state: State) -> tuple[list[dict[str, str]], list[str]]:
    partner_ids = _some(draw, _current(state, "partners"), min_size=1)
    parties = [{"partner_id": p, "capacity": "participant"} for p in partner_ids]
    return parties, _since(state, "partners", *partner_ids)


def _agreement_made(draw: Draw, state: State) -> Command:
    parties, refs = _parties(draw, state)
    data = {
        "agreement_id": _fresh_id(draw, state, "agreements"),
        "title": "t",
        "formality": draw(st.sampled_from(["oral", "contract"])),
        "topics": ["goals"],
        "parties": parties,
        "terms": "v1",
        **_dates(draw, "review_on", "valid_until"),
    }
    if draw(st.booleans()):
        data["budget_commitments"] = _commitments(parties)
    return "AgreementMade", data, refs


def _commitments(parties: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"partner_id": parties[0]["partner_id"], "amount": "10.00", "currency": "EUR"}]


def _agreement_changed(draw: Draw, state: State) -> Command:
    agreement_id = draw(st.sampled_from(_ids(state, "agreements", lambda a: not a["ended"])))
    refs = _since(state, "agreements", agreement_id)
    event_type = draw(
        st.sampled_from(
            [
                "AgreementAmended",
                "AgreementCorrected",
                "AgreementCorrected",
                "AgreementReviewed",
                "AgreementEnded",
            ]
        )
    )
    if event_type == "AgreementReviewed":
        outcome = draw(st.sampled_from(["keep", "adjust", "end"]))
        data = {"agreement_id": agreement_id, "outcome": outcome, **_dates(draw, "next_review_on")}
        return event_type, data, refs
    if event_type == "AgreementEnded":
        return event_type, {"agreement_id": agreement_id, "reason": "r"}, refs
    data = {"agreement_id": agreement_id, "reason": "r", **_dates(draw, "review_on", "valid_until")}
    data[draw(st.sampled_from(["title", "terms"]))] = draw(st.sampled_from(["x", "y", "z"]))
    if _current(state, "partners") and draw(st.booleans()):
        parties, party_refs = _parties(draw, state)
        data.update(parties=parties, budget_commitments=_commitments(parties))
        refs += party_refs
    return event_type, data, refs


def _decision(draw: Draw, state: State) -> Command:
    people = _some(draw, sorted(state["members"]))
    data = {
        "decision_id": _fresh_id(draw, state, "decisions"),
        "subject": "s",
        "method": "consent",
        "outcome": "o",
        "participants": [{"person_id": p} for p in people],
    }
    return "DecisionRecorded", data, _since(state, "members", *people)


def _reflection(draw: Draw, state: State) -> Command:
    people = _some(draw, sorted(state["members"]))
    data = {
        "reflection_id": _fresh_id(draw, state, "reflections"),
        "title": "t",
        "method": "timeline",
        "loop": draw(st.sampled_from(["single", "double", "triple"])),
        "participants": people,
        "findings": [],
        "outcome": "keep",
    }
    return "ReflectionHeld", data, _since(state, "members", *people)


Applies = Callable[[State], bool]
# (weight, when it can apply, how to draw it): weights favour what needs a history to happen.
WEIGHTED_COMMANDS: list[tuple[int, Applies, Callable[[Draw, State], Command]]] = [
    (3, lambda s: bool(_roles(s, "held")), _role_held),
    (3, lambda s: bool(_roles(s, "vacant") and _current(s, "members")), _role_assigned),
    (4, lambda s: any(not a["ended"] for a in s["agreements"].values()), _agreement_changed),
    (2, lambda s: bool(_current(s, "partners")), _agreement_made),
    (2, lambda s: any(not m["revoked"] for m in s["mandates"].values()), _mandate_changed),
    (2, lambda s: bool(_roles(s) or _current(s, "members") or _current(s, "partners")),
     _mandate_granted),
    (2, lambda s: True, _partner_joined),
    (2, lambda s: True, _member_joined),
    (2, lambda s: True, _role_defined),
    (1, lambda s: bool(_roles(s)), _role_changed),
    (1, lambda s: bool(_current(s, "partners")), _partner_changed),
    (1, lambda s: bool(_current(s, "members")), _member_left),
    (1, lambda s: True, _decision),
    (1, lambda s: True, _reflection),
    (1, lambda s: True, _compass),
]  # fmt: skip


def _envelope(draw: Draw, state: State, refs: list[str]) -> dict[str, Any]:
    """An envelope that usually respects the effective-before-reference rule, sometimes not."""
    envelope: dict[str, Any] = {"actor": "recorder"}
    partners = _current(state, "partners")
    if partners and draw(st.sampled_from(range(5))) == 0:
        envelope["acting_for"] = {"partner_id": draw(st.sampled_from(partners))}
        refs = refs + _since(state, "partners", envelope["acting_for"]["partner_id"])
    causes = [("decision_id", "decisions", d) for d in state["decisions"]]
    causes += [("reflection_id", "reflections", r) for r in state["reflections"]]
    if causes and draw(st.sampled_from(range(4))) == 0:
        key, kind, cause_id = draw(st.sampled_from(sorted(causes)))
        envelope["cause"] = {key: cause_id}
        refs = refs + _since(state, kind, cause_id)
    if draw(st.sampled_from(range(10))) == 0:
        return envelope  # takes effect when recorded
    earliest = parse_instant(max([state["collaboration"]["founded_at"], *refs]))
    hours = draw(st.integers(-48, 24 * 60))
    envelope["effective_at"] = format_instant(earliest + timedelta(hours=hours))
    return envelope


# Brute-force folds, independent of the service.


def _stamp(event: RecordedEvent) -> Stamp:
    return Stamp(
        event.version,
        event.envelope["effective_at"],
        event.envelope["recorded_at"],
        bool(event.envelope.get("shared_with_funders", False)),
    )


def _fold(events: Iterable[RecordedEvent]) -> State:
    state = empty_state()
    for event in events:
        apply_event(state, event.type, event.data, _stamp(event))
    return state


def _fold_in_force(events: Iterable[RecordedEvent], at: str) -> State:
    """Events that took effect by `at`; a correction when the version it fixed is in view."""
    known, in_force = empty_state(), empty_state()
    for event in events:
        if event.type == "AgreementCorrected":
            agreement_id = event.data["agreement_id"]
            corrected_version = known["agreements"][agreement_id]["version"]
            agreement = in_force["agreements"].get(agreement_id)
            counts = agreement is not None and agreement["version"] == corrected_version
        else:
            counts = event.envelope["effective_at"] <= at
        if counts:
            apply_event(in_force, event.type, event.data, _stamp(event))
        apply_event(known, event.type, event.data, _stamp(event))
    return in_force


def _record_history(draw: Draw, service: LedgerService) -> tuple[str, list[RecordedEvent]]:
    founded = service.found_collaboration(
        {"name": "Netwerk", "mission": "Lezen"},
        {"actor": "recorder", "effective_at": format_instant(FOUNDED_AT)},
    )
    cid = founded.collaboration_id
    model, recorded = empty_state(), [founded]
    apply_event(model, founded.type, founded.data, _stamp(founded))
    for _ in range(draw(st.integers(0, MAX_STEPS))):
        choices = [
            c for weight, applies, c in WEIGHTED_COMMANDS if applies(model) for _ in range(weight)
        ]
        event_type, data, refs = draw(st.sampled_from(choices))(draw, model)
        envelope = _envelope(draw, model, refs)
        try:
            event = service.record_event(cid, event_type, data, envelope)
        except errors.RuleViolation:
            assert service.stream_version(cid) == len(recorded)  # nothing was stored
            continue
        apply_event(model, event.type, event.data, _stamp(event))
        recorded.append(event)
    return cid, recorded


def _service(draw: Draw) -> LedgerService:
    interval = draw(st.sampled_from([2, 3, 7, 50]))  # small intervals: states come from snapshots
    return LedgerService(Settings(database_url="sqlite:///:memory:", snapshot_interval=interval))


def _around(stamp: str) -> tuple[datetime, datetime]:
    exact = parse_instant(stamp)
    return exact, exact - timedelta(microseconds=1)


def _anywhere(draw: Draw) -> datetime:
    return FOUNDED_AT + timedelta(hours=draw(st.integers(-72, 24 * 500)))


def _moment(draw: Draw, stamps: list[str]) -> datetime:
    """A valid time on an event's exact effective_at, just before it, or anywhere around."""
    return draw(st.sampled_from([*_around(draw(st.sampled_from(stamps))), _anywhere(draw)]))


@PROPERTY_SETTINGS
@given(st.data())
def test_state_at_each_version_is_the_fold_of_that_prefix(data: st.DataObject) -> None:
    service = _service(data.draw)
    try:
        cid, recorded = _record_history(data.draw, service)
        stored = service.events(cid, 0, 1000)
        assert [(e.type, e.data, e.envelope) for e in stored] == [
            (e.type, e.data, e.envelope) for e in recorded
        ]
        for version in range(1, len(stored) + 1):
            view = service.state(cid, version=version, now=NOW)
            assert view.basis["version"] == version
            assert view.state == derive(_fold(stored[:version]), NOW.date())
    finally:
        service.close()


@PROPERTY_SETTINGS
@given(st.data())
def test_state_in_force_at_a_valid_time_is_the_fold_of_what_counts_then(
    data: st.DataObject,
) -> None:
    service = _service(data.draw)
    try:
        cid, _ = _record_history(data.draw, service)
        stored = service.events(cid, 0, 1000)
        # The state in force only changes when an event takes effect: try every such moment,
        # the instant before it, and a few moments anywhere.
        moments = {m for e in stored for m in _around(e.envelope["effective_at"])}
        moments |= {_anywhere(data.draw) for _ in range(3)}
        for at in sorted(moments):
            version = data.draw(st.sampled_from([None, *range(1, len(stored) + 1)]))
            known = stored if version is None else stored[:version]
            if format_instant(at) < stored[0].envelope["effective_at"]:
                try:
                    service.state(cid, version=version, at=at)
                except errors.NotYetInForceError:
                    continue
                raise AssertionError("a moment before the founding must be refused")
            view = service.state(cid, version=version, at=at)
            assert view.basis["at"] == format_instant(at)
            assert view.state == derive(_fold_in_force(known, format_instant(at)), at.date())
    finally:
        service.close()


@PROPERTY_SETTINGS
@given(st.data())
def test_state_known_at_a_record_time_is_the_fold_of_what_was_recorded_by_then(
    data: st.DataObject,
) -> None:
    service = _service(data.draw)
    try:
        cid, _ = _record_history(data.draw, service)
        stored = service.events(cid, 0, 1000)
        recorded_at = [e.envelope["recorded_at"] for e in stored]
        assert recorded_at == sorted(recorded_at)
        for _ in range(4):
            exact = parse_instant(data.draw(st.sampled_from(recorded_at)))
            known_at = exact - timedelta(microseconds=data.draw(st.sampled_from([0, 1])))
            prefix = [e for e in stored if e.envelope["recorded_at"] <= format_instant(known_at)]
            if not prefix:
                try:
                    service.state(cid, known_at=known_at)
                except errors.NotYetRecordedError:
                    continue
                raise AssertionError("a record time before the founding must be refused")
            view = service.state(cid, known_at=known_at)
            assert view.basis["version"] == len(prefix)
            assert view.state == derive(_fold(prefix), known_at.date())
            at = _moment(data.draw, [e.envelope["effective_at"] for e in prefix])
            if format_instant(at) >= prefix[0].envelope["effective_at"]:
                both = service.state(cid, known_at=known_at, at=at)
                expected = _fold_in_force(prefix, format_instant(at))
                assert both.state == derive(expected, at.date())
    finally:
        service.close()


# Two examples of the correction rule the properties generalise (design.md §2).


def _agreement_history(service: LedgerService, kit: Any) -> str:
    cid = service.found_collaboration({"name": "Netwerk", "mission": "Lezen"}, kit.envelope(0))
    collaboration_id = cid.collaboration_id
    service.record_event(collaboration_id, "PartnerJoined", kit.partner("school"), kit.envelope(1))
    made = kit.agreement("covenant", "school", title="Covnant")
    service.record_event(collaboration_id, "AgreementMade", made, kit.envelope(10))
    return collaboration_id


def _title_and_version(service: LedgerService, cid: str, days: float) -> tuple[str, int]:
    at = FOUNDED_AT + timedelta(days=days)
    agreement = service.state(cid, at=at).state["agreements"]["covenant"]
    return agreement["title"], agreement["version"]


def test_a_correction_shows_wherever_the_version_it_fixes_is_in_force(
    domain_service: LedgerService, domain_kit: Any
) -> None:
    cid = _agreement_history(domain_service, domain_kit)
    fix = {"agreement_id": "covenant", "title": "Covenant", "reason": "typo"}
    domain_service.record_event(cid, "AgreementCorrected", fix, domain_kit.envelope(50))

    before_made = domain_service.state(cid, at=FOUNDED_AT + timedelta(days=9.9))
    assert before_made.state["agreements"] == {}
    assert _title_and_version(domain_service, cid, 20) == ("Covenant", 1)
    assert _title_and_version(domain_service, cid, 60) == ("Covenant", 1)


def test_a_correction_of_a_planned_version_does_not_show_before_it_takes_effect(
    domain_service: LedgerService, domain_kit: Any
) -> None:
    cid = _agreement_history(domain_service, domain_kit)
    amendment = {"agreement_id": "covenant", "terms": "v2", "reason": "phase 2"}
    domain_service.record_event(cid, "AgreementAmended", amendment, domain_kit.envelope(100))
    fix = {"agreement_id": "covenant", "title": "Covenant", "reason": "typo"}
    domain_service.record_event(cid, "AgreementCorrected", fix, domain_kit.envelope(50))

    assert _title_and_version(domain_service, cid, 60) == ("Covnant", 1)
    assert _title_and_version(domain_service, cid, 100) == ("Covenant", 2)
