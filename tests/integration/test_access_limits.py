"""Limits at their boundaries (body size, JSON depth, array length, page size, requests per
token), the security headers on every kind of answer, 405 with Allow, and errors without stack
traces. (That the SQLite files are readable by their owner only: tests/unit/test_sqlite_files.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests.conftest import database_url, open_app
from tests.integration.access_fixtures import unique
from tests.integration.helpers import LedgerApi, assert_problem, role
from tests.integration.one_app_per_module import app_per_module, token_per_module  # noqa: F401

JSON = "application/json"
MAX_DEPTH = 32
MAX_ITEMS = 200
MAX_LIMIT = 1000


@pytest.fixture
def cid(api: LedgerApi) -> str:
    return api.found_id()


def post_raw(client: FlaskClient, path: str, body: bytes, auth: dict[str, str]) -> TestResponse:
    return client.post(path, data=body, headers={**auth, "Content-Type": JSON})


def padded(value: dict[str, Any], size: int) -> bytes:
    """`value` as JSON, padded with insignificant whitespace to exactly `size` bytes."""
    body = json.dumps(value).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


# Body size


def test_the_body_limit_is_256_kib(app: Flask) -> None:
    assert app.config["LEDGER_MAX_BODY_BYTES"] == 256 * 1024


def test_a_body_of_exactly_the_limit_is_accepted(
    app: Flask, client: FlaskClient, auth: dict[str, str], api: LedgerApi, cid: str
) -> None:
    limit = app.config["LEDGER_MAX_BODY_BYTES"]
    body = padded({"type": "PhaseStarted", "data": {"name": "Pilot"}}, limit)
    response = post_raw(client, f"/collaborations/{cid}/events", body, auth)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert api.version(cid) == 2


@pytest.mark.parametrize(
    "path",
    ["/collaborations", "/collaborations/{cid}/events", "/tokens", "/subscriptions"],
)
def test_a_body_one_byte_over_the_limit_is_413_and_stores_nothing(
    app: Flask, client: FlaskClient, auth: dict[str, str], api: LedgerApi, cid: str, path: str
) -> None:
    limit = app.config["LEDGER_MAX_BODY_BYTES"]
    body = padded({"type": "PhaseStarted", "data": {"name": "Pilot"}}, limit + 1)
    collaborations = api.collaboration_ids()
    response = post_raw(client, path.format(cid=cid), body, auth)
    assert_problem(response, 413)
    assert str(limit) in response.get_json()["detail"]
    assert api.version(cid) == 1
    assert api.collaboration_ids() == collaborations


# JSON depth


def nested_note(depth: int) -> bytes:
    """An event whose body nests `depth` containers, the outer object counted."""
    return ('{"type": "PhaseStarted", "data": {"name": "Pilot"}, "note": '
            + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()  # fmt: skip


def test_json_nested_32_deep_is_parsed(client: FlaskClient, auth: dict[str, str], cid: str) -> None:
    response = post_raw(client, f"/collaborations/{cid}/events", nested_note(MAX_DEPTH), auth)
    # Parsed, then refused by the schema because a note is text: not a malformed body.
    problem = assert_problem(response, 422)
    assert problem["type"].endswith("/validation-failed")
    assert {e["field"] for e in problem["errors"]} == {"note"}


def test_json_nested_33_deep_is_malformed(
    client: FlaskClient, auth: dict[str, str], cid: str
) -> None:
    response = post_raw(client, f"/collaborations/{cid}/events", nested_note(MAX_DEPTH + 1), auth)
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("/malformed-json")
    assert f"deeper than {MAX_DEPTH}" in problem["detail"]


# Arrays in event data


def accountabilities(n: int) -> dict[str, Any]:
    return {**role(f"role-{n}"), "accountabilities": [f"duty {i}" for i in range(n)]}


def test_an_array_of_200_items_is_accepted(api: LedgerApi, cid: str) -> None:
    stored = api.record(cid, "RoleDefined", accountabilities(MAX_ITEMS))
    assert len(stored["data"]["accountabilities"]) == MAX_ITEMS


def test_an_array_of_201_items_is_refused(api: LedgerApi, cid: str) -> None:
    response = api.post_event(cid, "RoleDefined", accountabilities(MAX_ITEMS + 1))
    problem = assert_problem(response, 422)
    assert {e["field"] for e in problem["errors"]} == {"data.accountabilities"}
    assert api.version(cid) == 1


# Page size

PAGED = [
    "/collaborations",
    "/collaborations/{cid}/events",
    "/collaborations/{cid}/timeline",
    "/agreements",
    "/feed",
    "/checkpoints",
]


@pytest.mark.parametrize("path", PAGED)
def test_limit_1000_is_served(
    client: FlaskClient, auth: dict[str, str], cid: str, path: str
) -> None:
    response = client.get(path.format(cid=cid), query_string={"limit": MAX_LIMIT}, headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGED)
def test_limit_1001_is_400(client: FlaskClient, auth: dict[str, str], cid: str, path: str) -> None:
    response = client.get(path.format(cid=cid), query_string={"limit": MAX_LIMIT + 1}, headers=auth)
    problem = assert_problem(response, 400)
    assert "1000" in problem["detail"]


# Requests per token


@pytest.fixture
def limited(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    env = {
        "LEDGER_DATABASE_URL": database_url(backend, tmp_path, request),
        "LEDGER_RATE_LIMIT": "5 per minute",
        "LEDGER_LOG_LEVEL": "WARNING",
    }
    yield from open_app(Settings.from_env(env))


def bearer(app: Flask, name: str) -> dict[str, str]:
    tokens: TokenStore = app.extensions["ledger.tokens"]
    return {"Authorization": f"Bearer {tokens.create(name)}"}


def test_the_sixth_request_of_a_token_within_a_minute_is_429_with_retry_after(
    limited: Flask,
) -> None:
    client, first, second = limited.test_client(), bearer(limited, "one"), bearer(limited, "two")
    for _ in range(5):
        assert client.get("/collaborations", headers=first).status_code == 200
    refused = client.get("/collaborations", headers=first)
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    # Another token has its own budget; probes are never limited.
    assert client.get("/collaborations", headers=second).status_code == 200
    assert all(client.get("/health").status_code == 200 for _ in range(7))


def test_requests_without_a_valid_token_are_limited_too(limited: Flask) -> None:
    client = limited.test_client()
    statuses = [
        client.get("/collaborations", headers={"Authorization": "Bearer glt_guess"}).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]


# Security headers on every kind of answer


def answers(app: Flask, client: FlaskClient, auth: dict[str, str], cid: str) -> dict[str, Any]:
    """Requests that produce each kind of answer: (method, path, kwargs, expected status)."""
    funder = {"Authorization": "Bearer " + app.extensions["ledger.tokens"].create(
        unique("a-funder"), "funder", collaborations=[cid])}  # fmt: skip
    limit = app.config["LEDGER_MAX_BODY_BYTES"]
    return {
        "200": ("GET", "/collaborations", {"headers": auth}, 200),
        "201": ("POST", f"/collaborations/{cid}/events",
                {"headers": auth, "json": {"type": "PhaseStarted", "data": {"name": "P"}}}, 201),
        "400": ("POST", f"/collaborations/{cid}/events",
                {"headers": auth, "data": b"{", "content_type": JSON}, 400),
        "401": ("GET", "/collaborations", {}, 401),
        "403": ("GET", f"/collaborations/{cid}/timeline", {"headers": funder}, 403),
        "404 route": ("GET", "/nowhere", {"headers": auth}, 404),
        "404 collaboration": ("GET", "/collaborations/nowhere", {"headers": auth}, 404),
        "405": ("DELETE", "/collaborations", {"headers": auth}, 405),
        "413": ("POST", "/collaborations",
                {"headers": auth, "data": b" " * (limit + 1), "content_type": JSON}, 413),
        "415": ("POST", "/collaborations",
                {"headers": auth, "data": b"name=x", "content_type": "text/plain"}, 415),
        "health": ("GET", "/health", {}, 200),
        "openapi": ("GET", "/openapi.json", {}, 200),
    }  # fmt: skip


KINDS = ["200", "201", "400", "401", "403", "404 route", "404 collaboration", "405", "413", "415",
         "health", "openapi"]  # fmt: skip


def assert_security_headers(response: TestResponse, api_response: bool = True) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    if api_response:
        assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("kind", KINDS)
def test_every_answer_carries_the_security_headers(
    app: Flask, client: FlaskClient, auth: dict[str, str], cid: str, kind: str
) -> None:
    method, path, kwargs, status = answers(app, client, auth, cid)[kind]
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert_security_headers(response)
    if status >= 400:
        assert response.mimetype == "application/problem+json"


def test_the_docs_page_carries_the_security_headers(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert_security_headers(response, api_response=False)


def test_an_unexpected_error_is_a_500_problem_without_a_stack_trace(
    app: Flask, client: FlaskClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals at /srv/ledger/service.py line 42")

    monkeypatch.setattr(app.extensions["ledger.service"], "collaborations", broken)
    response = client.get("/collaborations", headers=auth)
    problem = assert_problem(response, 500)
    assert_security_headers(response)
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "secret internals", ".py", "line 42"):
        assert leak not in text
    assert set(problem) == {"type", "title", "status", "detail"}


# 405 with Allow


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/collaborations", {"GET", "POST"}),
        ("PUT", "/collaborations/{cid}", {"GET"}),
        ("PATCH", "/collaborations/{cid}/events", {"GET", "POST"}),
        ("POST", "/feed", {"GET"}),
        ("GET", "/tokens/somebody", {"DELETE"}),
    ],
)
@pytest.mark.parametrize("authenticated", [True, False])
def test_a_method_not_allowed_is_405_with_allow(
    client: FlaskClient, auth: dict[str, str], cid: str, method: str, path: str,
    allowed: set[str], authenticated: bool,
) -> None:  # fmt: skip
    response = client.open(
        path.format(cid=cid), method=method, headers=auth if authenticated else {}
    )
    assert_problem(response, 405)
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert method not in response.headers["Allow"]
