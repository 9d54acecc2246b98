"""The OpenAPI document, the browsable docs, the event-type catalogue, auth, and 405s."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.domain.vocabulary import EVENT_TYPES
from tests.integration.helpers import (
    EVERY_TYPE,
    UNKNOWN_UUID,
    LedgerApi,
    assert_problem,
)
from tests.integration.one_app_per_module import app_per_module, token_per_module  # noqa: F401

UNDOCUMENTED_ENDPOINTS = {
    "static",
    "docs_static",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}
PUBLIC_PATHS = ["/health", "/ready", "/openapi.json", "/docs", "/docs/static/swagger-ui.css"]


# The data fields that name things, which every event of the type must carry.
REQUIRED_IDS = {
    "CollaborationFounded": {"name", "mission"},
    "MissionRevised": {"mission"},
    "PhaseStarted": {"name"},
    "PartnerJoined": {"partner_id"},
    "PartnerCapacitiesChanged": {"partner_id"},
    "PartnerLeft": {"partner_id"},
    "MemberJoined": {"person_id"},
    "MemberLeft": {"person_id"},
    "RoleDefined": {"role_id"},
    "RoleRedefined": {"role_id"},
    "RoleAssigned": {"role_id", "person_id"},
    "RoleHandedOver": {"role_id", "from_person_id", "to_person_id"},
    "RoleVacated": {"role_id"},
    "RoleRetired": {"role_id"},
    "MandateGranted": {"mandate_id", "holder"},
    "MandateAmended": {"mandate_id"},
    "MandateRevoked": {"mandate_id"},
    "AgreementMade": {"agreement_id", "parties"},
    "AgreementAmended": {"agreement_id"},
    "AgreementCorrected": {"agreement_id"},
    "AgreementReviewed": {"agreement_id"},
    "AgreementEnded": {"agreement_id"},
    "DecisionRecorded": {"decision_id", "participants"},
    "ReflectionHeld": {"reflection_id", "participants"},
}


def openapi(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def routes(app: Flask) -> dict[str, set[str]]:
    """The app's documented routes, in OpenAPI path syntax, with their methods."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED_ENDPOINTS or rule.endpoint.startswith("ui."):
            continue  # pages for people are not part of the API document
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        methods = {m.lower() for m in rule.methods or set()} - {m.lower() for m in IGNORED_METHODS}
        found.setdefault(path, set()).update(methods)
    return found


def catalogue(api: LedgerApi) -> list[dict[str, Any]]:
    response = api.client.get("/event-types", headers=api.auth)
    assert response.status_code == 200
    return list(response.get_json()["items"])


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in refs(v)
        ]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


# OpenAPI


def test_openapi_is_version_3_with_a_title(client: FlaskClient) -> None:
    document = openapi(client)

    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Governance Ledger"
    assert document["info"]["version"]


def test_openapi_paths_and_methods_match_the_routes(app: Flask, client: FlaskClient) -> None:
    document = openapi(client)

    documented = {
        path: {method for method in operations if method != "parameters"}
        for path, operations in document["paths"].items()
    }
    assert documented == routes(app)
    assert {"/collaborations", "/collaborations/{collaboration_id}/events"} <= set(documented)


def test_openapi_documents_every_path_parameter(client: FlaskClient) -> None:
    document = openapi(client)

    for path, operations in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"] for p in operations.get("parameters", []) if p["in"] == "path"} | {
            p["name"]
            for method, operation in operations.items()
            if method != "parameters"
            for p in operation.get("parameters", [])
            if p["in"] == "path"
        }
        assert declared == names, path


def test_openapi_references_resolve(client: FlaskClient) -> None:
    document = openapi(client)

    for ref in refs(document):
        assert ref.startswith("#/components/"), ref
        _, _, section, name = ref.split("/")
        assert name in document["components"][section], ref


