"""compose.yaml and the Dockerfile cannot run here (no Docker engine): read them against the
command line instead, so a renamed command, option or setting breaks this test."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from ledger.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SOURCES = "\n".join(p.read_text() for p in ROOT.glob("ledger/**/*.py"))


def check_command(args: list[str]) -> None:
    """Parse `args` with the real `ledger` command, down to the subcommand, without running it
    (the ledger's groups take no options of their own)."""
    assert args[0] == "ledger", args
    command: click.Command = main
    name, rest = "ledger", args[1:]
    while isinstance(command, click.Group):
        name, *rest = rest
        sub = command.get_command(click.Context(command), name)
        if sub is None:
            raise click.UsageError(f"no such command {name!r} in {args}")
        command = sub
    command.make_context(name, list(rest))


def dockerfile_command() -> list[str]:
    line = next(x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("CMD"))
    command: list[str] = json.loads(line.removeprefix("CMD").strip())
    return command


SERVICES = {name: s for name, s in COMPOSE["services"].items() if name != "postgres"}


@pytest.mark.parametrize("name", SERVICES)
def test_each_compose_service_runs_a_real_ledger_command(name: str) -> None:
    check_command(SERVICES[name]["command"])


def test_the_dockerfile_runs_a_real_ledger_command() -> None:
    check_command(dockerfile_command())


def test_a_wrong_option_is_caught() -> None:
    with pytest.raises(click.UsageError):
        check_command(["ledger", "serve", "--wokers", "2"])
    with pytest.raises(click.UsageError):
        check_command(["ledger", "projection", "run"])


@pytest.mark.parametrize("name", SERVICES)
def test_compose_sets_only_settings_the_ledger_reads(name: str) -> None:
    for variable in SERVICES[name]["environment"]:
        assert f'"{variable}"' in SOURCES, f"{name}: nothing reads {variable}"


def test_servers_do_not_create_tables_and_wait_for_the_one_that_does() -> None:
    migrate = COMPOSE["services"]["migrate"]
    assert migrate["command"] == ["ledger", "db", "init"]
    for name, service in SERVICES.items():
        if name == "migrate":
            continue
        assert service["environment"]["LEDGER_CREATE_TABLES"] == "n", name
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_postgres_keeps_the_durability_settings_the_ledger_requires() -> None:
    command = " ".join(COMPOSE["services"]["postgres"]["command"])
    for setting in ("fsync=on", "synchronous_commit=on", "full_page_writes=on"):
        assert setting in command
    url = SERVICES["ledger"]["environment"]["LEDGER_DATABASE_URL"]
    assert re.match(r"postgresql://ledger:.+@postgres:5432/ledger$", url)
