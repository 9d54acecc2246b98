"""The HTTP API: `create_app()` builds the Flask app that gunicorn serves."""

from __future__ import annotations

import http
import logging
import time
from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Flask, Response, g, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from ledger import logs, metrics
from ledger.api import (
    catalogue,
    collaborations,
    docs,
    health,
    integrity,
    limits,
    readmodels,
    register,
    requests,
    tokens,
    webhooks,
)
from ledger.api.problems import register_error_handlers
from ledger.api.schemas import ProblemSchema
from ledger.service import LedgerService
from ledger.settings import Settings
from ledger.tokens import TokenStore
from ledger.ui import views as ui
from ledger.webhooks.subscriptions import Subscriptions
from projections.register import AgreementRegister

access_log = logging.getLogger("ledger.access")


class ObjectRulesConverter(OpenAPIConverter):
    """Adds a schema's `Meta.json_schema` (what it checks of the object as a whole, like
    "exactly one key", which no field states) to the schema's OpenAPI document."""

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        document: dict[str, Any] = super().schema2jsonschema(schema)  # type: ignore[no-untyped-call]
        document.update(getattr(getattr(schema, "Meta", None), "json_schema", {}))
        return document


class ObjectRulesPlugin(MarshmallowPlugin):
    Converter = ObjectRulesConverter


class LedgerApi(Api):
    """flask-smorest's Api, with errors left to the ledger's problem+json handlers and
    documented as the problem+json bodies they are."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        return None

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = ProblemSchema
            prepare_response(response, self.spec, "application/problem+json")
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "A problem (RFC 9457)", "schema": ProblemSchema}
        prepare_response(default, self.spec, "application/problem+json")
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def create_app(config: Settings | None = None) -> Flask:
    settings = config or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.config.update(
        LEDGER_MAX_BODY_BYTES=settings.max_body_bytes,
        MAX_CONTENT_LENGTH=settings.max_body_bytes + 1,
        API_TITLE="Governance Ledger",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        **docs.DOCS_CONFIG,
        API_SPEC_OPTIONS={
            "info": {
                "description": "An append-only, event-sourced record of how multi-organisation "
                "collaborations govern themselves. Errors are RFC 9457 problem+json."
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    service = LedgerService(settings)
    app.extensions["ledger.service"] = service
    app.extensions["ledger.tokens"] = TokenStore(service.store)
    app.extensions["ledger.register"] = AgreementRegister(service, create=settings.create_tables)
    app.extensions["ledger.webhooks"] = Subscriptions(service, allow_private=settings.webhook_allow_private, create=settings.create_tables)  # fmt: skip
    api = LedgerApi(app, spec_kwargs={"marshmallow_plugin": ObjectRulesPlugin()})
    blueprints = (collaborations.blp, readmodels.blp, register.blp, catalogue.blp, health.blp,
                  tokens.blp, integrity.blp, webhooks.blp)  # fmt: skip
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.register_blueprint(ui.blp)  # pages, outside the OpenAPI document
    catalogue.register_data_schemas(api)
    app.extensions["ledger.catalogue"] = catalogue.build_catalogue(api)
    # Timed from the first hook on, so refused requests (401, 429) are timed and logged too.
    _observe_requests(app)
    # The limiter first: requests without a valid token count too (per address).
    limits.install(app, settings)
    requests.install(app)
    register_error_handlers(app)
    docs.install(app)
    return app


def _observe_requests(app: Flask) -> None:
    """One JSON log line and the metrics of each request: its route (the URL rule, never the
    path with its ids), status, duration and actor; never a token, a query or a body."""

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        requests.assign_request_id()  # so that a 429 of the rate limiter has one too

    @app.after_request
    def observe(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else None
        metrics.observe_request(route, request.method, response.status_code, seconds)
        extra: dict[str, Any] = {
            "method": request.method,
            "route": route or metrics.UNMATCHED,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
        }
        if request.view_args and "collaboration_id" in request.view_args:
            extra["collaboration_id"] = request.view_args["collaboration_id"]
        if "principal" in g:
            extra["actor"] = g.principal.name
        access_log.info("request", extra=extra)
        return response
