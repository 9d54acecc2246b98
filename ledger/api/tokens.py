"""Token administration (admin only): issue, list and revoke bearer tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Response, current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ledger.api.fields import Id
from ledger.api.requests import Blueprint, principal
from ledger.domain.vocabulary import EVENT_TYPES
from ledger.tokens import GLOBAL_ROLES, Role, TokenStore

blp = Blueprint("tokens", __name__, description="Bearer tokens (admin only)")


def _scope_of(
    roles: list[Role], *, collaborations: bool = True, event_types: bool = False
) -> dict[str, Any]:
    """Tokens of these roles: limited to collaborations or not, and to event types or not."""
    scope = {"collaborations": collaborations, "event_types": event_types}
    rule: dict[str, Any] = {"properties": {"role": {"enum": [role.value for role in roles]}}}
    for name, needed in scope.items():
        rule["properties"][name] = {"minItems": 1} if needed else {"maxItems": 0}
    if any(scope.values()):
        rule["required"] = [name for name, needed in scope.items() if needed]
    return rule


class TokenRequestSchema(Schema):
    name = Id(required=True)
    role = fields.String(required=True, validate=validate.OneOf([r.value for r in Role]))
    collaborations = fields.List(
        fields.UUID(), load_default=list, validate=validate.Length(max=1000)
    )
    event_types = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES[1:])),
                              load_default=list, validate=validate.Length(max=100))  # fmt: skip
    expires_in_days = fields.Integer(validate=validate.Range(min=1, max=3650))

    class Meta:
        # For the OpenAPI document: the scope each role takes (TokenStore.create checks it).
        json_schema: ClassVar[dict[str, Any]] = {"oneOf": [
            _scope_of([r for r in Role if r in GLOBAL_ROLES], collaborations=False),
            _scope_of([r for r in Role if r not in GLOBAL_ROLES and r != Role.SYSTEM]),
            _scope_of([Role.SYSTEM], event_types=True),
        ]}  # fmt: skip


def tokens() -> TokenStore:
    store: TokenStore = current_app.extensions["ledger.tokens"]
    return store


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.response(200)
    def get(self) -> dict[str, Any]:
        """Every token's name, role, scope and dates (never the token itself)."""
        return {"items": tokens().all()}

    @blp.arguments(TokenRequestSchema)
    @blp.response(201)
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Issue a token; the answer is the only time it is shown."""
        secret = tokens().create(
            body["name"], body["role"], collaborations=[str(c) for c in body["collaborations"]],
            event_types=body["event_types"], expires_in_days=body.get("expires_in_days"),
            created_by=principal().name,
        )  # fmt: skip
        return {"name": body["name"], "role": body["role"], "token": secret}, 201


@blp.route("/tokens/<name>")
class Token(MethodView):
    @blp.response(204)
    def delete(self, name: str) -> Response:
        """Revoke a token at once."""
        tokens().revoke(name, revoked_by=principal().name)
        return Response(status=204)
