"""Fixtures chain settings → service → app → client, each on a fresh database (or one per module
and backend, for a module that imports tests/integration/one_app_per_module.py).

Integration and end-to-end tests run on both backends: a SQLite file and a database of a
throwaway PostgreSQL cluster that the session starts (see tests/pg.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.api import create_app
from ledger.service import LedgerService
from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests import pg

BACKENDS = ("sqlite", "postgres")
BOTH_BACKENDS = ("integration", "e2e", "faults")
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    suite = Path(str(metafunc.definition.path)).parent.name
    if "backend" in metafunc.fixturenames and suite in BOTH_BACKENDS:
        # Module scope, so that a module may build what it only reads once per backend.
        metafunc.parametrize("backend", BACKENDS, scope="module")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[pg.Cluster]:
    cluster = pg.start_cluster()
    if cluster is None:
        message = "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        if IN_CI:
            pytest.fail(f"{message}; CI must run every PostgreSQL test")
        pytest.skip(message)
    yield cluster
    pg.remove(cluster)


@pytest.fixture
def backend() -> str:
    """Unit tests run on SQLite; integration and e2e tests are parametrized over both."""
    return "sqlite"


def database_url(backend: str, directory: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        cluster: pg.Cluster = request.getfixturevalue("postgres_cluster")
        return cluster.new_database()
    return f"sqlite:///{directory / 'ledger.sqlite'}"


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return Settings(database_url=database_url(backend, tmp_path, request))


@pytest.fixture
def service(settings: Settings) -> Iterator[LedgerService]:
    ledger = LedgerService(settings)
    yield ledger
    ledger.close()


def open_app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    try:
        yield application
    finally:
        application.extensions["ledger.service"].close()


def create_token(app: Flask) -> str:
    tokens: TokenStore = app.extensions["ledger.tokens"]
    return tokens.create("tester")


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    yield from open_app(settings)


@pytest.fixture
def token(app: Flask) -> str:
    return create_token(app)


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if pg.find_bin_dir() is None:
        terminalreporter.write_line(
            "WARNING: PostgreSQL is not installed, so every PostgreSQL test was SKIPPED. "
            "Install it (apt-get install postgresql) to test both backends.",
            red=True,
            bold=True,
        )
