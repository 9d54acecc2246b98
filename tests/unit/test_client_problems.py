"""Problems become exceptions of their status family carrying the problem+json; results parse
into typed values and tolerate fields they do not know."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from ledger.client import (
    BudgetSummary,
    Forbidden,
    GovernanceState,
    LedgerProblem,
    NotFound,
    PreconditionFailed,
    RateLimited,
    RuleViolated,
    ServerError,
    StoredEvent,
    Unauthorized,
    ValidationFailed,
)
from ledger.client.problems import problem_from_response


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.headers = CaseInsensitiveDict(headers or {})
    answer._content = (body if isinstance(body, str) else json.dumps(body)).encode()
    return answer


def problem(status: int, **extra: Any) -> dict[str, Any]:
    return {"type": "https://governance-ledger.example/problems/x", "title": "Title",
            "status": status, "detail": "What to do.", **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "family"),
    [(400, ValidationFailed), (401, Unauthorized), (403, Forbidden), (404, NotFound),
     (409, RuleViolated), (412, PreconditionFailed), (422, ValidationFailed),
     (429, RateLimited), (500, ServerError), (503, ServerError), (418, LedgerProblem)],
)  # fmt: skip
def test_each_status_raises_its_family(status: int, family: type[LedgerProblem]) -> None:
    raised = problem_from_response(response(status, problem(status)))
    assert type(raised) is family
    assert raised.status == status
    assert raised.detail == "What to do."


def test_a_rule_violation_names_its_rule() -> None:
    body = problem(
        409, rule="unknown-role", type="https://governance-ledger.example/problems/unknown-role"
    )
    raised = problem_from_response(response(409, body, {"X-Request-Id": "abc123"}))
    assert raised.rule == "unknown-role"
    assert raised.type.endswith("/unknown-role")
    assert raised.request_id == "abc123"
    assert str(raised) == "409 Title [unknown-role]: What to do."


def test_a_validation_problem_lists_each_field() -> None:
    entries = [{"in": "body", "field": "data.role_id", "pointer": "/data/role_id",
                "detail": "Missing data for required field."}]  # fmt: skip
    raised = problem_from_response(response(422, problem(422, errors=entries)))
    assert [(e.location, e.field, e.pointer) for e in raised.errors] == [
        ("body", "data.role_id", "/data/role_id")
    ]


def test_a_failed_precondition_says_the_current_version() -> None:
    raised = problem_from_response(response(412, problem(412, current_version=71)))
    assert isinstance(raised, PreconditionFailed)
    assert raised.current_version == 71


def test_rate_limited_says_when_to_retry_in_seconds_or_as_a_date() -> None:
    in_seconds = problem_from_response(response(429, problem(429), {"Retry-After": "17"}))
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    as_date = problem_from_response(response(429, problem(429), {"Retry-After": later}))
    assert in_seconds.retry_after == 17.0
    assert as_date.retry_after is not None
    assert 100 < as_date.retry_after <= 120


def test_a_gateway_page_that_is_not_json_still_raises_with_its_text() -> None:
    answer = response(502, "<html>Bad Gateway</html>")
    answer.reason = "Bad Gateway"
    raised = problem_from_response(answer)
    assert isinstance(raised, ServerError)
    assert raised.title == "Bad Gateway"
    assert raised.detail == "<html>Bad Gateway</html>"


STORED = {
    "collaboration_id": "6f0f6d55-2c39-4c8e-9d8a-4a4e7f0b7a01",
    "type": "AgreementMade",
    "data": {"agreement_id": "a1"},
    "effective_at": "2025-03-01T09:00:00.000000Z",
    "recorded_at": "2025-03-02T10:00:00.123456Z",
    "actor": "recorder",
    "acting_for": {"partner_id": "bib"},
    "capacity": "host",
    "cause": {"decision_id": "d1"},
    "source": None,
    "note": None,
    "shared_with_funders": False,
    "version": 12,
    "position": 40,
    "receipt": {"hash": "ab" * 32, "position": 40},
    "a_field_from_a_newer_server": True,
}


def test_a_stored_event_keeps_its_envelope_and_receipt() -> None:
    event = StoredEvent.from_json(STORED)
    assert event.recorded_at == datetime(2025, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert (event.version, event.position, event.cause) == (12, 40, {"decision_id": "d1"})
    assert event.acting_for == {"partner_id": "bib"}
    assert event.receipt == {"hash": "ab" * 32, "position": 40}
    assert event.replayed is False


def test_a_stored_event_without_a_receipt_has_none() -> None:
    without = {k: v for k, v in STORED.items() if k != "receipt"}
    assert StoredEvent.from_json(without).receipt is None


def test_a_state_shown_to_a_funder_has_no_members() -> None:
    body = {
        "collaboration_id": "c",
        "basis": {"version": 3, "known_at": None, "at": "2025-03-01T00:00:00.000000Z",
                  "as_of": "2025-03-01T00:00:00.000000Z"},
        "stream_version": 9,
        "collaboration": {"name": "Noord"},
        "phase": None,
        "phases": [],
        "partners": {"bib": {"name": "Bibliotheek"}},
        "roles": {}, "mandates": {}, "agreements": {}, "decisions": {}, "reflections": {},
        "attention": [],
    }  # fmt: skip
    state = GovernanceState.from_json(body)
    assert state.members == {}
    assert state.basis.version == 3
    assert state.basis.known_at is None
    assert state.basis.at == datetime(2025, 3, 1, tzinfo=UTC)
    assert state.partners["bib"]["name"] == "Bibliotheek"


def test_budget_totals_are_decimals() -> None:
    body = {"basis": {"at": "2025-03-01T00:00:00.000000Z", "known_at": "2025-03-01T00:00:00.000000Z",
                      "party": None},
            "agreements_in_force": 2, "totals": {"EUR": "43000.10"},
            "per_collaboration": {"c": {"EUR": "43000.10"}}}  # fmt: skip
    summary = BudgetSummary.from_json(body)
    assert summary.totals == {"EUR": Decimal("43000.10")}
    assert summary.per_collaboration["c"]["EUR"] == Decimal("43000.10")
