"""The ledger as a process to kill: `ledger serve` in its own process group, its gunicorn
workers found through /proc, and a PostgreSQL cluster of a test's own to crash and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from random import Random
from types import TracebackType

import pytest
import requests

from ledger.service import LedgerService
from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests import pg
from tests.conftest import IN_CI
from tests.e2e.conftest import free_port


class LedgerServer:
    """`ledger serve` in its own process group, so its master and workers can die together."""

    def __init__(
        self,
        database_url: str,
        directory: Path,
        *,
        workers: int = 2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.env = {
            **os.environ,
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / f"ledger-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.restarts = 0

    def __enter__(self) -> LedgerServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def create_token(self, name: str) -> str:
        """A bearer token for `name`, the actor of what it posts."""
        service = LedgerService(Settings(database_url=self.database_url))
        try:
            return TokenStore(service.store).create(name)
        finally:
            service.close()

    def start(self, seconds: float = 30) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ledger", "serve", "--port", str(self.port),
                 "--workers", str(self.workers)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            self._wait_healthy(seconds)
        except BaseException:
            self.stop()
            raise

    def restart(self) -> None:
        self.start()
        self.restarts += 1

    def _wait_healthy(self, seconds: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"ledger serve exited with {self.process.returncode}: {self.log()}"
                )
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"ledger serve was not healthy within {seconds} s: {self.log()}")

    def log(self, characters: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]

    def worker_pids(self) -> list[int]:
        """The master's children: gunicorn's workers."""
        if self.process is None or self.process.poll() is not None:
            return []
        pids: set[int] = set()
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            try:
                pids.update(int(pid) for pid in children.read_text().split())
            except OSError:
                continue
        return sorted(pids)

    def kill_worker(self, rng: Random) -> int | None:
        """SIGKILL one worker chosen at random; the master forks a new one."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"ledger serve exited with {self.process.returncode}: {self.log()}")
        pids = self.worker_pids()
        if not pids:
            return None
        pid = rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        self.kills += 1
        return pid

    def kill(self) -> None:
        """SIGKILL the master and its workers at once, as a crash of the machine would."""
        self.stop()
        self.kills += 1

    def stop(self) -> None:
        """SIGKILL the whole process group: every commit the ledger acknowledged is durable,
        so the tests need no graceful shutdown, only a quick one."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with suppress(ProcessLookupError):  # start_new_session: the group is its pid
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        _kill_group(process.pid)  # workers outlive a master that died on its own


def _kill_group(group: int, seconds: float = 10) -> None:
    """SIGKILL, by pid, every live process of the group, and wait until none is left."""
    deadline = time.monotonic() + seconds
    while members := _live_members(group):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {members} of group {group} would not die")
        for pid in members:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _live_members(group: int) -> list[int]:
    """The processes of a process group that are not dead yet (zombies count as dead)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


# PostgreSQL crashes


@contextmanager
def own_postgres_cluster() -> Iterator[pg.Cluster]:
    """A cluster of the test's own, so crashing it disturbs no other test."""
    cluster = pg.start_cluster()
    if cluster is None:
        message = "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        if IN_CI:
            pytest.fail(f"{message}; CI must run every PostgreSQL test")
        pytest.skip(message)
    try:
        yield cluster
    finally:
        pg.remove(cluster)


def crash_postgres(cluster: pg.Cluster) -> None:
    """Stop at once, without a checkpoint: the next start runs crash recovery."""
    cluster.stop("immediate")


def restart_postgres(cluster: pg.Cluster) -> None:
    """Start again with the options of the last start (pg_ctl keeps them in postmaster.opts)."""
    pg_ctl = str(cluster.bin_dir / "pg_ctl")
    data, log = str(cluster.directory / "data"), str(cluster.directory / "server.log")
    subprocess.run(
        cluster._command(pg_ctl, "-D", data, "-l", log, "-w", "-t", "60", "restart"),
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    cluster.wait_ready()
