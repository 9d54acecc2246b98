"""The `ledger` command and `make run`, as a newcomer uses them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ledger.demo import DEMO_NAME
from tests.conftest import database_url
from tests.e2e.conftest import Server, free_port, ledger_command

REPO = Path(__file__).resolve().parents[2]


def test_token_create_prints_only_a_token_that_the_server_accepts(server: Server) -> None:
    printed = ledger_command("token", "create", "--name", "cli-user", env=server.env)
    assert re.fullmatch(r"glt_[A-Za-z0-9_-]{43}\n", printed)
    response = requests.get(
        f"{server.url}/collaborations",
        headers={"Authorization": f"Bearer {printed.strip()}"},
        timeout=10,
    )
    assert response.status_code == 200


def test_token_create_with_a_taken_name_fails_and_says_why(server: Server) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ledger", "token", "create", "--name", "e2e-admin"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "e2e-admin" in result.stderr


@pytest.mark.timeout(180)
def test_make_run_serves_the_demo_and_prints_a_working_token(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    env = {**os.environ, "LEDGER_DATABASE_URL": database_url(backend, tmp_path, request)}
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        token = read_token(process)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        listing = wait_for(f"{url}/collaborations", headers)
        demo = next(c for c in listing["items"] if c["name"] == DEMO_NAME)
        state = requests.get(
            f"{url}/collaborations/{demo['collaboration_id']}", headers=headers, timeout=10
        )
        assert state.status_code == 200
        assert state.json()["collaboration"]["name"] == DEMO_NAME
        assert len(state.json()["partners"]) >= 5
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def read_token(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Token: "):
            return line.removeprefix("Token: ").strip()
    raise AssertionError(f"make run printed no token (exit {process.wait()})")


def wait_for(url: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, headers=headers, timeout=10)
            if response.status_code == 200:
                return dict(response.json())
        except requests.RequestException:
            time.sleep(0.2)  # not serving yet, or a busy machine
    raise AssertionError(f"{url} did not answer in time")


def test_the_demo_can_be_posted_over_http_with_the_python_client(server: Server) -> None:
    printed = ledger_command("demo", "--url", server.url, "--token", server.token, env=server.env)
    collaboration_id = printed.strip()
    state = requests.get(f"{server.url}/collaborations/{collaboration_id}", headers=server.auth,
                         timeout=10)  # fmt: skip
    assert state.status_code == 200
    assert state.json()["collaboration"]["name"] == DEMO_NAME
    assert state.json()["stream_version"] >= 60
