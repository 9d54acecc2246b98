"""Random agreement histories over one to three collaborations (backdated, future-dated, amended,
corrected, reviewed and ended): the service's state at any moment, and every answer of the
agreement register, equal brute-force folds of the events that count at that moment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain import errors
from ledger.domain.state import Stamp, State, apply_event, empty_state
from ledger.domain.timefmt import format_instant, parse_instant
from ledger.domain.views import derive
from ledger.service import LedgerService, RecordedEvent, StateView
from ledger.settings import Settings
from projections.register import AgreementRegister, RegisterQuery

# Founded about five months ago: offsets of up to 250 days make some events take effect in the
# future, and every event recorded with an explicit effective_at in the past is backdated.
BASE = (datetime.now(UTC) - timedelta(days=150)).replace(hour=9, minute=0, second=0, microsecond=0)
NOW = BASE + timedelta(days=200)  # "now" for answers that name only a version
PARTNERS = ("p0", "p1", "p2", "p3")
AGREEMENTS = ("g0", "g1", "g2", "g3", "g4")
CAPACITIES = ("funder", "implementing", "participant", "accountable")
FORMALITIES = ("oral", "minutes", "letter_of_intent", "covenant", "contract")
STATUSES = ("in_force", "review_due", "expired", "ended")
AMOUNTS = ("100.00", "2500.50", "40000.00")
CURRENCIES = ("EUR", "USD")
DATE_FIELDS = ("review_on", "valid_until", "next_review_on")
MIN_STEPS, MAX_STEPS = 6, 36
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Draw = Callable[[st.SearchStrategy[Any]], Any]
Command = tuple[str, dict[str, Any], list[str]]  # type, data, `since` of what it refers to


# Drawing commands from a model: the fold of what each collaboration recorded so far.


def _current_partners(state: State) -> list[str]:
    return sorted(p for p, partner in state["partners"].items() if partner["status"] == "current")


def _open_agreements(state: State) -> list[str]:
    return sorted(a for a, agreement in state["agreements"].items() if not agreement["ended"])


def _since(state: State, kind: str, *item_ids: str) -> list[str]:
    return [state[kind][item_id]["since"] for item_id in item_ids if item_id in state[kind]]


DAYS = st.integers(-10, 400).map(lambda n: (BASE + timedelta(days=n)).date().isoformat())


def _day(draw: Draw) -> str:
    return str(draw(DAYS))


def _dates(draw: Draw, *names: str) -> dict[str, str]:
    return {name: _day(draw) for name in names if draw(st.booleans())}


def _parties(draw: Draw, state: State) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Parties among the current partners, and budget commitments by some of them."""
    chosen = draw(
        st.lists(st.sampled_from(_current_partners(state)), min_size=1, max_size=2, unique=True)
    )
    parties = [{"partner_id": p, "capacity": draw(st.sampled_from(CAPACITIES))} for p in chosen]
    committing = draw(st.lists(st.sampled_from(chosen), max_size=2, unique=True))
    commitments = [
        {
            "partner_id": p,
            "amount": draw(st.sampled_from(AMOUNTS)),
            "currency": draw(st.sampled_from(CURRENCIES)),
        }
        for p in committing
    ]
    return parties, commitments


def _partner_joined(draw: Draw, state: State) -> Command:
    partner_id = draw(st.sampled_from(PARTNERS))  # sometimes one already at the table: refused
    capacities = draw(st.lists(st.sampled_from(CAPACITIES), min_size=1, max_size=2, unique=True))
    data = {"partner_id": partner_id, "name": partner_id.upper(), "kind": "government",
            "capacities": capacities}  # fmt: skip
    return "PartnerJoined", data, []


def _partner_left(draw: Draw, state: State) -> Command:
    partner_id = draw(st.sampled_from(_current_partners(state)))
    return "PartnerLeft", {"partner_id": partner_id, "reason": "r"}, []


