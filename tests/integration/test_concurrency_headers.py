"""Optimistic concurrency (ETag / If-Match) and safe retries (Idempotency-Key, source ids)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.helpers import LedgerApi, assert_problem, partner

PHASE = {"name": "Pilot"}
START = 3


@pytest.fixture
def cid(api: LedgerApi) -> str:
    """A collaboration whose stream holds START events."""
    collaboration_id = api.found_id()
    api.record(collaboration_id, "MissionRevised", {"mission": "Every child reads and writes"})
    api.record(collaboration_id, "PhaseStarted", {"name": "Start"})
    return collaboration_id


# If-Match


@pytest.mark.parametrize("header", [f'"{START}"', f'W/"{START}"', "*"])
def test_if_match_with_the_current_version_records(api: LedgerApi, cid: str, header: str) -> None:
    response = api.post_event(cid, "PhaseStarted", PHASE, headers={"If-Match": header})

    assert response.status_code == 201
    assert response.headers["ETag"] == f'"{START + 1}"'
    assert api.version(cid) == START + 1


@pytest.mark.parametrize("stale", [1, START - 1, START + 1])
def test_if_match_with_another_version_is_412_and_stores_nothing(
    api: LedgerApi, cid: str, stale: int
) -> None:
    response = api.post_event(cid, "PhaseStarted", PHASE, headers={"If-Match": f'"{stale}"'})

    problem = assert_problem(response, 412)
    assert problem["rule"] == "version-mismatch"
    assert problem["current_version"] == START
    assert api.version(cid) == START


def test_two_writers_with_the_same_etag_one_wins(api: LedgerApi, cid: str) -> None:
    etag = api.client.get(f"/collaborations/{cid}", headers=api.auth).headers["ETag"]

    first = api.post_event(cid, "PhaseStarted", PHASE, headers={"If-Match": etag})
    second = api.post_event(cid, "PhaseStarted", {"name": "Scale"}, headers={"If-Match": etag})

    assert first.status_code == 201
    assert_problem(second, 412)
    assert [e["data"] for e in api.events(cid)[START:]] == [PHASE]


@pytest.mark.parametrize("header", ["12", "abc", "", 'W/"', '"12', '12"'])
def test_malformed_if_match_is_400_and_stores_nothing(
    api: LedgerApi, cid: str, header: str
) -> None:
    response = api.post_event(cid, "PhaseStarted", PHASE, headers={"If-Match": header})

    assert_problem(response, 400)
    assert api.version(cid) == START


# Idempotency-Key


def test_idempotent_retry_returns_the_original_status_and_body_and_stores_once(
    api: LedgerApi, cid: str
) -> None:
    key = {"Idempotency-Key": "retry-1"}
    first = api.post_event(cid, "PhaseStarted", PHASE, headers=key, note="first")
    retry = api.post_event(cid, "PhaseStarted", PHASE, headers=key, note="first")

    assert first.status_code == retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert api.version(cid) == START + 1
    assert [e["note"] for e in api.events(cid)].count("first") == 1


def test_idempotent_retry_is_replayed_after_the_stream_moved_on(api: LedgerApi, cid: str) -> None:
    headers = {"Idempotency-Key": "retry-2", "If-Match": f'"{START}"'}
    first = api.post_event(cid, "PhaseStarted", PHASE, headers=headers)
    api.record(cid, "PhaseStarted", {"name": "Scale"})

    retry = api.post_event(cid, "PhaseStarted", PHASE, headers=headers)

    assert retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert api.version(cid) == START + 2


def test_the_same_key_with_another_body_is_422_and_stores_nothing(api: LedgerApi, cid: str) -> None:
    key = {"Idempotency-Key": "retry-3"}
    api.post_event(cid, "PhaseStarted", PHASE, headers=key)

    response = api.post_event(cid, "PhaseStarted", {"name": "Other"}, headers=key)

    problem = assert_problem(response, 422)
    assert problem["rule"] == "idempotency-key-reused"
    assert api.version(cid) == START + 1


def test_the_same_key_with_another_envelope_is_422(api: LedgerApi, cid: str) -> None:
    key = {"Idempotency-Key": "retry-4"}
    api.post_event(cid, "PhaseStarted", PHASE, headers=key, note="one")

    response = api.post_event(cid, "PhaseStarted", PHASE, headers=key, note="two")

    assert_problem(response, 422)
    assert api.version(cid) == START + 1


def test_idempotent_founding_creates_one_collaboration(api: LedgerApi) -> None:
    key = {"Idempotency-Key": "found-1"}
    first = api.found(headers=key)
    retry = api.found(headers=key)

    assert first.status_code == retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert api.collaboration_ids() == [first.get_json()["collaboration_id"]]


def test_founding_again_with_a_used_key_and_other_body_is_422(api: LedgerApi) -> None:
    key = {"Idempotency-Key": "found-2"}
    first = api.found(headers=key)

    response = api.found("Another name", headers=key)

    assert_problem(response, 422)
    assert api.collaboration_ids() == [first.get_json()["collaboration_id"]]


def test_a_rejected_request_does_not_use_up_its_key(api: LedgerApi, cid: str) -> None:
    key = {"Idempotency-Key": "retry-5"}
    rejected = api.post_event(
        cid,
        "RoleAssigned",
        {"role_id": "nope", "person_id": "ann", "method": "elected"},
        headers=key,
    )
    assert_problem(rejected, 409)

    accepted = api.post_event(cid, "PhaseStarted", PHASE, headers=key)

    assert accepted.status_code == 201
    assert api.version(cid) == START + 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9"])
def test_malformed_idempotency_key_is_400_and_stores_nothing(
    api: LedgerApi, cid: str, key: str
) -> None:
    response = api.client.post(
        f"/collaborations/{cid}/events",
        json={"type": "PhaseStarted", "data": PHASE},
        headers={**api.auth, "Idempotency-Key": key.encode().decode("latin-1")},
    )

    assert_problem(response, 400)
    assert api.version(cid) == START


# Source ids


def source(source_id: str) -> dict[str, Any]:
    return {"source": {"system": "minutes-tool", "id": source_id}}


def test_the_same_source_and_content_returns_the_original_and_stores_once(
    api: LedgerApi, cid: str
) -> None:
    first = api.post_event(cid, "PartnerJoined", partner("library"), **source("s-1"))
    retry = api.post_event(cid, "PartnerJoined", partner("library"), **source("s-1"))

    assert first.status_code == retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert api.version(cid) == START + 1


def test_the_same_source_with_other_content_is_409_and_stores_nothing(
    api: LedgerApi, cid: str
) -> None:
    api.post_event(cid, "PartnerJoined", partner("library"), **source("s-2"))

    response = api.post_event(cid, "PartnerJoined", partner("museum"), **source("s-2"))

    problem = assert_problem(response, 409)
    assert problem["rule"] == "source-id-reused"
    assert api.version(cid) == START + 1
    assert "museum" not in api.state(cid)["partners"]


def test_a_source_id_is_unique_per_collaboration_only(api: LedgerApi, cid: str) -> None:
    other = api.found_id("Other")
    api.post_event(cid, "PhaseStarted", PHASE, **source("s-3"))

    response = api.post_event(other, "PhaseStarted", PHASE, **source("s-3"))

    assert response.status_code == 201
    assert response.get_json()["collaboration_id"] == other
    assert api.version(other) == 2


def test_a_source_id_of_another_system_is_another_event(api: LedgerApi, cid: str) -> None:
    api.post_event(cid, "PhaseStarted", PHASE, **source("s-4"))

    response = api.post_event(
        cid, "PhaseStarted", PHASE, source={"system": "intranet", "id": "s-4"}
    )

    assert response.status_code == 201
    assert api.version(cid) == START + 2
