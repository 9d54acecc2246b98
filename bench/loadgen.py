"""The clients: wrk with the Lua scripts of bench/lua for load, and a one-request-at-a-time
HTTP client for read latencies (a fixed number of samples, however slow the answer)."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LUA = Path(__file__).resolve().parent / "lua"
MARKER = "BENCH_RESULT "


@dataclass(frozen=True)
class WrkResult:
    seconds: float
    requests: int
    statuses: dict[int, int]
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds

    @property
    def failures(self) -> dict[str, int]:
        """Non-2xx answers by status, and socket errors (connect, read, write, timeout)."""
        found = {str(s): n for s, n in sorted(self.statuses.items()) if not 200 <= s < 300}
        if self.socket_errors:
            found["socket"] = self.socket_errors
        return found


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    url: str,
    script: str,
    args: list[str],
    *,
    seconds: int,
    connections: int,
    threads: int,
    token: str | None = None,
) -> WrkResult:
    """Run wrk against `url` with bench/lua/`script`; the script's done() prints the result."""
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "60s",
        "-s",
        str(LUA / script),
    ]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    command += [url, "--", *args]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 120, check=True
    ).stdout
    for line in output.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line.removeprefix(MARKER))
            return WrkResult(
                seconds=raw["duration_us"] / 1e6,
                requests=raw["requests"],
                statuses={int(status): n for status, n in raw["statuses"].items()},
                socket_errors=raw["socket_errors"],
                p50_ms=raw["p50_us"] / 1000,
                p90_ms=raw["p90_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["max_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no result:\n{output}")


@dataclass(frozen=True)
class Latencies:
    """Latencies of sequential GETs on one keep-alive connection, in milliseconds."""

    samples: list[float]

    def percentile(self, p: float) -> float:
        """The nearest-rank percentile: the smallest sample with p% of samples at or below."""
        ordered = sorted(self.samples)
        rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
        return ordered[int(rank) - 1]


def sequential_gets(
    url: str,
    paths: list[str],
    token: str,
    *,
    max_requests: int,
    max_seconds: float,
    min_requests: int,
) -> Latencies:
    """GET the paths in turn, one at a time, until `max_requests` or `max_seconds` (but at
    least `min_requests`); every answer must be 200."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []
    deadline = time.perf_counter() + max_seconds
    try:
        while len(samples) < max_requests and (
            len(samples) < min_requests or time.perf_counter() < deadline
        ):
            path = paths[len(samples) % len(paths)]
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            answer.read()
            samples.append((time.perf_counter() - started) * 1000)
            if answer.status != 200:
                raise RuntimeError(f"GET {path} answered {answer.status}")
    finally:
        connection.close()
    return Latencies(samples)