def _agreement_made(draw: Draw, state: State) -> Command:
    parties, commitments = _parties(draw, state)
    data: dict[str, Any] = {
        "agreement_id": draw(st.sampled_from(AGREEMENTS)),  # sometimes taken: refused
        "title": "Grant",
        "formality": draw(st.sampled_from(FORMALITIES)),
        "topics": ["budget"],
        "parties": parties,
        "terms": "v1",
        **_dates(draw, "review_on", "valid_until"),
    }
    if commitments:
        data["budget_commitments"] = commitments
    refs = _since(state, "partners", *(p["partner_id"] for p in parties))
    return "AgreementMade", data, refs


def _agreement_changed(draw: Draw, state: State) -> Command:
    agreement_id = draw(st.sampled_from(_open_agreements(state)))
    refs = _since(state, "agreements", agreement_id)
    kinds = ["AgreementAmended", "AgreementCorrected", "AgreementReviewed", "AgreementEnded"]
    event_type = draw(st.sampled_from(kinds))
    data: dict[str, Any] = {"agreement_id": agreement_id}
    if event_type == "AgreementEnded":
        return event_type, {**data, "reason": "r"}, refs
    if event_type == "AgreementReviewed":
        outcome = draw(st.sampled_from(["keep", "keep", "adjust", "end"]))
        return event_type, {**data, "outcome": outcome, **_dates(draw, "next_review_on")}, refs
    data["reason"] = "r"
    data.update(_dates(draw, "review_on", "valid_until"))
    if draw(st.booleans()):
        data["terms"] = draw(st.sampled_from(["v2", "v3"]))
    if draw(st.booleans()):
        data["formality"] = draw(st.sampled_from(FORMALITIES))
    if _current_partners(state) and draw(st.booleans()):
        parties, commitments = _parties(draw, state)
        data.update(parties=parties, budget_commitments=commitments)
        refs = refs + _since(state, "partners", *(p["partner_id"] for p in parties))
    return event_type, data, refs


Applies = Callable[[State], bool]
WEIGHTED_COMMANDS: list[tuple[int, Applies, Callable[[Draw, State], Command]]] = [
    (1, lambda s: True, _partner_joined),
    (1, lambda s: len(_current_partners(s)) > 1, _partner_left),
    (3, lambda s: bool(_current_partners(s)), _agreement_made),
    (6, lambda s: bool(_open_agreements(s)), _agreement_changed),
]


def _envelope(draw: Draw, state: State, refs: list[str]) -> dict[str, Any]:
    """Mostly an effective_at no earlier than what the event refers to; now and then one
    before it (refused), or none (it takes effect when recorded)."""
    envelope: dict[str, Any] = {"actor": "recorder"}
    if draw(st.integers(0, 9)) == 0:
        return envelope
    earliest = parse_instant(max([state["collaboration"]["founded_at"], *refs]))
    hours = draw(st.integers(-24, 24 * 250))
    envelope["effective_at"] = format_instant(earliest + timedelta(hours=hours))
    return envelope


@dataclass
class History:
    service: LedgerService
    models: dict[str, State] = field(default_factory=dict)

    def events(self, collaboration_id: str) -> list[RecordedEvent]:
        return self.service.events(collaboration_id, 0, 10_000)

    def streams(self) -> dict[str, list[RecordedEvent]]:
        return {cid: self.events(cid) for cid in self.models}


