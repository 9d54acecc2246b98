"""Replaying the demo collaboration over HTTP: its timeline (summaries in English and Dutch,
backdated entries, pages, changes), diffs between versions and between dates, the tenures of
the coordinator role, the life of agreements and mandates, and what a reflection caused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ledger.api import create_app
from ledger.demo import ELS, JONAS, SOFIE, seed_demo
from ledger.domain.timefmt import format_instant, parse_instant
from ledger.settings import Settings
from tests.conftest import database_url
from tests.integration.helpers import (
    UNKNOWN_UUID,
    LedgerApi,
    assert_problem,
    error_fields,
    partner,
)

SECTIONS = ("partners", "members", "roles", "mandates", "agreements", "decisions", "reflections")
UNKNOWN_COLLABORATION_AS_ITEM = (
    "projections/history.py role_history()/item_life() look the item up with "
    "service.versions_where, which never checks that the collaboration exists: an unknown "
    "collaboration is answered 'There is no role 'coordinator' in this collaboration.' "
    "(rule item-not-found); call service.stream_version(collaboration_id) first"
)
DERIVED = {"agreements": "status", "mandates": "status"}  # statuses derived for the day asked


@dataclass(frozen=True)
class Demo:
    client: FlaskClient
    auth: dict[str, str]
    cid: str
    seeded_at: datetime
    events: list[dict[str, Any]]

    def get(
        self, path: str, headers: dict[str, str] | None = None, /, **query: Any
    ) -> TestResponse:
        return self.client.get(path.format(cid=self.cid), query_string=query,
                               headers={**self.auth, **(headers or {})})  # fmt: skip

    def ok(self, path: str, headers: dict[str, str] | None = None, /, **query: Any) -> Any:
        response = self.get(path, headers, **query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def timeline(self, headers: dict[str, str] | None = None, /, **query: Any) -> dict[str, Any]:
        return dict(self.ok("/collaborations/{cid}/timeline", headers, **{"limit": 1000, **query}))

    def diff(self, **query: Any) -> dict[str, Any]:
        return dict(self.ok("/collaborations/{cid}/diff", **query))

    def state(self, **query: Any) -> dict[str, Any]:
        return dict(self.ok("/collaborations/{cid}", **query))

    def version_of(self, event_type: str, **data: Any) -> int:
        return next(int(e["version"]) for e in self.events if e["type"] == event_type
                    and all(e["data"].get(k) == v for k, v in data.items()))  # fmt: skip


@pytest.fixture(scope="module")
def demo(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Demo]:
    """The demo seeded once per backend for the module: every test here only reads it."""
    directory = tmp_path_factory.mktemp("demo")
    app = create_app(Settings(database_url=database_url(backend, directory, request)))
    try:
        seeded_at = datetime.now(UTC)
        cid = seed_demo(app.extensions["ledger.service"], now=seeded_at)
        token = app.extensions["ledger.tokens"].create("evaluator")
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        events = client.get(f"/collaborations/{cid}/events", query_string={"limit": 1000},
                            headers=auth).get_json()["items"]  # fmt: skip
        yield Demo(client, auth, cid, seeded_at, events)
    finally:
        app.extensions["ledger.service"].close()


# The timeline


def test_the_timeline_lists_every_event_in_stream_order_with_an_english_summary(
    demo: Demo,
) -> None:
    timeline = demo.timeline()
    assert timeline["total"] == len(demo.events)
    assert timeline["next_offset"] is None
    items = timeline["items"]
    assert [i["version"] for i in items] == list(range(1, len(demo.events) + 1))
    for item, event in zip(items, demo.events, strict=True):
        for key in ("type", "data", "effective_at", "recorded_at", "position", "cause", "actor"):
            assert item[key] == event[key], key
        assert item["summary"] == item["summaries"]["en"]
        assert set(item["summaries"]) == {"en", "nl"}
    assert items[0]["summary"] == "Collaboration “Leerecosysteem Kanaalzone” founded"
    handover = items[demo.version_of("RoleHandedOver", to_person_id=JONAS) - 1]
    assert handover["summary"] == "Sofie Claes handed “Coördinator” over to Jonas Maes"


@pytest.mark.parametrize(
    ("headers", "query", "lang"),
    [
        ({"Accept-Language": "nl"}, {}, "nl"),
        ({"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"}, {}, "nl"),
        ({}, {"lang": "nl"}, "nl"),
        ({"Accept-Language": "en"}, {"lang": "nl"}, "nl"),  # the parameter wins
        ({"Accept-Language": "nl"}, {"lang": "en"}, "en"),
        ({"Accept-Language": "fr-BE"}, {}, "en"),  # no Dutch or English asked: English
        ({}, {}, "en"),
    ],
)
def test_summaries_speak_the_language_asked_for(
    demo: Demo, headers: dict[str, str], query: dict[str, str], lang: str
) -> None:
    items = demo.timeline(headers, **query)["items"]
    assert [i["summary"] for i in items] == [i["summaries"][lang] for i in items]


def test_dutch_summaries_use_the_words_of_the_network(demo: Demo) -> None:
    items = demo.timeline(lang="nl")["items"]
    summaries = {i["version"]: i["summary"] for i in items}
    assert summaries[1] == "Samenwerkingsverband “Leerecosysteem Kanaalzone” opgericht"
    made = demo.version_of("AgreementMade", agreement_id="samenwerking")
    assert summaries[made] == "Afspraak “Samen verkennen” gemaakt (mondeling akkoord)"
    review = demo.version_of("AgreementReviewed", agreement_id="subsidie")
    assert summaries[review].startswith("Evaluatiemoment van afspraak")
    assert summaries[review].endswith(": behouden")
    handover = demo.version_of("RoleHandedOver", to_person_id=JONAS)
    assert summaries[handover] == "Overdracht van “Coördinator” van Sofie Claes aan Jonas Maes"


def late(item: dict[str, Any]) -> timedelta:
    return parse_instant(item["recorded_at"]) - parse_instant(item["effective_at"])


def test_entries_recorded_more_than_a_day_after_they_took_effect_are_flagged_backdated(
    demo: Demo,
) -> None:
    items = demo.timeline()["items"]
    for item in items:
        assert item["backdated"] is (late(item) > timedelta(days=1)), item["version"]
    planned = items[demo.version_of("RoleHandedOver", to_person_id=JONAS) - 1]
    assert late(planned) < timedelta(0)
    assert planned["backdated"] is False
    assert sum(item["backdated"] for item in items) == len(items) - 1


@pytest.mark.parametrize(("hours_late", "backdated"), [(0, False), (23, False), (25, True)])
def test_an_entry_is_backdated_only_when_recorded_over_a_day_late(
    client: FlaskClient, auth: dict[str, str], hours_late: int, backdated: bool
) -> None:
    api = LedgerApi(client, auth)
    cid = api.found_id(effective_at=format_instant(datetime.now(UTC) - timedelta(days=3)))
    effective_at = format_instant(datetime.now(UTC) - timedelta(hours=hours_late))
    api.record(cid, "PartnerJoined", partner("school"), effective_at=effective_at)
    response = client.get(f"/collaborations/{cid}/timeline", query_string={"from": 1},
                          headers=auth)  # fmt: skip
    assert [i["backdated"] for i in response.get_json()["items"]] == [backdated]


def test_the_timeline_pages_with_limit_offset_and_next_offset(demo: Demo) -> None:
    whole = demo.timeline()["items"]
    seen: list[dict[str, Any]] = []
    offset: int | None = 0
    offsets = []
    while offset is not None:
        offsets.append(offset)
        page = demo.timeline(limit=10, offset=offset)
        assert page["total"] == len(demo.events)
        assert len(page["items"]) == min(10, len(demo.events) - offset)
        seen.extend(page["items"])
        offset = page["next_offset"]
    assert offsets == list(range(0, len(demo.events), 10))
    fields = ("version", "type", "summary", "backdated", "recorded_at")
    assert [[i[f] for f in fields] for i in seen] == [[i[f] for f in fields] for i in whole]
    beyond = demo.timeline(limit=10, offset=len(demo.events))
    assert (beyond["items"], beyond["next_offset"]) == ([], None)


def without_derived(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The diff's changes without the statuses it derives for the day asked (the timeline
    shows changes to the recorded state, which has none)."""
    kept = []
    for change in json.loads(json.dumps(changes)):
        derived = DERIVED.get(change["section"])
        if derived and change["change"] == "changed":
            change["fields"].pop(derived, None)
            if not change["fields"]:
                continue
        elif derived:
            change["value"].pop(derived, None)
        kept.append(change)
    return kept


