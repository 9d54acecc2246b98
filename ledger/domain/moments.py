"""Which events count at a valid time `at` (design.md §3), and the fold of just those."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger.domain.model import Collaboration
from ledger.domain.state import Stamp, State, apply_event


@dataclass(frozen=True)
class Recorded:
    """What the at-fold needs of a stored event, whatever it was read from."""

    type: str
    data: dict[str, Any]
    stamp: Stamp
    corrects_version: int | None = None

    @classmethod
    def of(cls, event: Collaboration.Event) -> Recorded:
        corrects = getattr(event, "corrects_version", None)
        return cls(event.type, event.data, event.stamp, corrects)


def counts(state: State, event: Recorded, at: str) -> bool:
    """An event counts at `at` if it took effect by then; a correction counts whenever the
    agreement version it corrects is the one in view, whatever its own effective_at."""
    if event.type == "AgreementCorrected":
        agreement = state["agreements"].get(event.data["agreement_id"])
        return agreement is not None and agreement["version"] == event.corrects_version
    return event.stamp.effective_at <= at


def counts_at(state: State, event: Collaboration.Event, at: str) -> bool:
    return counts(state, Recorded.of(event), at)


def fold_recorded_at(state: State, events: Iterable[Recorded], at: str) -> State:
    """Fold, in stream order, the events that count at `at` into `state` (in place)."""
    for event in events:
        if counts(state, event, at):
            apply_event(state, event.type, event.data, event.stamp)
    return state


def fold_at(state: State, events: Iterable[Collaboration.Event], at: str) -> State:
    return fold_recorded_at(state, (Recorded.of(e) for e in events), at)
