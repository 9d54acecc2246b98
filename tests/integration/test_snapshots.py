"""Reading a long collaboration starts from a snapshot instead of replaying its whole stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ledger.service import LedgerService

EVENTS = 10_000
CHUNK = 1_000


@pytest.fixture
def long_collaboration(service: LedgerService) -> str:
    founded = service.found_collaboration(
        {"name": "Long", "mission": "Many events"}, {"actor": "t"}
    )
    cid = founded.collaboration_id
    service.record_event(
        cid,
        "PartnerJoined",
        {"partner_id": "p", "name": "P", "kind": "school", "capacities": ["participant"]},
        {"actor": "t"},
    )
    for start in range(0, EVENTS, CHUNK):
        batch = [
            (
                "MemberJoined",
                {"person_id": f"m{n}", "name": f"M{n}", "partner_id": "p"},
                {"actor": "t"},
            )
            for n in range(start, start + CHUNK)
        ]
        service.import_events(cid, batch)
    return cid


class ReadCounter:
    """Counts the stored events the event store hands back, by wrapping its recorder."""

    def __init__(self, service: LedgerService) -> None:
        self.count = 0
        recorder = service.app.events.recorder
        original = recorder.select_events

        def counting(*args: Any, **kwargs: Any) -> Sequence[Any]:
            rows = original(*args, **kwargs)
            self.count += len(rows)
            return rows

        recorder.select_events = counting


def test_reading_a_collaboration_of_10000_events_replays_fewer_than_the_snapshot_interval(
    service: LedgerService, long_collaboration: str
) -> None:
    counter = ReadCounter(service)
    view = service.state(long_collaboration)
    assert view.stream_version == EVENTS + 2
    assert len(view.state["members"]) == EVENTS
    assert counter.count < service.settings.snapshot_interval

    counter.count = 0
    old = service.state(long_collaboration, version=5_025)
    assert len(old.state["members"]) == 5_023
    assert counter.count < service.settings.snapshot_interval
