"""The timeline of a collaboration and the diff between two moments.

A moment is a version (an integer) or a valid time (a date-time, like `at`); `known_at` applies
to both ends (design.md §3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain.state import apply_event
from ledger.domain.timefmt import format_instant
from ledger.service import LedgerService, StateView
from projections.diff import diff_states
from projections.history import _entry, _stamp

# Recorded more than this long after it took effect: shown as entered late.
BACKDATED_AFTER_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Moment:
    """A version of the stream, or a valid time."""

    version: int | None = None
    at: datetime | None = None


def state_at(service: LedgerService, collaboration_id: str, moment: Moment,
             known_at: datetime | None) -> StateView:  # fmt: skip
    if moment.version is not None:
        return service.state(collaboration_id, version=moment.version)
    return service.state(collaboration_id, known_at=known_at, at=moment.at)


def diff(service: LedgerService, collaboration_id: str, start: Moment, end: Moment,
         known_at: datetime | None) -> dict[str, Any]:  # fmt: skip
    before = state_at(service, collaboration_id, start, known_at)
    after = state_at(service, collaboration_id, end, known_at)
    return {
        "collaboration_id": collaboration_id,
        "from": before.basis,
        "to": after.basis,
        "changes": diff_states(before.state, after.state),
    }


def _is_backdated(entry: dict[str, Any]) -> bool:
    effective = datetime.fromisoformat(entry["effective_at"].replace("Z", "+00:00"))
    recorded = datetime.fromisoformat(entry["recorded_at"].replace("Z", "+00:00"))
    return (recorded - effective).total_seconds() > BACKDATED_AFTER_SECONDS


def _versions(service: LedgerService, collaboration_id: str, start: Moment, end: Moment,
              known_at: datetime | None) -> list[int]:  # fmt: skip
    """The versions of the events between the two moments, in timeline order."""
    conditions: list[str] = []
    params: list[Any] = []
    order = "version"
    if known_at is not None:
        conditions.append("recorded_at<=?")
        params.append(format_instant(known_at))
    for moment, op in ((start, ">"), (end, "<=")):
        if moment.version is not None:
            conditions.append(f"version{op}?")
            params.append(moment.version)
        elif moment.at is not None:
            conditions.append(f"effective_at{op}?")
            params.append(format_instant(moment.at))
            order = "effective_at, version"
    where = " AND ".join(conditions) or "1=1"
    rows = service.store.query(
        f"SELECT version FROM ledger_event_index WHERE collaboration_id=? AND {where}"
        f" ORDER BY {order}",
        (collaboration_id, *params),
    )
    return [int(row["version"]) for row in rows]


def timeline(service: LedgerService, collaboration_id: str, start: Moment, end: Moment,
             known_at: datetime | None, limit: int, offset: int, lang: str) -> dict[str, Any]:  # fmt: skip
    """Events in order, each with its envelope, a one-line summary and the changes it made
    to the recorded state (the fold of the stream just before and just after it)."""
    service.stream_version(collaboration_id)
    versions = _versions(service, collaboration_id, start, end, known_at)
    page = versions[offset : offset + limit]
    items = []
    state: dict[str, Any] | None = None
    last = 0
    for event in service.events_at(collaboration_id, page) if page else []:
        if state is None or event.version != last + 1:
            state = service.folded_state(collaboration_id, event.version - 1)
        before = copy.deepcopy(state)
        apply_event(state, event.type, event.data, _stamp(event))
        entry = _entry(event, lang, before)
        entry["backdated"] = _is_backdated(entry)
        # A copy: the next event of the page folds into `state` and must not change this entry.
        entry["changes"] = copy.deepcopy(diff_states(before, state))
        items.append(entry)
        last = event.version
    if page and _order_is_by_time(start, end):
        items.sort(key=lambda item: page.index(item["version"]))
    next_offset = offset + limit if offset + limit < len(versions) else None
    return {"collaboration_id": collaboration_id, "total": len(versions), "items": items,
            "next_offset": next_offset}  # fmt: skip


def _order_is_by_time(start: Moment, end: Moment) -> bool:
    return start.at is not None or end.at is not None
