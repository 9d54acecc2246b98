"""`app` and `token` fixtures shared by every test of a module, one per backend, for modules
whose tests each found collaborations of their own (a fresh PostgreSQL database per test costs
about half a second). A module opts in by importing them:

    from tests.integration.one_app_per_module import app_per_module, token_per_module  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from ledger.settings import Settings
from tests.conftest import create_token, database_url, open_app


@pytest.fixture(name="app", scope="module")
def app_per_module(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    directory = tmp_path_factory.mktemp("module")
    yield from open_app(Settings(database_url=database_url(backend, directory, request)))


@pytest.fixture(name="token", scope="module")
def token_per_module(app: Flask) -> str:
    return create_token(app)
