"""Which events count at a valid time `at` (design.md §3), and the fold of just those."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.domain.model import Collaboration
from ledger.domain.state import State, apply_event


def counts_at(state: State, event: Collaboration.Event, at: str) -> bool:
    """An event counts at `at` if it took effect by then; a correction counts whenever the
    agreement version it corrects is the one in view, whatever its own effective_at."""
    if isinstance(event, Collaboration.AgreementCorrected):
        agreement = state["agreements"].get(event.data["agreement_id"])
        return agreement is not None and agreement["version"] == event.corrects_version
    return bool(event.envelope["effective_at"] <= at)


def fold_at(state: State, events: Iterable[Collaboration.Event], at: str) -> State:
    """Fold, in stream order, the events that count at `at` into `state` (in place)."""
    for event in events:
        if counts_at(state, event, at):
            apply_event(state, event.type, event.data, event.stamp)
    return state
