"""Bugs the fault tests found and that are not fixed yet; each is marked `xfail(strict=True)`
where a test shows it, so a fix turns the test green and then its mark must go."""

from __future__ import annotations

import requests

DATABASE_DOWN_IS_500 = (
    "an unreachable PostgreSQL surfaces as the library's OperationalError, which the error "
    "table does not know: 500 internal-error instead of a retryable 503"
)
FIRST_WRITE_AFTER_POSTGRES_RESTART_FAILS = (
    "after PostgreSQL restarts, each worker's pool still holds the connections the crash broke: "
    "the first request waits out the whole 5 s pool timeout (POSTGRES_CONNECT_TIMEOUT) and "
    "fails with 500, though PostgreSQL is back and ready"
)
DATABASE_LOCKED_IS_500 = (
    "SQLite's 'database is locked' surfaces as the library's OperationalError, which the error "
    "table does not know: 500 internal-error instead of a retryable 503"
)
READ_ONLY_COPY_CANNOT_OPEN = (
    "SQLite cannot open a cleanly closed WAL database on read-only storage (it must create the "
    "-shm file): `ledger serve` exits with 'unable to open database file' instead of serving "
    "reads"
)


class WrongStatus(AssertionError):
    """The ledger answered, with a problem, but not with the status it should."""


def assert_status(response: requests.Response | None, status: int) -> None:
    assert response is not None, "no answer at all"
    if response.status_code != status:
        raise WrongStatus(f"{response.status_code}, not {status}: {response.text[:300]}")