def test_openapi_declares_bearer_authentication(client: FlaskClient) -> None:
    document = openapi(client)

    schemes = document["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["bearer"].items()
    assert {"bearer": []} in document["security"]


def test_openapi_documents_the_event_data_schemas(client: FlaskClient) -> None:
    schemas = openapi(client)["components"]["schemas"]

    assert {f"{name}Data" for name in EVENT_TYPES} <= set(schemas)


def test_openapi_documents_errors_as_problem_json(client: FlaskClient) -> None:
    document = openapi(client)
    responses = document["components"]["responses"]

    for name in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY", "BAD_REQUEST"):
        content = responses[name]["content"]
        assert set(content) == {"application/problem+json"}, name
        schema = content["application/problem+json"]["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert {"type", "title", "status", "detail"} <= set(schema["properties"]), name


def test_openapi_marks_public_operations_as_needing_no_token(client: FlaskClient) -> None:
    paths = openapi(client)["paths"]

    for path in ("/health", "/ready"):
        assert paths[path]["get"].get("security") == [], path


def test_openapi_documents_the_write_headers(client: FlaskClient) -> None:
    post = openapi(client)["paths"]["/collaborations/{collaboration_id}/events"]["post"]

    headers = {p["name"].lower() for p in post.get("parameters", []) if p["in"] == "header"}
    assert {"if-match", "idempotency-key"} <= headers


# Browsable docs


def test_docs_are_html_that_load_only_local_assets(client: FlaskClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert assets
    assert all(asset.startswith("/docs/static/") for asset in assets), assets
    assert not re.search(r"https?://|//cdn", html)
    assert "/openapi.json" in html
    for asset in assets:
        loaded = client.get(asset)
        assert loaded.status_code == 200, asset
        assert len(loaded.data) > 1000, asset
        assert loaded.mimetype in ("text/css", "text/javascript", "application/javascript"), asset


def test_docs_static_does_not_serve_files_outside_its_directory(client: FlaskClient) -> None:
    response = client.get("/docs/static/../../../../etc/passwd")

    assert response.status_code == 404


# Catalogue


def test_catalogue_lists_exactly_the_event_types(api: LedgerApi) -> None:
    items = catalogue(api)

    assert [item["type"] for item in items] == list(EVENT_TYPES)
    assert len(items) == 24
    assert "CollaborationFounded" in {item["type"] for item in items}


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_event_type_has_a_description_and_a_schema_requiring_its_ids(
    api: LedgerApi, event_type: str
) -> None:
    item = next(i for i in catalogue(api) if i["type"] == event_type)

    assert set(item) == {"type", "description", "schema"}
    assert item["description"].strip()
    schema = item["schema"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert REQUIRED_IDS[event_type] <= set(schema["required"])
    assert set(schema["required"]) <= set(schema["properties"])
    assert refs(schema) == []


@pytest.mark.parametrize(
    ("event_type", "data"),
    [("CollaborationFounded", {"name": "N", "mission": "M", "languages": ["nl"]})]
    + [(event_type, data) for event_type, data, _ in EVERY_TYPE],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_catalogue_schema_fits_data_the_api_accepts(
    api: LedgerApi, event_type: str, data: dict[str, Any]
) -> None:
    schema = next(i for i in catalogue(api) if i["type"] == event_type)["schema"]

    assert set(schema["required"]) <= set(data)
    assert set(data) <= set(schema["properties"])


def test_id_fields_in_the_catalogue_carry_the_id_pattern(api: LedgerApi) -> None:
    schema = next(i for i in catalogue(api) if i["type"] == "PartnerJoined")["schema"]

    pattern = schema["properties"]["partner_id"]["pattern"]
    assert re.fullmatch(pattern, "partner-1.a_b:c")
    assert not re.fullmatch(pattern, "has space")


# Authentication


PROTECTED = [
    ("GET", "/collaborations"),
    ("POST", "/collaborations"),
    ("GET", "/collaborations/{cid}"),
    ("GET", "/collaborations/{cid}/events"),
    ("POST", "/collaborations/{cid}/events"),
    ("GET", "/event-types"),
    ("GET", f"/collaborations/{UNKNOWN_UUID}"),
]
BAD_CREDENTIALS = {
    "no header": None,
    "wrong token": "Bearer glt_not-a-real-token",
    "empty bearer": "Bearer ",
    "basic scheme": "Basic dGVzdGVyOnNlY3JldA==",
    "token without scheme": "glt_not-a-real-token",
}


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_protected_routes_need_a_valid_bearer_token(
    api: LedgerApi, method: str, path: str, credentials: str | None
) -> None:
    cid = api.found_id()
    collaborations = api.collaboration_ids()
    headers = {"Authorization": credentials} if credentials is not None else {}

    response = api.client.open(
        path.format(cid=cid), method=method, json={"type": "PhaseStarted"}, headers=headers
    )

    problem = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer" in problem["detail"]
    assert api.collaboration_ids() == collaborations
    assert api.version(cid) == 1


def test_an_altered_token_is_not_accepted(api: LedgerApi, token: str) -> None:
    response = api.client.get("/collaborations", headers={"Authorization": f"Bearer {token}x"})

    assert_problem(response, 401)


def test_authentication_comes_before_reading_the_body(api: LedgerApi) -> None:
    response = api.client.post(
        "/collaborations", data=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert_problem(response, 401)


def test_the_bearer_scheme_is_case_insensitive(api: LedgerApi, token: str) -> None:
    response = api.client.get("/collaborations", headers={"Authorization": f"bearer {token}"})

    assert response.status_code == 200


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_public_routes_need_no_token(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200


def test_health_and_ready_report_their_status(client: FlaskClient) -> None:
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/ready").get_json() == {"status": "ready"}


# Methods


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/collaborations", {"GET", "POST"}),
        ("PUT", "/collaborations/{cid}", {"GET"}),
        ("POST", "/collaborations/{cid}", {"GET"}),
        ("PATCH", "/collaborations/{cid}/events", {"GET", "POST"}),
        ("POST", "/event-types", {"GET"}),
        ("DELETE", "/health", {"GET"}),
    ],
)
def test_a_wrong_method_is_405_with_an_allow_header(
    api: LedgerApi, method: str, path: str, allowed: set[str]
) -> None:
    cid = api.found_id()

    response = api.client.open(path.format(cid=cid), method=method, headers=api.auth)

    assert_problem(response, 405)
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert allow - allowed <= IGNORED_METHODS
    assert api.version(cid) == 1
