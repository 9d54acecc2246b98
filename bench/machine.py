"""What the figures were measured on: the machine, the versions, and how busy it was."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.loadgen import wrk_path
from tests import pg

PACKAGES = (
    "governance-ledger",
    "eventsourcing",
    "flask",
    "flask-smorest",
    "marshmallow",
    "gunicorn",
    "psycopg",
    "psycopg-pool",
)
BUSY_SHARE = 0.25  # of all cores, used by others before a section starts


def description() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(_meminfo_kb("MemTotal") / 1024 / 1024, 1),
        "system": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    found = {name: _version(name) for name in PACKAGES}
    found["sqlite"] = sqlite3.sqlite_version
    found["postgresql"] = _command_version([str(d / "postgres") for d in _pg_bin()], "--version")
    wrk = wrk_path()
    found["wrk"] = _command_version([wrk] if wrk else [], "-v").split(" Copyright")[0]
    return found


def cpu_busy_share(seconds: float = 0.3) -> float:
    """The share of all cores that was busy over a short interval (0 to 1)."""
    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()
    total = after[0] - before[0]
    return round((after[1] - before[1]) / total, 2) if total else 0.0


def _cpu_times() -> tuple[int, int]:
    """(all jiffies, busy jiffies) since boot, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), sum(fields) - idle


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _meminfo_kb(name: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _pg_bin() -> list[Path]:
    found = pg.find_bin_dir()
    return [found] if found else []


def _command_version(command: list[str], flag: str) -> str:
    if not command:
        return "not installed"
    result = subprocess.run([*command, flag], capture_output=True, text=True, check=False)
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else "unknown"
