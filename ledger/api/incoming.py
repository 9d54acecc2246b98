"""Event submissions as they arrive: the ledger's own JSON, or CloudEvents in structured,
binary or batch mode, each validated by the same schema."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_smorest import abort
from marshmallow import ValidationError

from ledger.api.problems import ApiProblem
from ledger.api.schemas import EventSubmissionSchema
from ledger.cloudevents import CloudEventError, from_binary, to_submission

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
MAX_BATCH = 500
# Where a CloudEvent's attribute lands in a submission, to name it as the sender wrote it.
CE_NAMES = {"effective_at": "time", "source.system": "source", "source.id": "id"}


def submissions(collaboration_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The validated submissions of this request, and whether they form a batch."""
    body = g.get("json_body")
    if request.mimetype == BATCH:
        if not isinstance(body, list) or not 1 <= len(body) <= MAX_BATCH:
            raise ApiProblem(422, "invalid-batch",
                             f"A batch is a JSON array of 1 to {MAX_BATCH} CloudEvents.")  # fmt: skip
        raw = [_converted(ce, collaboration_id, f"{index}.") for index, ce in enumerate(body)]
        return [_load(item, f"{index}.", cloudevent=True) for index, item in enumerate(raw)], True
    if request.mimetype == STRUCTURED:
        return [_load(_converted(body, collaboration_id, ""), "", cloudevent=True)], False
    if "ce-specversion" in request.headers:
        ce = from_binary(dict(request.headers), body)
        return [_load(_converted(ce, collaboration_id, "", "header"), "", cloudevent=True)], False
    return [_load(body, "", cloudevent=False)], False


def _converted(ce: Any, collaboration_id: str, prefix: str, where: str = "body") -> dict[str, Any]:
    if not isinstance(ce, dict):
        raise ApiProblem(422, "invalid-cloudevent", "A CloudEvent is a JSON object.")
    try:
        return to_submission(ce, collaboration_id)
    except CloudEventError as error:
        field = prefix + error.attribute
        raise ApiProblem(422, "invalid-cloudevent", f"{field}: {error.detail}",
                         errors=[{"in": where, "field": field, "detail": error.detail}]) from None  # fmt: skip


def _load(item: Any, prefix: str, *, cloudevent: bool) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = EventSubmissionSchema().load(item)
    except ValidationError as error:
        messages = (
            error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        )
        if cloudevent:
            messages = _ce_names(messages)
        abort(422, messages={"json": {prefix.rstrip("."): messages} if prefix else messages})
    return loaded


def _ce_names(messages: dict[str, Any]) -> dict[str, Any]:
    renamed: dict[str, Any] = {}
    for key, value in messages.items():
        if key == "source" and isinstance(value, dict):
            for sub, text in value.items():
                renamed[CE_NAMES.get(f"source.{sub}", str(sub))] = text
        else:
            renamed[CE_NAMES.get(key, key)] = value
    return renamed
