"""Integration fixtures: an API helper over the test client, and a founded collaboration."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.integration.helpers import LedgerApi, assignment, day, member, partner, role


@pytest.fixture
def api(client: FlaskClient, auth: dict[str, str]) -> LedgerApi:
    return LedgerApi(client, auth)


@pytest.fixture
def bare(api: LedgerApi) -> str:
    """A collaboration that was only founded: its stream holds one event."""
    return api.found_id()


@pytest.fixture
def founded(api: LedgerApi) -> str:
    """A collaboration founded on day 0 (2024-01-01), with its history backdated:

    day 1: partners `school` (funder, implementing), `city` and `gone` join; day 2: `gone` leaves,
    `ann` (school), `bob` (city) and `dan` join; day 3: `dan` leaves, roles `chair` and
    `secretary` are defined; day 4: `chair` goes to `ann` (`secretary` stays vacant).
    """
    cid = api.found_id(effective_at=day(0))
    api.record(
        cid, "PartnerJoined", partner("school", "funder", "implementing"), effective_at=day(1)
    )
    api.record(cid, "PartnerJoined", partner("city", kind="government"), effective_at=day(1))
    api.record(cid, "PartnerJoined", partner("gone"), effective_at=day(1))
    api.record(cid, "PartnerLeft", {"partner_id": "gone", "reason": "merged"}, effective_at=day(2))
    api.record(cid, "MemberJoined", member("ann", "school"), effective_at=day(2))
    api.record(cid, "MemberJoined", member("bob", "city"), effective_at=day(2))
    api.record(cid, "MemberJoined", member("dan"), effective_at=day(2))
    api.record(cid, "MemberLeft", {"person_id": "dan", "reason": "moved"}, effective_at=day(3))
    api.record(cid, "RoleDefined", role("chair"), effective_at=day(3))
    api.record(cid, "RoleDefined", role("secretary"), effective_at=day(3))
    api.record(cid, "RoleAssigned", assignment("chair", "ann"), effective_at=day(4))
    return cid
