"""Access against a running gunicorn (two workers): tokens revoked or expired are refused at
once by every worker, without a restart; bodies streamed without a length still meet the size
limit; and the rate limit is per token, whichever worker answers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ledger.service import LedgerService
from ledger.settings import Settings
from tests.conftest import database_url
from tests.e2e.conftest import Server, ledger_command
from tests.integration.access_fixtures import expire_in, serving, unique

JSON = {"Content-Type": "application/json"}
LIMIT = 256 * 1024


def statuses(url: str, token: str, times: int, path: str = "/collaborations") -> list[int]:
    """One fresh connection per request, so that both workers answer some of them."""
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    return [requests.get(f"{url}{path}", headers=headers, timeout=10).status_code
            for _ in range(times)]  # fmt: skip


def test_a_token_revoked_on_the_command_line_is_refused_at_once(server: Server) -> None:
    name = unique("revoked-cli")
    token = ledger_command("token", "create", "--name", name, env=server.env).strip()
    assert set(statuses(server.url, token, 6)) == {200}
    ledger_command("token", "revoke", name, env=server.env)
    assert set(statuses(server.url, token, 8)) == {401}


def test_a_token_revoked_through_the_api_is_refused_at_once(server: Server) -> None:
    name = unique("revoked-api")
    issued = requests.post(f"{server.url}/tokens", json={"name": name, "role": "admin"},
                           headers=server.auth, timeout=10)  # fmt: skip
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert set(statuses(server.url, token, 6)) == {200}
    revoked = requests.delete(f"{server.url}/tokens/{name}", headers=server.auth, timeout=10)
    assert revoked.status_code == 204
    assert set(statuses(server.url, token, 8)) == {401}


def test_an_expired_token_is_refused_without_a_restart(server: Server) -> None:
    name = unique("expiring")
    token = ledger_command("token", "create", "--name", name, "--expires-in", "1",
                           env=server.env).strip()  # fmt: skip
    assert set(statuses(server.url, token, 4)) == {200}
    settings = Settings(database_url=server.env["LEDGER_DATABASE_URL"], create_tables=False)
    service = LedgerService(settings)
    try:
        expire_in(service.store, name)
    finally:
        service.close()
    assert set(statuses(server.url, token, 6)) == {401}


def chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def collaboration_count(server: Server) -> int:
    response = requests.get(f"{server.url}/collaborations", params={"limit": 1000},
                            headers=server.auth, timeout=10)  # fmt: skip
    return len(response.json()["items"])


def test_a_body_streamed_without_a_length_within_the_limit_is_accepted(server: Server) -> None:
    body = json.dumps({"name": "Gestreamd", "mission": "Every child reads"}).encode()
    response = requests.post(f"{server.url}/collaborations", data=chunks(body.ljust(LIMIT)),
                             headers={**server.auth, **JSON}, timeout=30)  # fmt: skip
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 201, response.text


def test_a_body_streamed_without_a_length_over_the_limit_is_413(server: Server) -> None:
    before = collaboration_count(server)
    body = json.dumps({"name": "Te groot", "mission": "Every child reads"}).encode()
    try:
        response = requests.post(f"{server.url}/collaborations",
                                 data=chunks(body.ljust(LIMIT + 1)),
                                 headers={**server.auth, **JSON}, timeout=30)  # fmt: skip
    except requests.ConnectionError:
        pass  # the server may close the connection before the upload ends: also a refusal
    else:
        assert response.status_code == 413, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
    assert collaboration_count(server) == before


# The rate limit, on a server of its own with a small one.


@pytest.fixture(scope="module")
def limited(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[str, dict[str, str]]]:
    directory: Path = tmp_path_factory.mktemp("limited")
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database_url(backend, directory, request),
        "LEDGER_LOG_LEVEL": "WARNING",
        "LEDGER_RATE_LIMIT": "5 per minute",
    }
    with serving(env, directory, workers=2) as url:
        yield url, env


def test_a_token_over_the_rate_limit_gets_429_with_retry_after(
    limited: tuple[str, dict[str, str]],
) -> None:
    url, env = limited
    token = ledger_command("token", "create", "--name", "eager", env=env).strip()
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    for _ in range(30):
        response = requests.get(f"{url}/collaborations", headers=headers, timeout=10)
        if response.status_code == 429:
            break
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["Content-Type"] == "application/problem+json"
    other = ledger_command("token", "create", "--name", "patient", env=env).strip()
    assert statuses(url, other, 1) == [200]


def test_the_rate_limit_holds_across_workers(limited: tuple[str, dict[str, str]]) -> None:
    url, env = limited
    token = ledger_command("token", "create", "--name", "spread", env=env).strip()
    codes = statuses(url, token, 30)
    assert codes == [200] * 5 + [429] * 25, codes
