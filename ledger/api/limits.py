"""Per-token rate limiting (flask-limiter): 429 with Retry-After, as problem+json."""

from __future__ import annotations

import hashlib

from flask import Flask, Response, request
from flask_limiter import Limiter

from ledger.api.requests import PUBLIC_ENDPOINTS


def _caller() -> str:
    """The bearer token's hash, so each token has its own budget; else the client address."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "address:" + (request.remote_addr or "unknown")


def install(app: Flask, limit: str) -> None:
    if limit.strip().lower() in ("off", "none", ""):
        return

    # Registered before the limiter, so it runs after the limiter has added its headers.
    @app.after_request
    def retry_after_only_when_limited(response: Response) -> Response:
        if response.status_code != 429:
            response.headers.pop("Retry-After", None)
        return response

    limiter = Limiter(
        key_func=_caller,
        app=app,
        default_limits=[limit],
        headers_enabled=True,
        storage_uri="memory://",
    )
    limiter.request_filter(lambda: request.endpoint in PUBLIC_ENDPOINTS)
