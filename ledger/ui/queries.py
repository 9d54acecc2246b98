"""What the pages ask the event index besides the read models: the span of a collaboration,
the days the ledger recorded something, an event kind filter, and effects per cause."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger.domain import errors
from ledger.domain.timefmt import format_instant
from ledger.service import LedgerService
from projections.timeline import Moment, timeline

# The timeline's filters: which event types each kind of governance act covers.
KINDS: dict[str, tuple[str, ...]] = {
    "compass": ("CollaborationFounded", "MissionRevised", "PhaseStarted"),
    "partners": ("PartnerJoined", "PartnerCapacitiesChanged", "PartnerLeft", "MemberJoined",
                 "MemberLeft"),
    "roles": ("RoleDefined", "RoleRedefined", "RoleAssigned", "RoleHandedOver", "RoleVacated",
              "RoleRetired"),
    "mandates": ("MandateGranted", "MandateAmended", "MandateRevoked"),
    "agreements": ("AgreementMade", "AgreementAmended", "AgreementCorrected",
                   "AgreementReviewed", "AgreementEnded"),
    "decisions": ("DecisionRecorded",),
    "reflections": ("ReflectionHeld",),
}  # fmt: skip
KNOWN_DAYS_SHOWN = 400


@dataclass(frozen=True)
class Span:
    """The first and last day on which an event of the collaboration takes effect."""

    first: date
    last: date


def span(service: LedgerService, collaboration_id: str) -> Span:
    row = service.store.query_one(
        "SELECT MIN(effective_at) AS first, MAX(effective_at) AS last FROM ledger_event_index"
        " WHERE collaboration_id=?",
        (collaboration_id,),
    )
    if row is None or row["first"] is None:
        raise not_found(collaboration_id)
    return Span(date.fromisoformat(row["first"][:10]), date.fromisoformat(row["last"][:10]))


def known_days(service: LedgerService, collaboration_id: str) -> list[str]:
    """The days on which the ledger recorded events of the collaboration, newest first."""
    rows = service.store.query(
        "SELECT DISTINCT SUBSTR(recorded_at, 1, 10) AS day FROM ledger_event_index"
        " WHERE collaboration_id=? ORDER BY day DESC LIMIT ?",
        (collaboration_id, KNOWN_DAYS_SHOWN),
    )
    return [str(row["day"]) for row in rows]


def event_versions(
    service: LedgerService, collaboration_id: str, kinds: Sequence[str], known_at: Any
) -> list[int]:
    """The versions of the events of these kinds (all, when none), known at `known_at`."""
    conditions, params = ["1=1"], []
    types = [t for kind in kinds for t in KINDS[kind]]
    if types:
        conditions.append(f"type IN ({','.join('?' * len(types))})")
        params.extend(types)
    if known_at is not None:
        conditions.append("recorded_at<=?")
        params.append(format_instant(known_at))
    return service.versions_where(collaboration_id, " AND ".join(conditions), params)


def timeline_entries(
    service: LedgerService, collaboration_id: str, versions: Sequence[int], lang: str
) -> list[dict[str, Any]]:
    """The timeline's entries (summary, changes, backdated) of these versions, in order: one
    timeline read per run of consecutive versions."""
    runs: list[list[int]] = []
    for version in sorted(versions):
        if runs and version == runs[-1][-1] + 1:
            runs[-1].append(version)
        else:
            runs.append([version])
    entries: list[dict[str, Any]] = []
    for run in runs:
        page = timeline(service, collaboration_id, Moment(version=run[0] - 1),
                        Moment(version=run[-1]), None, len(run), 0, lang)  # fmt: skip
        entries.extend(page["items"])
    return entries


def effect_counts(service: LedgerService, collaboration_id: str) -> dict[tuple[str, str], int]:
    """How many events cite each decision and reflection as their cause."""
    rows = service.store.query(
        "SELECT cause_kind, cause_id, COUNT(*) AS n FROM ledger_event_index"
        " WHERE collaboration_id=? AND cause_kind IS NOT NULL GROUP BY cause_kind, cause_id",
        (collaboration_id,),
    )
    return {(str(row["cause_kind"]), str(row["cause_id"])): int(row["n"]) for row in rows}


def collaboration_name(service: LedgerService, collaboration_id: str) -> str:
    row = service.store.query_one(
        "SELECT name FROM ledger_collaborations WHERE collaboration_id=?", (collaboration_id,)
    )
    if row is None:
        raise not_found(collaboration_id)
    return str(row["name"])


def not_found(collaboration_id: str) -> errors.CollaborationNotFoundError:
    return errors.CollaborationNotFoundError(
        f"There is no collaboration '{collaboration_id}' that this token can see."
    )
