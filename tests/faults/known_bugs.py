"""Asserting the status of an answer, so a fault test can mark a known bug
`xfail(strict=True, raises=WrongStatus)` without hiding other failures (none is open now)."""

from __future__ import annotations

import requests


class WrongStatus(AssertionError):
    """The ledger answered, with a problem, but not with the status it should."""


def assert_status(response: requests.Response | None, status: int) -> None:
    assert response is not None, "no answer at all"
    if response.status_code != status:
        raise WrongStatus(f"{response.status_code}, not {status}: {response.text[:300]}")
