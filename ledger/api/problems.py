"""RFC 9457 problem details: one error table from ledger errors to statuses, one body shape."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from eventsourcing.persistence import InterfaceError as PersistenceInterfaceError
from eventsourcing.persistence import OperationalError as PersistenceOperationalError
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from ledger import metrics
from ledger.api.strictjson import MalformedJSONError
from ledger.domain import errors
from ledger.settings import ConfigError
from ledger.tokens import TokenError, TokenNameTakenError, TokenNotFoundError

log = logging.getLogger("ledger.api")

PROBLEM_BASE = "https://governance-ledger.example/problems/"

# The most specific class wins: the table is searched along the error's MRO.
STATUS: dict[type[Exception], int] = {
    errors.RuleViolation: 409,
    errors.UnknownEventTypeError: 422,
    errors.CollaborationNotFoundError: 404,
    errors.ItemNotFoundError: 404,
    errors.NotYetRecordedError: 404,
    errors.NotYetInForceError: 404,
    errors.MomentOutOfRangeError: 422,
    errors.VersionMismatchError: 412,
    errors.ConcurrentWriteError: 503,
    errors.IdempotencyKeyReusedError: 422,
    errors.SourceIdReusedError: 409,
    TokenNameTakenError: 409,
    TokenNotFoundError: 404,
    TokenError: 422,
}

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Rule violated",
    412: "Precondition failed",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """An HTTP-level problem raised by the API layer itself (auth, headers, media types)."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail
        self.headers = dict(headers or {})
        self.extra = extra


def problem(
    status: int,
    slug: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers.update(headers or {})
    return response


def _status_of(error: errors.LedgerError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _flatten(messages: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            # marshmallow files errors about a whole object under "_schema": they belong to it.
            yield from _flatten(value, path if key == "_schema" else (*path, str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield ".".join(path), " ".join(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            yield from _flatten(value, (*path, str(index)))
    else:
        yield ".".join(path), str(messages)


def validation_errors(messages: Mapping[str, Any]) -> list[dict[str, str]]:
    """One entry per offending field: where it is (body, query, header) and what is wrong."""
    entries = []
    for location, fields in messages.items():
        for field, message in _flatten(fields):
            where = "body" if location == "json" else location
            pointer = "/" + field.replace(".", "/") if field and where == "body" else None
            entry = {"in": where, "field": field or "(body)", "detail": message}
            if pointer:
                entry["pointer"] = pointer
            entries.append(entry)
    return entries


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(errors.LedgerError)
    def ledger_error(error: errors.LedgerError) -> Response:
        metrics.count_conflict(error)
        extra: dict[str, Any] = {"rule": error.rule}
        if isinstance(error, errors.VersionMismatchError):
            extra["current_version"] = error.current_version
        return problem(_status_of(error), error.rule, error.detail, **extra)

    @app.errorhandler(ApiProblem)
    def api_problem(error: ApiProblem) -> Response:
        return problem(error.status, error.slug, error.detail, error.headers, **error.extra)

    @app.errorhandler(MalformedJSONError)
    def malformed(error: MalformedJSONError) -> Response:
        return problem(400, "malformed-json", str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        if "messages" in data:
            entries = validation_errors(data["messages"])
            detail = "; ".join(f"{e['field']}: {e['detail']}" for e in entries[:5])
            return problem(
                status, "validation-failed", f"Fix these fields: {detail}", headers, errors=entries
            )
        if status == 405 and error.get_response().headers.get("Allow"):
            headers["Allow"] = error.get_response().headers["Allow"]
        return problem(status, _slug(status), _detail(error), headers)

    @app.errorhandler(PersistenceOperationalError)
    @app.errorhandler(PersistenceInterfaceError)
    def database_unavailable(error: Exception) -> Response:
        # Locked, down, restarting, full or read-only: nothing was stored, and a retry may work.
        log.warning("database unavailable: %s", error)
        return problem(503, "database-unavailable",
                       "The database is unavailable or busy right now; nothing was stored. "
                       "Retry shortly (with the same Idempotency-Key).",
                       {"Retry-After": "1"})  # fmt: skip

    @app.errorhandler(ConfigError)
    def config_error(error: ConfigError) -> Response:
        log.error("configuration error: %s", error)
        return problem(500, "internal-error", "The ledger is misconfigured; see its log.")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return problem(
            500,
            "internal-error",
            "Something went wrong on our side; nothing you sent was stored twice. "
            "Retry, and report the request id if it persists.",
        )


def _slug(status: int) -> str:
    return TITLES.get(status, "error").lower().replace(" ", "-")


def _detail(error: HTTPException) -> str:
    details = {
        404: "There is no such resource; check the URL.",
        405: "This method is not allowed here; see the Allow header.",
        413: "The body is larger than this ledger accepts; send less.",
    }
    return details.get(error.code or 0, error.description or "The request failed.")
