"""CloudEvents 1.0 for the ledger: stored events as structured CloudEvents, and CloudEvents
from other systems as the ledger's own event submissions.

Types are the bare event type (`PartnerJoined`) or, as this ledger emits them, the type with
the prefix `org.governance-ledger.` (`org.governance-ledger.PartnerJoined`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SPECVERSION = "1.0"
TYPE_PREFIX = "org.governance-ledger."
SOURCE = "urn:governance-ledger"
# Envelope fields other than time and (source, id) travel as CloudEvents extension attributes.
EXTENSIONS = {
    "actingfor": "acting_for",
    "capacity": "capacity",
    "causedecision": "cause",
    "causereflection": "cause",
    "note": "note",
    "sharedwithfunders": "shared_with_funders",
}


def bare_type(ce_type: str) -> str:
    return ce_type.removeprefix(TYPE_PREFIX)


def to_cloudevent(event: Mapping[str, Any], base_url: str = "") -> dict[str, Any]:
    """A stored event (as the API returns it) as a structured-mode CloudEvent."""
    envelope = {key: event.get(key) for key in ("actor", "acting_for", "capacity", "cause",
                                                "source", "note", "shared_with_funders")}  # fmt: skip
    return {
        "specversion": SPECVERSION,
        "id": str(event["position"]),
        "source": SOURCE,
        "type": TYPE_PREFIX + event["type"],
        "subject": event["collaboration_id"],
        "time": event["effective_at"],
        "recordedtime": event["recorded_at"],
        "datacontenttype": "application/json",
        "dataschema": f"{base_url}/event-types#{event['type']}",
        "data": {
            "data": event["data"],
            "envelope": envelope,
            "version": event["version"],
            "position": event["position"],
            **({"receipt": event["receipt"]} if event.get("receipt") else {}),
        },
    }


class CloudEventError(ValueError):
    """A CloudEvent the ledger cannot take; `attribute` names what to fix."""

    def __init__(self, attribute: str, detail: str) -> None:
        super().__init__(detail)
        self.attribute, self.detail = attribute, detail


def to_submission(ce: Mapping[str, Any], collaboration_id: str) -> dict[str, Any]:
    """The ledger's own submission ({type, data, envelope fields}) for a CloudEvent."""
    if ce.get("specversion") != SPECVERSION:
        raise CloudEventError("specversion", 'specversion must be "1.0".')
    for attribute in ("id", "source", "type"):
        if not isinstance(ce.get(attribute), str) or not ce[attribute]:
            raise CloudEventError(attribute, f"{attribute} is required: a non-empty string.")
    subject = ce.get("subject")
    if subject is not None and subject != collaboration_id:
        raise CloudEventError("subject", "subject, when given, must be this collaboration's id.")
    content_type = ce.get("datacontenttype")
    if content_type is not None and (
        not isinstance(content_type, str)
        or content_type.split(";")[0].strip() != "application/json"
    ):
        raise CloudEventError("datacontenttype", "datacontenttype must be application/json.")
    if "data_base64" in ce:
        raise CloudEventError("data_base64", "Send data as JSON, not base64.")
    submission: dict[str, Any] = {
        "type": bare_type(ce["type"]),
        "data": ce.get("data"),
        "source": {"system": ce["source"], "id": ce["id"]},
    }
    if ce.get("time") is not None:
        submission["effective_at"] = ce["time"]
    for attribute, field in EXTENSIONS.items():
        if attribute in ce:
            submission[field] = _extension(attribute, ce[attribute])
    return submission


def _extension(attribute: str, value: Any) -> Any:
    if attribute == "actingfor":
        return {"partner_id": value}
    if attribute.startswith("cause"):
        return {attribute.removeprefix("cause") + "_id": value}
    if attribute == "sharedwithfunders" and isinstance(value, str):
        return value.lower() == "true"
    return value


def from_binary(headers: Mapping[str, str], body: Any) -> dict[str, Any]:
    """A binary-mode CloudEvent (ce-* headers, the body is the data) in structured form."""
    ce: dict[str, Any] = {
        key[3:].lower(): value for key, value in headers.items() if key.lower().startswith("ce-")
    }
    ce["data"] = body
    return ce
