"""The ledger's RFC 9457 problems as exceptions: one class per status family, each carrying the
problem+json body (type, title, detail, rule, per-field errors)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests


@dataclass(frozen=True)
class FieldProblem:
    """One offending field of a validation problem."""

    field: str
    detail: str
    location: str | None = None  # "body", "query" or "header" (the problem's `in`)
    pointer: str | None = None  # RFC 6901 pointer into the body

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> FieldProblem:
        return cls(
            field=str(entry.get("field", "")),
            detail=str(entry.get("detail", "")),
            location=entry.get("in"),
            pointer=entry.get("pointer"),
        )


class LedgerProblem(Exception):
    """The ledger answered with an error. `body` is the whole problem+json object."""

    def __init__(
        self,
        status: int,
        body: Mapping[str, Any],
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.body: Mapping[str, Any] = body
        self.type: str = str(body.get("type", "about:blank"))
        self.title: str = str(body.get("title", ""))
        self.detail: str = str(body.get("detail", ""))
        self.rule: str | None = body.get("rule")
        self.errors: tuple[FieldProblem, ...] = tuple(
            FieldProblem.from_json(entry) for entry in body.get("errors") or ()
        )
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        rule = f" [{self.rule}]" if self.rule else ""
        return f"{self.status} {self.title}{rule}: {self.detail}"


class ValidationFailed(LedgerProblem):
    """400 or 422: the request was malformed; `errors` names each offending field."""


class Unauthorized(LedgerProblem):
    """401: the token is missing, unknown, revoked or expired."""


class Forbidden(LedgerProblem):
    """403: the token's role may not do this."""


class NotFound(LedgerProblem):
    """404: no such collaboration (or not one this token sees), item or resource."""


class RuleViolated(LedgerProblem):
    """409: a governance rule was broken; `rule` names it. Nothing was stored."""


class PreconditionFailed(LedgerProblem):
    """412: If-Match named another version than the stream's; `current_version` is its own."""

    @property
    def current_version(self) -> int | None:
        version = self.body.get("current_version")
        return int(version) if version is not None else None


class RateLimited(LedgerProblem):
    """429: this token sent too many requests; wait `retry_after` seconds."""


class ServerError(LedgerProblem):
    """5xx: the ledger (or a gateway in front of it) failed; retries were exhausted."""


FAMILIES: dict[int, type[LedgerProblem]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: RuleViolated,
    412: PreconditionFailed,
    422: ValidationFailed,
    429: RateLimited,
}


def problem_class(status: int) -> type[LedgerProblem]:
    if status >= 500:
        return ServerError
    return FAMILIES.get(status, LedgerProblem)


def retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (from delta-seconds or an HTTP date), or None."""
    header = response.headers.get("Retry-After", "").strip()
    if not header:
        return None
    if header.isdigit():
        return float(header)
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def problem_from_response(response: requests.Response) -> LedgerProblem:
    """The exception for an error response, problem+json or not (a gateway's HTML page)."""
    body: Mapping[str, Any]
    try:
        parsed = response.json()
        body = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        body = {}
    if "detail" not in body:
        text = response.text.strip()[:200] if response.text else ""
        body = {**body, "title": body.get("title", response.reason or ""), "detail": text}
    cls = problem_class(response.status_code)
    return cls(
        response.status_code,
        body,
        request_id=response.headers.get("X-Request-Id"),
        retry_after=retry_after(response),
    )