def diff_of_versions(demo: Demo, version: int) -> list[dict[str, Any]]:
    return without_derived(demo.diff(**{"from": version - 1, "to": version})["changes"])


def test_each_timeline_entry_read_on_its_own_shows_the_diff_of_its_two_versions(
    demo: Demo,
) -> None:
    for version in range(2, len(demo.events) + 1):
        (entry,) = demo.timeline(limit=1, offset=version - 1)["items"]
        assert entry["version"] == version
        assert entry["changes"] == diff_of_versions(demo, version), version


def test_the_timeline_changes_match_the_diff_of_consecutive_versions(demo: Demo) -> None:
    items = demo.timeline()["items"]
    for entry in items[1:]:
        assert entry["changes"] == diff_of_versions(demo, entry["version"]), entry["version"]


def test_the_timeline_between_two_versions_holds_the_events_after_the_first(demo: Demo) -> None:
    timeline = demo.timeline(**{"from": 10, "to": 20})
    assert [i["version"] for i in timeline["items"]] == list(range(11, 21))
    assert timeline["total"] == 10


def test_the_timeline_between_two_dates_is_in_the_order_things_took_effect(demo: Demo) -> None:
    start = format_instant(demo.seeded_at - timedelta(days=320))
    end = format_instant(demo.seeded_at - timedelta(days=200))
    timeline = demo.timeline(**{"from": start, "to": end})
    expected = sorted((e["effective_at"], e["version"]) for e in demo.events
                      if start < e["effective_at"] <= end)  # fmt: skip
    assert [(i["effective_at"], i["version"]) for i in timeline["items"]] == expected
    versions = [version for _, version in expected]
    assert versions != sorted(versions), "the demo enters the letter of intent late"
    known_at = demo.events[39]["recorded_at"]
    earlier = demo.timeline(**{"from": start, "to": end, "known_at": known_at})
    assert [i["version"] for i in earlier["items"]] == [v for v in versions if v <= 40]