def _record_history(
    draw: Draw, service: LedgerService, register: AgreementRegister | None = None
) -> History:
    """Record a random history; a register given is asked to catch up now and then, as the API
    does whenever a funder asks, so it is kept current event by event as well as in batches."""
    history = History(service)
    for n in range(draw(st.integers(1, 3))):
        envelope = {"actor": "recorder",
                    "effective_at": format_instant(BASE + timedelta(days=draw(st.integers(0, 3))))}  # fmt: skip
        founded = service.found_collaboration({"name": f"Netwerk {n}", "mission": "m"}, envelope)
        model = empty_state()
        apply_event(model, founded.type, founded.data, _stamp(founded))
        history.models[founded.collaboration_id] = model
        for _ in range(draw(st.integers(1, 3))):  # partners at the table from the start
            _record(draw, history, founded.collaboration_id, _partner_joined)
    cids = list(history.models)  # in founding order: the ids themselves are random
    for _ in range(draw(st.integers(MIN_STEPS, MAX_STEPS))):
        cid = draw(st.sampled_from(cids))
        model = history.models[cid]
        choices = [c for weight, applies, c in WEIGHTED_COMMANDS if applies(model)
                   for _ in range(weight)]  # fmt: skip
        _record(draw, history, cid, draw(st.sampled_from(choices)))
        if register is not None and draw(st.integers(0, 3)) == 0:
            register.catch_up()
    return history


def _record(draw: Draw, history: History, cid: str,
            command: Callable[[Draw, State], Command]) -> None:  # fmt: skip
    """Record the drawn event; one that breaks a rule is refused, stores nothing, and is skipped."""
    model = history.models[cid]
    event_type, data, refs = command(draw, model)
    try:
        event = history.service.record_event(cid, event_type, data, _envelope(draw, model, refs))
    except errors.RuleViolation:
        return
    apply_event(model, event.type, event.data, _stamp(event))


# Brute force: filter the events by hand, fold them, derive statuses.


def _stamp(event: RecordedEvent) -> Stamp:
    return Stamp(event.version, event.envelope["effective_at"], event.envelope["recorded_at"])


def _fold(events: Iterable[RecordedEvent]) -> State:
    state = empty_state()
    for event in events:
        apply_event(state, event.type, event.data, _stamp(event))
    return state


def _fold_in_force(events: Iterable[RecordedEvent], at: str) -> State:
    """Events that took effect by `at`; a correction whenever the agreement version it fixed
    (the one current when it was recorded) is the version in force."""
    recorded, in_force = empty_state(), empty_state()
    for event in events:
        if event.type == "AgreementCorrected":
            agreement_id = event.data["agreement_id"]
            fixed = recorded["agreements"][agreement_id]["version"]
            shown = in_force["agreements"].get(agreement_id)
            counts = shown is not None and shown["version"] == fixed
        else:
            counts = event.envelope["effective_at"] <= at
        if counts:
            apply_event(in_force, event.type, event.data, _stamp(event))
        apply_event(recorded, event.type, event.data, _stamp(event))
    return in_force


def _known(events: Sequence[RecordedEvent], known_at: str | None) -> list[RecordedEvent]:
    if known_at is None:
        return list(events)
    return [e for e in events if e.envelope["recorded_at"] <= known_at]


def _brute_state(events: Sequence[RecordedEvent], known_at: str | None, at: str | None) -> State:
    known = _known(events, known_at)
    return _fold(known) if at is None else _fold_in_force(known, at)


# Moments worth asking about: on and just before each recording and each taking effect.


def _around(stamp: str) -> list[datetime]:
    exact = parse_instant(stamp)
    return [exact, exact - timedelta(microseconds=1)]


def _near(draw: Draw, stamps: list[str]) -> datetime:
    """One of the stamps, or the instant just before it."""
    moment: datetime = draw(st.sampled_from(_around(draw(st.sampled_from(stamps)))))
    return moment


def _record_time(draw: Draw, streams: dict[str, list[RecordedEvent]]) -> datetime:
    return _near(draw, [e.envelope["recorded_at"] for events in streams.values() for e in events])


