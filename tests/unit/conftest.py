"""Unit-test helpers for the domain: instants counted in days from the founding, and payloads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.domain.model import Collaboration
from ledger.domain.timefmt import format_instant
from ledger.service import LedgerService
from ledger.settings import Settings

FOUNDED_AT = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


class DomainKit:
    """Builds envelopes and event data; `days` counts from the founding (fractions allowed)."""

    founded_at = FOUNDED_AT

    @staticmethod
    def at(days: float) -> str:
        return format_instant(FOUNDED_AT + timedelta(days=days))

    def envelope(self, days: float | None = None, **extra: Any) -> dict[str, Any]:
        envelope: dict[str, Any] = {"actor": "recorder", **extra}
        if days is not None:
            envelope["effective_at"] = self.at(days)
        return envelope

    def found(self) -> Collaboration:
        return Collaboration.found(
            {"name": "Leerecosysteem Noord", "mission": "Every child reads"}, self.envelope(0)
        )

    @staticmethod
    def partner(partner_id: str, *capacities: str) -> dict[str, Any]:
        return {
            "partner_id": partner_id,
            "name": partner_id.title(),
            "kind": "school",
            "capacities": list(capacities) or ["participant"],
        }

    @staticmethod
    def member(person_id: str, partner_id: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"person_id": person_id, "name": person_id.title()}
        if partner_id is not None:
            data["partner_id"] = partner_id
        return data

    @staticmethod
    def role(role_id: str, term_months: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "role_id": role_id,
            "name": role_id.title(),
            "purpose": f"Purpose of {role_id}",
            "accountabilities": ["convene meetings"],
        }
        if term_months is not None:
            data["term_months"] = term_months
        return data

    @staticmethod
    def assignment(role_id: str, person_id: str, **extra: Any) -> dict[str, Any]:
        return {"role_id": role_id, "person_id": person_id, "method": "elected", **extra}

    @staticmethod
    def mandate(mandate_id: str, kind: str, holder_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "mandate_id": mandate_id,
            "holder": {"kind": kind, "id": holder_id},
            "scope": "day-to-day spending",
            "decision_rights": ["spend"],
            **extra,
        }

    @staticmethod
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

    @staticmethod
    def decision(decision_id: str, *person_ids: str, **extra: Any) -> dict[str, Any]:
        return {
            "decision_id": decision_id,
            "subject": "Rotation of the chair",
            "method": "consent",
            "outcome": "agreed",
            "participants": [{"person_id": p} for p in person_ids],
            **extra,
        }

    @staticmethod
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


@pytest.fixture(scope="session")
def domain_kit() -> DomainKit:
    return DomainKit()


@pytest.fixture
def domain_collaboration(domain_kit: DomainKit) -> Collaboration:
    """Founded on day 0; partners `school` and `city` join on day 1, `ann` and `bob` on day 2."""
    kit = domain_kit
    collaboration = kit.found()
    for partner_id in ("school", "city"):
        collaboration.record("PartnerJoined", kit.partner(partner_id), kit.envelope(1))
    collaboration.record("MemberJoined", kit.member("ann", "school"), kit.envelope(2))
    collaboration.record("MemberJoined", kit.member("bob", "city"), kit.envelope(2))
    return collaboration


@pytest.fixture
def domain_service() -> Iterator[LedgerService]:
    """The application service on its own in-memory SQLite database."""
    service = LedgerService(Settings(database_url="sqlite:///:memory:"))
    yield service
    service.close()
