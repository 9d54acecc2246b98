"""Isolation on both backends: a token sees nothing of a collaboration outside its scope, and
tokens that are revoked or expired are refused, on SQLite and on PostgreSQL alike. (The full
matrix of routes × roles is tests/integration/test_access_matrix.py.)"""

from __future__ import annotations

import pytest
from flask import Flask

from tests.integration.access_fixtures import World, build_world

COLLABORATION_ROUTES = (
    "/collaborations/{cid}",
    "/collaborations/{cid}/events",
    "/collaborations/{cid}/timeline",
    "/collaborations/{cid}/diff?from=1&to=2",
    "/collaborations/{cid}/roles/chair/history",
    "/collaborations/{cid}/mandates/m1/history",
    "/collaborations/{cid}/agreements/a1/history",
    "/collaborations/{cid}/decisions/d1",
    "/collaborations/{cid}/reflections/r1",
)
SCOPE_WIDE_READS = (
    "/collaborations?limit=1000",
    "/agreements",
    "/agreements?collaboration={b}",
    "/agreements/summary",
    "/feed?limit=1000",
)


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def test_a_recorder_of_a_finds_nothing_of_b(world: World) -> None:
    for route in COLLABORATION_ROUTES:
        assert world.get("recorder", route.format(cid=world.a)).status_code == 200, route
        response = world.get("recorder", route.format(cid=world.b))
        assert response.status_code == 404, route
        assert response.get_json()["type"].endswith("/collaboration-not-found"), route
    posted = world.client.post(
        f"/collaborations/{world.b}/events",
        json={"type": "PhaseStarted", "data": {"name": "Intrusion"}},
        headers=world.headers["recorder"],
    )
    assert posted.status_code == 404
    assert world.get("admin", f"/collaborations/{world.b}").get_json()["phase"]["name"] != "Intrusion"  # fmt: skip
    for read in SCOPE_WIDE_READS:
        admin = world.get("admin", read.format(b=world.b)).get_data(as_text=True)
        recorder = world.get("recorder", read.format(b=world.b))
        assert recorder.status_code == 200, read
        assert world.b in admin and world.b not in recorder.get_data(as_text=True), read


def test_revoked_expired_and_unknown_tokens_are_refused(world: World) -> None:
    for caller in ("revoked-token", "expired-token", "invalid-token"):
        response = world.get(caller, f"/collaborations/{world.a}")
        assert response.status_code == 401, caller
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), caller