def _valid_time(draw: Draw, streams: dict[str, list[RecordedEvent]], prefix: str = "") -> datetime:
    """On or just before an event (of a type with this prefix) takes effect, the first instant of
    a day on which a status may change (a review or end date), or anywhere."""
    events = [e for stream in streams.values() for e in stream if e.type.startswith(prefix)]
    effective = [e.envelope["effective_at"] for e in events]
    days = [f"{e.data[name]}T00:00:00.000000Z" for e in events
            for name in DATE_FIELDS if e.data.get(name)]  # fmt: skip
    kind = draw(st.sampled_from([k for k, s in (("effective", effective), ("day", days)) if s]
                                + ["anywhere"]))  # fmt: skip
    if kind == "anywhere":
        return BASE + timedelta(hours=draw(st.integers(-72, 24 * 420)))
    return _near(draw, effective if kind == "effective" else days)


def _service() -> LedgerService:
    return LedgerService(Settings(database_url="sqlite:///:memory:"))


# The service's state.


# Which parts of a moment to ask for: (version, known_at, at).
MOMENTS = [(True, False, False), (False, True, False), (False, False, True),
           (False, True, True), (True, False, True)]  # fmt: skip


def _check_state(draw: Draw, service: LedgerService, cid: str,
                 events: list[RecordedEvent], streams: dict[str, list[RecordedEvent]]) -> None:  # fmt: skip
    by_version, by_record_time, by_valid_time = draw(st.sampled_from(MOMENTS))
    version = draw(st.integers(1, len(events))) if by_version else None
    known_at = _record_time(draw, streams) if by_record_time else None
    at = _valid_time(draw, streams) if by_valid_time else None
    known = events[:version] if version else _known(events, _text(known_at))

    def ask() -> StateView:
        return service.state(cid, version=version, known_at=known_at, at=at, now=NOW)

    if not known:
        with pytest.raises(errors.NotYetRecordedError):
            ask()
        return
    if at is not None and format_instant(at) < known[0].envelope["effective_at"]:
        with pytest.raises(errors.NotYetInForceError):
            ask()
        return
    view = ask()
    state = _fold(known) if at is None else _fold_in_force(known, format_instant(at))
    as_of = at or known_at or NOW
    assert view.basis["version"] == len(known)
    assert view.state == derive(state, as_of.date())


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(moment)


@PROPERTY_SETTINGS
@given(st.data())
def test_state_at_any_moment_is_the_brute_force_fold_of_the_events_that_count(
    data: st.DataObject,
) -> None:
    service = _service()
    try:
        history = _record_history(data.draw, service)
        streams = history.streams()
        for cid, events in streams.items():
            for _ in range(8):
                _check_state(data.draw, service, cid, events, streams)
    finally:
        service.close()


# The agreement register.


def _draw_query(draw: Draw, streams: dict[str, list[RecordedEvent]]) -> RegisterQuery:
    """A moment and up to two filters, with values mostly taken from the agreements recorded."""
    made = [e.data for stream in streams.values() for e in stream if e.type == "AgreementMade"]
    parties = [p for data in made for p in data["parties"]]
    values: dict[str, st.SearchStrategy[Any]] = {
        "party": st.sampled_from([*(p["partner_id"] for p in parties), *PARTNERS]),
        "capacity": st.sampled_from([*(p["capacity"] for p in parties), *CAPACITIES]),
        "formality": st.sampled_from([*(d["formality"] for d in made), *FORMALITIES]),
        "status": st.sampled_from(STATUSES),
        "review_due_before": DAYS,
        "collaborations": st.lists(st.sampled_from(list(streams)), unique=True),
    }
    names = draw(st.lists(st.sampled_from(sorted(values)), max_size=2, unique=True))
    if "party" in names and draw(st.booleans()):
        names.append("capacity")  # a funder asks for agreements where it is the funder
    today = NOW + timedelta(days=400)  # after every recording
    known_at = draw(st.sampled_from([_record_time(draw, streams), today, today]))
    at = _valid_time(draw, streams, "Agreement")
    filters = {name: draw(values[name]) for name in sorted(set(names))}
    return RegisterQuery(at=format_instant(at), known_at=format_instant(known_at), limit=1000,
                         **filters)  # fmt: skip


