"""Fault-test fixtures: a printed seed to replay a run, and every test's figures at the end."""

from __future__ import annotations

import os
import random

import pytest

from tests.faults.audit import SUMMARIES


@pytest.fixture
def seed() -> int:
    """LEDGER_FAULT_SEED replays a run; otherwise a fresh seed, printed so it can be replayed."""
    chosen = os.environ.get("LEDGER_FAULT_SEED") or str(random.SystemRandom().randrange(2**32))
    print(f"\n[faults] seed={chosen} (replay with LEDGER_FAULT_SEED={chosen})", flush=True)
    return int(chosen)


@pytest.fixture
def rng(seed: int) -> random.Random:
    return random.Random(seed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARIES:
        terminalreporter.section("fault tests")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
