"""The catalogue of event types, each with a description and the JSON schema of its data."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Api
from marshmallow import Schema

from ledger.api.requests import Blueprint
from ledger.api.schemas import (
    CLOUDEVENT_SCHEMAS,
    DATA_SCHEMAS,
    EVENT_DESCRIPTIONS,
    SUBMISSION_SCHEMAS,
    EventTypeCatalogueSchema,
)

blp = Blueprint("event-types", __name__, description="The catalogue of governance event types")
COMPONENTS = "#/components/schemas/"
# Bodies of POST /collaborations/{id}/events, registered by register_data_schemas.
EVENT_SUBMISSION = {"$ref": f"{COMPONENTS}EventSubmission"}
CLOUDEVENT = {"$ref": f"{COMPONENTS}CloudEvent"}


def register_data_schemas(api: Api) -> None:
    """Each event type's data; and an event of each type, as a submission and as a CloudEvent,
    each kind a oneOf with `type` as discriminator, so that `data` is documented by its type."""
    for name, schema in DATA_SCHEMAS.items():
        api.spec.components.schema(f"{name}Data", schema=schema)
    _register_one_of(api, "EventSubmission", SUBMISSION_SCHEMAS,
                     "One governance event: its type, the data of that type (GET /event-types "
                     "lists them) and envelope fields.")  # fmt: skip
    _register_one_of(api, "CloudEvent", CLOUDEVENT_SCHEMAS,
                     "One governance event as a CloudEvent 1.0: `type` is the event type, bare or "
                     "prefixed, and `data` the data of that type.")  # fmt: skip


def _register_one_of(
    api: Api, kind: str, schemas: dict[str, type[Schema]], description: str
) -> None:
    mapping = {}
    for name, schema in schemas.items():
        api.spec.components.schema(f"{name}{kind}", schema=schema)
        for value in schema().fields["type"].metadata["enum"]:
            mapping[value] = f"{COMPONENTS}{name}{kind}"
    api.spec.components.schema(kind, {
        "description": description,
        "oneOf": [{"$ref": f"{COMPONENTS}{name}{kind}"} for name in schemas],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    })  # fmt: skip


def _inline(node: Any, components: dict[str, Any]) -> Any:
    """Resolve `$ref`s so that each event type's schema stands on its own."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENTS):
            return _inline(components[ref.rsplit("/", 1)[1]], components)
        return {key: _inline(value, components) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, components) for item in node]
    return node


def build_catalogue(api: Api) -> list[dict[str, Any]]:
    components = api.spec.to_dict()["components"]["schemas"]
    return [
        {
            "type": name,
            "description": EVENT_DESCRIPTIONS[name],
            "schema": _inline(components[f"{name}Data"], components),
        }
        for name in DATA_SCHEMAS
    ]


@blp.route("/event-types")
class EventTypes(MethodView):
    @blp.response(200, EventTypeCatalogueSchema)
    def get(self) -> dict[str, Any]:
        """Every event type with its description and the JSON schema of its `data`."""
        return {"items": current_app.extensions["ledger.catalogue"]}
