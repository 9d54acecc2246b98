"""Webhook subscriptions: events POSTed to your URL as signed CloudEvents (see ledger.webhooks)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ledger.api.fields import Pattern
from ledger.api.problems import problem
from ledger.api.requests import Blueprint, principal
from ledger.domain.vocabulary import EVENT_TYPES
from ledger.webhooks.subscriptions import ACTIVE, DEAD_LETTERED, SubscriptionScopeError
from ledger.webhooks.subscriptions import Subscriptions as SubscriptionService
from ledger.webhooks.targets import TargetRefusedError

blp = Blueprint(
    "webhooks", __name__, description="Webhook subscriptions: events POSTed as signed CloudEvents"
)


# http(s), a host, then a path, query or fragment if any; no spaces or control characters.
WEBHOOK_URL = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7f/?#]+([/?#][^\x00-\x20\x7f]*)?$"


class SubscriptionRequestSchema(Schema):
    # Checked here for its form only, as the document states it: whether its host resolves to
    # public addresses is checked when subscribing (ledger.webhooks.targets), with its own 422.
    url = fields.String(required=True, validate=[validate.Length(max=2000), Pattern(
                            WEBHOOK_URL, error="Use an http(s) URL with a host, like "
                            "https://example.org/hooks.")],
                        metadata={"description": "Where to POST; a public http(s) address.",
                                  "format": "uri"})  # fmt: skip
    secret = fields.String(required=True, load_only=True, validate=validate.Length(min=16, max=256),
                           metadata={"description": "Signs each delivery (X-Ledger-Signature); "
                                     "never shown again."})  # fmt: skip
    types = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)),
                        load_default=list, validate=validate.Length(max=len(EVENT_TYPES)),
                        metadata={"description": "Only these event types; all when empty."})  # fmt: skip
    collaboration = fields.UUID(metadata={"description": "Only this collaboration's events; "
                                          "all (admin only) when left out."})  # fmt: skip


class SubscriptionSchema(Schema):
    id = fields.String()
    url = fields.String()
    types = fields.List(fields.String())
    collaboration = fields.String(allow_none=True)
    state = fields.String(metadata={"enum": [ACTIVE, DEAD_LETTERED]})
    position = fields.Integer(
        metadata={"description": "Every event up to this position was delivered or not wanted."}
    )
    delivered = fields.Integer(metadata={"description": "Deliveries that succeeded."})
    failed = fields.Integer(metadata={"description": "Attempts that failed, in all."})
    attempts = fields.Integer(metadata={"description": "Failed attempts at the next event."})
    failing_position = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.String(allow_none=True)
    last_attempt_at = fields.String(allow_none=True)
    last_delivered_at = fields.String(allow_none=True)
    dead_lettered_at = fields.String(allow_none=True)
    created_at = fields.String()
    created_by = fields.String()


class SubscriptionListSchema(Schema):
    items = fields.List(fields.Nested(SubscriptionSchema))


def subscriptions() -> SubscriptionService:
    found: SubscriptionService = current_app.extensions["ledger.webhooks"]
    return found


@blp.errorhandler(TargetRefusedError)
def target_refused(error: TargetRefusedError) -> Response:
    entry = {"in": "body", "field": "url", "pointer": "/url", "detail": error.detail}
    return problem(422, error.rule, error.detail, rule=error.rule, errors=[entry])


@blp.errorhandler(SubscriptionScopeError)
def needs_collaboration(error: SubscriptionScopeError) -> Response:
    return problem(403, error.rule, error.detail, rule=error.rule)


@blp.route("/subscriptions")
class Subscriptions(MethodView):
    @blp.response(200, SubscriptionListSchema)
    def get(self) -> dict[str, Any]:
        """The subscriptions this token sees, with their delivery state (never their secrets)."""
        return {"items": subscriptions().all(principal().scope())}

    @blp.arguments(SubscriptionRequestSchema)
    @blp.response(201, SubscriptionSchema)
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Subscribe a URL to the events stored from now on, in order, at least once."""
        who = principal()
        collaboration = body.get("collaboration")
        created = subscriptions().subscribe(
            url=body["url"], secret=body["secret"], types=body["types"],
            collaboration_id=str(collaboration) if collaboration else None,
            actor=who.name, scope=who.scope(),
        )  # fmt: skip
        location = url_for("webhooks.Subscription", subscription_id=created["id"])
        return created, 201, {"Location": location}


@blp.route("/subscriptions/<subscription_id>")
class Subscription(MethodView):
    @blp.response(200, SubscriptionSchema)
    def get(self, subscription_id: str) -> dict[str, Any]:
        """A subscription's delivery state: active or dead-lettered, the position delivered up
        to, failed attempts at the next event and the last error."""
        return subscriptions().get(subscription_id, principal().scope())

    @blp.response(204)
    def delete(self, subscription_id: str) -> tuple[str, int]:
        """Stop delivering to this subscription, at once and for good."""
        subscriptions().delete(subscription_id, principal().scope())
        return "", 204
