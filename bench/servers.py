"""Databases in temporary places and gunicorn servers on free loopback ports, always stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests import pg

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = "python:ledger.gunicorn_conf"


class Databases:
    """Fresh databases of one kind: SQLite files in a temporary directory, or databases in a
    throwaway PostgreSQL cluster."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self.cluster: pg.Cluster | None = None

    def new(self, name: str) -> str:
        if self.cluster is None:
            return f"sqlite:///{self.directory / name}.sqlite"
        return self.cluster.new_database()


@contextmanager
def databases(kind: str) -> Iterator[Databases]:
    """SQLite always; PostgreSQL when its server binaries are installed (else RuntimeError)."""
    directory = Path(tempfile.mkdtemp(prefix=f"ledger-bench-{kind}-"))
    found = Databases(kind, directory)
    try:
        if kind == "postgres":
            found.cluster = pg.start_cluster()
            if found.cluster is None:
                raise RuntimeError("PostgreSQL server binaries (initdb) were not found")
        yield found
    finally:
        if found.cluster is not None:
            pg.remove(found.cluster)
        shutil.rmtree(directory, ignore_errors=True)


def postgres_available() -> bool:
    return pg.find_bin_dir() is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_RATE_LIMIT": "off",
        "LEDGER_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def ledger_command(database_url: str, *args: str) -> str:
    """Run `python -m ledger ARGS` on the database; what it printed on stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env=environment(database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def create_token(database_url: str) -> str:
    return ledger_command(
        database_url, "token", "create", "--name", f"bench-{uuid.uuid4().hex[:8]}"
    )


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    workers: int


@contextmanager
def serve(command: list[str], database_url: str, workers: int, log: Path) -> Iterator[Server]:
    """Start a gunicorn command on a free port; stop it by its PID however the block ends."""
    port = free_port()
    env = environment(
        database_url,
        LEDGER_BIND=f"127.0.0.1:{port}",
        LEDGER_WORKERS=str(workers),
    )
    command = [part.replace("{port}", str(port)) for part in command]
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output)
    server = Server(url=f"http://127.0.0.1:{port}", pid=process.pid, workers=workers)
    try:
        _wait_healthy(server.url, process, log)
        yield server
    finally:
        _stop(process)


def ledger_server(database_url: str, workers: int, log: Path) -> AbstractContextManager[Server]:
    command = [
        sys.executable,
        "-m",
        "ledger",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        str(workers),
    ]
    return serve(command, database_url, workers, log)


@dataclass(frozen=True)
class Ledger:
    """The ledger served by gunicorn on its database, with an admin token for it."""

    database_url: str
    token: str
    server: Server


@contextmanager
def running_ledger(database_url: str, workers: int, log: Path) -> Iterator[Ledger]:
    token = create_token(database_url)
    with ledger_server(database_url, workers, log) as server:
        yield Ledger(database_url, token, server)


def ceiling_server(database_url: str, workers: int, log: Path) -> AbstractContextManager[Server]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        GUNICORN_CONF,
        "bench.ceiling_app:create_app()",
    ]
    return serve(command, database_url, workers, log)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server did not answer /health within a minute; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGINT)  # gunicorn's quick shutdown: nothing is in flight
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
