"""Reads over HTTP, one request at a time: the state of collaborations of growing length at a
moment (now, a version, `at`, `known_at`), and the agreement register, each against GET /health
on the same server in the same run.

The long streams amend no agreement: the register projection refolds an agreement's whole
history for each of its events, so thousands of amendments of one agreement would take hours
to project (see README's Performance section).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bench import workload
from bench.figures import Figure, Goal, ratio
from bench.loadgen import sequential_gets
from bench.servers import Ledger
from ledger.domain.timefmt import format_instant, parse_instant
from ledger.service import LedgerService
from ledger.settings import Settings
from projections.register import AgreementRegister

KINDS = ("now", "version", "at", "known_at")
PATHS_PER_KIND = 500
GOAL = 2.0
HEALTH = "health"


@dataclass(frozen=True)
class Budget:
    """Requests per kind of read and run: up to `most` or `seconds`, but at least `least`."""

    most: int
    seconds: float
    least: int


@dataclass(frozen=True)
class Sizes:
    streams: tuple[int, ...]  # events per collaboration for the state reads
    register_collaborations: int
    register_events: int  # in all, over the register's collaborations


@dataclass(frozen=True)
class Stream:
    collaboration_id: str
    events: int
    first_effective: datetime
    last_effective: datetime
    first_recorded: datetime
    last_recorded: datetime


@dataclass(frozen=True)
class Prepared:
    paths: dict[str, list[str]]  # by kind of read
    setup_s: dict[str, float]
    sizes: Sizes


@dataclass
class Figures:
    """The latency figures of each kind of read over the runs."""

    p50: dict[str, Figure] = field(default_factory=dict)
    p99: dict[str, Figure] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)

    def add_run(self, ledger: Ledger, paths: dict[str, list[str]], budget: Budget) -> None:
        for name, kind_paths in paths.items():
            latencies = sequential_gets(
                ledger.server.url,
                kind_paths,
                ledger.token,
                max_requests=budget.most,
                max_seconds=budget.seconds,
                min_requests=budget.least,
            )
            self.p50.setdefault(name, Figure("ms")).add(latencies.percentile(50))
            self.p99.setdefault(name, Figure("ms")).add(latencies.percentile(99))
            self.samples[name] = self.samples.get(name, 0) + len(latencies.samples)


def between(rng: random.Random, first: datetime, last: datetime) -> str:
    return format_instant(first + (last - first) * rng.random())


def state_paths(stream: Stream, kind: str, rng: random.Random) -> list[str]:
    base = f"/collaborations/{stream.collaboration_id}"
    if kind == "now":
        return [base]
    paths = []
    for _ in range(PATHS_PER_KIND):
        if kind == "version":
            query: dict[str, Any] = {"version": rng.randint(1, stream.events)}
        elif kind == "at":
            query = {"at": between(rng, stream.first_effective, stream.last_effective)}
        else:
            query = {"known_at": between(rng, stream.first_recorded, stream.last_recorded)}
        paths.append(f"{base}?{urlencode(query)}")
    return paths


def load_stream(service: LedgerService, events: int) -> Stream:
    cid, first, last = workload.load_history(service, f"history-{events}", events, agreements=False)
    row = service.store.query_one(
        "SELECT MIN(recorded_at) AS first, MAX(recorded_at) AS last FROM ledger_event_index"
        " WHERE collaboration_id=?",
        (cid,),
    )
    assert row is not None
    recorded = parse_instant(row["first"]), parse_instant(row["last"])
    return Stream(cid, service.stream_version(cid), first, last, *recorded)


def load_register(
    service: LedgerService, sizes: Sizes, rng: random.Random, timings: dict[str, float]
) -> list[str]:
    """Collaborations whose events add up to `register_events`, the projection caught up."""
    per_collaboration = sizes.register_events // sizes.register_collaborations
    started = time.perf_counter()
    spans = [
        workload.load_history(service, f"register-{n}", per_collaboration, step=timedelta(days=1))
        for n in range(sizes.register_collaborations)
    ]
    timings["load_register"] = time.perf_counter() - started
    started = time.perf_counter()
    AgreementRegister(service, create=True).catch_up()  # else the first GET builds it
    timings["register_catch_up"] = time.perf_counter() - started
    first, last = min(s[1] for s in spans), max(s[2] for s in spans)
    return [
        "/agreements?" + urlencode({"at": between(rng, first, last), "status": "in_force"})
        for _ in range(PATHS_PER_KIND)
    ]


def prepare(database_url: str, sizes: Sizes) -> Prepared:
    """Load the collaborations in-process, before the server starts; what to read."""
    rng = random.Random(20251127)
    timings: dict[str, float] = {}
    paths: dict[str, list[str]] = {HEALTH: ["/health"]}
    service = LedgerService(Settings(database_url=database_url, log_level="WARNING"))
    try:
        for events in sizes.streams:
            started = time.perf_counter()
            stream = load_stream(service, events)
            timings[f"load_stream_of_{events}_events"] = time.perf_counter() - started
            for kind in KINDS:
                paths[f"{kind}@{events}"] = state_paths(stream, kind, rng)
        paths["register"] = load_register(service, sizes, rng, timings)
    finally:
        service.close()
    return Prepared(paths, {name: round(s, 2) for name, s in timings.items()}, sizes)


def measure(
    database: str, ledger: Ledger, prepared: Prepared, runs: int, budget: Budget
) -> tuple[dict[str, Any], list[Goal]]:
    figures = Figures()
    for _ in range(runs):  # each run reads every kind, so ratios share the machine's mood
        figures.add_run(ledger, prepared.paths, budget)
    sizes = prepared.sizes
    result: dict[str, Any] = {
        "setup_s": prepared.setup_s,
        "sizes": {
            "streams": list(sizes.streams),
            "register_collaborations": sizes.register_collaborations,
            "register_events": sizes.register_events,
        },
        "reads": {},
    }
    goals = []
    for name in prepared.paths:
        read = result["reads"][name] = {
            "p50_ms": figures.p50[name].as_dict(),
            "p99_ms": figures.p99[name].as_dict(),
            "requests": figures.samples[name],
        }
        if name != HEALTH:
            times = ratio(figures.p50[name], figures.p50[HEALTH])
            read["p50_vs_health"] = times.as_dict()
            goals.append(_goal(name, sizes, database, times))
    return result, goals


def _goal(name: str, sizes: Sizes, database: str, times: Figure) -> Goal:
    if name == "register":
        case = f"GET /agreements?at&status=in_force, {sizes.register_collaborations} collaborations"
        section = "agreement register"
    else:
        kind, events = name.split("@")
        case, section = f"{kind}, stream of {int(events):,} events", "state at a moment"
    return Goal(
        section, case, database, "p50 / GET /health p50", times, GOAL, higher_is_better=False
    )
