"""Bad input of every kind is a documented 4xx problem, never a 5xx, and stores nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.helpers import (
    BARE_VERSION,
    UNKNOWN_UUID,
    LedgerApi,
    assert_problem,
    error_fields,
)
from tests.integration.one_app_per_module import app_per_module, token_per_module  # noqa: F401

FOUND = "/collaborations"
EVENTS = "/collaborations/{cid}/events"
STATE = "/collaborations/{cid}"
JSON = "application/json"
TWO_MIB = 2 * 1024 * 1024


@dataclass(frozen=True)
class Bad:
    """A request that must be answered with `status`, naming exactly `fields` if given."""

    path: str
    body: bytes | None
    status: int
    fields: frozenset[str] | None = None
    method: str = "POST"
    content_type: str | None = JSON
    query: str = ""


def text(raw: str) -> bytes:
    return raw.encode("utf-8")


def event(event_type: Any = "PhaseStarted", data: Any = None, **envelope: Any) -> bytes:
    return text(
        json.dumps(
            {"type": event_type, "data": {"name": "Pilot"} if data is None else data, **envelope}
        )
    )


def founding(**fields: Any) -> bytes:
    return text(json.dumps({"name": "Noord", "mission": "Every child reads", **fields}))


def nested(depth: int, innermost: str) -> bytes:
    """An event whose note holds arrays, `depth` containers deep counting the outer object."""
    arrays = "[" * (depth - 1) + innermost + "]" * (depth - 1)
    return text('{"type": "PhaseStarted", "data": {"name": "Pilot"}, "note": ' + arrays + "}")


def names(fields: str | tuple[str, ...]) -> frozenset[str]:
    return frozenset([fields] if isinstance(fields, str) else fields)


def bad_event(
    fields: str | tuple[str, ...],
    event_type: Any = "PhaseStarted",
    data: Any = None,
    **envelope: Any,
) -> Bad:
    """An event body that fails validation on exactly `fields`."""
    return Bad(EVENTS, event(event_type, data, **envelope), 422, names(fields))


def bad_founding(fields: str | tuple[str, ...], **founding_fields: Any) -> Bad:
    return Bad(FOUND, founding(**founding_fields), 422, names(fields))


def mandate_with(**fields: Any) -> dict[str, Any]:
    return {
        "mandate_id": "m1",
        "holder": {"kind": "person", "id": "ann"},
        "scope": "spending",
        "decision_rights": ["spend"],
        **fields,
    }


def money(amount: Any = "2500.00", currency: Any = "EUR") -> dict[str, Any]:
    return mandate_with(budget_limit={"amount": amount, "currency": currency})


def partner_with(partner_id: Any = "p1", **fields: Any) -> dict[str, Any]:
    return {
        "partner_id": partner_id,
        "name": "P",
        "kind": "school",
        "capacities": ["funder"],
        **fields,
    }


def bad_query(path: str, query: str, *fields: str) -> Bad:
    return Bad(path, None, 400, frozenset(fields) or None, method="GET", query=query)


MALFORMED_JSON = {
    "NaN": text('{"type": "PhaseStarted", "data": {"name": "Pilot"}, "note": NaN}'),
    "Infinity": text('{"type": "PhaseStarted", "data": {"name": "Pilot"}, "note": Infinity}'),
    "-Infinity": text('{"type": "PhaseStarted", "data": {"name": "Pilot"}, "note": -Infinity}'),
    "number overflowing to infinity": text('{"type": "PhaseStarted", "data": {}, "note": 1e400}'),
    "duplicate keys": text('{"type": "PhaseStarted", "type": "MissionRevised", "data": {}}'),
    "duplicate keys in data": text('{"type": "PhaseStarted", "data": {"name": "a", "name": "b"}}'),
    "lone high surrogate": text('{"type": "PhaseStarted", "data": {"name": "\\ud800"}}'),
    "lone low surrogate": text('{"type": "PhaseStarted", "data": {"name": "x\\udc00"}}'),
    "lone surrogate in a key": text('{"type": "PhaseStarted", "data": {"\\ud800": "x"}}'),
    "integer 2**53+1": text('{"type": "PhaseStarted", "data": {}, "note": 9007199254740993}'),
    "integer -(2**53+1)": text('{"type": "PhaseStarted", "data": {}, "note": -9007199254740993}'),
    "nesting depth 33": nested(33, ""),
    "nesting depth 33 around a value": nested(33, "1"),
    "nesting depth 200": nested(200, ""),
    "truncated JSON": text('{"type": "PhaseStarted", "data": {"name": '),
    "single quotes": text("{'type': 'PhaseStarted'}"),
    "trailing comma": text('{"type": "PhaseStarted", "data": {"name": "x"},}'),
    "bare words": text("type=PhaseStarted"),
    "invalid UTF-8 byte": b'{"type": "PhaseStarted", "data": {"name": "\xff"}}',
    "UTF-8 encoded surrogate": b'{"type": "PhaseStarted", "data": {"name": "\xed\xa0\x80"}}',
    "empty body": b"",
    "whitespace body": b"  \n",
}

CASES: dict[str, Bad] = {
    **{f"events: {name}": Bad(EVENTS, body, 400) for name, body in MALFORMED_JSON.items()},
    "founding: NaN": Bad(FOUND, text('{"name": "N", "mission": NaN}'), 400),
    "founding: duplicate keys": Bad(FOUND, text('{"name": "a", "name": "b", "mission": "m"}'), 400),
    "founding: lone surrogate": Bad(FOUND, text('{"name": "\\ud800", "mission": "m"}'), 400),
    "founding: integer 2**53+1": Bad(
        FOUND, text('{"name": "N", "mission": "m", "note": 9007199254740993}'), 400
    ),
    "founding: invalid JSON": Bad(FOUND, text('{"name": "N",'), 400),
    "founding: empty body": Bad(FOUND, b"", 400),
    # Well-formed JSON that is not an object.
    "events: JSON array": Bad(EVENTS, text("[]"), 422),
    "events: JSON string": Bad(EVENTS, text('"PhaseStarted"'), 422),
    "events: JSON null": Bad(EVENTS, text("null"), 422),
    "founding: JSON array": Bad(FOUND, text('[{"name": "N", "mission": "m"}]'), 422),
    # Wrong types.
    "founding: number for a string": bad_founding("name", name=5),
    "founding: object for a string": bad_founding("mission", mission={"text": "x"}),
    "founding: string for a list": bad_founding("languages", languages="nl"),
    "events: number for a string": bad_event("data.name", data={"name": 5}),
    "events: object for a string": bad_event("data.mission", "MissionRevised", {"mission": {}}),
    "events: string for a list": bad_event(
        "data.capacities", "PartnerJoined", partner_with(capacities="funder")
    ),
    "events: list for an object": bad_event("data", data=["name", "Pilot"]),
    "events: number for the type": bad_event("type", 5),
    "events: string for a boolean": bad_event("shared_with_funders", shared_with_funders="yes"),
    "events: number for a boolean": bad_event("shared_with_funders", shared_with_funders=1),
    "events: null for the data": Bad(EVENTS, text('{"type": "PhaseStarted", "data": null}'), 422),
    "events: empty text": bad_event("data.name", data={"name": ""}),
    "events: missing type and data": Bad(EVENTS, text("{}"), 422, frozenset({"type", "data"})),
    "events: missing required data field": bad_event(
        "data.partner_id", "PartnerLeft", {"reason": "x"}
    ),
    "events: value outside the vocabulary": bad_event(
        "data.kind", "PartnerJoined", partner_with(kind="castle")
    ),
    # Types and fields the schema does not know.
    "events: unknown event type": bad_event("type", "PartnerArrived"),
    "events: founding posted as an event": bad_event(
        "type", "CollaborationFounded", {"name": "N", "mission": "m"}
    ),
    "events: event type in lower case": bad_event("type", "phasestarted"),
    "events: unknown field in data": bad_event(
        "data.colour", data={"name": "Pilot", "colour": "red"}
    ),
    "events: unknown top-level field": bad_event("colour", colour="red"),
    "events: unknown field in source": bad_event(
        "source.extra", source={"system": "s", "id": "1", "extra": True}
    ),
    "founding: unknown field": bad_founding("colour", colour="red"),
    "founding: event-only envelope field": bad_founding(
        "acting_for", acting_for={"partner_id": "p1"}
    ),
    # Server-owned fields.
    **{
        f"events: server-owned {name}": bad_event(name, **{name: value})
        for name, value in {
            "recorded_at": "2025-01-01T00:00:00Z",
            "actor": "mallory",
            "version": 1,
            "position": 1,
            "collaboration_id": UNKNOWN_UUID,
        }.items()
    },
    **{
        f"founding: server-owned {name}": bad_founding(name, **{name: value})
        for name, value in {
            "recorded_at": "2025-01-01T00:00:00Z",
            "actor": "mallory",
            "version": 1,
            "position": 1,
        }.items()
    },
    "events: one entry per offending field": bad_event(
        ("data.name", "actor", "colour", "effective_at", "note"),
        data={"name": 5},
        actor="mallory",
        colour="red",
        effective_at="yesterday",
        note=7,
    ),
    # Value formats.
    "events: id with a space": bad_event(
        "data.partner_id", "PartnerJoined", partner_with("has space")
    ),
    "events: id with a slash": bad_event("data.partner_id", "PartnerJoined", partner_with("a/b")),
    "events: empty id": bad_event("data.partner_id", "PartnerJoined", partner_with("")),
    "events: id ending in a newline": bad_event(
        "data.partner_id", "PartnerJoined", partner_with("p1\n")
    ),
    "events: id of 101 characters": bad_event(
        "data.partner_id", "PartnerJoined", partner_with("p" * 101)
    ),
    "events: date that does not exist": bad_event(
        "data.valid_until", "MandateGranted", mandate_with(valid_until="2025-02-30")
    ),
    "events: date in another format": bad_event(
        "data.valid_until", "MandateGranted", mandate_with(valid_until="30/06/2025")
    ),
    "events: date without leading zeros": bad_event(
        "data.review_on", "MandateGranted", mandate_with(review_on="2025-6-30")
    ),
    "events: date as a number": bad_event(
        "data.valid_until", "MandateGranted", mandate_with(valid_until=20250630)
    ),
    "events: currency of four letters": bad_event(
        "data.budget_limit.currency", "MandateGranted", money(currency="EURO")
    ),
    "events: currency in lower case": bad_event(
        "data.budget_limit.currency", "MandateGranted", money(currency="eur")
    ),
    "events: currency that is not ISO 4217": bad_event(
        "data.budget_limit.currency", "MandateGranted", money(currency="ABC")
    ),
    "events: negative amount": bad_event(
        "data.budget_limit.amount", "MandateGranted", money(amount="-5.00")
    ),
    "events: amount in exponent form": bad_event(
        "data.budget_limit.amount", "MandateGranted", money(amount="1e3")
    ),
    "events: amount with a thousands separator": bad_event(
        "data.budget_limit.amount", "MandateGranted", money(amount="2,500.00")
    ),
    "events: amount as a number": bad_event(
        "data.budget_limit.amount", "MandateGranted", money(amount=2500)
    ),
    "events: effective_at without offset": bad_event(
        "effective_at", effective_at="2025-03-01T09:00:00"
    ),
    "events: effective_at as a date": bad_event("effective_at", effective_at="2025-03-01"),
    "events: effective_at that does not exist": bad_event(
        "effective_at", effective_at="2025-02-30T09:00:00Z"
    ),
    "events: effective_at as a number": bad_event("effective_at", effective_at=1740819600),
    "founding: effective_at without offset": bad_founding(
        "effective_at", effective_at="2025-03-01T09:00:00"
    ),
    "events: two causes": Bad(EVENTS, event(cause={"decision_id": "d", "reflection_id": "r"}), 422),
    # Size and media type.
    "events: body of 2 MiB": Bad(EVENTS, event(note="x" * TWO_MIB), 413),
    "founding: body of 2 MiB": Bad(FOUND, founding(mission="x" * TWO_MIB), 413),
    "events: text/plain": Bad(EVENTS, event(), 415, content_type="text/plain"),
    "events: no content type": Bad(EVENTS, event(), 415, content_type=None),
    "events: XML": Bad(EVENTS, event(), 415, content_type="application/xml"),
    "events: form": Bad(
        EVENTS, b"type=PhaseStarted", 415, content_type="application/x-www-form-urlencoded"
    ),
    "founding: text/plain": Bad(FOUND, founding(), 415, content_type="text/plain"),
    # Query strings.
    "list: limit=5000": bad_query(FOUND, "limit=5000"),
    "list: limit=1001": bad_query(FOUND, "limit=1001"),
    "list: limit=0": bad_query(FOUND, "limit=0", "limit"),
    "list: limit=-1": bad_query(FOUND, "limit=-1", "limit"),
    "list: limit=abc": bad_query(FOUND, "limit=abc", "limit"),
    "list: limit=1.5": bad_query(FOUND, "limit=1.5", "limit"),
    "list: cursor=abc": bad_query(FOUND, "cursor=abc", "cursor"),
    "events: limit=5000": bad_query(EVENTS, "limit=5000"),
    "events: limit=0": bad_query(EVENTS, "limit=0", "limit"),
    "events: limit=abc": bad_query(EVENTS, "limit=abc", "limit"),
    "events: after=-1": bad_query(EVENTS, "after=-1", "after"),
    "events: after=abc": bad_query(EVENTS, "after=abc", "after"),
    "state: version=0": bad_query(STATE, "version=0", "version"),
    "state: version=abc": bad_query(STATE, "version=abc", "version"),
    "state: known_at as a date": bad_query(STATE, "known_at=2025-01-01", "known_at"),
    "state: at without offset": bad_query(STATE, "at=2025-01-01T09:00:00", "at"),
    "state: at=abc": bad_query(STATE, "at=abc", "at"),
    "state: version with known_at": bad_query(
        STATE, "version=1&known_at=2030-01-01T00:00:00Z", "known_at"
    ),
    # Numbers and instants beyond what the ledger stores.
    "events: after beyond 64 bits": bad_query(EVENTS, "after=9223372036854775808", "after"),
    "events: effective_at past 9999 in UTC": bad_event(
        "effective_at", effective_at="9999-12-31T23:59:59-01:00"
    ),
    "events: effective_at before year 1 in UTC": bad_event(
        "effective_at", effective_at="0001-01-01T00:00:00+01:00"
    ),
    "founding: effective_at past 9999 in UTC": bad_founding(
        "effective_at", effective_at="9999-12-31T23:59:59-01:00"
    ),
    "state: at past 9999 in UTC": bad_query(STATE, "at=9999-12-31T23:59:59-01:00", "at"),
    "state: known_at before year 1 in UTC": bad_query(
        STATE, "known_at=0001-01-01T00:00:00%2B01:00", "known_at"
    ),
    # Unknown collaborations.
    "state: unknown uuid": Bad(STATE.format(cid=UNKNOWN_UUID), None, 404, method="GET"),
    "state: not a uuid": Bad(STATE.format(cid="not-a-uuid"), None, 404, method="GET"),
    "events: unknown uuid": Bad(EVENTS.format(cid=UNKNOWN_UUID), None, 404, method="GET"),
    "events: not a uuid": Bad(EVENTS.format(cid="not-a-uuid"), None, 404, method="GET"),
    "post: unknown uuid": Bad(EVENTS.format(cid=UNKNOWN_UUID), event(), 404),
    "post: not a uuid": Bad(EVENTS.format(cid="12345"), event(), 404),
    "no such route": Bad("/collaboration", None, 404, method="GET"),
}


def check_bad_request(api: LedgerApi, bare: str, case: Bad) -> None:
    collaborations = api.collaboration_ids()
    path = case.path.format(cid=bare)
    if case.query:
        path += "?" + case.query
    headers = dict(api.auth)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type

    response = api.client.open(path, method=case.method, data=case.body, headers=headers)

    problem = assert_problem(response, case.status)
    if case.fields is not None:
        assert error_fields(problem) == case.fields
    if case.status == 422 and case.body is not None:
        assert all(entry["in"] == "body" for entry in problem["errors"])
    if case.status == 400 and case.fields:
        assert all(entry["in"] == "query" for entry in problem["errors"])
    assert api.version(bare) == BARE_VERSION
    assert api.collaboration_ids() == collaborations


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_a_problem_and_stores_nothing(api: LedgerApi, bare: str, case: Bad) -> None:
    check_bad_request(api, bare, case)


def test_a_moment_in_year_1_is_answered_with_a_4xx(api: LedgerApi, bare: str) -> None:
    response = api.client.get(f"/collaborations/{bare}?at=0001-01-01T00:00:00Z", headers=api.auth)

    assert response.status_code in (400, 404)
    assert response.mimetype == "application/problem+json"


def test_a_founding_before_year_1000_is_rejected_or_stays_usable(api: LedgerApi) -> None:
    response = api.found(effective_at="0999-01-01T00:00:00Z")

    if response.status_code == 422:
        assert error_fields(assert_problem(response, 422)) == {"effective_at"}
        return
    assert response.status_code == 201
    assert response.get_json()["effective_at"] == "0999-01-01T00:00:00.000000Z"
    cid = response.get_json()["collaboration_id"]
    api.state(cid)
    api.record(cid, "PhaseStarted", {"name": "Pilot"})


@pytest.mark.parametrize(
    "body",
    [nested(32, ""), nested(32, "1"), nested(32, '"x"'), nested(31, "1")],
    ids=["empty innermost array", "number inside", "string inside", "depth 31"],
)
def test_nesting_depth_32_is_accepted_as_json(api: LedgerApi, bare: str, body: bytes) -> None:
    response = api.client.post(
        EVENTS.format(cid=bare), data=body, headers={**api.auth, "Content-Type": JSON}
    )

    # The note must be text, so the schema rejects it: as a 422, not as malformed JSON.
    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"note"}
    assert api.version(bare) == BARE_VERSION


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/problem+json"]
)
def test_json_media_types_with_parameters_or_suffix_are_accepted(
    api: LedgerApi, bare: str, content_type: str
) -> None:
    response = api.client.post(
        EVENTS.format(cid=bare),
        data=event(),
        headers={**api.auth, "Content-Type": content_type},
    )

    assert response.status_code == 201


def test_integer_2_to_the_53_is_accepted_as_json(api: LedgerApi, bare: str) -> None:
    body = text('{"type": "PhaseStarted", "data": {"name": "Pilot"}, "note": 9007199254740992}')

    response = api.client.post(
        EVENTS.format(cid=bare), data=body, headers={**api.auth, "Content-Type": JSON}
    )

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"note"}


def test_a_body_just_within_the_limit_is_read(api: LedgerApi, bare: str) -> None:
    envelope = len(event(note=""))
    body = event(note="x" * (256 * 1024 - envelope - 1000))

    response = api.client.post(
        EVENTS.format(cid=bare), data=body, headers={**api.auth, "Content-Type": JSON}
    )

    # Within the byte limit, the note is still longer than a note may be: a 422, not a 413.
    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"note"}


def test_a_validation_error_points_into_the_body(api: LedgerApi, bare: str) -> None:
    response = api.post_event(bare, "MandateGranted", money(amount="-1"), effective_at="yesterday")

    problem = assert_problem(response, 422)
    pointers = {entry["field"]: entry.get("pointer") for entry in problem["errors"]}
    assert pointers == {
        "data.budget_limit.amount": "/data/budget_limit/amount",
        "effective_at": "/effective_at",
    }


@pytest.mark.parametrize(
    ("body", "field", "pointer"),
    [
        (event(cause={"decision_id": "d1", "reflection_id": "r1"}), "cause", "/cause"),
        (text("[]"), "(body)", ""),
    ],
    ids=["object-level rule", "body not an object"],
)
def test_an_object_level_error_points_at_the_object(
    api: LedgerApi, bare: str, body: bytes, field: str, pointer: str
) -> None:
    response = api.client.post(
        EVENTS.format(cid=bare), data=body, headers={**api.auth, "Content-Type": JSON}
    )

    problem = assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert problem["errors"][0].get("pointer") in (None, pointer)
