"""`ledger projections`: the runner takes catching up off requests; status shows the lag;
rebuild gives the same projection back."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ledger.cli import main
from ledger.demo import seed_demo
from ledger.service import LedgerService
from ledger.settings import Settings
from projections.register import AgreementRegister


def ledger(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(
        main, list(args), env={"LEDGER_DATABASE_URL": settings.database_url}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def lag(settings: Settings) -> int:
    report = json.loads(ledger(settings, "projections", "status"))
    return int(report["agreement_register"]["lag"])


def test_the_runner_catches_up_and_status_shows_the_lag(
    settings: Settings, service: LedgerService
) -> None:
    register = AgreementRegister(service)
    seed_demo(service)
    behind = lag(settings)
    assert behind > 0
    ledger(settings, "projections", "run", "--once")
    assert lag(settings) == 0
    assert register.lag() == 0
    assert register.catch_up() == 0  # nothing left for a reader to do


def test_rebuild_prints_the_checksum_of_the_same_projection(
    settings: Settings, service: LedgerService
) -> None:
    register = AgreementRegister(service)
    seed_demo(service)
    register.catch_up()
    before = register.checksum()
    assert ledger(settings, "projections", "rebuild").strip() == before
    assert register.checksum() == before
