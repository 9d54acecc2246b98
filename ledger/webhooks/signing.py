"""The `X-Ledger-Signature` header: HMAC-SHA256 over the timestamp and the raw body."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Ledger-Signature"
TOLERANCE_SECONDS = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value `t=<unix seconds>,v1=<hex>` for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """True if `header` signs `body` with `secret`, and was made within `tolerance` of now."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).rpartition("v1=")[2]
    return hmac.compare_digest(expected, fields.get("v1", ""))
