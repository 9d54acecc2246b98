"""Derived statuses and the attention list are computed for the date asked about, never stored."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ledger.domain.model import Collaboration
from ledger.domain.views import derive
from ledger.service import LedgerService

REVIEW_ON, VALID_UNTIL = "2024-03-31", "2024-06-30"
MANDATE_REVIEW_ON, MANDATE_VALID_UNTIL = "2024-04-15", "2024-09-30"
TERM_ENDS_ON = "2024-12-31"


def _govern(collaboration: Collaboration, kit: Any, day: float = 10) -> None:
    """Add dated things to a collaboration founded on 2024-01-01 (day 0), all on `day`."""

    def record(event_type: str, data: dict[str, Any]) -> None:
        collaboration.record(event_type, data, kit.envelope(day))

    dates = {"review_on": REVIEW_ON, "valid_until": VALID_UNTIL}
    record("AgreementMade", kit.agreement("covenant", "school", "city", **dates))
    record("AgreementMade", kit.agreement("pilot", "school", valid_until="2024-02-01"))
    record("AgreementEnded", {"agreement_id": "pilot", "reason": "done"})
    mandate_dates = {"review_on": MANDATE_REVIEW_ON, "valid_until": MANDATE_VALID_UNTIL}
    record("RoleDefined", kit.role("chair", term_months=12))
    record("RoleDefined", kit.role("secretary"))
    record("RoleDefined", kit.role("treasurer"))
    record("RoleAssigned", kit.assignment("chair", "ann", term_ends_on=TERM_ENDS_ON))
    record("RoleAssigned", kit.assignment("treasurer", "bob", term_ends_on="2024-02-01"))
    record("RoleRetired", {"role_id": "treasurer", "reason": "merged into chair"})
    record("MandateGranted", kit.mandate("m-chair", "role", "chair", **mandate_dates))
    record("MandateGranted", kit.mandate("m-city", "partner", "city", valid_until="2024-02-01"))
    record("MandateRevoked", {"mandate_id": "m-city", "reason": "replaced"})


@pytest.fixture
def governed(domain_collaboration: Collaboration, domain_kit: Any) -> Collaboration:
    _govern(domain_collaboration, domain_kit)
    return domain_collaboration


def _on(collaboration: Collaboration, day: str) -> dict[str, Any]:
    return derive(collaboration.state, date.fromisoformat(day))


@pytest.mark.parametrize(
    ("day", "status"),
    [
        ("2024-03-30", "in_force"),
        ("2024-03-31", "review_due"),
        ("2024-06-30", "review_due"),
        ("2024-07-01", "expired"),
    ],
)
def test_agreement_status_depends_on_the_date_asked_about(
    governed: Collaboration, day: str, status: str
) -> None:
    assert _on(governed, day)["agreements"]["covenant"]["status"] == status


@pytest.mark.parametrize(
    ("day", "status"),
    [
        ("2024-04-14", "active"),
        ("2024-04-15", "review_due"),
        ("2024-09-30", "review_due"),
        ("2024-10-01", "expired"),
    ],
)
def test_mandate_status_depends_on_the_date_asked_about(
    governed: Collaboration, day: str, status: str
) -> None:
    assert _on(governed, day)["mandates"]["m-chair"]["status"] == status


@pytest.mark.parametrize(
    ("day", "status"),
    [("2024-06-01", "held"), ("2024-12-31", "held"), ("2025-01-01", "term_ended")],
)
def test_role_term_ends_after_its_last_day(governed: Collaboration, day: str, status: str) -> None:
    assert _on(governed, day)["roles"]["chair"]["status"] == status


@pytest.mark.parametrize("day", ["2024-01-15", "2024-03-01", "2030-01-01"])
def test_what_ended_stays_ended_whatever_the_date(governed: Collaboration, day: str) -> None:
    view = _on(governed, day)

    assert view["agreements"]["pilot"]["status"] == "ended"
    assert view["mandates"]["m-city"]["status"] == "revoked"
    assert view["roles"]["treasurer"]["status"] == "retired"
    assert view["roles"]["secretary"]["status"] == "vacant"
    assert {item["id"] for item in view["attention"]} <= {"covenant", "m-chair", "chair"}


def test_a_review_moves_the_review_due_date(governed: Collaboration, domain_kit: Any) -> None:
    review = {"agreement_id": "covenant", "outcome": "keep", "next_review_on": "2024-05-31"}
    governed.record("AgreementReviewed", review, domain_kit.envelope(91))

    assert _on(governed, "2024-04-01")["agreements"]["covenant"]["status"] == "in_force"
    assert _on(governed, "2024-05-31")["agreements"]["covenant"]["status"] == "review_due"


def test_a_review_without_a_next_date_leaves_nothing_due(
    governed: Collaboration, domain_kit: Any
) -> None:
    review = {"agreement_id": "covenant", "outcome": "adjust"}
    governed.record("AgreementReviewed", review, domain_kit.envelope(91))

    assert _on(governed, "2024-06-30")["agreements"]["covenant"]["status"] == "in_force"
    assert _on(governed, "2024-07-01")["agreements"]["covenant"]["status"] == "expired"


def _attention(view: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(i["kind"], i["subject"], i["id"], i["since"]) for i in view["attention"]]


@pytest.mark.parametrize(
    ("day", "attention"),
    [
        ("2024-02-15", []),
        (
            "2024-04-20",
            [
                ("agreement_review_due", "agreement", "covenant", REVIEW_ON),
                ("mandate_review_due", "mandate", "m-chair", MANDATE_REVIEW_ON),
            ],
        ),
        (
            "2024-08-01",
            [
                ("mandate_review_due", "mandate", "m-chair", MANDATE_REVIEW_ON),
                ("agreement_expired", "agreement", "covenant", VALID_UNTIL),
            ],
        ),
        (
            "2025-01-01",
            [
                ("agreement_expired", "agreement", "covenant", VALID_UNTIL),
                ("mandate_expired", "mandate", "m-chair", MANDATE_VALID_UNTIL),
                ("role_term_ended", "role", "chair", TERM_ENDS_ON),
            ],
        ),
    ],
)
def test_attention_list_is_for_the_date_asked_about_oldest_first(
    governed: Collaboration, day: str, attention: list[tuple[str, str, str, str]]
) -> None:
    assert _attention(_on(governed, day)) == attention


def test_deriving_leaves_the_folded_state_untouched(governed: Collaboration) -> None:
    before = copy.deepcopy(governed.state)

    view = _on(governed, "2025-01-01")

    assert governed.state == before
    assert "attention" not in governed.state
    assert "status" not in governed.state["agreements"]["covenant"]
    assert view["agreements"]["covenant"]["status"] == "expired"


def test_service_derives_statuses_for_the_moment_it_answers_for(
    domain_service: LedgerService, domain_kit: Any
) -> None:
    founded = domain_service.found_collaboration(
        {"name": "Netwerk", "mission": "Lezen"}, domain_kit.envelope(0)
    )
    cid = founded.collaboration_id
    for data in (domain_kit.partner("school"), domain_kit.partner("city")):
        domain_service.record_event(cid, "PartnerJoined", data, domain_kit.envelope(1))
    dates = {"review_on": REVIEW_ON, "valid_until": VALID_UNTIL}
    agreement = domain_kit.agreement("covenant", "school", "city", **dates)
    made = domain_service.record_event(cid, "AgreementMade", agreement, domain_kit.envelope(10))

    def status(**moment: Any) -> str:
        view = domain_service.state(cid, **moment)
        return str(view.state["agreements"]["covenant"]["status"])

    april, august = datetime(2024, 4, 20, tzinfo=UTC), datetime(2024, 8, 1, tzinfo=UTC)
    assert status(version=made.version, now=april) == "review_due"
    assert status(version=made.version, now=august) == "expired"
    assert status(at=datetime(2024, 3, 30, 12, tzinfo=UTC)) == "in_force"
    assert status(at=august) == "expired"
    assert domain_service.state(cid, at=august).basis["as_of"] == "2024-08-01T00:00:00.000000Z"
