"""When to retry a request whose outcome is unknown, and how long to wait: bounded exponential
backoff with full jitter."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from urllib3.exceptions import NewConnectionError

# A gateway failed, or the ledger was too busy: the request may or may not have been handled.
RETRY_STATUSES = frozenset({502, 503, 504})


def outcome_unknown(error: requests.RequestException) -> bool:
    """The ledger may or may not have handled the request: no connection, a dropped one, or a
    timeout. Configuration errors (TLS, a bad URL) are not, and retrying them cannot help."""
    if isinstance(error, requests.exceptions.SSLError | requests.exceptions.InvalidURL):
        return False
    return isinstance(
        error,
        requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError,
    )


def never_sent(error: requests.RequestException) -> bool:
    """The request certainly never reached the ledger: it could not connect at all."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError) or isinstance(
        error, requests.exceptions.SSLError
    ):
        return False
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all (1: never retry). Before retry n (0, 1, …) it waits a random time
    between 0 and min(max_delay, base_delay · 2ⁿ): spread out, so that many clients that failed
    together do not come back together."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    statuses: frozenset[int] = RETRY_STATUSES
    jitter: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts counts the first try too: it must be at least 1.")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("Delays cannot be negative.")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(retry, 62))
        return self.jitter(0.0, ceiling)

    def retries_error(self, error: requests.RequestException, *, idempotent: bool) -> bool:
        """Whether an error is worth another try: an unknown outcome of a request that may be
        repeated (it has an idempotency key, or repeating it changes nothing), or any request
        that never left."""
        return never_sent(error) or (idempotent and outcome_unknown(error))

    def retries_status(self, status: int, *, idempotent: bool) -> bool:
        return idempotent and status in self.statuses


NO_RETRY = RetryPolicy(attempts=1)
