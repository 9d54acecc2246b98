"""In-process command rate: `LedgerService.record_event` against a bare eventsourcing
`Application.save()` of one event of a minimal aggregate, on the same database and durability."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench import workload
from bench.figures import Figure, Goal, ratio
from bench.servers import Databases
from ledger.service import LedgerService
from ledger.settings import Settings

STREAMS = 16
GOAL = 0.7


class Counter(Aggregate):
    """The least an aggregate can be: one event that carries a note."""

    def __init__(self) -> None:
        self.count = 0

    @event("Incremented")
    def increment(self, note: str) -> None:
        self.count += 1


class BareApplication(Application[UUID]):
    """Snapshots every 50 events, as the ledger does by default, so loads stay short."""

    name = "bare"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Counter: 50}


def bare_application(database_url: str) -> BareApplication:
    """The library's own recorder on the ledger's connection settings (SQLite: WAL,
    synchronous=FULL; PostgreSQL: the same server, synchronous_commit on)."""
    env = Settings(database_url=database_url).persistence_env()
    env.pop("APPLICATION_RECORDER_TOPIC")
    return BareApplication(env={**env, "CREATE_TABLE": "y"})


def rate(operation: Callable[[int], Any], seconds: float) -> float:
    """Operations per second, one after the other, for about `seconds`."""
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        operation(count)
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def measure(dbs: Databases, runs: int, seconds: float) -> tuple[dict[str, Any], list[Goal]]:
    service = LedgerService(Settings(database_url=dbs.new("commands-ledger"), log_level="WARNING"))
    bare = bare_application(dbs.new("commands-bare"))
    try:
        founded = datetime.now(UTC) - timedelta(days=1)
        cids = [workload.found_with_setup(service, f"c{n}", founded) for n in range(STREAMS)]
        versions = {cid: service.stream_version(cid) for cid in cids}
        counters = [Counter() for _ in range(STREAMS)]
        bare.save(*counters)
        counter_ids = [c.id for c in counters]
        started = time.strftime("%H%M%S")

        def ledger_op(i: int) -> None:
            cid = cids[i % STREAMS]
            event_type, data = workload.change(i)
            recorded = service.record_event(
                cid,
                event_type,
                data,
                {"actor": workload.ACTOR},
                expected_version=versions[cid],
                idempotency_key=f"{started}-{i}-{time.time_ns()}",
            )
            versions[cid] = recorded.version

        def bare_save(i: int) -> None:
            counter = counters[i % STREAMS]
            counter.increment(f"note {i}")
            bare.save(counter)

        def bare_load_save(i: int) -> None:
            counter: Counter = bare.repository.get(counter_ids[i % STREAMS])
            counter.increment(f"note {i}")
            bare.save(counter)
            counters[i % STREAMS] = counter

        figures = {
            "bare_save": Figure("commands/s"),
            "bare_load_save": Figure("commands/s"),
            "record_event": Figure("commands/s"),
        }
        operations = {
            "bare_save": bare_save,
            "bare_load_save": bare_load_save,
            "record_event": ledger_op,
        }
        for _ in range(runs):  # interleaved, so each run's ratio shares the machine's mood
            for name, operation in operations.items():
                figures[name].add(rate(operation, seconds))
    finally:
        service.close()
        bare.close()
    result = {name: figure.as_dict() for name, figure in figures.items()}
    vs_save = ratio(figures["record_event"], figures["bare_save"])
    vs_load_save = ratio(figures["record_event"], figures["bare_load_save"])
    result["ratio_record_event_vs_bare_save"] = vs_save.as_dict()
    result["ratio_record_event_vs_bare_load_save"] = vs_load_save.as_dict()
    goal = Goal(
        "in-process commands",
        "record_event vs bare save()",
        dbs.kind,
        "record_event rate / bare Application.save() rate",
        vs_save,
        GOAL,
    )
    return result, [goal]
