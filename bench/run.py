"""Run the benchmarks on SQLite and PostgreSQL, print the table, write bench/results/latest.*
(and quick.* or full.*, so that a quick run does not hide the last full one).

python -m bench [--quick] [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import append, commands, machine, reads, servers
from bench.figures import Goal
from bench.loadgen import wrk_path
from bench.report import markdown

RESULTS = Path(__file__).resolve().parent / "results"
# Written by others; run small, as optional extra sections of the full run.
EXTRAS = {"verify_speed.py": ["--events", "20000"], "readmodels.py": ["--quick"]}
EXTRA_TIMEOUT = 1200


@dataclass(frozen=True)
class Plan:
    mode: str
    runs: int
    append_seconds: int
    append_workers: tuple[int, ...]
    append_collaborations: int
    command_seconds: float
    read_budget: reads.Budget
    sizes: reads.Sizes
    extras: bool


QUICK = Plan(
    mode="quick",
    runs=3,
    append_seconds=1,
    append_workers=(2,),
    append_collaborations=64,
    command_seconds=0.4,
    read_budget=reads.Budget(most=60, seconds=0.25, least=3),
    sizes=reads.Sizes(streams=(1_000, 10_000), register_collaborations=50, register_events=2_500),
    extras=False,
)
FULL = Plan(
    mode="full",
    runs=3,
    append_seconds=8,
    append_workers=(2, 4),
    append_collaborations=128,
    command_seconds=3.0,
    read_budget=reads.Budget(most=400, seconds=2.5, least=5),
    sizes=reads.Sizes(
        streams=(1_000, 10_000, 100_000), register_collaborations=1_000, register_events=100_000
    ),
    extras=True,
)


Measure = Callable[[], tuple[dict[str, Any], list[Goal]]]


class Session:
    """One run of the benchmarks: the plan, the results so far, and a scratch directory."""

    def __init__(self, plan: Plan, results: dict[str, Any]) -> None:
        self.plan = plan
        self.results = results
        self.meta: dict[str, Any] = results["meta"]
        self.goals: list[Goal] = []
        self.work = Path(tempfile.mkdtemp(prefix="ledger-bench-work-"))

    def section(self, database: str, name: str, measure: Measure) -> None:
        """Measure one section; an error is recorded and the other sections still run."""
        key = f"{database}/{name}"
        self.meta["busy_before_sections"][key] = busy = machine.cpu_busy_share()
        print(f"{key} (others busy {busy:.0%})", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            value, goals = measure()
        except Exception as error:  # one broken section must not hide the others
            self.meta["errors"].append(f"{key}: {type(error).__name__}: {error}")
            return
        finally:
            self.meta["section_seconds"][key] = round(time.monotonic() - started, 1)
        store(self.results, database, name, value)
        self.goals += goals

    def log(self, name: str) -> Path:
        return self.work / f"gunicorn-{name}.log"


def bench_database(session: Session, dbs: servers.Databases) -> None:
    """Every section on one kind of database. The reads and the first append section share
    one ledger server (reads first: appends would leave the register to catch up)."""
    plan, kind = session.plan, dbs.kind
    first, *more = plan.append_workers
    url = dbs.new("ledger")
    prepared = reads.prepare(url, plan.sizes)
    with servers.running_ledger(url, first, session.log(f"{kind}-ledger-{first}")) as ledger:
        session.section(
            kind,
            "reads",
            lambda: reads.measure(kind, ledger, prepared, plan.runs, plan.read_budget),
        )
        session.section(kind, f"append/{first} workers", partial(_append, session, dbs, ledger))
    session.section(
        kind, "commands", lambda: commands.measure(dbs, plan.runs, plan.command_seconds)
    )
    for workers in more:
        url = dbs.new(f"ledger-{workers}")
        log = session.log(f"{kind}-ledger-{workers}")
        with servers.running_ledger(url, workers, log) as ledger:
            measure = partial(_append, session, dbs, ledger)
            session.section(kind, f"append/{workers} workers", measure)


def _append(
    session: Session, dbs: servers.Databases, ledger: servers.Ledger
) -> tuple[dict[str, Any], list[Goal]]:
    plan = session.plan
    return append.measure(
        dbs, ledger, plan.runs, plan.append_seconds, plan.append_collaborations, session.work
    )


def store(results: dict[str, Any], database: str, name: str, value: dict[str, Any]) -> None:
    """Put a section's figures under its name ("append/2 workers" nests under "append")."""
    place = results["databases"].setdefault(database, {})
    *parents, leaf = name.split("/")
    for parent in parents:
        place = place.setdefault(parent, {})
    place[leaf] = value