# Diffs


def test_a_diff_between_two_versions_names_every_item_added_removed_or_changed(
    demo: Demo,
) -> None:
    for start, end in ((10, 11), (20, 45), (45, 20), (1, len(demo.events))):
        diff = demo.diff(**{"from": start, "to": end})
        assert (diff["from"]["version"], diff["to"]["version"]) == (start, end)
        before, after = demo.state(version=start), demo.state(version=end)
        expected = set()
        for section in SECTIONS:
            for item_id in set(before[section]) | set(after[section]):
                old, new = before[section].get(item_id), after[section].get(item_id)
                if old != new:
                    kind = "added" if old is None else "removed" if new is None else "changed"
                    expected.add((section, item_id, kind))
        found = {(c["section"], c["id"], c["change"]) for c in diff["changes"]
                 if c["section"] in SECTIONS}  # fmt: skip
        assert found == expected, (start, end)
    (only,) = demo.diff(**{"from": 10, "to": 11})["changes"]
    assert (only["section"], only["id"], only["change"]) == ("members", "karim-el-amrani", "added")


def test_a_diff_between_two_dates_shows_the_planned_handover(demo: Demo) -> None:
    today = format_instant(demo.seeded_at)
    next_month = format_instant(demo.seeded_at + timedelta(days=30))
    diff = demo.diff(**{"from": today, "to": next_month})
    assert (diff["from"]["at"], diff["to"]["at"]) == (today, next_month)
    coordinator = next(c for c in diff["changes"] if c["id"] == "coordinator")
    assert coordinator["fields"]["holder"] == {"from": SOFIE, "to": JONAS}

    handover = demo.version_of("RoleHandedOver", to_person_id=JONAS)
    before_it_was_recorded = demo.events[handover - 2]["recorded_at"]
    earlier = demo.diff(**{"from": today, "to": next_month, "known_at": before_it_was_recorded})
    assert earlier["to"]["known_at"] == before_it_was_recorded
    assert all(c["id"] != "coordinator" for c in earlier["changes"])


