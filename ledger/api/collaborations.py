"""Collaborations: found them, post their events, read their stream and their state."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, make_response, url_for
from flask.views import MethodView

from ledger import metrics
from ledger.api import catalogue, incoming
from ledger.api.access import check_event_type, present_event, present_state
from ledger.api.problems import ApiProblem
from ledger.api.requests import (
    IDEMPOTENCY_KEY,
    Blueprint,
    etag,
    idempotency_key,
    if_match,
    principal,
)
from ledger.api.schemas import (
    CollaborationPageQuerySchema,
    CollaborationPageSchema,
    EventPageQuerySchema,
    EventPageSchema,
    FoundingSchema,
    GovernanceStateSchema,
    StateQuerySchema,
    StoredEventBatchSchema,
    StoredEventSchema,
)
from ledger.domain.timefmt import parse_instant
from ledger.service import ENVELOPE_FIELDS, LedgerService, RecordedEvent

blp = Blueprint(
    "collaborations", __name__, description="Collaborations and their governance events"
)

FOUNDING_DATA = ("name", "mission", "languages")
Headers = dict[str, str]
IDEMPOTENCY_KEY_DOC = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern},
    "description": "Retry safely: the same key and body return the original result; "
    "the same key with another body is 422.",
}
EVENT_BODY_DOC = {
    "required": True,
    "content": {
        "application/json": {"schema": catalogue.EVENT_SUBMISSION},
        "application/cloudevents+json": {"schema": catalogue.CLOUDEVENT},
        "application/cloudevents-batch+json": {
            "schema": {
                "type": "array",
                "minItems": 1,
                "maxItems": incoming.MAX_BATCH,
                "items": catalogue.CLOUDEVENT,
            }
        },
    },
}
IF_MATCH_DOC = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "schema": {"type": "string", "pattern": r'^(\*|(W/)?"\d{1,12}")$', "example": '"12"'},
    "description": "The ETag (stream version) you last read; 412 if the stream moved on.",
}


def service() -> LedgerService:
    ledger: LedgerService = current_app.extensions["ledger.service"]
    return ledger


def limit_of(query: dict[str, Any]) -> int:
    settings = service().settings
    limit = int(query.get("limit", settings.page_limit_default))
    if limit > settings.page_limit_max:
        raise ApiProblem(
            400,
            "limit-too-large",
            f"limit may be at most {settings.page_limit_max}; page with the cursor instead.",
        )
    return limit


def envelope_of(body: dict[str, Any]) -> dict[str, Any]:
    envelope = {name: body[name] for name in ENVELOPE_FIELDS if name in body}
    envelope["actor"] = principal().name
    return envelope


def created(event: RecordedEvent) -> tuple[dict[str, Any], int, Headers]:
    location = url_for("collaborations.Collaboration", collaboration_id=event.collaboration_id)
    headers = {"Location": location, "ETag": etag(event.version)}
    if event.replayed:
        headers["Idempotent-Replayed"] = "true"
    return event.as_dict(), 201, headers


@blp.route("/collaborations")
class Collaborations(MethodView):
    @blp.arguments(CollaborationPageQuerySchema, location="query", error_status_code=400)
    @blp.response(200, CollaborationPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List collaborations, oldest first, paged with `cursor`."""
        limit = limit_of(query)
        items = service().collaborations(int(query.get("cursor", 0)), limit, principal().scope())
        next_cursor = str(items[-1].position) if len(items) == limit else None
        return {"items": items, "next_cursor": next_cursor}

    @blp.arguments(FoundingSchema)
    @blp.response(201, StoredEventSchema)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_DOC])
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, Headers]:
        """Found a collaboration (the CollaborationFounded data plus envelope fields)."""
        data = {name: body[name] for name in FOUNDING_DATA if name in body}
        event = service().found_collaboration(
            data, envelope_of(body), idempotency_key=idempotency_key()
        )
        metrics.count_recorded([event])
        return created(event)


@blp.route("/collaborations/<collaboration_id>")
class Collaboration(MethodView):
    @blp.arguments(StateQuerySchema, location="query", error_status_code=400)
    @blp.response(200, GovernanceStateSchema)
    def get(
        self, query: dict[str, Any], collaboration_id: str
    ) -> tuple[dict[str, Any], int, Headers]:
        """The governance state now, at a `version`, as `known_at`, and/or `at` a valid time."""
        view = service().state(
            collaboration_id,
            version=query.get("version"),
            known_at=parse_instant(query["known_at"]) if "known_at" in query else None,
            at=parse_instant(query["at"]) if "at" in query else None,
        )
        body = {
            "collaboration_id": view.collaboration_id,
            "basis": view.basis,
            "stream_version": view.stream_version,
            **view.state,
        }
        return present_state(principal(), body), 200, {"ETag": etag(view.stream_version)}


@blp.route("/collaborations/<collaboration_id>/events")
class Events(MethodView):
    @blp.arguments(EventPageQuerySchema, location="query", error_status_code=400)
    @blp.response(200, EventPageSchema)
    def get(
        self, query: dict[str, Any], collaboration_id: str
    ) -> tuple[dict[str, Any], int, Headers]:
        """The collaboration's events, oldest first, after version `after`."""
        limit = limit_of(query)
        events = service().events(collaboration_id, query["after"], limit)
        next_after = events[-1].version if len(events) == limit else None
        version = service().stream_version(collaboration_id)
        items = [present_event(principal(), e.as_dict()) for e in events]
        body = {"items": items, "next_after": next_after}
        return body, 200, {"ETag": etag(version)}

    @blp.doc(requestBody=EVENT_BODY_DOC, parameters=[IF_MATCH_DOC, IDEMPOTENCY_KEY_DOC])
    @blp.response(201, {"oneOf": [StoredEventSchema, StoredEventBatchSchema]})
    def post(self, collaboration_id: str) -> Response:
        """Record one governance event ({type, data} plus envelope fields), or a CloudEvent
        (structured, binary, or a batch stored all or nothing)."""
        who = principal()
        submissions, batch = incoming.submissions(collaboration_id)
        for submission in submissions:
            check_event_type(who, submission["type"])
        if batch:
            items = [(s["type"], s["data"], envelope_of(s)) for s in submissions]
            stored = service().record_batch(collaboration_id, items)
            metrics.count_recorded(stored)
            body = {"items": [e.as_dict() for e in stored]}
            return make_response(body, 201, {"ETag": etag(stored[-1].version)})
        event = service().record_event(
            collaboration_id,
            submissions[0]["type"],
            submissions[0]["data"],
            envelope_of(submissions[0]),
            expected_version=if_match(),
            idempotency_key=idempotency_key(),
        )
        metrics.count_recorded([event])
        return make_response(*created(event))