def run_extras(results: dict[str, Any]) -> None:
    for script, args in EXTRAS.items():
        path = Path(__file__).resolve().parent / script
        if not path.exists():
            continue
        print(f"extra: {script} {' '.join(args)}", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(
                [sys.executable, str(path), *args],
                env=servers.environment(""),
                cwd=servers.ROOT,
                capture_output=True,
                text=True,
                timeout=EXTRA_TIMEOUT,
                check=False,
            )
            output, code = (done.stdout + done.stderr).strip().splitlines()[-40:], done.returncode
        except subprocess.TimeoutExpired:
            output, code = [f"stopped after {EXTRA_TIMEOUT} s"], -1
        results["extras"][script] = {"returncode": code, "output": output}


def load_note(busy: dict[str, float]) -> str:
    """How busy other processes kept the machine just before each section."""
    cores = os.cpu_count() or 1
    crowded = [share for share in busy.values() if share >= machine.BUSY_SHARE]
    if not crowded:
        return f"quiet: other processes used under {machine.BUSY_SHARE:.0%} of the {cores} cores"
    return (
        f"BUSY machine: before {len(crowded)} of {len(busy)} sections other processes kept "
        f"{min(crowded):.0%} to {max(crowded):.0%} of the {cores} cores busy; absolute figures "
        "are low and noisy there, the ratios (runs interleaved with their baselines) less so"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks of the Governance Ledger.")
    parser.add_argument("--quick", action="store_true", help="fewer sizes, shorter runs (< 2 min)")
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if wrk_path() is None:
        print("wrk is not installed: apt-get install wrk (make bench does)", file=sys.stderr)
        return 2
    started, clock = datetime.now(UTC), time.monotonic()
    results: dict[str, Any] = {
        "meta": {
            "mode": plan.mode,
            "runs": plan.runs,
            "started_at": started.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine.description(),
            "versions": machine.versions(),
            "skipped": [],
            "errors": [],
            "busy_before_sections": {},
            "section_seconds": {},
        },
        "goals": [],
        "databases": {},
        "extras": {},
    }
    meta = results["meta"]
    kinds = [kind.strip() for kind in args.databases.split(",") if kind.strip()]
    if "postgres" in kinds and not servers.postgres_available():
        kinds.remove("postgres")
        meta["skipped"].append("PostgreSQL (no server binaries found): SQLite only")
        print("PostgreSQL is not installed: skipping its column", file=sys.stderr)
    session = Session(plan, results)
    for kind in kinds:
        try:
            with servers.databases(kind) as dbs:
                bench_database(session, dbs)
        except Exception as error:  # e.g. a server that did not start: say so, go on
            meta["errors"].append(f"{kind}: {type(error).__name__}: {error}")
    if plan.extras:
        run_extras(results)
    results["goals"] = [goal.as_dict() for goal in session.goals]
    meta["load_note"] = load_note(meta["busy_before_sections"])
    meta["runtime_s"] = round(time.monotonic() - clock, 1)
    text, data = markdown(results), json.dumps(results, indent=1, ensure_ascii=False) + "\n"
    RESULTS.mkdir(exist_ok=True)
    for name in ("latest", plan.mode):  # the last run, and the last of its mode (full, quick)
        (RESULTS / f"{name}.json").write_text(data)
        (RESULTS / f"{name}.md").write_text(text)
    print(text)
    if meta["errors"]:
        print(f"errors: logs kept in {session.work}", file=sys.stderr)
        return 1
    shutil.rmtree(session.work, ignore_errors=True)
    return 0
