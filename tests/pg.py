"""A throwaway PostgreSQL cluster for the test session: initdb in a temporary directory, a free
loopback port, durable settings, stopped at the end. One fresh database per test."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg


def find_bin_dir() -> Path | None:
    """Debian puts the server binaries in /usr/lib/postgresql/<major>/bin; newest first."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if (Path(directory) / "initdb").exists():
            return Path(directory)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    bin_dir: Path
    directory: Path
    port: int
    run_as: str | None

    @property
    def admin_url(self) -> str:
        return f"postgresql://ledger@127.0.0.1:{self.port}/postgres"

    def _command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def start(self) -> None:
        data = self.directory / "data"
        subprocess.run(
            self._command(str(self.bin_dir / "initdb"), "-D", str(data), "-U", "ledger",
                          "--auth=trust", "--encoding=UTF8", "--no-instructions"),
            check=True, capture_output=True,
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.directory} -c max_connections=300 "
            "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
        )
        subprocess.run(
            self._command(str(self.bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                          "-l", str(self.directory / "server.log"), "-w", "-t", "60", "start"),
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            self._command(str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"),
                          "-m", mode, "-w", "stop"),
            check=False, capture_output=True,
        )  # fmt: skip

    def new_database(self) -> str:
        """A fresh database; tests never share state through it."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://ledger@127.0.0.1:{self.port}/{name}"

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not come up")


def start_cluster() -> Cluster | None:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return None
    directory = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    run_as = None
    if os.geteuid() == 0:
        # initdb refuses to run as root: the cluster belongs to the postgres user.
        run_as = "postgres"
        user = pwd.getpwnam(run_as)
        os.chown(directory, user.pw_uid, user.pw_gid)
    cluster = Cluster(bin_dir=bin_dir, directory=directory, port=_free_port(), run_as=run_as)
    cluster.start()
    cluster.wait_ready()
    return cluster


def remove(cluster: Cluster) -> None:
    cluster.stop("immediate")
    shutil.rmtree(cluster.directory, ignore_errors=True)
