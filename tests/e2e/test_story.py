"""A client using requests posts the demo story (every event type) to real gunicorn and reads
the state at every version: each equals the fold of that prefix of the stream."""

from __future__ import annotations

from datetime import date
from typing import Any

import requests

from ledger.demo import demo_events
from ledger.domain.state import Stamp, apply_event, empty_state
from ledger.domain.views import derive
from ledger.domain.vocabulary import EVENT_TYPES
from tests.e2e.conftest import Server

STATE_KEYS = ("collaboration", "phase", "phases", "partners", "members", "roles", "mandates",
              "agreements", "decisions", "reflections", "attention")  # fmt: skip


def post_story(server: Server) -> str:
    (_, founding, founding_envelope), *story = demo_events()
    response = requests.post(
        f"{server.url}/collaborations",
        json={**founding, **founding_envelope},
        headers=server.auth,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    collaboration_id = str(response.json()["collaboration_id"])
    session = requests.Session()
    session.headers.update(server.auth)
    for event_type, data, envelope in story:
        response = session.post(
            f"{server.url}/collaborations/{collaboration_id}/events",
            json={"type": event_type, "data": data, **envelope},
            timeout=10,
        )
        assert response.status_code == 201, response.text
    return collaboration_id


def all_events(server: Server, collaboration_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = requests.get(
            f"{server.url}/collaborations/{collaboration_id}/events",
            params={"after": after, "limit": 25},
            headers=server.auth,
            timeout=10,
        ).json()
        events.extend(page["items"])
        after = page["next_after"]
    return events


def test_the_state_at_every_version_equals_the_fold_of_that_prefix(server: Server) -> None:
    collaboration_id = post_story(server)
    events = all_events(server, collaboration_id)
    assert {e["type"] for e in events} == set(EVENT_TYPES)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))

    folded = empty_state()
    session = requests.Session()
    session.headers.update(server.auth)
    for event in events:
        stamp = Stamp(
            event["version"],
            event["effective_at"],
            event["recorded_at"],
            event["shared_with_funders"],
        )
        apply_event(folded, event["type"], event["data"], stamp)
        response = session.get(
            f"{server.url}/collaborations/{collaboration_id}",
            params={"version": event["version"]},
            timeout=10,
        )
        assert response.status_code == 200
        body = response.json()
        assert body["basis"]["version"] == event["version"]
        expected = derive(folded, date.fromisoformat(body["basis"]["as_of"][:10]))
        assert {key: body[key] for key in STATE_KEYS} == {key: expected[key] for key in STATE_KEYS}
