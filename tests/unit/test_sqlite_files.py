"""A SQLite database and its write-ahead log are readable by their owner only, whether the app
or the command line created them. (A PostgreSQL server keeps its files to itself.)"""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient

from ledger.cli import main
from ledger.settings import Settings


def assert_owner_only(database: Path) -> list[Path]:
    """Checks the database and whichever of its companion files exist; returns them all."""
    files = list(database.parent.glob(database.name + "*"))
    assert database in files
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, (path.name, oct(path.stat().st_mode))
    return files


def test_the_files_the_app_writes_are_readable_by_their_owner_only(
    settings: Settings, client: FlaskClient, auth: dict[str, str]
) -> None:
    body = {"name": "Leerecosysteem Noord", "mission": "Every child reads"}
    assert client.post("/collaborations", json=body, headers=auth).status_code == 201
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    files = assert_owner_only(database)
    assert Path(f"{database}-wal") in files  # the app keeps its write-ahead log open


def test_the_command_line_creates_the_database_file_for_its_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "fresh" / "ledger.sqlite"
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{database}", "LEDGER_LOG_LEVEL": "WARNING"}  # fmt: skip
    result = CliRunner().invoke(main, ["token", "create", "--name", "first"], env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert_owner_only(database)
