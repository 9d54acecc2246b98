"""/metrics of real gunicorn with 2 workers: whichever worker answers the scrape, the counts
are those of both (prometheus-client's multiprocess mode, set up by `ledger serve`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server

REQUESTS = 40
SCRAPES = 6  # each may land on either worker: all must agree


def value(server: Server, name: str, **labels: str) -> float:
    response = requests.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 200
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def test_requests_served_by_both_workers_are_counted_once_each(server: Server) -> None:
    labels = {"route": "/event-types", "method": "GET", "status": "200"}
    before = value(server, "ledger_http_requests_total", **labels)

    def read_catalogue(_: int) -> int:
        url = f"{server.url}/event-types"
        return requests.get(url, headers=server.auth, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(read_catalogue, range(REQUESTS)))

    assert statuses == [200] * REQUESTS
    counted = [
        value(server, "ledger_http_requests_total", **labels) - before for _ in range(SCRAPES)
    ]
    assert counted == [REQUESTS] * SCRAPES


def test_events_appended_through_both_workers_are_counted_once_each(server: Server) -> None:
    collaborations = [found(server) for _ in range(4)]
    before = value(server, "ledger_events_appended_total", type="PhaseStarted")

    def start_phase(index: int) -> int:
        cid = collaborations[index % len(collaborations)]
        body = {"type": "PhaseStarted", "data": {"name": f"Phase {index}"}}
        url = f"{server.url}/collaborations/{cid}/events"
        return requests.post(url, json=body, headers=server.auth, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(start_phase, range(REQUESTS)))

    assert statuses == [201] * REQUESTS
    counted = [
        value(server, "ledger_events_appended_total", type="PhaseStarted") - before
        for _ in range(SCRAPES)
    ]
    assert counted == [REQUESTS] * SCRAPES


def found(server: Server) -> str:
    body = {"name": "Metrics", "mission": "Count"}
    response = requests.post(
        f"{server.url}/collaborations", json=body, headers=server.auth, timeout=30
    )
    assert response.status_code == 201, response.text
    return str(response.json()["collaboration_id"])
