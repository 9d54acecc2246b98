"""Racing writers against real gunicorn workers: If-Match and Idempotency-Key hold."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.e2e.conftest import Server


def found(server: Server) -> str:
    response = requests.post(
        f"{server.url}/collaborations",
        json={"name": "Race", "mission": "Test concurrent writers"},
        headers=server.auth,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["collaboration_id"])


def partner(n: int) -> dict[str, Any]:
    return {
        "type": "PartnerJoined",
        "data": {"partner_id": f"p-{n}", "name": f"P{n}", "kind": "school", "capacities": []},
    }


def stream_version(server: Server, collaboration_id: str) -> int:
    response = requests.get(
        f"{server.url}/collaborations/{collaboration_id}", headers=server.auth, timeout=10
    )
    return int(response.headers["ETag"].strip('"'))


def race(count: int, send: Any) -> list[requests.Response]:
    barrier = threading.Barrier(count)

    def go(index: int) -> requests.Response:
        barrier.wait()
        return send(index)  # type: ignore[no-any-return]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(go, range(count)))


def test_two_writers_with_the_same_if_match_one_wins_one_gets_412(server: Server) -> None:
    collaboration_id = found(server)
    for round_ in range(10):
        version = stream_version(server, collaboration_id)
        responses = race(
            2,
            lambda i, v=version, r=round_: requests.post(
                f"{server.url}/collaborations/{collaboration_id}/events",
                json=partner(r * 2 + i),
                headers={**server.auth, "If-Match": f'"{v}"'},
                timeout=30,
            ),
        )
        assert sorted(r.status_code for r in responses) == [201, 412]
        assert stream_version(server, collaboration_id) == version + 1


def test_twenty_concurrent_requests_with_one_idempotency_key_store_one_event(
    server: Server,
) -> None:
    collaboration_id = found(server)
    before = stream_version(server, collaboration_id)
    key = str(uuid.uuid4())
    responses = race(
        20,
        lambda i: requests.post(
            f"{server.url}/collaborations/{collaboration_id}/events",
            json=partner(1),
            headers={**server.auth, "Idempotency-Key": key},
            timeout=30,
        ),
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert stream_version(server, collaboration_id) == before + 1


def test_concurrent_writers_without_preconditions_all_land_in_order(server: Server) -> None:
    collaboration_id = found(server)
    responses = race(
        16,
        lambda i: requests.post(
            f"{server.url}/collaborations/{collaboration_id}/events",
            json=partner(i),
            headers=server.auth,
            timeout=30,
        ),
    )
    assert [r.status_code for r in responses] == [201] * 16
    versions = sorted(r.json()["version"] for r in responses)
    assert versions == list(range(2, 18))
