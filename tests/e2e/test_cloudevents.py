"""CloudEvents from the official SDK, against real gunicorn: structured, binary and batch mode
are stored exactly once, even when each is sent three times at once."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from cloudevents.v1.conversion import to_binary, to_structured
from cloudevents.v1.http import CloudEvent

from tests.e2e.conftest import Server


def found(server: Server) -> str:
    response = requests.post(f"{server.url}/collaborations", headers=server.auth, timeout=10,
                             json={"name": "CE", "mission": "Integrate without glue"})  # fmt: skip
    assert response.status_code == 201
    return str(response.json()["collaboration_id"])


def partner_event(collaboration_id: str, partner_id: str, **attributes: Any) -> CloudEvent:
    return CloudEvent(
        {"type": "org.governance-ledger.PartnerJoined", "source": "urn:meeting-tool:noord",
         "id": f"agenda-{partner_id}", "subject": collaboration_id, **attributes},
        {"partner_id": partner_id, "name": partner_id.title(), "kind": "library",
         "capacities": ["host"]},
    )  # fmt: skip


def thrice(send: Callable[[], requests.Response]) -> list[requests.Response]:
    barrier = threading.Barrier(3)

    def go(_: int) -> requests.Response:
        barrier.wait()
        return send()

    with ThreadPoolExecutor(3) as pool:
        return list(pool.map(go, range(3)))


def stream(server: Server, collaboration_id: str) -> list[dict[str, Any]]:
    response = requests.get(f"{server.url}/collaborations/{collaboration_id}/events",
                            headers=server.auth, timeout=10)  # fmt: skip
    return list(response.json()["items"])


def post(
    server: Server, collaboration_id: str, headers: dict[str, str], body: bytes
) -> requests.Response:
    return requests.post(f"{server.url}/collaborations/{collaboration_id}/events",
                         headers={**server.auth, **headers}, data=body, timeout=30)  # fmt: skip


def test_a_structured_cloudevent_sent_three_times_at_once_is_stored_once(server: Server) -> None:
    cid = found(server)
    headers, body = to_structured(partner_event(cid, "bib-noord", time="2030-01-01T10:00:00Z"))
    responses = thrice(lambda: post(server, cid, headers, body))
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert len({r.json()["position"] for r in responses}) == 1
    stored = stream(server, cid)
    assert [e["type"] for e in stored] == ["CollaborationFounded", "PartnerJoined"]
    assert stored[1]["source"] == {"system": "urn:meeting-tool:noord", "id": "agenda-bib-noord"}
    assert stored[1]["effective_at"] == "2030-01-01T10:00:00.000000Z"


def test_a_binary_cloudevent_sent_three_times_at_once_is_stored_once(server: Server) -> None:
    cid = found(server)
    headers, body = to_binary(partner_event(cid, "school"))
    responses = thrice(lambda: post(server, cid, headers, body))
    assert {r.status_code for r in responses} == {201}
    assert len(stream(server, cid)) == 2


def test_a_batch_is_stored_all_or_nothing_and_once(server: Server) -> None:
    cid = found(server)
    batch = [json.loads(to_structured(partner_event(cid, f"p{i}"))[1]) for i in range(3)]
    body = json.dumps(batch).encode()
    headers = {"Content-Type": "application/cloudevents-batch+json"}
    responses = thrice(lambda: post(server, cid, headers, body))
    assert {r.status_code for r in responses} == {201}
    assert len({tuple(e["position"] for e in r.json()["items"]) for r in responses}) == 1
    assert len(stream(server, cid)) == 4

    broken = [json.loads(to_structured(partner_event(cid, "q1"))[1]),
              json.loads(to_structured(partner_event(cid, "p1"))[1] .replace(b"agenda-p1", b"other"))]  # fmt: skip
    response = post(server, cid, headers, json.dumps(broken).encode())
    assert response.status_code == 409  # p1 already joined: nothing of the batch is stored
    assert len(stream(server, cid)) == 4


def test_the_same_source_and_id_with_other_content_is_a_conflict(server: Server) -> None:
    cid = found(server)
    headers, body = to_structured(partner_event(cid, "hub"))
    assert post(server, cid, headers, body).status_code == 201
    other = body.replace(b'"Hub"', b'"Hub Renamed"')
    response = post(server, cid, headers, other)
    assert response.status_code == 409
    assert response.json()["rule"] == "source-id-reused"


def test_an_invalid_envelope_names_the_attribute(server: Server) -> None:
    cid = found(server)
    wrong_subject = json.loads(to_structured(partner_event(cid, "x"))[1])
    wrong_subject["subject"] = str(uuid.uuid4())
    response = post(server, cid, {"Content-Type": "application/cloudevents+json"},
                    json.dumps(wrong_subject).encode())  # fmt: skip
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "subject"


def test_the_feed_is_available_as_cloudevents(server: Server) -> None:
    cid = found(server)
    response = requests.get(f"{server.url}/feed", timeout=10, params={"limit": 1000},
                            headers={**server.auth, "Accept": "application/cloudevents-batch+json"})  # fmt: skip
    assert response.headers["Content-Type"].startswith("application/cloudevents-batch+json")
    mine = [ce for ce in response.json() if ce["subject"] == cid]
    assert mine[0]["specversion"] == "1.0"
    assert mine[0]["type"] == "org.governance-ledger.CollaborationFounded"
    assert mine[0]["source"] == "urn:governance-ledger"
    assert mine[0]["dataschema"].endswith("/event-types#CollaborationFounded")
    assert "recordedtime" in mine[0]
