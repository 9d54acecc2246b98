"""Founding, listing, posting every event type, and reading the state at any moment over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from ledger.domain.state import Stamp, apply_event, empty_state
from ledger.domain.timefmt import format_instant, parse_instant
from ledger.domain.views import derive
from ledger.domain.vocabulary import EVENT_TYPES
from tests.integration.helpers import (
    EVERY_TYPE,
    FOUNDED_VERSION,
    LedgerApi,
    agreement,
    assert_problem,
    day,
    decision,
    from_now,
    handover,
)

INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
STORED_EVENT_FIELDS = {
    "collaboration_id",
    "type",
    "data",
    "effective_at",
    "recorded_at",
    "actor",
    "acting_for",
    "capacity",
    "cause",
    "source",
    "note",
    "shared_with_funders",
    "version",
    "position",
    "receipt",
}
STATE_FIELDS = {
    "collaboration",
    "phase",
    "phases",
    "partners",
    "members",
    "roles",
    "mandates",
    "agreements",
    "decisions",
    "reflections",
    "attention",
}
VIEW_ONLY = ("collaboration_id", "basis", "stream_version")

# Where each kind of thing is created, and the data field that names it.
CREATED_BY = {
    "partners": ("PartnerJoined", "partner_id"),
    "members": ("MemberJoined", "person_id"),
    "roles": ("RoleDefined", "role_id"),
    "mandates": ("MandateGranted", "mandate_id"),
    "agreements": ("AgreementMade", "agreement_id"),
    "decisions": ("DecisionRecorded", "decision_id"),
    "reflections": ("ReflectionHeld", "reflection_id"),
}


def fold(events: list[dict[str, Any]], as_of: date) -> dict[str, Any]:
    """The state folded from these stored events by the domain, as seen on `as_of`."""
    state = empty_state()
    for event in events:
        stamp = Stamp(
            event["version"],
            event["effective_at"],
            event["recorded_at"],
            event["shared_with_funders"],
        )
        apply_event(state, event["type"], event["data"], stamp)
    return derive(state, as_of)


def state_part(view: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in view.items() if key not in VIEW_ONLY}


def as_of_day(view: dict[str, Any]) -> date:
    return parse_instant(view["basis"]["as_of"]).date()


@pytest.fixture
def every_type(api: LedgerApi) -> str:
    """A collaboration whose stream holds one event of every type (27 events)."""
    cid = api.found_id(languages=["nl", "en"])
    for event_type, data, envelope in EVERY_TYPE:
        api.record(cid, event_type, data, **envelope)
    return cid


# Founding


def test_founding_returns_the_stored_event_with_location_and_etag(api: LedgerApi) -> None:
    before = format_instant(datetime.now(UTC))
    response = api.found(languages=["nl", "en"])
    after = format_instant(datetime.now(UTC))

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == STORED_EVENT_FIELDS
    cid = body["collaboration_id"]
    assert response.headers["Location"].endswith(f"/collaborations/{cid}")
    assert response.headers["ETag"] == '"1"'
    assert body["type"] == "CollaborationFounded"
    assert body["data"] == {
        "name": "Leerecosysteem Noord",
        "mission": "Every child reads",
        "languages": ["nl", "en"],
    }
    assert body["actor"] == "tester"
    assert body["version"] == 1
    assert isinstance(body["position"], int)
    assert body["position"] >= 1
    assert INSTANT.match(body["recorded_at"])
    assert before <= body["recorded_at"] <= after
    assert body["effective_at"] == body["recorded_at"]
    assert body["shared_with_funders"] is False


def test_founded_collaboration_is_readable_at_its_location(api: LedgerApi) -> None:
    response = api.found()
    location = response.headers["Location"]

    state = api.client.get(location, headers=api.auth)

    assert state.status_code == 200
    view = state.get_json()
    assert view["collaboration_id"] == response.get_json()["collaboration_id"]
    assert view["collaboration"]["name"] == "Leerecosysteem Noord"
    assert view["collaboration"]["mission"] == "Every child reads"
    assert view["collaboration"]["founded_at"] == response.get_json()["effective_at"]


def test_backdated_founding_keeps_its_effective_at_and_records_now(api: LedgerApi) -> None:
    before = format_instant(datetime.now(UTC))
    response = api.found(effective_at="2024-01-01T10:00:00+01:00", note="signed in January")

    body = response.get_json()
    assert response.status_code == 201
    assert body["effective_at"] == "2024-01-01T09:00:00.000000Z"
    assert body["recorded_at"] >= before
    assert body["note"] == "signed in January"
    state = api.state(body["collaboration_id"])
    assert state["collaboration"]["founded_at"] == "2024-01-01T09:00:00.000000Z"


def test_founding_envelope_fields_are_kept(api: LedgerApi) -> None:
    body = api.found(capacity="coordinator", source={"system": "intranet", "id": "c-1"}).get_json()

    assert body["capacity"] == "coordinator"
    assert body["source"] == {"system": "intranet", "id": "c-1"}


def test_the_actor_is_the_token_name(api: LedgerApi, app: Flask) -> None:
    other = app.extensions["ledger.tokens"].create("second-recorder")
    response = api.client.post(
        "/collaborations",
        json={"name": "Other", "mission": "Other mission"},
        headers={"Authorization": f"Bearer {other}"},
    )

    assert response.status_code == 201
    assert response.get_json()["actor"] == "second-recorder"


# Listing


def test_collaborations_are_listed_oldest_first_with_summaries(api: LedgerApi) -> None:
    first = api.found_id("First")
    second = api.found_id("Second", effective_at=day(0))
    api.record(second, "PhaseStarted", {"name": "Start"})

    response = api.client.get("/collaborations", headers=api.auth)

    assert response.status_code == 200
    page = response.get_json()
    assert page["next_cursor"] is None
    assert [item["collaboration_id"] for item in page["items"]] == [first, second]
    summary = page["items"][1]
    assert set(summary) == {"collaboration_id", "name", "founded_at", "recorded_at", "version"}
    assert summary["name"] == "Second"
    assert summary["founded_at"] == day(0)
    assert summary["version"] == 2
    assert page["items"][0]["version"] == 1


def test_collaborations_are_paged_with_a_cursor(api: LedgerApi) -> None:
    founded = [api.found_id(f"Collaboration {n}") for n in range(5)]

    seen: list[str] = []
    pages = 0
    query: dict[str, Any] = {"limit": 2}
    while True:
        response = api.client.get("/collaborations", query_string=query, headers=api.auth)
        assert response.status_code == 200
        page = response.get_json()
        assert len(page["items"]) <= 2
        seen += [item["collaboration_id"] for item in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        query = {"limit": 2, "cursor": page["next_cursor"]}
        assert pages < 10

    assert seen == founded
    assert pages == 3


# Posting events


def test_posted_event_carries_type_data_full_envelope_version_and_position(
    api: LedgerApi, founded: str
) -> None:
    envelope: dict[str, Any] = {
        "effective_at": day(5),
        "acting_for": {"partner_id": "school"},
        "capacity": "chair",
        "cause": {"decision_id": "d-env"},
        "source": {"system": "minutes-tool", "id": "2024-01-06/3"},
        "note": "from the minutes",
        "shared_with_funders": True,
    }
    api.record(founded, "DecisionRecorded", decision("d-env", "ann", "bob"), effective_at=day(5))
    before = format_instant(datetime.now(UTC))

    response = api.post_event(founded, "PhaseStarted", {"name": "Pilot"}, **envelope)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == STORED_EVENT_FIELDS
    assert body["collaboration_id"] == founded
    assert body["type"] == "PhaseStarted"
    assert body["data"] == {"name": "Pilot"}
    assert {key: body[key] for key in envelope} == envelope
    assert body["actor"] == "tester"
    assert before <= body["recorded_at"]
    assert body["version"] == FOUNDED_VERSION + 2
    assert response.headers["ETag"] == f'"{FOUNDED_VERSION + 2}"'
    assert response.headers["Location"].endswith(f"/collaborations/{founded}")
    assert api.events(founded)[-1] == body


def test_effective_at_defaults_to_recorded_at(api: LedgerApi, founded: str) -> None:
    body = api.record(founded, "PhaseStarted", {"name": "Pilot"})

    assert body["effective_at"] == body["recorded_at"]
    assert body["acting_for"] is None
    assert body["cause"] is None
    assert body["shared_with_funders"] is False


def test_every_event_type_can_be_posted_and_read_back(api: LedgerApi, every_type: str) -> None:
    events = api.events(every_type)

    assert {event["type"] for event in events} == set(EVENT_TYPES)
    assert [event["type"] for event in events] == [
        "CollaborationFounded",
        *(event_type for event_type, _, _ in EVERY_TYPE),
    ]
    assert [event["version"] for event in events] == list(range(1, len(EVERY_TYPE) + 2))
    positions = [event["position"] for event in events]
    assert positions == sorted(set(positions))
    recorded = [event["recorded_at"] for event in events]
    assert recorded == sorted(recorded)
    assert all(event["actor"] == "tester" for event in events)
    for event, (_, data, envelope) in zip(events[1:], EVERY_TYPE, strict=True):
        assert event["data"] == data
        assert {key: event[key] for key in envelope} == envelope


def test_state_at_every_version_equals_the_fold_of_that_prefix(
    api: LedgerApi, every_type: str
) -> None:
    events = api.events(every_type)

    for version in range(1, len(events) + 1):
        view = api.state(every_type, version=version)
        assert view["basis"]["version"] == version
        assert view["basis"]["at"] is None
        assert view["stream_version"] == len(events)
        assert set(state_part(view)) == STATE_FIELDS
        assert state_part(view) == fold(events[:version], as_of_day(view)), version


def test_things_exist_at_a_version_exactly_when_created_by_then(
    api: LedgerApi, every_type: str
) -> None:
    events = api.events(every_type)

    for version in range(1, len(events) + 1):
        view = api.state(every_type, version=version)
        for collection, (event_type, key) in CREATED_BY.items():
            created = {e["data"][key] for e in events[:version] if e["type"] == event_type}
            assert set(view[collection]) == created, (version, collection)


def test_final_state_reflects_every_kind_of_change(api: LedgerApi, every_type: str) -> None:
    view = api.state(every_type)

    assert view["collaboration"]["mission"] == "Every child reads and writes"
    assert view["collaboration"]["mission_version"] == 2
    assert view["collaboration"]["languages"] == ["nl", "en"]
    assert view["phase"]["name"] == "Pilot"
    assert view["partners"]["city"]["status"] == "left"
    assert view["partners"]["city"]["capacities"] == ["funder", "host"]
    assert view["partners"]["school"]["status"] == "current"
    assert view["members"]["cleo"]["status"] == "left"
    assert view["roles"]["chair"]["status"] == "retired"
    assert view["roles"]["chair"]["holder"] is None
    assert view["roles"]["chair"]["purpose"] == "Chairs the table"
    assert view["mandates"]["m1"]["status"] == "revoked"
    assert view["mandates"]["m1"]["scope"] == "all spending"
    a1 = view["agreements"]["a1"]
    assert (a1["status"], a1["version"], a1["corrections"]) == ("ended", 2, 1)
    assert (a1["title"], a1["terms"]) == ("Agreement A1", "Read and write.")
    assert view["decisions"]["d1"]["minority_views"] == ["wait a year"]
    assert view["reflections"]["r1"]["loop"] == "double"


def test_the_state_between_handover_and_vacancy_names_the_new_holder(
    api: LedgerApi, every_type: str
) -> None:
    types = ["CollaborationFounded", *(event_type for event_type, _, _ in EVERY_TYPE)]
    handed_over = types.index("RoleHandedOver") + 1

    before = api.state(every_type, version=handed_over - 1)
    after = api.state(every_type, version=handed_over)

    assert before["roles"]["chair"]["holder"] == "ann"
    assert after["roles"]["chair"]["holder"] == "bob"


# ETags on reads


def test_get_state_carries_the_stream_version_as_etag(api: LedgerApi, founded: str) -> None:
    response = api.client.get(f"/collaborations/{founded}", headers=api.auth)
    assert response.headers["ETag"] == f'"{FOUNDED_VERSION}"'
    assert response.get_json()["stream_version"] == FOUNDED_VERSION

    api.record(founded, "PhaseStarted", {"name": "Pilot"})

    latest = api.client.get(f"/collaborations/{founded}", headers=api.auth)
    older = api.client.get(f"/collaborations/{founded}?version=2", headers=api.auth)
    assert latest.headers["ETag"] == f'"{FOUNDED_VERSION + 1}"'
    assert older.headers["ETag"] == f'"{FOUNDED_VERSION + 1}"'
    assert older.get_json()["basis"]["version"] == 2


def test_etag_from_get_is_a_valid_if_match(api: LedgerApi, founded: str) -> None:
    etag = api.client.get(f"/collaborations/{founded}", headers=api.auth).headers["ETag"]

    response = api.post_event(
        founded, "PhaseStarted", {"name": "Pilot"}, headers={"If-Match": etag}
    )

    assert response.status_code == 201


# Events paging


def test_events_are_paged_oldest_first_with_next_after(api: LedgerApi, founded: str) -> None:
    everything = api.events(founded)
    assert len(everything) == FOUNDED_VERSION

    collected: list[dict[str, Any]] = []
    after = 0
    for _ in range(10):
        response = api.client.get(
            f"/collaborations/{founded}/events",
            query_string={"after": after, "limit": 5},
            headers=api.auth,
        )
        assert response.status_code == 200
        assert response.headers["ETag"] == f'"{FOUNDED_VERSION}"'
        page = response.get_json()
        assert len(page["items"]) <= 5
        assert all(item["version"] > after for item in page["items"])
        collected += page["items"]
        if page["next_after"] is None:
            break
        assert page["next_after"] == page["items"][-1]["version"]
        after = page["next_after"]

    assert collected == everything
    assert [event["version"] for event in collected] == list(range(1, FOUNDED_VERSION + 1))


def test_events_after_a_version_start_right_after_it(api: LedgerApi, founded: str) -> None:
    response = api.client.get(
        f"/collaborations/{founded}/events?after=10&limit=1", headers=api.auth
    )

    page = response.get_json()
    assert [item["version"] for item in page["items"]] == [11]
    assert page["next_after"] == 11


def test_events_after_the_last_version_are_an_empty_last_page(api: LedgerApi, founded: str) -> None:
    response = api.client.get(
        f"/collaborations/{founded}/events?after={FOUNDED_VERSION}", headers=api.auth
    )

    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_after": None}


# Moments: known_at and at


def test_backdated_history_is_answered_at_valid_times(api: LedgerApi, founded: str) -> None:
    at_day_1 = api.state(founded, at=day(1.5))
    at_day_3 = api.state(founded, at=day(3.5))
    at_day_5 = api.state(founded, at=day(5))

    assert set(at_day_1["partners"]) == {"school", "city", "gone"}
    assert at_day_1["partners"]["gone"]["status"] == "current"
    assert at_day_1["members"] == {}
    assert at_day_3["partners"]["gone"]["status"] == "left"
    assert at_day_3["members"]["dan"]["status"] == "left"
    assert at_day_3["roles"]["chair"]["holder"] is None
    assert at_day_5["roles"]["chair"]["holder"] == "ann"
    assert at_day_3["basis"]["version"] == FOUNDED_VERSION


def test_nothing_is_in_force_before_the_founding(api: LedgerApi, founded: str) -> None:
    response = api.client.get(f"/collaborations/{founded}?at={day(-1)}", headers=api.auth)

    problem = assert_problem(response, 404)
    assert problem["rule"] == "not-yet-in-force"


def test_known_at_answers_what_the_ledger_knew_then(api: LedgerApi, founded: str) -> None:
    events = api.events(founded)
    known_at = events[4]["recorded_at"]
    expected = max(e["version"] for e in events if e["recorded_at"] <= known_at)

    view = api.state(founded, known_at=known_at)

    assert view["basis"] == {
        "version": expected,
        "known_at": known_at,
        "at": None,
        "as_of": known_at,
    }
    assert state_part(view) == fold(events[:expected], parse_instant(known_at).date())
    assert view["stream_version"] == FOUNDED_VERSION


def test_known_at_before_anything_was_recorded_is_not_found(api: LedgerApi, founded: str) -> None:
    first_recorded = parse_instant(api.events(founded)[0]["recorded_at"])
    just_before = format_instant(first_recorded - timedelta(seconds=1))

    response = api.client.get(
        f"/collaborations/{founded}", query_string={"known_at": just_before}, headers=api.auth
    )

    problem = assert_problem(response, 404)
    assert problem["rule"] == "not-yet-recorded"


def test_a_planned_handover_shows_at_its_effective_time(api: LedgerApi, founded: str) -> None:
    takes_effect = from_now(30)
    planned = api.record(
        founded, "RoleHandedOver", handover("chair", "ann", "bob"), effective_at=takes_effect
    )

    now = api.state(founded)
    latest = api.state(founded, version=planned["version"])
    before = api.state(founded, at=from_now(29))
    after = api.state(founded, at=from_now(31))

    assert now["roles"]["chair"]["holder"] == "ann"
    assert now["basis"]["version"] == planned["version"]
    assert now["basis"]["at"] is not None
    assert latest["roles"]["chair"]["holder"] == "bob"
    assert before["roles"]["chair"]["holder"] == "ann"
    assert after["roles"]["chair"]["holder"] == "bob"
    assert after["roles"]["chair"]["held_since"] == takes_effect


def test_known_at_with_at_reproduces_an_earlier_answer(api: LedgerApi, founded: str) -> None:
    last_before = api.events(founded)[-1]["recorded_at"]
    planned = api.record(
        founded, "RoleHandedOver", handover("chair", "ann", "bob"), effective_at=from_now(30)
    )
    later = from_now(31)

    then = api.state(founded, known_at=last_before, at=later)
    today = api.state(founded, known_at=planned["recorded_at"], at=later)

    assert then["roles"]["chair"]["holder"] == "ann"
    assert then["basis"]["version"] == FOUNDED_VERSION
    assert then["basis"]["known_at"] == last_before
    assert then["basis"]["at"] == later
    assert then["basis"]["as_of"] == later
    assert today["roles"]["chair"]["holder"] == "bob"
    assert today["basis"]["version"] == planned["version"]


def test_basis_of_the_default_answer_is_now_at_the_latest_version(
    api: LedgerApi, founded: str
) -> None:
    before = format_instant(datetime.now(UTC))
    view = api.state(founded)
    after = format_instant(datetime.now(UTC))

    basis = view["basis"]
    assert set(basis) == {"version", "known_at", "at", "as_of"}
    assert basis["version"] == FOUNDED_VERSION
    assert basis["known_at"] is None
    assert INSTANT.match(basis["at"])
    assert before <= basis["at"] <= after
    assert basis["as_of"] == basis["at"]


def test_version_and_at_combine(api: LedgerApi, founded: str) -> None:
    early = api.state(founded, version=4, at=day(1.5))
    late = api.state(founded, version=4, at=day(5))
    everything = api.state(founded, version=FOUNDED_VERSION, at=day(1.5))

    assert early["basis"] == {"version": 4, "known_at": None, "at": day(1.5), "as_of": day(1.5)}
    assert set(early["partners"]) == {"school", "city", "gone"}
    assert late["partners"]["gone"]["status"] == "current"
    assert late["members"] == {}
    assert everything["partners"]["gone"]["status"] == "current"
    assert everything["members"] == {}
    assert everything["roles"] == {}


def test_at_is_normalised_to_utc_in_the_basis(api: LedgerApi, founded: str) -> None:
    view = api.state(founded, at="2024-01-05T12:00:00+02:00")

    assert view["basis"]["at"] == "2024-01-05T10:00:00.000000Z"
    assert view["basis"]["version"] == FOUNDED_VERSION


def test_a_correction_shows_on_the_version_it_corrects_whatever_its_effective_at(
    api: LedgerApi, founded: str
) -> None:
    api.record(founded, "AgreementMade", agreement("a1", "school", "city"), effective_at=day(10))
    api.record(
        founded,
        "AgreementAmended",
        {"agreement_id": "a1", "terms": "Version two.", "reason": "phase 2"},
        effective_at=day(20),
    )
    api.record(
        founded,
        "AgreementCorrected",
        {"agreement_id": "a1", "terms": "Version 2.", "reason": "typo"},
    )

    first_version = api.state(founded, at=day(15))["agreements"]["a1"]
    second_version = api.state(founded, at=day(25))["agreements"]["a1"]

    assert (first_version["version"], first_version["terms"]) == (1, "We read together.")
    assert (second_version["version"], second_version["terms"]) == (2, "Version 2.")
    assert second_version["corrections"] == 1
