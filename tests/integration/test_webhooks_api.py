"""Webhook subscriptions over HTTP: create, read, list, delete; who may; which targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests.conftest import database_url
from tests.integration.helpers import (
    UNKNOWN_UUID,
    LedgerApi,
    assert_problem,
    error_fields,
)

SECRET = "s3cret-for-the-receiver-only"
URL = "http://127.0.0.1:9/hooks"


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return Settings(
        database_url=database_url(backend, tmp_path, request), webhook_allow_private=True
    )


def subscribe(
    api: LedgerApi, headers: dict[str, str] | None = None, **body: object
) -> TestResponse:
    return api.client.post(
        "/subscriptions",
        json={"url": URL, "secret": SECRET, **body},
        headers=headers or api.auth,
    )


def bearer(app: Flask, name: str, role: str, *collaborations: str) -> dict[str, str]:
    tokens: TokenStore = app.extensions["ledger.tokens"]
    return {"Authorization": f"Bearer {tokens.create(name, role, collaborations=collaborations)}"}


def test_a_subscription_is_created_read_listed_and_deleted(api: LedgerApi, bare: str) -> None:
    response = api.client.post(
        "/subscriptions",
        json={"url": URL, "secret": SECRET, "types": ["PartnerJoined"], "collaboration": bare},
        headers=api.auth,
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert response.headers["Location"] == f"/subscriptions/{created['id']}"
    assert {k: created[k] for k in ("url", "types", "collaboration", "state", "attempts")} == {
        "url": URL, "types": ["PartnerJoined"], "collaboration": bare, "state": "active",
        "attempts": 0,
    }  # fmt: skip
    assert created["position"] == 1  # the founding is already stored: only later events come
    assert api.client.get(response.headers["Location"], headers=api.auth).get_json() == created
    listed = api.client.get("/subscriptions", headers=api.auth).get_json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert api.client.delete(response.headers["Location"], headers=api.auth).status_code == 204
    assert_problem(api.client.get(response.headers["Location"], headers=api.auth), 404)


def test_the_secret_is_never_shown(api: LedgerApi, bare: str) -> None:
    created = subscribe(api).get_json()

    for path in ("/subscriptions", f"/subscriptions/{created['id']}"):
        assert SECRET not in api.client.get(path, headers=api.auth).get_data(as_text=True)
    assert "secret" not in created


def test_a_subscription_to_an_unknown_collaboration_is_404(api: LedgerApi) -> None:
    assert_problem(subscribe(api, collaboration=UNKNOWN_UUID), 404)


def test_a_recorder_subscribes_only_to_collaborations_in_its_scope(
    api: LedgerApi, app: Flask
) -> None:
    mine, theirs = api.found_id(), api.found_id("Other")
    recorder = bearer(app, "coordinator", "recorder", mine)
    global_one = subscribe(api).get_json()

    created = subscribe(api, recorder, collaboration=mine)
    everything = subscribe(api, recorder)
    elsewhere = subscribe(api, recorder, collaboration=theirs)

    assert created.status_code == 201
    assert assert_problem(everything, 403)["type"].endswith("subscription-needs-collaboration")
    assert_problem(elsewhere, 404)
    listed = api.client.get("/subscriptions", headers=recorder).get_json()["items"]
    assert [item["collaboration"] for item in listed] == [mine]
    assert_problem(api.client.get(f"/subscriptions/{global_one['id']}", headers=recorder), 404)
    assert_problem(api.client.delete(f"/subscriptions/{global_one['id']}", headers=recorder), 404)


def test_an_unknown_subscription_is_404(api: LedgerApi) -> None:
    for subscription_id in (UNKNOWN_UUID, "nonsense"):
        assert_problem(api.client.get(f"/subscriptions/{subscription_id}", headers=api.auth), 404)
        response = api.client.delete(f"/subscriptions/{subscription_id}", headers=api.auth)
        assert_problem(response, 404)


class TestInputAndRoles:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"url": "ftp://example.org/in"}, "url"),
            ({"url": "not a url"}, "url"),
            ({"secret": "short"}, "secret"),
            ({"types": ["PartnerArrived"]}, "types.0"),
            ({"collaboration": "not-a-uuid"}, "collaboration"),
            ({"colour": "blue"}, "colour"),
        ],
    )
    def test_a_malformed_subscription_is_a_422_naming_the_field(
        self, api: LedgerApi, body: dict[str, object], field: str
    ) -> None:
        problem = assert_problem(subscribe(api, **body), 422)

        assert field in error_fields(problem)

    @pytest.mark.parametrize("role", ["funder", "evaluator", "auditor"])
    def test_other_roles_may_not_subscribe(
        self, api: LedgerApi, app: Flask, bare: str, role: str
    ) -> None:
        collaborations = () if role == "auditor" else (bare,)
        headers = bearer(app, f"a-{role}", role, *collaborations)

        assert_problem(subscribe(api, headers, collaboration=bare), 403)
        assert_problem(api.client.get("/subscriptions", headers=headers), 403)


class TestWithoutTheSetting:
    @pytest.fixture
    def settings(self, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
        return Settings(database_url=database_url(backend, tmp_path, request))

    @pytest.mark.parametrize(
        "url",
        ["http://127.0.0.1:8080/in", "http://localhost/in", "https://10.0.0.7/in",
         "http://[::1]:9000/in", "http://169.254.169.254/latest/meta-data"],
    )  # fmt: skip
    def test_private_targets_are_refused(self, api: LedgerApi, app: Flask, url: str) -> None:
        response = api.client.post(
            "/subscriptions", json={"url": url, "secret": SECRET}, headers=api.auth
        )

        problem = assert_problem(response, 422)
        assert problem["type"].endswith("webhook-target-refused")
        assert error_fields(problem) == {"url"}
        assert app.extensions["ledger.webhooks"].all(None) == []
