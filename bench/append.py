"""Appends over HTTP: the ledger against the ceiling app, same gunicorn settings, same database,
same wrk script and bodies; many collaborations (with If-Match) and one hot stream (without)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import ceiling_app, workload
from bench.figures import Figure, Goal, ratio
from bench.loadgen import WrkResult, run_wrk
from bench.servers import Databases, Ledger, ceiling_server
from ledger.service import LedgerService
from ledger.settings import Settings

CONNECTIONS = 16
THREADS = 2
GOAL = 0.8


class Case:
    """One app under one load: its figures over the runs, and what it answered besides 2xx."""

    def __init__(self) -> None:
        self.events_per_s = Figure("events/s")
        self.p50 = Figure("ms")
        self.p99 = Figure("ms")
        self.failures: dict[str, int] = {}
        self.requests = 0
        self.ok = 0

    def add(self, result: WrkResult) -> None:
        if result.ok == 0:
            raise RuntimeError(f"no request succeeded: {result.failures}")
        self.events_per_s.add(result.ok_per_second)
        self.p50.add(result.p50_ms)
        self.p99.add(result.p99_ms)
        self.requests += result.requests
        self.ok += result.ok
        for status, n in result.failures.items():
            self.failures[status] = self.failures.get(status, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_per_s": self.events_per_s.as_dict(),
            "p50_ms": self.p50.as_dict(),
            "p99_ms": self.p99.as_dict(),
            "requests": self.requests,
            "ok": self.ok,
            "non_2xx": self.failures,
        }


def targets(path: Path, service: LedgerService, ids: list[str]) -> str:
    """A file of "collaboration_id version" lines for the wrk script."""
    path.write_text("".join(f"{cid} {service.stream_version(cid)}\n" for cid in ids))
    return str(path)


def measure(
    dbs: Databases, ledger: Ledger, runs: int, seconds: int, collaborations: int, work: Path
) -> tuple[dict[str, Any], list[Goal]]:
    """Against the running ledger, and a ceiling app started here with as many workers.

    The many-collaborations load spreads over `collaborations` (a wrk thread comes back to
    one only after writing to its whole share, so its ETag is current unless an answer for
    it is still in flight: then the ledger rightly answers 412)."""
    workers = ledger.server.workers
    ceiling_url = dbs.new(f"append-ceiling-{workers}")
    ceiling_app.create_table(ceiling_url)
    service = LedgerService(Settings(database_url=ledger.database_url, log_level="WARNING"))
    cases = {"ceiling": Case(), "ledger_many": Case(), "ledger_hot": Case()}
    try:
        founded = datetime.now(UTC) - timedelta(days=1)
        many = [
            workload.found_with_setup(service, f"many-{n}", founded) for n in range(collaborations)
        ]
        hot = [workload.found_with_setup(service, f"hot-{n}", founded) for n in range(runs)]
        head = service.head_position()
        log = work / f"gunicorn-{dbs.kind}-ceiling-{workers}.log"
        with ceiling_server(ceiling_url, workers, log) as ceiling:
            for run in range(runs):
                tag = f"{time.strftime('%H%M%S')}r{run}"
                many_file = targets(work / "many.txt", service, many)
                hot_file = targets(work / "hot.txt", service, [hot[run]])
                plan = (
                    ("ceiling", ceiling.url, [many_file, "many", tag + "c"]),
                    ("ledger_many", ledger.server.url, [many_file, "many", tag + "m"]),
                    ("ledger_hot", ledger.server.url, [hot_file, "hot", tag + "h"]),
                )
                for name, url, args in plan:
                    outcome = run_wrk(
                        url,
                        "append.lua",
                        [*args, str(THREADS)],
                        seconds=seconds,
                        connections=CONNECTIONS,
                        threads=THREADS,
                        token=ledger.token,
                    )
                    cases[name].add(outcome)
        stored = service.head_position() - head
    finally:
        service.close()
    result: dict[str, Any] = {name: case.as_dict() for name, case in cases.items()}
    # wrk stops with a request in flight on every connection: those are stored unanswered.
    acknowledged = cases["ledger_many"].ok + cases["ledger_hot"].ok
    in_flight = CONNECTIONS * 2 * runs
    result["ledger_events_stored"] = {
        "stored": stored,
        "acknowledged": acknowledged,
        "in_flight_at_stops_at_most": in_flight,
        "consistent": 0 <= stored - acknowledged <= in_flight,
    }
    goals = []
    for scenario, label in (("ledger_many", "many collaborations"), ("ledger_hot", "hot stream")):
        share = ratio(cases[scenario].events_per_s, cases["ceiling"].events_per_s)
        result[f"ratio_{scenario}_vs_ceiling"] = share.as_dict()
        goals.append(
            Goal(
                "append over HTTP",
                f"{workers} workers, {label}",
                dbs.kind,
                "ledger events/s / ceiling events/s",
                share,
                GOAL,
            )
        )
    return result, goals
