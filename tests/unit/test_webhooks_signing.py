"""The X-Ledger-Signature header, and the verification snippet documented for receivers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

import ledger.webhooks
from ledger.webhooks.signing import signature, verify

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id":"7","specversion":"1.0"}'
Verify = Callable[..., bool]


@pytest.fixture(scope="module")
def documented_verify() -> Verify:
    """The `verify` function exactly as the package docstring shows it to receivers."""
    doc = ledger.webhooks.__doc__ or ""
    start = doc.index("    import hashlib")
    end = doc.index("Answer 2xx")
    code = "\n".join(line.removeprefix("    ") for line in doc[start:end].splitlines())
    namespace: dict[str, Any] = {}
    exec(compile(code, "ledger.webhooks docstring", "exec"), namespace)
    found: Verify = namespace["verify"]
    return found


def test_the_header_carries_the_timestamp_and_a_sha256_hex_digest() -> None:
    header = signature(SECRET, BODY, 1_700_000_000)

    assert re.fullmatch(r"t=1700000000,v1=[0-9a-f]{64}", header)


def test_the_documented_snippet_accepts_a_fresh_signature(documented_verify: Verify) -> None:
    header = signature(SECRET, BODY, int(time.time()))

    assert documented_verify(SECRET, header, BODY)
    assert verify(SECRET, header, BODY)


@pytest.mark.parametrize(
    ("secret", "body", "age"),
    [
        ("another-secret-0123456789", BODY, 0),
        (SECRET, BODY + b" ", 0),
        (SECRET, BODY, 3600),
        (SECRET, BODY, -3600),
    ],
    ids=["wrong secret", "altered body", "too old", "from the future"],
)
def test_the_documented_snippet_rejects(
    documented_verify: Verify, secret: str, body: bytes, age: int
) -> None:
    header = signature(SECRET, BODY, int(time.time()) - age)

    assert not documented_verify(secret, header, body)
    assert not verify(secret, header, body)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=abc,v1=00", "t=1", "nonsense"])
def test_a_malformed_header_is_rejected(documented_verify: Verify, header: str) -> None:
    assert not documented_verify(SECRET, header, BODY)
    assert not verify(SECRET, header, BODY, now=1.0)