def _matches(agreement: dict[str, Any], q: RegisterQuery) -> bool:
    if q.formality and agreement["formality"] != q.formality:
        return False
    if q.status and agreement["status"] != q.status:
        return False
    if q.review_due_before and not (
        agreement["status"] != "ended"
        and agreement["review_on"] is not None
        and agreement["review_on"] < q.review_due_before
    ):
        return False
    if q.party or q.capacity:
        return any(
            (q.party is None or p["partner_id"] == q.party)
            and (q.capacity is None or p["capacity"] == q.capacity)
            for p in agreement["parties"] or []
        )
    return True


def _expected_register(
    streams: dict[str, list[RecordedEvent]], q: RegisterQuery
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(collaboration, agreement, status, agreement) of every agreement in the brute-force state
    of every collaboration at (known_at, at) that passes the filters, in register order."""
    rows = []
    for cid in sorted(streams):
        if q.collaborations is not None and cid not in q.collaborations:
            continue
        state = _brute_state(streams[cid], q.known_at, q.at)
        view = derive(state, parse_instant(q.at).date())
        for agreement_id in sorted(view["agreements"]):
            agreement = view["agreements"][agreement_id]
            if _matches(agreement, q):
                rows.append((cid, agreement_id, agreement["status"],
                             state["agreements"][agreement_id]))  # fmt: skip
    return rows


def _answer(items: list[dict[str, Any]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(i["collaboration_id"], i["agreement_id"], i["status"], i["agreement"]) for i in items]


def _paged(register: AgreementRegister, q: RegisterQuery, size: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = register.query(RegisterQuery(**{**q.__dict__, "limit": size, "cursor": cursor}))
        items.extend(page)
        if len(page) < size:
            return items
        cursor = (page[-1]["collaboration_id"], page[-1]["agreement_id"])


def _expected_summary(streams: dict[str, list[RecordedEvent]], q: RegisterQuery) -> dict[str, Any]:
    totals: dict[str, Decimal] = {}
    per_collaboration: dict[str, dict[str, Decimal]] = {}
    count = 0
    for cid, _, status, agreement in _expected_register(streams, q):
        if status not in ("in_force", "review_due"):
            continue
        count += 1
        for commitment in agreement["budget_commitments"] or []:
            if q.party and commitment["partner_id"] != q.party:
                continue
            amount, currency = Decimal(commitment["amount"]), commitment["currency"]
            totals[currency] = totals.get(currency, Decimal(0)) + amount
            mine = per_collaboration.setdefault(cid, {})
            mine[currency] = mine.get(currency, Decimal(0)) + amount
    return {
        "agreements_in_force": count,
        "totals": {c: str(a) for c, a in sorted(totals.items())},
        "per_collaboration": {cid: {c: str(a) for c, a in sorted(m.items())}
                              for cid, m in sorted(per_collaboration.items())},
    }  # fmt: skip


@PROPERTY_SETTINGS
@given(st.data())
def test_every_register_query_equals_filtering_the_brute_force_states(
    data: st.DataObject,
) -> None:
    service = _service()
    try:
        register = AgreementRegister(service)
        history = _record_history(data.draw, service, register)
        streams = history.streams()
        for _ in range(8):
            q = _draw_query(data.draw, streams)
            items = register.query(q)
            assert _answer(items) == _expected_register(streams, q), q
            for item in items:
                assert item["valid_from"] <= q.at < (item["valid_to"] or "9999"), item
                assert item["recorded_from"] <= q.known_at < (item["recorded_to"] or "9999"), item
            assert _answer(_paged(register, q, data.draw(st.integers(1, 3)))) == _answer(items)
        funder = RegisterQuery(at=q.at, known_at=q.known_at,
                               party=data.draw(st.sampled_from([None, *PARTNERS])))  # fmt: skip
        summary = register.summary(funder)
        expected = _expected_summary(streams, funder)
        assert {key: summary[key] for key in expected} == expected, funder
    finally:
        service.close()
