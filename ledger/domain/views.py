"""Statuses that are derived, never posted: expiry, review due, term ended, and the attention list."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from ledger.domain.state import State


def _agreement_status(agreement: dict[str, Any], today: str) -> str:
    if agreement["ended"]:
        return "ended"
    if agreement["valid_until"] and agreement["valid_until"] < today:
        return "expired"
    if agreement["review_on"] and agreement["review_on"] <= today:
        return "review_due"
    return "in_force"


def _mandate_status(mandate: dict[str, Any], today: str) -> str:
    if mandate["revoked"]:
        return "revoked"
    if mandate["valid_until"] and mandate["valid_until"] < today:
        return "expired"
    if mandate["review_on"] and mandate["review_on"] <= today:
        return "review_due"
    return "active"


def _role_status(role: dict[str, Any], today: str) -> str:
    if role["status"] == "held" and role["term_ends_on"] and role["term_ends_on"] < today:
        return "term_ended"
    return str(role["status"])


def _attention(view: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for agreement in view["agreements"].values():
        if agreement["status"] == "expired":
            items.append(
                _item(
                    "agreement_expired",
                    "agreement",
                    agreement["agreement_id"],
                    agreement["valid_until"],
                )
            )
        elif agreement["status"] == "review_due":
            items.append(
                _item(
                    "agreement_review_due",
                    "agreement",
                    agreement["agreement_id"],
                    agreement["review_on"],
                )
            )
    for mandate in view["mandates"].values():
        if mandate["status"] == "expired":
            items.append(
                _item("mandate_expired", "mandate", mandate["mandate_id"], mandate["valid_until"])
            )
        elif mandate["status"] == "review_due":
            items.append(
                _item("mandate_review_due", "mandate", mandate["mandate_id"], mandate["review_on"])
            )
    for role in view["roles"].values():
        if role["status"] == "term_ended":
            items.append(_item("role_term_ended", "role", role["role_id"], role["term_ends_on"]))
    return sorted(items, key=lambda item: (item["since"], item["kind"], item["id"]))


def _item(kind: str, subject: str, item_id: str, since: str) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "id": item_id, "since": since}


def derive(state: State, today: date) -> dict[str, Any]:
    """The state as seen on `today`: a copy with derived statuses and the attention list."""
    day = today.isoformat()
    view = copy.deepcopy(state)
    for agreement in view["agreements"].values():
        agreement["status"] = _agreement_status(agreement, day)
    for mandate in view["mandates"].values():
        mandate["status"] = _mandate_status(mandate, day)
    for role in view["roles"].values():
        role["status"] = _role_status(role, day)
    view["attention"] = _attention(view)
    return view
