"""Request plumbing: bearer authentication, body checks, strict JSON for schemas, request ids."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser

from ledger.api.access import authorize
from ledger.api.problems import ApiProblem
from ledger.api.strictjson import loads_strict
from ledger.tokens import Principal
from ledger.ui.session import SESSION_COOKIE

PUBLIC_ENDPOINTS = {
    "health.Health",
    "health.Ready",
    "health.Metrics",  # counts by route and event type: no tenant's data
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
    "docs_static",
    "ui.login",  # the login form, and logout, which must work with a revoked token too
    "ui.logout",
    "ui.static",
}
JSON_TYPES = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
ETAG = re.compile(r'^(W/)?"(\d{1,12})"$')
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class StrictParser(FlaskParser):
    """Hands schemas the body parsed strictly once, before the view (see `check_body`), and
    rejects unknown query parameters: a typo like `?knownat=` must not silently mean "now"."""

    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {  # noqa: RUF012 - as webargs declares it
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": RAISE,
    }

    def _raw_load_json(self, req: Any) -> Any:
        return g.get("json_body")


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictParser()


def principal() -> Principal:
    """The authenticated caller of this request."""
    caller: Principal = g.principal
    return caller


def authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and request.blueprint == "ui":
        # Pages carry the token in an HttpOnly, SameSite=Strict cookie sent only to /ui.
        scheme, token = "bearer", request.cookies.get(SESSION_COOKIE, "")
    found = (
        current_app.extensions["ledger.tokens"].authenticate(token.strip())
        if (scheme.lower() == "bearer" and token.strip())
        else None
    )
    if found is None:
        raise ApiProblem(
            401,
            "unauthenticated",
            "Send a valid token as 'Authorization: Bearer <token>' (create one with "
            "'ledger token create --name NAME').",
            headers={"WWW-Authenticate": 'Bearer realm="ledger"'},
        )
    g.principal = found
    authorize(found, request.endpoint, request.method, request.view_args or {})


def check_body() -> None:
    """Bodies must be JSON, within the size limit, and strictly well-formed."""
    if request.method not in ("POST", "PUT", "PATCH") or request.endpoint is None:
        return
    if request.blueprint == "ui":
        return  # the pages' login and logout forms (form-encoded, within MAX_CONTENT_LENGTH)
    limit: int = current_app.config["LEDGER_MAX_BODY_BYTES"]
    too_large = ApiProblem(413, "body-too-large", f"The body exceeds {limit} bytes; send less.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    # A binary-mode CloudEvent may leave its (JSON) content type out.
    binary_cloudevent = "ce-specversion" in request.headers and not request.mimetype
    if not (JSON_TYPES.match(request.mimetype or "") or binary_cloudevent):
        raise ApiProblem(
            415,
            "unsupported-media-type",
            "Send the body as JSON with 'Content-Type: application/json'.",
        )
    # Without a Content-Length (chunked), werkzeug stops reading one byte past the limit
    # (MAX_CONTENT_LENGTH is limit + 1): a body that long is refused, not cut short.
    body = request.get_data(cache=True)
    if len(body) > limit:
        raise too_large
    g.json_body = loads_strict(body)


def if_match() -> int | None:
    """The stream version the client expects, from If-Match, or None when absent."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = ETAG.match(header.strip())
    if match is None:
        raise ApiProblem(
            400,
            "malformed-if-match",
            'If-Match must be an ETag from a previous response, like "12".',
        )
    return int(match.group(2))


def etag(version: int) -> str:
    return f'"{version}"'


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiProblem(
            400,
            "malformed-idempotency-key",
            "Idempotency-Key must be 1–255 visible ASCII characters, e.g. a UUID.",
        )
    return key


def assign_request_id() -> None:
    if "request_id" in g:
        return  # assigned already, before the rate limiter (see _observe_requests)
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = (
        incoming if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", incoming) else (secrets.token_hex(8))
    )


def finish(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Content-Security-Policy", _csp(request.path))
    if request.path != "/docs" and not request.path.startswith("/static"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _csp(path: str) -> str:
    if path == "/docs" or path.startswith("/docs/"):
        # Swagger UI (served locally) starts with an inline script and inline styles.
        return ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")  # fmt: skip
    if path == "/ui" or path.startswith("/ui/"):
        return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")  # fmt: skip
    return "default-src 'none'; frame-ancestors 'none'"


def install(app: Flask) -> None:
    app.before_request(assign_request_id)
    app.before_request(authenticate)
    app.before_request(check_body)
    app.after_request(finish)
