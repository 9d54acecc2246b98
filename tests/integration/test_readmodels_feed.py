"""The global feed: every event of every collaboration exactly once, at gap-free positions in
commit order, paged with `after`, even where the database's own ids skip values."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError
from flask import Flask
from flask.testing import FlaskClient

from ledger.service import LedgerService
from tests.integration.helpers import LedgerApi, assert_problem, error_fields


def read_feed(client: FlaskClient, auth: dict[str, str], limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        response = client.get("/feed", query_string={"after": after, "limit": limit}, headers=auth)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_json()
        assert len(page["items"]) <= limit
        assert page["next_after"] in (None, *(i["position"] for i in page["items"][-1:]))
        items.extend(page["items"])
        after = page["next_after"]
    return items


def record_interleaved(api: LedgerApi, collaborations: int, rounds: int) -> list[tuple[str, int]]:
    """Found the collaborations, then post to each in turn; (collaboration, version) in the
    order the events were stored."""
    stored = []
    cids = []
    for n in range(collaborations):
        cid = api.found_id(f"Netwerk {n}")
        cids.append(cid)
        stored.append((cid, 1))
    for round_ in range(rounds):
        for cid in cids:
            event = api.record(cid, "PhaseStarted", {"name": f"fase {round_}"})
            stored.append((cid, event["version"]))
    return stored


def test_the_feed_pages_every_event_once_at_gap_free_positions_in_commit_order(
    api: LedgerApi, client: FlaskClient, auth: dict[str, str]
) -> None:
    stored = record_interleaved(api, collaborations=3, rounds=4)
    feed = read_feed(client, auth, limit=5)
    assert [i["position"] for i in feed] == list(range(1, len(stored) + 1))
    assert [(i["collaboration_id"], i["version"]) for i in feed] == stored
    recorded_at = [i["recorded_at"] for i in feed]
    assert recorded_at == sorted(recorded_at)
    for cid in {cid for cid, _ in stored}:
        stream = api.events(cid)
        assert [i for i in feed if i["collaboration_id"] == cid] == stream


def test_the_feed_after_its_head_is_empty(api: LedgerApi) -> None:
    stored = record_interleaved(api, collaborations=1, rounds=1)
    for after in (len(stored), len(stored) + 10):
        response = api.client.get("/feed", query_string={"after": after}, headers=api.auth)
        assert response.get_json() == {"items": [], "next_after": None}


def test_feed_positions_stay_gap_free_when_a_conflicting_write_was_rolled_back(
    app: Flask, api: LedgerApi, client: FlaskClient, auth: dict[str, str], backend: str
) -> None:
    service: LedgerService = app.extensions["ledger.service"]
    cid = api.found_id()
    # Two writers load version 1; the second one's insert conflicts and is rolled back, which
    # makes a PostgreSQL sequence skip the id it had drawn.
    first, second = service._load(cid), service._load(cid)
    first.record("PhaseStarted", {"name": "first"}, {"actor": "tester"})
    second.record("PhaseStarted", {"name": "second"}, {"actor": "tester"})
    service._save(first, ["first"])
    with pytest.raises(RecordConflictError):
        service._save(second, ["second"])
    api.record(cid, "PhaseStarted", {"name": "third"})

    if backend == "postgres":  # the scenario this test is about did happen
        rows = service.store.query("SELECT notification_id FROM ledger_event_index")
        assert sorted(row["notification_id"] for row in rows) != [1, 2, 3]
    feed = read_feed(client, auth, limit=2)
    assert [(i["position"], i["version"]) for i in feed] == [(1, 1), (2, 2), (3, 3)]
    assert [i["data"]["name"] for i in feed[1:]] == ["first", "third"]


@pytest.mark.parametrize(
    ("query", "field"), [({"after": "-1"}, "after"), ({"limit": "0"}, "limit"),
                         ({"after": "x"}, "after")]
)  # fmt: skip
def test_a_malformed_feed_query_is_a_400_problem(
    api: LedgerApi, query: dict[str, str], field: str
) -> None:
    response = api.client.get("/feed", query_string=query, headers=api.auth)
    problem = assert_problem(response, 400)
    assert error_fields(problem) == {field}
