"""Read models in process, each against a baseline measured in the same run: the state of a
collaboration at a moment (now, a version, `at`, `known_at`) against `stream_version` (one
indexed lookup), the agreement register over many collaborations against the same lookup, and
the register's rebuild rate against a raw read of the same events from the log.

    python bench/readmodels.py [--quick] [--seed N] [--directory DIR]

Histories are generated from the seed, so a run can be repeated: partners, members and
agreements (made, amended, corrected, reviewed, ended; some backdated, a few planned), each
agreement with at most five events (the register refolds an agreement's history for each of
its events). Everything runs on SQLite files in a temporary directory.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.domain.timefmt import format_instant, parse_instant
from ledger.service import LedgerService
from ledger.settings import Settings
from projections.register import AGREEMENT_TOPICS, BATCH, AgreementRegister, RegisterQuery

START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)  # the histories run from START for three years
CHUNK = 1000  # events per import_events call
KINDS = ("school", "company", "government", "library", "social_organisation")
CAPACITIES = ("funder", "accountable", "managing", "implementing", "host", "participant")
FORMALITIES = ("oral", "minutes", "letter_of_intent", "covenant", "contract")
MAX_AGREEMENT_EVENTS = 5

Item = tuple[str, dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Sizes:
    streams: tuple[int, ...]  # events per collaboration for the state reads
    register_collaborations: int
    register_events_each: int
    runs: int  # most repetitions of one read
    seconds: float  # time budget of one read's repetitions (at least MIN_RUNS)


QUICK = Sizes(streams=(1_000, 10_000), register_collaborations=150, register_events_each=60,
              runs=300, seconds=2.5)  # fmt: skip
FULL = Sizes(streams=(1_000, 10_000, 100_000), register_collaborations=1_000,
             register_events_each=100, runs=1_000, seconds=8.0)  # fmt: skip
MIN_RUNS = 5


# Histories


@dataclass
class Story:
    """A valid history drawn from a seeded random generator, one event at a time.

    Bounded (the long streams): a dozen partners and forty people who leave and come back, and
    thirty agreements amended, corrected and reviewed over and over, so the state stays the same
    size however long the stream and the figures show the cost of its length. Unbounded (the
    register's many small collaborations): new agreements keep being made, each with at most
    five events, some ended.
    """

    rng: random.Random
    events: int
    bounded: bool
    items: list[Item] = field(default_factory=list)
    partners: list[tuple[str, datetime]] = field(default_factory=list)
    members: dict[str, tuple[bool, datetime]] = field(default_factory=dict)  # current?, since
    agreements: int = 0
    open_agreements: list[list[Any]] = field(default_factory=list)  # [id, since, events]

    def build(self) -> list[Item]:
        step = SPAN / self.events
        for n in range(1, self.events):
            self.next_event(START + step * n)
        return self.items

    def effective(self, clock: datetime, *refs: datetime) -> datetime:
        """Mostly on the clock; sometimes entered late (backdated), now and then planned."""
        roll = self.rng.random()
        if roll < 0.15:
            moment = clock - timedelta(days=self.rng.choice([2, 10, 30]))
        elif roll < 0.18:
            moment = clock + timedelta(days=self.rng.choice([14, 60]))
        else:
            moment = clock
        return max(moment, *refs)

    def add(self, event_type: str, data: dict[str, Any], moment: datetime) -> None:
        envelope = {"actor": "bench", "effective_at": format_instant(moment)}
        self.items.append((event_type, data, envelope))

    def next_event(self, clock: datetime) -> None:
        roll = self.rng.random()
        most_partners = 12 if self.bounded else 300
        most_agreements = 30 if self.bounded else 10**9
        if not self.partners or (roll < 0.06 and len(self.partners) < most_partners):
            self.partner_joined(clock)
        elif roll < 0.30:
            self.member_joined_or_left(clock)
        elif (roll < 0.55 and self.agreements < most_agreements) or not self.open_agreements:
            self.agreement_made(clock)
        else:
            self.agreement_changed(clock)

    def partner_joined(self, clock: datetime) -> None:
        partner_id = f"p{len(self.partners)}"
        moment = self.effective(clock, START)
        self.partners.append((partner_id, moment))
        data = {
            "partner_id": partner_id,
            "name": f"Partner {partner_id}",
            "kind": self.rng.choice(KINDS),
            "capacities": self.rng.sample(CAPACITIES, 2),
        }
        self.add("PartnerJoined", data, moment)

    def member_joined_or_left(self, clock: datetime) -> None:
        person_id = f"m{self.rng.randrange(40) if self.bounded else len(self.members)}"
        current, since = self.members.get(person_id, (False, START))
        if current:
            moment = self.effective(clock, since)
            self.add("MemberLeft", {"person_id": person_id, "reason": "moved on"}, moment)
            self.members[person_id] = (False, moment)
            return
        partner_id, partner_since = self.rng.choice(self.partners)
        moment = self.effective(clock, partner_since, since)
        data = {"person_id": person_id, "name": f"Member {person_id}", "partner_id": partner_id}
        self.add("MemberJoined", data, moment)
        self.members[person_id] = (True, moment)

    def agreement_made(self, clock: datetime) -> None:
        chosen = self.rng.sample(self.partners, min(len(self.partners), self.rng.randint(1, 3)))
        moment = self.effective(clock, *(since for _, since in chosen))
        self.agreements += 1
        agreement_id = f"a{self.agreements}"
        funder = chosen[0][0]
        amount = f"{self.rng.randint(1, 500) * 100}.00"
        review_on = moment + timedelta(days=self.rng.randint(30, 400))
        data = {
            "agreement_id": agreement_id,
            "title": f"Agreement {agreement_id}",
            "formality": self.rng.choice(FORMALITIES),
            "topics": ["budget", "tasks"],
            "parties": [{"partner_id": funder, "capacity": "funder"}]
            + [{"partner_id": p, "capacity": "implementing"} for p, _ in chosen[1:]],
            "terms": "Terms of the agreement.",
            "budget_commitments": [{"partner_id": funder, "amount": amount, "currency": "EUR"}],
            "review_on": review_on.date().isoformat(),
        }
        if self.rng.random() < 0.4:
            valid_until = moment + timedelta(days=self.rng.randint(90, 900))
            data["valid_until"] = valid_until.date().isoformat()
        self.add("AgreementMade", data, moment)
        self.open_agreements.append([agreement_id, moment, 1])

    def agreement_changed(self, clock: datetime) -> None:
        index = self.rng.randrange(len(self.open_agreements))
        agreement = self.open_agreements[index]
        agreement_id, since, _ = agreement
        moment = self.effective(clock, since)
        roll = self.rng.random()
        if roll < 0.4:
            data = {
                "agreement_id": agreement_id,
                "terms": f"Terms {clock:%F}",
                "reason": "adjusted",
            }
            self.add("AgreementAmended", data, moment)
        elif roll < 0.6:
            title = f"Agreement {agreement_id} (corrected)"
            data = {"agreement_id": agreement_id, "title": title, "reason": "typo"}
            self.add("AgreementCorrected", data, moment)
        elif roll < 0.9 or self.bounded:
            next_review = (moment + timedelta(days=180)).date().isoformat()
            data = {"agreement_id": agreement_id, "outcome": "keep", "next_review_on": next_review}
            self.add("AgreementReviewed", data, moment)
        else:
            self.add("AgreementEnded", {"agreement_id": agreement_id, "reason": "done"}, moment)
            agreement[2] = MAX_AGREEMENT_EVENTS
        agreement[2] += 1
        if agreement[2] >= MAX_AGREEMENT_EVENTS and not self.bounded:
            self.open_agreements[index] = self.open_agreements[-1]
            self.open_agreements.pop()


def load(service: LedgerService, events: int, rng: random.Random, *, bounded: bool) -> str:
    """A collaboration of `events` events (the founding included), imported in chunks."""
    founding = {"actor": "bench", "effective_at": format_instant(START)}
    cid = service.found_collaboration({"name": f"Netwerk {events}", "mission": "m"}, founding)
    items = Story(rng, events, bounded).build()
    for start in range(0, len(items), CHUNK):
        service.import_events(cid.collaboration_id, items[start : start + CHUNK])
    return cid.collaboration_id


# Timing


@dataclass(frozen=True)
class Timing:
    name: str
    size: str
    seconds: list[float]

    def quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p99(self) -> float:
        return self.quantile(0.99)


def repeat(name: str, size: str, call: Callable[[Any], object], inputs: Sequence[Any],
           sizes: Sizes) -> Timing:  # fmt: skip
    """Time `call` on each input in turn until the inputs or the time budget run out."""
    seconds: list[float] = []
    began = time.perf_counter()
    for argument in inputs[: sizes.runs]:
        start = time.perf_counter()
        call(argument)
        seconds.append(time.perf_counter() - start)
        if len(seconds) >= MIN_RUNS and time.perf_counter() - began > sizes.seconds:
            break
    return Timing(name, size, seconds)


def recorded_times(service: LedgerService, cid: str) -> list[str]:
    rows = service.store.query(
        "SELECT recorded_at FROM ledger_event_index WHERE collaboration_id=? ORDER BY version",
        (cid,),
    )
    return [row["recorded_at"] for row in rows]


def state_reads(service: LedgerService, cid: str, events: int, rng: random.Random,
                sizes: Sizes) -> list[Timing]:  # fmt: skip
    size = f"{events:,} events"
    runs = sizes.runs
    versions = [rng.randint(1, events) for _ in range(runs)]
    ats = [START + SPAN * rng.random() for _ in range(runs)]
    recorded = recorded_times(service, cid)
    known = [parse_instant(rng.choice(recorded)) for _ in range(runs)]
    cids = [cid] * runs
    return [
        repeat("baseline: stream_version", size, service.stream_version, cids, sizes),
        repeat("state now", size, lambda c: service.state(c), cids, sizes),
        repeat("state at a version", size, lambda v: service.state(cid, version=v), versions, sizes),
        repeat("state at a valid time", size, lambda at: service.state(cid, at=at), ats, sizes),
        repeat("state as known at", size, lambda k: service.state(cid, known_at=k), known, sizes),
    ]  # fmt: skip


# The register


@dataclass(frozen=True)
class Rebuild:
    events: int
    processed: int
    seconds: float
    raw_seconds: float

    @property
    def rate(self) -> float:
        return self.processed / self.seconds

    @property
    def raw_rate(self) -> float:
        return self.events / self.raw_seconds


def agreement_events(service: LedgerService) -> int:
    types = [topic.removeprefix("ledger:") for topic in AGREEMENT_TOPICS]
    row = service.store.query_one(
        f"SELECT COUNT(*) AS n FROM ledger_event_index WHERE type IN ({','.join('?' * len(types))})",
        types,
    )
    return int(row["n"]) if row else 0


def raw_read(service: LedgerService) -> int:
    """Every agreement event's notification, read from the log in the register's batches."""
    count, start = 0, 0
    while True:
        batch = service.app.recorder.select_notifications(
            start=start, limit=BATCH, topics=AGREEMENT_TOPICS, inclusive_of_start=False
        )
        if not batch:
            return count
        count += len(batch)
        start = batch[-1].id


def rebuild(service: LedgerService) -> Rebuild:
    """The register rebuilt twice and the raw read done three times, interleaved; medians."""
    register = AgreementRegister(service)
    raw, rebuilt = [], []
    for run in range(3):
        start = time.perf_counter()
        read = raw_read(service)
        raw.append(time.perf_counter() - start)
        if run < 2:
            start = time.perf_counter()
            processed = register.rebuild()
            rebuilt.append(time.perf_counter() - start)
    return Rebuild(read, processed, statistics.median(rebuilt), statistics.median(raw))


def register_reads(service: LedgerService, cids: list[str], rng: random.Random,
                   sizes: Sizes) -> list[Timing]:  # fmt: skip
    register = AgreementRegister(service)
    size = f"{len(cids):,} collaborations"
    today = format_instant(datetime.now(UTC))
    queries = []
    for _ in range(sizes.runs):
        at = format_instant(START + SPAN * rng.random())
        party = f"p{rng.randint(0, 5)}" if rng.random() < 0.5 else None
        queries.append(RegisterQuery(at=at, known_at=today, party=party, status="in_force"))
    summaries = [RegisterQuery(at=q.at, known_at=today, party=f"p{n % 6}")
                 for n, q in enumerate(queries)]  # fmt: skip
    return [
        repeat("baseline: stream_version", size, service.stream_version,
               [rng.choice(cids) for _ in range(sizes.runs)], sizes),
        repeat("register: in force at a date", size, register.query, queries, sizes),
        repeat("register: a funder's summary", size, register.summary, summaries, sizes),
    ]  # fmt: skip


# The report


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]  # fmt: skip
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def timing_rows(timings: list[Timing]) -> list[list[str]]:
    rows = []
    baseline: Timing | None = None
    for timing in timings:
        if timing.name.startswith("baseline"):
            baseline = timing
        assert baseline is not None
        rows.append([timing.name, timing.size, str(len(timing.seconds)),
                     f"{timing.p50 * 1000:.3f}", f"{timing.p99 * 1000:.3f}",
                     f"{timing.p50 / baseline.p50:.1f}×", f"{timing.p99 / baseline.p99:.1f}×"])  # fmt: skip
    return rows


def report(timings: list[Timing], built: Rebuild, events_total: int) -> str:
    header = ["read", "size", "runs", "p50 ms", "p99 ms", "p50 / baseline", "p99 / baseline"]
    parts = [table([header, *timing_rows(timings)]), ""]
    parts.append(table([
        ["rebuild of the register", "agreement events", "processed", "seconds", "events/s",
         "raw read events/s", "rebuild / raw read"],
        [f"{events_total:,} events in the log", f"{built.events:,}", f"{built.processed:,}",
         f"{built.seconds:.2f}", f"{built.rate:,.0f}", f"{built.raw_rate:,.0f}",
         f"{built.rate / built.raw_rate:.3f}×"],
    ]))  # fmt: skip
    if built.processed != built.events:
        parts.append(
            f"\nWARNING: the rebuild processed {built.processed:,} of {built.events:,} agreement "
            "events: the register is incomplete, so its figures understate the real cost "
            "(on SQLite, AgreementRegister._advance cannot read the cursor's rowcount and skips "
            "every batch after the first)."
        )
    return "\n".join(parts)


def run(sizes: Sizes, seed: int, directory: Path) -> str:
    rng = random.Random(seed)
    timings: list[Timing] = []
    streams = LedgerService(Settings(database_url=f"sqlite:///{directory / 'streams.sqlite'}"))
    try:
        for events in sizes.streams:
            started = time.perf_counter()
            cid = load(streams, events, rng, bounded=True)
            print(
                f"loaded {events:,} events in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            timings += state_reads(streams, cid, events, rng, sizes)
    finally:
        streams.close()
    many = LedgerService(Settings(database_url=f"sqlite:///{directory / 'register.sqlite'}"))
    try:
        started = time.perf_counter()
        cids = [
            load(many, sizes.register_events_each, rng, bounded=False)
            for _ in range(sizes.register_collaborations)
        ]
        events_total = many.head_position()
        print(f"loaded {len(cids):,} collaborations, {events_total:,} events in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)  # fmt: skip
        built = rebuild(many)
        assert built.events == agreement_events(many)
        timings += register_reads(many, cids, rng, sizes)
    finally:
        many.close()
    return report(timings, built, events_total)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under two minutes")
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--directory", type=Path, help="keep the databases here")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    directory = args.directory or Path(tempfile.mkdtemp(prefix="bench-readmodels-"))
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        print(run(sizes, args.seed, directory))
    finally:
        if args.directory is None:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"\n{'quick' if args.quick else 'full'} run, seed {args.seed}: "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
