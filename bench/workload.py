"""What the benchmarks write: collaborations with a few partners, people, a role, a mandate and
agreements, then streams of events that never break a rule and keep the state the same size."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from typing import Any

from ledger.domain.timefmt import format_instant
from ledger.service import LedgerService

ACTOR = "bench"
PARTNERS = ("p-0", "p-1", "p-2", "p-3")
AGREEMENTS = ("ag-0", "ag-1", "ag-2", "ag-3")
CAPACITIES = ("host", "implementing", "funder", "knowledge", "participant")
CHUNK = 1000  # events per import transaction
Item = tuple[str, dict[str, Any], dict[str, Any]]


def founding(name: str) -> dict[str, Any]:
    return {"name": name, "mission": "Every child reads for pleasure", "languages": ["nl", "en"]}


def setup_items(effective_at: str) -> list[Item]:
    """The items the benchmark events refer to, all in effect from `effective_at`."""
    envelope = {"actor": ACTOR, "effective_at": effective_at}
    kinds = ("school", "library", "company", "government")
    items: list[Item] = [
        (
            "PartnerJoined",
            {
                "partner_id": p,
                "name": f"Partner {p}",
                "kind": kind,
                "capacities": ["host", "implementing"],
            },
            envelope,
        )
        for p, kind in zip(PARTNERS, kinds, strict=True)
    ]
    items += [
        ("MemberJoined", {"person_id": "m-0", "name": "Els", "partner_id": "p-0"}, envelope),
        ("MemberJoined", {"person_id": "m-1", "name": "Karim", "partner_id": "p-1"}, envelope),
        (
            "RoleDefined",
            {
                "role_id": "r-0",
                "name": "Coordinator",
                "purpose": "Keeps it going",
                "accountabilities": ["agenda", "minutes"],
            },
            envelope,
        ),
        ("RoleAssigned", {"role_id": "r-0", "person_id": "m-0", "method": "elected"}, envelope),
        (
            "MandateGranted",
            {
                "mandate_id": "md-0",
                "holder": {"kind": "role", "id": "r-0"},
                "scope": "Small purchases",
                "decision_rights": ["spend"],
                "budget_limit": {"amount": "500.00", "currency": "EUR"},
            },
            envelope,
        ),
    ]
    items += [("AgreementMade", agreement_made(a, n), envelope) for n, a in enumerate(AGREEMENTS)]
    return items


def agreement_made(agreement_id: str, n: int) -> dict[str, Any]:
    return {
        "agreement_id": agreement_id,
        "title": f"Agreement {n}",
        "formality": ("covenant", "contract", "letter_of_intent", "minutes")[n % 4],
        "topics": ["roles", "budget"],
        "parties": [
            {"partner_id": "p-0", "capacity": "host"},
            {"partner_id": PARTNERS[1 + n % 3], "capacity": "funder"},
        ],
        "terms": f"Shared reading programme, part {n}.",
        "budget_commitments": [
            {"partner_id": PARTNERS[1 + n % 3], "amount": f"{1000 + n}.00", "currency": "EUR"}
        ],
        "review_on": "2099-01-01",
    }


def change(i: int, *, agreements: bool = True) -> tuple[str, dict[str, Any]]:
    """The i-th change of a stream: valid in any order (so concurrent writers break no rule)
    and never adding items (so the state keeps its size however long the stream). Without
    `agreements`, no agreement is amended."""
    kind = i % 5 if agreements else 1 + i % 4
    if kind == 0:
        return "AgreementAmended", {
            "agreement_id": AGREEMENTS[i % 4],
            "reason": "Yearly update",
            "terms": f"Shared reading programme, revision {i}.",
        }
    if kind == 1:
        capacities = [CAPACITIES[i % 5], CAPACITIES[(i + 1) % 5]]
        return "PartnerCapacitiesChanged", {"partner_id": PARTNERS[i % 4], "capacities": capacities}
    if kind == 2:
        return "MandateAmended", {
            "mandate_id": "md-0",
            "scope": f"Purchases up to round {i}",
            "reason": "Budget round",
        }
    if kind == 3:
        return "RoleRedefined", {"role_id": "r-0", "purpose": f"Keeps it going, term {i}"}
    return "MissionRevised", {"mission": f"Every child reads for pleasure ({i})"}


def history(
    count: int, *, start: datetime, step: timedelta, agreements: bool = True
) -> Iterator[Item]:
    """`count` changes taking effect one `step` apart from `start`; every seventh is recorded
    late, taking effect two steps before the one recorded just before it."""
    for i in range(count):
        moment = start + step * (i + 1)
        if i % 7 == 6:
            moment -= step * 3
        event_type, data = change(i, agreements=agreements)
        yield event_type, data, {"actor": ACTOR, "effective_at": format_instant(moment)}


def found_with_setup(service: LedgerService, name: str, founded_at: datetime) -> str:
    """Found a collaboration (taking effect at `founded_at`) with its setup; its id."""
    at = format_instant(founded_at)
    founded = service.found_collaboration(founding(name), {"actor": ACTOR, "effective_at": at})
    service.import_events(founded.collaboration_id, setup_items(at))
    return founded.collaboration_id


def load_history(
    service: LedgerService,
    name: str,
    count: int,
    *,
    step: timedelta = timedelta(hours=1),
    agreements: bool = True,
) -> tuple[str, datetime, datetime]:
    """A collaboration of `count` events in all (founding, setup, changes), imported in chunks
    of at most 1000; its id and the first and last moments its events take effect."""
    changes = max(count - 1 - len(setup_items("")), 0)
    start = datetime.now(UTC) - step * (changes + 48)
    at = format_instant(start)
    founded = service.found_collaboration(founding(name), {"actor": ACTOR, "effective_at": at})
    items = chain(setup_items(at), history(changes, start=start, step=step, agreements=agreements))
    while batch := list(islice(items, CHUNK)):
        service.import_events(founded.collaboration_id, batch)
    return founded.collaboration_id, start, start + step * changes
