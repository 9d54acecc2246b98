"""How fast the ledger verifies itself: loads N events (default 100,000) with import_events in
chunks of 1000, then times the live verification (GET /verify's engine), a bundle export and
the offline verification of that bundle, and prints events per second for each. Exits 1 on any
finding that is not a notice: a clean ledger must raise no false alarm.

    .venv/bin/python bench/verify_speed.py [--events N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ledger.integrity.bundle import verify_bundle
from ledger.integrity.export import export_bundle
from ledger.integrity.report import NOTICE, Report
from ledger.integrity.signing import create_key_files, load_public_key
from ledger.service import LedgerService
from ledger.settings import Settings

CHUNK = 1000
T = TypeVar("T")


def timed(label: str, events: int, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label:<28} {seconds:8.2f} s  {events / seconds:10,.0f} events/s", flush=True)
    return result


def load(service: LedgerService, events: int) -> None:
    envelope = {"actor": "bench", "note": "ingevoerd — één keer"}
    for start in range(0, events, CHUNK):
        founded = service.found_collaboration(
            {"name": f"Netwerk {start // CHUNK}", "mission": "Ieder kind leest 📚"}, envelope
        )
        count = min(CHUNK, events - start) - 1
        items = [
            (
                "MissionRevised",
                {"mission": f"Missie {start + i}", "drivers": ["gelijke kansen"], "values": ["ü"]},
                envelope,
            )
            for i in range(count)
        ]
        if items:
            service.import_events(founded.collaboration_id, items)


def alarms(report: Report) -> int:
    return sum(1 for finding in report.findings if finding.kind != NOTICE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as scratch:
        directory = Path(scratch)
        create_key_files(directory / "ledger.key")
        settings = Settings(
            database_url=args.database_url or f"sqlite:///{directory / 'ledger.sqlite'}",
            signing_key_file=str(directory / "ledger.key"),
        )
        service = LedgerService(settings)
        try:
            timed("load (import_events)", args.events, lambda: load(service, args.events))
            live = timed("verify the live ledger", args.events, service.integrity.verify)
            timed(
                "export a bundle",
                args.events,
                lambda: export_bundle(service.integrity, directory / "bundle"),
            )
        finally:
            service.close()
        key = load_public_key(directory / "ledger.key.pub")
        offline = timed(
            "verify the bundle offline",
            args.events,
            lambda: verify_bundle(directory / "bundle", key),
        )
    print(f"live:    {live.text().splitlines()[0]}")
    print(f"offline: {offline.text().splitlines()[0]}")
    false_alarms = alarms(live) + alarms(offline)
    print(f"false alarms: {false_alarms}")
    return 1 if false_alarms else 0


if __name__ == "__main__":
    sys.exit(main())
