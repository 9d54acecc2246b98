"""The demo collaboration seeds without breaking a rule and shows every part of the domain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.demo import DEMO_NAME, seed_demo, seed_demo_if_empty
from ledger.domain.timefmt import format_instant
from ledger.domain.vocabulary import EVENT_TYPES
from ledger.service import LedgerService, RecordedEvent
from ledger.settings import Settings

NOW = datetime(2025, 3, 14, 12, 30, tzinfo=UTC)


@pytest.fixture
def memory_service() -> Iterator[LedgerService]:
    ledger = LedgerService(Settings(database_url="sqlite:///:memory:"))
    yield ledger
    ledger.close()


@pytest.fixture
def demo_id(memory_service: LedgerService) -> str:
    return seed_demo(memory_service, now=NOW)


@pytest.fixture
def stream(memory_service: LedgerService, demo_id: str) -> list[RecordedEvent]:
    return memory_service.events(demo_id, 0, 1000)


@pytest.fixture
def state_now(memory_service: LedgerService, demo_id: str) -> dict[str, Any]:
    return memory_service.state(demo_id, now=NOW).state


def test_demo_is_founded_with_its_name_and_a_story_of_60_to_90_events(
    state_now: dict[str, Any], stream: list[RecordedEvent]
) -> None:
    assert state_now["collaboration"]["name"] == DEMO_NAME
    assert 60 <= len(stream) <= 90


def test_demo_uses_every_event_type(stream: list[RecordedEvent]) -> None:
    assert {event.type for event in stream} == set(EVENT_TYPES)


def test_demo_year_ends_in_the_recent_past_with_one_planned_event(
    stream: list[RecordedEvent],
) -> None:
    now = format_instant(NOW)
    past = sorted(e.envelope["effective_at"] for e in stream if e.envelope["effective_at"] <= now)
    planned = [e.type for e in stream if e.envelope["effective_at"] > now]
    assert past[0] < "2024-03-01" and "2025-01-15" < past[-1] < "2025-02-28"
    assert planned == ["RoleHandedOver"]


def test_demo_records_some_events_after_later_ones_took_effect(
    stream: list[RecordedEvent],
) -> None:
    effective = [event.envelope["effective_at"] for event in stream]
    assert effective != sorted(effective)


def test_demo_has_partners_of_which_one_left_with_a_reason(state_now: dict[str, Any]) -> None:
    left = [p for p in state_now["partners"].values() if p["status"] == "left"]
    assert len(state_now["partners"]) > len(left) == 1
    assert left[0]["left_reason"]


def test_demo_coordinator_role_is_held(state_now: dict[str, Any]) -> None:
    assert state_now["roles"]["coordinator"]["status"] == "held"


def test_demo_attention_shows_a_review_due_and_an_expired_mandate(
    state_now: dict[str, Any],
) -> None:
    kinds = {item["kind"] for item in state_now["attention"]}
    assert {"agreement_review_due", "mandate_expired"} <= kinds


def test_demo_planned_handover_is_recorded_but_not_yet_in_force(
    memory_service: LedgerService, demo_id: str, state_now: dict[str, Any]
) -> None:
    latest = memory_service.stream_version(demo_id)
    recorded = memory_service.state(demo_id, version=latest, now=NOW).state
    planned, current = recorded["roles"]["coordinator"], state_now["roles"]["coordinator"]
    assert planned["holder"] != current["holder"]
    assert planned["held_since"] > format_instant(NOW) > current["held_since"]


def test_demo_shares_one_reflection_with_funders(stream: list[RecordedEvent]) -> None:
    shared = [e.type for e in stream if e.envelope.get("shared_with_funders")]
    assert shared == ["ReflectionHeld"]


def test_demo_reflections_span_the_three_loops(state_now: dict[str, Any]) -> None:
    loops = {reflection["loop"] for reflection in state_now["reflections"].values()}
    assert loops == {"single", "double", "triple"}


def test_seed_demo_if_empty_seeds_only_once(memory_service: LedgerService) -> None:
    first = seed_demo_if_empty(memory_service, now=NOW)
    second = seed_demo_if_empty(memory_service, now=NOW)
    assert first is not None and second is None
    assert [c.collaboration_id for c in memory_service.collaborations(0, 10)] == [first]
