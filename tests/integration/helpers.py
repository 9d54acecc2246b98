"""Helpers for the HTTP integration tests: a thin client over the API and event payloads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ledger.domain.timefmt import format_instant
from ledger.settings import Settings

PROBLEM_TYPE = "application/problem+json"
FOUNDED_AT = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
# The stream version of the `founded` fixture (tests/integration/conftest.py).
FOUNDED_VERSION = 12
BARE_VERSION = 1


def sqlite_settings(directory: Path) -> Settings:
    """Settings on a SQLite file, for modules whose behaviour does not depend on the backend."""
    return Settings(database_url=f"sqlite:///{directory / 'ledger.sqlite'}")


def day(days: float) -> str:
    """An instant counted in days from FOUNDED_AT, in the ledger's canonical form."""
    return format_instant(FOUNDED_AT + timedelta(days=days))


def from_now(days: float) -> str:
    return format_instant(datetime.now(UTC) + timedelta(days=days))


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_TYPE
    body = json.loads(response.get_data(as_text=True))
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert isinstance(body[key], str), key
        assert body[key], key
    return dict(body)


def error_fields(problem: dict[str, Any]) -> set[str]:
    """The `field` of each entry of a validation problem, after checking each entry's shape."""
    entries = problem["errors"]
    assert isinstance(entries, list)
    assert entries
    for entry in entries:
        assert set(entry) <= {"in", "field", "pointer", "detail"}, entry
        assert entry["in"] in ("body", "query", "header", "path"), entry
        assert entry["field"], entry
        assert entry["detail"], entry
    return {entry["field"] for entry in entries}


# Event data, following design.md §2.


def partner(partner_id: str, *capacities: str, kind: str = "school") -> dict[str, Any]:
    return {
        "partner_id": partner_id,
        "name": partner_id.title(),
        "kind": kind,
        "capacities": list(capacities) or ["participant"],
    }


def member(person_id: str, partner_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"person_id": person_id, "name": person_id.title()}
    if partner_id is not None:
        data["partner_id"] = partner_id
    return data


def role(role_id: str) -> dict[str, Any]:
    return {
        "role_id": role_id,
        "name": role_id.title(),
        "purpose": f"Purpose of {role_id}",
        "accountabilities": ["convene meetings"],
    }


def assignment(role_id: str, person_id: str) -> dict[str, Any]:
    return {"role_id": role_id, "person_id": person_id, "method": "elected"}


def handover(role_id: str, from_person_id: str, to_person_id: str) -> dict[str, Any]:
    return {"role_id": role_id, "from_person_id": from_person_id, "to_person_id": to_person_id}


def mandate(mandate_id: str, kind: str, holder_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "mandate_id": mandate_id,
        "holder": {"kind": kind, "id": holder_id},
        "scope": "day-to-day spending",
        "decision_rights": ["spend"],
        **extra,
    }


def agreement(agreement_id: str, *partner_ids: str, **extra: Any) -> dict[str, Any]:
    return {
        "agreement_id": agreement_id,
        "title": f"Agreement {agreement_id}",
        "formality": "covenant",
        "topics": ["goals"],
        "parties": [{"partner_id": p, "capacity": "participant"} for p in partner_ids],
        "terms": "We read together.",
        **extra,
    }


def decision(decision_id: str, *person_ids: str) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "subject": "Rotation of the chair",
        "method": "consent",
        "outcome": "agreed",
        "participants": [{"person_id": p} for p in person_ids],
    }


def reflection(reflection_id: str, *person_ids: str) -> dict[str, Any]:
    return {
        "reflection_id": reflection_id,
        "title": "Half-year look back",
        "method": "retrospective",
        "loop": "double",
        "participants": list(person_ids),
        "findings": ["meetings too long"],
        "outcome": "adjust",
    }


