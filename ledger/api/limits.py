"""Per-token rate limiting (flask-limiter): 429 with Retry-After, as problem+json, counted in
the ledger's database (or LEDGER_RATE_LIMIT_STORAGE) so that the limit holds across workers."""

from __future__ import annotations

import hashlib

from flask import Flask, Response, request
from flask_limiter import Limiter
from limits.errors import ConfigurationError

from ledger import ratelimits
from ledger.api.requests import PUBLIC_ENDPOINTS
from ledger.settings import ConfigError, Settings


def _caller() -> str:
    """The bearer token's hash, so each token has its own budget; else the client address."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "address:" + (request.remote_addr or "unknown")


def install(app: Flask, settings: Settings) -> None:
    limit = settings.rate_limit
    if limit.strip().lower() in ("off", "none", ""):
        return

    # Registered before the limiter, so it runs after the limiter has added its headers.
    @app.after_request
    def retry_after_only_when_limited(response: Response) -> Response:
        if response.status_code != 429:
            response.headers.pop("Retry-After", None)
        return response

    try:
        limiter = Limiter(
            key_func=_caller,
            app=app,
            application_limits=[limit],  # one budget per token, over all endpoints
            headers_enabled=True,
            strategy="fixed-window",  # the one the database counters implement
            storage_uri=ratelimits.storage_uri(settings),
            # Counters that fail never fail a request: the worker logs a warning and counts in
            # its own memory (the limit then holds per worker) until the storage answers again.
            in_memory_fallback_enabled=True,
            swallow_errors=True,
        )
    except ConfigurationError as error:
        raise ConfigError(
            f"LEDGER_RATE_LIMIT_STORAGE must be a storage URI of the `limits` library, such as "
            f"redis://host:6379, or empty for the ledger's database ({error})"
        ) from None
    limiter.request_filter(lambda: request.endpoint in PUBLIC_ENDPOINTS)
    if settings.create_tables:
        ratelimits.create_table(settings)
