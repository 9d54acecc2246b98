"""A real gunicorn serving the ledger on a free loopback port, stopped by its PID afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import database_url


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    env: dict[str, str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ledger_command(*args: str, env: dict[str, str]) -> str:
    """Run the `ledger` command line and return what it printed on stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early with {process.returncode}")
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet, or still starting its workers
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not become healthy in time")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@contextmanager
def running_server(
    directory: Path, database: str, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`ledger serve` (real gunicorn, 2 workers) on a free port, with an admin token."""
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database,
        "LEDGER_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    token = ledger_command("token", "create", "--name", "e2e-admin", env=env).strip()
    port = free_port()
    log = (directory / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield Server(url=url, token=token, env=env)
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    directory: Path = tmp_path_factory.mktemp("e2e")
    with running_server(directory, database_url(backend, directory, request)) as running:
        yield running