# A valid history that uses every postable event type, in an order the rules allow.
EVERY_TYPE: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "MissionRevised",
        {"mission": "Every child reads and writes", "drivers": ["gap"], "values": ["trust"]},
        {},
    ),
    ("PhaseStarted", {"name": "Pilot", "description": "Three schools"}, {}),
    ("PartnerJoined", partner("school", "funder", "implementing"), {}),
    ("PartnerJoined", partner("city", kind="government"), {}),
    ("PartnerCapacitiesChanged", {"partner_id": "city", "capacities": ["funder", "host"]}, {}),
    ("MemberJoined", member("ann", "school"), {}),
    ("MemberJoined", member("bob", "city"), {"acting_for": {"partner_id": "city"}}),
    ("MemberJoined", member("cleo"), {}),
    ("RoleDefined", role("chair"), {}),
    ("RoleRedefined", {"role_id": "chair", "purpose": "Chairs the table", "term_months": 12}, {}),
    ("RoleAssigned", {**assignment("chair", "ann"), "term_ends_on": "2099-01-01"}, {}),
    ("RoleHandedOver", {**handover("chair", "ann", "bob"), "notes": "rotation"}, {}),
    (
        "MandateGranted",
        mandate(
            "m1",
            "role",
            "chair",
            budget_limit={"amount": "2500.00", "currency": "EUR"},
            review_on="2099-01-01",
        ),
        {},
    ),
    ("MandateAmended", {"mandate_id": "m1", "scope": "all spending", "reason": "grew"}, {}),
    (
        "AgreementMade",
        agreement(
            "a1",
            "school",
            "city",
            budget_commitments=[{"partner_id": "city", "amount": "10000.00", "currency": "EUR"}],
        ),
        {},
    ),
    ("AgreementAmended", {"agreement_id": "a1", "terms": "Read and write.", "reason": "scope"}, {}),
    ("AgreementCorrected", {"agreement_id": "a1", "title": "Agreement A1", "reason": "typo"}, {}),
    (
        "AgreementReviewed",
        {"agreement_id": "a1", "outcome": "keep", "next_review_on": "2099-06-30"},
        {},
    ),
    (
        "DecisionRecorded",
        {
            **decision("d1", "ann", "bob"),
            "objections": [{"person_id": "ann", "text": "too soon", "resolution": "later"}],
            "minority_views": ["wait a year"],
        },
        {"shared_with_funders": True},
    ),
    ("ReflectionHeld", reflection("r1", "ann", "bob", "cleo"), {}),
    ("MandateRevoked", {"mandate_id": "m1", "reason": "done"}, {"cause": {"decision_id": "d1"}}),
    (
        "AgreementEnded",
        {"agreement_id": "a1", "reason": "done"},
        {"cause": {"reflection_id": "r1"}},
    ),
    ("RoleVacated", {"role_id": "chair", "reason": "stepped down"}, {}),
    ("RoleRetired", {"role_id": "chair", "reason": "no longer needed"}, {}),
    ("MemberLeft", {"person_id": "cleo", "reason": "moved"}, {}),
    ("PartnerLeft", {"partner_id": "city", "reason": "budget cuts"}, {"note": "sad"}),
]


@dataclass
class LedgerApi:
    """The test client with a token, and the few calls most tests make."""

    client: FlaskClient
    auth: dict[str, str]

    def found(
        self,
        name: str = "Leerecosysteem Noord",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> TestResponse:
        body = {"name": name, "mission": "Every child reads", **extra}
        return self.client.post(
            "/collaborations", json=body, headers={**self.auth, **(headers or {})}
        )

    def found_id(self, name: str = "Leerecosysteem Noord", **extra: Any) -> str:
        response = self.found(name, **extra)
        assert response.status_code == 201, response.get_data(as_text=True)
        return str(response.get_json()["collaboration_id"])

    def post_event(
        self,
        collaboration_id: str,
        event_type: str,
        data: dict[str, Any],
        headers: dict[str, str] | None = None,
        **envelope: Any,
    ) -> TestResponse:
        return self.client.post(
            f"/collaborations/{collaboration_id}/events",
            json={"type": event_type, "data": data, **envelope},
            headers={**self.auth, **(headers or {})},
        )

    def record(
        self, collaboration_id: str, event_type: str, data: dict[str, Any], **envelope: Any
    ) -> dict[str, Any]:
        """Post an event that must be stored; returns the stored event."""
        response = self.post_event(collaboration_id, event_type, data, **envelope)
        assert response.status_code == 201, response.get_data(as_text=True)
        return dict(response.get_json())

    def state(self, collaboration_id: str, **query: Any) -> dict[str, Any]:
        response = self.client.get(
            f"/collaborations/{collaboration_id}", query_string=query, headers=self.auth
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return dict(response.get_json())

    def events(self, collaboration_id: str) -> list[dict[str, Any]]:
        """The whole stream, read through the paged endpoint."""
        response = self.client.get(
            f"/collaborations/{collaboration_id}/events",
            query_string={"limit": 1000},
            headers=self.auth,
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return list(response.get_json()["items"])

    def version(self, collaboration_id: str) -> int:
        """The stream version, as the ETag of the events resource says."""
        response = self.client.get(f"/collaborations/{collaboration_id}/events", headers=self.auth)
        assert response.status_code == 200, response.get_data(as_text=True)
        return int(response.headers["ETag"].strip('"'))

    def collaboration_ids(self) -> list[str]:
        response = self.client.get(
            "/collaborations", query_string={"limit": 1000}, headers=self.auth
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["collaboration_id"] for item in response.get_json()["items"]]