def test_a_diff_from_version_zero_is_not_answered_as_an_unknown_collaboration(
    demo: Demo,
) -> None:
    response = demo.get("/collaborations/{cid}/diff", **{"from": 0, "to": 3})
    assert response.status_code in (200, 400), response.get_data(as_text=True)


# Histories


def test_the_coordinator_rotates_by_handover_and_the_planned_tenure_starts_in_the_future(
    demo: Demo,
) -> None:
    history = demo.ok("/collaborations/{cid}/roles/coordinator/history")
    tenures = history["tenures"]
    assert [(t["person_id"], t["method"], t["started_by"]) for t in tenures] == [
        (ELS, "elected", "RoleAssigned"),
        (SOFIE, "handover", "RoleHandedOver"),
        (JONAS, "handover", "RoleHandedOver"),
    ]
    assert [t["name"] for t in tenures] == ["Els Vermeulen", "Sofie Claes", "Jonas Maes"]
    for earlier, later in pairwise(tenures):
        assert earlier["to"] == later["from"]
        assert earlier["ended_by"] == "RoleHandedOver"
        assert earlier["recorded_to"] == later["recorded_from"]
    assert tenures[-1]["to"] is None
    assert tenures[-1]["from"] > format_instant(demo.seeded_at)  # planned, not yet in force
    for tenure in tenures:
        start = demo.events[tenure["start_version"] - 1]
        assert (tenure["from"], tenure["recorded_from"]) == (start["effective_at"],
                                                             start["recorded_at"])  # fmt: skip
    role_events = [e for e in demo.events if e["data"].get("role_id") == "coordinator"]
    assert [e["version"] for e in history["events"]] == [e["version"] for e in role_events]


@pytest.mark.parametrize(
    ("path", "types", "versions"),
    [
        ("agreements/samenwerking", ["AgreementMade", *["AgreementAmended"] * 3], [1, 2, 3, 4]),
        ("agreements/subsidie", ["AgreementMade", "AgreementCorrected", "AgreementReviewed"],
         [1, 1, 1]),
        ("agreements/praktijkonderzoek", ["AgreementMade", "AgreementEnded"], [1, 1]),
        ("mandates/mandaat-coordinatie", ["MandateGranted", "MandateAmended"], [1, 2]),
    ],
)  # fmt: skip
def test_the_life_of_an_agreement_or_mandate_lists_its_versions_in_stream_order(
    demo: Demo, path: str, types: list[str], versions: list[int]
) -> None:
    life = demo.ok(f"/collaborations/{{cid}}/{path}/history", lang="nl")["life"]
    assert [e["type"] for e in life] == types
    assert [e["item_version"] for e in life] == versions
    assert [e["summary"] for e in life] == [e["summaries"]["nl"] for e in life]
    assert [e["version"] for e in life] == sorted(e["version"] for e in life)


def test_the_life_of_an_agreement_shows_it_as_it_was_made_before_its_correction(
    demo: Demo,
) -> None:
    life = demo.ok("/collaborations/{cid}/agreements/subsidie/history")["life"]
    (made,) = life[0]["changes"]
    assert made["value"]["budget_commitments"][0]["amount"] == "4000.00"
    assert made["value"]["corrections"] == 0
    assert made["value"]["last_review"] is None
    correction = life[1]["changes"][0]["fields"]["budget_commitments"]
    assert [c["amount"] for c in correction["from"] + correction["to"]] == ["4000.00", "40000.00"]


# Cause and effect


def caused_by(demo: Demo, key: str, item_id: str) -> list[int]:
    return [e["version"] for e in demo.events if (e["cause"] or {}).get(key) == item_id]


