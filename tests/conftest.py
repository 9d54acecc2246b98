"""Fixtures chain settings → service → app → client, each on a fresh SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.api import create_app
from ledger.service import LedgerService
from ledger.settings import Settings
from ledger.tokens import TokenStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite'}")


@pytest.fixture
def service(settings: Settings) -> Iterator[LedgerService]:
    ledger = LedgerService(settings)
    yield ledger
    ledger.close()


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    yield application
    application.extensions["ledger.service"].close()


@pytest.fixture
def token(app: Flask) -> str:
    tokens: TokenStore = app.extensions["ledger.tokens"]
    return tokens.create("tester")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
