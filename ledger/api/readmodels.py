"""Read models of one collaboration: timeline, diff, histories, cause and effect."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ledger.api.access import present_history
from ledger.api.collaborations import limit_of, service
from ledger.api.fields import Instant, PageLimit
from ledger.api.requests import Blueprint, principal
from ledger.domain.timefmt import parse_instant
from projections import history, timeline
from projections.summaries import LANGUAGES
from projections.timeline import Moment

blp = Blueprint("read-models", __name__, description="Timeline, diff, histories, cause and effect")


VERSION = "[0-9]{1,15}"


class MomentField(fields.Field[Moment]):
    """A version (an integer) or a valid time (an RFC 3339 date-time)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"type": "string", "example": "12",
                                   "anyOf": [{"pattern": f"^{VERSION}$"}, {"format": "date-time"}],
                                   "description": "a version (integer) or a date-time (valid time)"},
                         **kwargs)  # fmt: skip

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Moment:
        text = fields.String()._deserialize(value, attr, data, **kwargs)
        if re.fullmatch(VERSION, text):
            return Moment(version=int(text))
        return Moment(at=parse_instant(Instant()._deserialize(text, attr, data)))


class LanguageQuerySchema(Schema):
    lang = fields.String(validate=validate.OneOf(LANGUAGES))


class TimelineQuerySchema(LanguageQuerySchema):
    from_ = MomentField(data_key="from")
    to = MomentField()
    known_at = Instant()
    limit = PageLimit()
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**53))


class DiffQuerySchema(Schema):
    from_ = MomentField(data_key="from", required=True)
    to = MomentField(required=True)
    known_at = Instant(metadata={"description": "Only when from or to is a date-time"})

    @validates_schema
    def versions_ignore_known_at(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (
            "known_at" in data
            and data["from_"].version is not None
            and data["to"].version is not None
        ):
            raise ValidationError(
                "known_at applies to date-times; versions are already fixed.", "known_at"
            )


def language(query: dict[str, Any]) -> str:
    if "lang" in query:
        return str(query["lang"])
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def _instant(query: dict[str, Any], name: str) -> Any:
    return parse_instant(query[name]) if name in query else None


@blp.route("/collaborations/<collaboration_id>/timeline")
class Timeline(MethodView):
    @blp.arguments(TimelineQuerySchema, location="query", error_status_code=400)
    @blp.response(200)
    def get(self, query: dict[str, Any], collaboration_id: str) -> dict[str, Any]:
        """Events in order with a one-line summary (en, nl) and the changes each made."""
        return timeline.timeline(
            service(), collaboration_id, query.get("from_", Moment(version=0)),
            query.get("to", Moment()), _instant(query, "known_at"), limit_of(query),
            query["offset"], language(query),
        )  # fmt: skip


@blp.route("/collaborations/<collaboration_id>/diff")
class Diff(MethodView):
    @blp.arguments(DiffQuerySchema, location="query", error_status_code=400)
    @blp.response(200)
    def get(self, query: dict[str, Any], collaboration_id: str) -> dict[str, Any]:
        """What was added, removed and changed between two moments."""
        return timeline.diff(service(), collaboration_id, query["from_"], query["to"],
                             _instant(query, "known_at"))  # fmt: skip


@blp.route("/collaborations/<collaboration_id>/roles/<role_id>/history")
class RoleHistory(MethodView):
    @blp.arguments(LanguageQuerySchema, location="query", error_status_code=400)
    @blp.response(200)
    def get(self, query: dict[str, Any], collaboration_id: str, role_id: str) -> dict[str, Any]:
        """Who held the role when, in valid time, with when the ledger learned of it."""
        found = history.role_history(service(), collaboration_id, role_id, language(query))
        return present_history(principal(), found)


@blp.route(
    "/collaborations/<collaboration_id>/<any(mandates, agreements):section>/<item_id>/history"
)
class ItemHistory(MethodView):
    @blp.arguments(LanguageQuerySchema, location="query", error_status_code=400)
    @blp.response(200)
    def get(
        self, query: dict[str, Any], collaboration_id: str, section: str, item_id: str
    ) -> dict[str, Any]:
        """The life of a mandate or an agreement: versions, amendments, corrections, reviews."""
        kind = section[:-1]
        life = history.item_life(service(), collaboration_id, kind, item_id, language(query))
        return present_history(principal(), life)


@blp.route("/collaborations/<collaboration_id>/<any(decisions, reflections):section>/<item_id>")
class CauseAndEffect(MethodView):
    @blp.arguments(LanguageQuerySchema, location="query", error_status_code=400)
    @blp.response(200)
    def get(
        self, query: dict[str, Any], collaboration_id: str, section: str, item_id: str
    ) -> dict[str, Any]:
        """A decision or reflection and every event that cites it as its cause."""
        return history.cause_and_effect(service(), collaboration_id, section[:-1], item_id,
                                        language(query))  # fmt: skip