@pytest.mark.parametrize(
    "reflection_id",
    ["reflectie-startfase", "reflectie-leerpunten", "reflectie-wie-beslist",
     "reflectie-leergeschiedenis", "reflectie-tijdlijn"],
)  # fmt: skip
def test_a_reflection_lists_the_events_that_cite_it_as_their_cause(
    demo: Demo, reflection_id: str
) -> None:
    found = demo.ok(f"/collaborations/{{cid}}/reflections/{reflection_id}", lang="nl")
    assert found["reflection"]["reflection_id"] == reflection_id
    assert found["reflection"] == demo.state()["reflections"][reflection_id]
    effects = found["effects"]
    assert [e["version"] for e in effects] == caused_by(demo, "reflection_id", reflection_id)
    assert all(e["summary"] == e["summaries"]["nl"] for e in effects)


def test_the_eye_opener_led_to_a_wider_mandate_a_redefined_role_and_a_rotation_decision(
    demo: Demo,
) -> None:
    effects = demo.ok("/collaborations/{cid}/reflections/reflectie-wie-beslist")["effects"]
    assert [(e["type"], e["data"].get("mandate_id") or e["data"].get("role_id")
             or e["data"].get("decision_id")) for e in effects] == [
        ("MandateAmended", "mandaat-coordinatie"),
        ("RoleRedefined", "leeragenda"),
        ("DecisionRecorded", "besluit-rotatie"),
    ]  # fmt: skip


def test_a_decision_lists_the_events_it_caused(demo: Demo) -> None:
    found = demo.ok("/collaborations/{cid}/decisions/besluit-kompas")
    assert found["decision"]["decision_id"] == "besluit-kompas"
    assert [e["version"] for e in found["effects"]] == caused_by(demo, "decision_id",
                                                                 "besluit-kompas")  # fmt: skip
    assert [e["type"] for e in found["effects"]] == [
        "MissionRevised", "PhaseStarted", "MemberJoined", "AgreementAmended", "MandateGranted",
    ]  # fmt: skip


# Problems


@pytest.mark.parametrize(
    "path",
    [
        "/collaborations/{cid}/roles/no-such-role/history",
        "/collaborations/{cid}/reflections/no-such-reflection",
        "/collaborations/{cid}/decisions/no-such-decision",
        "/collaborations/{cid}/agreements/no-such-agreement/history",
        "/collaborations/{cid}/mandates/no-such-mandate/history",
    ],
)
def test_an_unknown_item_is_a_404_problem_naming_it(demo: Demo, path: str) -> None:
    problem = assert_problem(demo.get(path), 404)
    assert problem["rule"] == "item-not-found"
    assert "'no-such-" in problem["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "timeline",
        "diff",
        "reflections/reflectie-tijdlijn",
        pytest.param("roles/coordinator/history"),
        pytest.param("agreements/subsidie/history"),
    ],
)  # fmt: skip
def test_an_unknown_collaboration_is_a_404_problem_naming_it(demo: Demo, path: str) -> None:
    query = {"from": 1, "to": 2} if path == "diff" else {}
    problem = assert_problem(demo.get(f"/collaborations/{UNKNOWN_UUID}/{path}", **query), 404)
    assert problem["rule"] == "collaboration-not-found"
    assert UNKNOWN_UUID in problem["detail"]


@pytest.mark.parametrize(
    ("path", "query", "fields"),
    [
        ("timeline", {"from": "abc"}, {"from"}),
        ("timeline", {"to": "2025-13-01T00:00:00Z"}, {"to"}),
        ("timeline", {"from": "2025-03-01"}, {"from"}),  # a date, not a date-time
        ("timeline", {"from": "2025-03-01T09:00:00"}, {"from"}),  # no offset
        ("timeline", {"from": "-1"}, {"from"}),
        ("timeline", {"to": "1.5"}, {"to"}),
        ("timeline", {"lang": "fr"}, {"lang"}),
        ("timeline", {"offset": "-1"}, {"offset"}),
        ("diff", {"to": "3"}, {"from"}),
        ("diff", {"from": "x", "to": "3"}, {"from"}),
        ("diff", {"from": "1", "to": "3", "known_at": "2025-01-01T00:00:00Z"}, {"known_at"}),
    ],
)
def test_a_malformed_moment_is_a_400_problem_naming_the_parameter(
    demo: Demo, path: str, query: dict[str, str], fields: set[str]
) -> None:
    problem = assert_problem(demo.get(f"/collaborations/{{cid}}/{path}", **query), 400)
    assert error_fields(problem) == fields
