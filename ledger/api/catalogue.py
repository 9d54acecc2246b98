"""The catalogue of event types, each with a description and the JSON schema of its data."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Api

from ledger.api.requests import Blueprint
from ledger.api.schemas import DATA_SCHEMAS, EVENT_DESCRIPTIONS, EventTypeCatalogueSchema

blp = Blueprint("event-types", __name__, description="The catalogue of governance event types")


def register_data_schemas(api: Api) -> None:
    for name, schema in DATA_SCHEMAS.items():
        api.spec.components.schema(f"{name}Data", schema=schema)


def _inline(node: Any, components: dict[str, Any]) -> Any:
    """Resolve `$ref`s so that each event type's schema stands on its own."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
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
