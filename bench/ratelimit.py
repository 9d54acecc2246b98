"""The cost of one rate-limit hit on each storage: `python -m bench.ratelimit [hits]`.

A request costs one hit (the upsert) and reads its window for the X-RateLimit headers, which the
database counters answer from the hit; "uncached read" is what that read would cost otherwise.
Several threads hitting one key show the cost of waiting for each other's locks."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from limits import RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from bench.servers import databases, postgres_available
from ledger.ratelimits import create_table, storage_uri
from ledger.settings import Settings

LIMIT = RateLimitItemPerMinute(10**9)
THREADS = 4


def microseconds(action: Callable[[int], object], times: int) -> float:
    started = time.perf_counter()
    for i in range(times):
        action(i)
    return (time.perf_counter() - started) / times * 1e6


def concurrent_microseconds(storage: Storage, times: int) -> float:
    """Wall time per hit while THREADS threads hit one key at once."""
    limiter = FixedWindowRateLimiter(storage)
    each = times // THREADS
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(
            lambda _: [limiter.hit(LIMIT, "hot") for _ in range(each)], range(THREADS)
        ):
            pass
    return (time.perf_counter() - started) / (each * THREADS) * 1e6


def measure(name: str, uri: str, times: int) -> None:
    storage = storage_from_string(uri)
    limiter = FixedWindowRateLimiter(storage)
    limiter.hit(LIMIT, "warm-up")
    hit = microseconds(lambda i: limiter.hit(LIMIT, "one-token"), times)
    request = microseconds(
        lambda i: (limiter.hit(LIMIT, "one-token"), limiter.get_window_stats(LIMIT, "one-token")),
        times,
    )
    uncached = microseconds(lambda i: limiter.get_window_stats(LIMIT, f"cold-{i % 10}"), times)
    many = microseconds(lambda i: limiter.hit(LIMIT, f"token-{i}"), times)
    hot = concurrent_microseconds(storage, times)
    print(f"| {name} | {hit:.0f} | {request:.0f} | {uncached:.0f} | {many:.0f} | {hot:.0f} |")


def main() -> None:
    times = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(f"µs per operation, {times} each, one process ({THREADS} threads for the last column)\n")
    print("| storage | hit | hit + headers | uncached read | hit, new key each | hit, 4 threads |")
    print("|---|---|---|---|---|---|")
    measure("memory:// (per worker)", "memory://", times)
    kinds = ["sqlite", "postgres"] if postgres_available() else ["sqlite"]
    for kind in kinds:
        with databases(kind) as found:
            settings = Settings(database_url=found.new("ratelimit"))
            create_table(settings)
            measure(f"{kind} counters", storage_uri(settings), times)


if __name__ == "__main__":
    main()
