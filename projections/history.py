"""Histories in valid time with the record time of each change: who held a role when, the life
of a mandate or an agreement, and every event a decision or reflection caused."""

from __future__ import annotations

import copy
from typing import Any

from ledger.domain import errors
from ledger.domain.state import Stamp, apply_event, empty_state
from ledger.service import LedgerService, RecordedEvent
from projections.diff import diff_states
from projections.summaries import summarize


def _stamp(event: RecordedEvent) -> Stamp:
    return Stamp(
        event.version,
        event.envelope["effective_at"],
        event.envelope["recorded_at"],
        bool(event.envelope.get("shared_with_funders", False)),
    )


def latest_state(service: LedgerService, collaboration_id: str) -> dict[str, Any]:
    """Everything recorded so far, for looking up names."""
    return service.folded_state(collaboration_id, service.stream_version(collaboration_id))


def _entry(event: RecordedEvent, lang: str, state_before: dict[str, Any]) -> dict[str, Any]:
    summaries = summarize(event.type, event.data, state_before)
    return {**event.as_dict(), "summary": summaries[lang], "summaries": summaries}


def events_about(
    service: LedgerService, collaboration_id: str, kind: str, item_id: str
) -> list[RecordedEvent]:
    service.stream_version(collaboration_id)  # an unknown collaboration is a 404 as such
    versions = service.versions_where(
        collaboration_id, "subject_kind=? AND subject_id=?", (kind, item_id)
    )
    return service.events_at(collaboration_id, versions)


def _require(events: list[RecordedEvent], kind: str, item_id: str) -> None:
    if not events:
        raise errors.ItemNotFoundError(f"There is no {kind} '{item_id}' in this collaboration.")


def role_history(
    service: LedgerService, collaboration_id: str, role_id: str, lang: str
) -> dict[str, Any]:
    """Every tenure of the role, in valid time, each with when the ledger learned of it."""
    about = events_about(service, collaboration_id, "role", role_id)
    _require(about, "role", role_id)
    departures = service.versions_where(collaboration_id, "type=?", ("MemberLeft",))
    events = sorted(
        [*about, *service.events_at(collaboration_id, departures)], key=lambda e: e.version
    )
    current = latest_state(service, collaboration_id)
    names = current["members"]
    tenures: list[dict[str, Any]] = []
    open_tenure: dict[str, Any] | None = None

    def close(event: RecordedEvent) -> None:
        nonlocal open_tenure
        if open_tenure is not None:
            open_tenure.update(to=event.envelope["effective_at"], recorded_to=event.envelope["recorded_at"],
                               ended_by=event.type, end_version=event.version)  # fmt: skip
            open_tenure = None

    def start(event: RecordedEvent, person_id: str, method: str | None) -> None:
        nonlocal open_tenure
        open_tenure = {
            "person_id": person_id,
            "name": names.get(person_id, {}).get("name"),
            "method": method,
            "from": event.envelope["effective_at"],
            "to": None,
            "recorded_from": event.envelope["recorded_at"],
            "recorded_to": None,
            "started_by": event.type,
            "ended_by": None,
            "start_version": event.version,
            "end_version": None,
        }
        tenures.append(open_tenure)

    for event in events:
        if event.type == "MemberLeft":
            if open_tenure is not None and open_tenure["person_id"] == event.data["person_id"]:
                close(event)
        elif event.type == "RoleAssigned":
            start(event, event.data["person_id"], event.data["method"])
        elif event.type == "RoleHandedOver":
            close(event)
            start(event, event.data["to_person_id"], "handover")
        elif event.type in ("RoleVacated", "RoleRetired"):
            close(event)
    return {
        "role_id": role_id,
        "tenures": sorted(tenures, key=lambda t: (t["from"], t["start_version"])),
        "events": [_entry(e, lang, current) for e in about],
    }


def item_life(
    service: LedgerService, collaboration_id: str, kind: str, item_id: str, lang: str
) -> dict[str, Any]:
    """A mandate's or agreement's versions, amendments, corrections, reviews and end."""
    events = events_about(service, collaboration_id, kind, item_id)
    _require(events, kind, item_id)
    section = f"{kind}s"
    names = latest_state(service, collaboration_id)
    state = empty_state()
    life = []
    for event in events:
        before = dict(state[section].get(item_id) or {})
        apply_event(state, event.type, event.data, _stamp(event))
        after = copy.deepcopy(state[section][item_id])
        changes = diff_states({section: {item_id: before}} if before else {section: {}},
                              {section: {item_id: after}})  # fmt: skip
        life.append({**_entry(event, lang, names), "item_version": after.get("version"),
                     "changes": changes})  # fmt: skip
    return {f"{kind}_id": item_id, "kind": kind, "life": life}


def cause_and_effect(
    service: LedgerService, collaboration_id: str, kind: str, item_id: str, lang: str
) -> dict[str, Any]:
    """A decision or reflection and every event that cites it as its cause."""
    current = service.state(
        collaboration_id, version=service.stream_version(collaboration_id)
    ).state
    item = current[f"{kind}s"].get(item_id)
    if item is None:
        raise errors.ItemNotFoundError(f"There is no {kind} '{item_id}' in this collaboration.")
    versions = service.versions_where(
        collaboration_id, "cause_kind=? AND cause_id=?", (kind, item_id)
    )
    effects = service.events_at(collaboration_id, versions)
    return {kind: item, "effects": [_entry(e, lang, current) for e in effects]}
