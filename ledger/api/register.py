"""The agreement register across collaborations (for funders) and the global feed."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, request, stream_with_context, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ledger.api.access import present_event
from ledger.api.collaborations import limit_of, service
from ledger.api.fields import Choice, Id, Instant, IsoDate, PageLimit, Pattern
from ledger.api.problems import ApiProblem
from ledger.api.requests import Blueprint, principal
from ledger.cloudevents import to_cloudevent
from ledger.domain import vocabulary as v
from ledger.domain.timefmt import format_instant
from projections.register import AgreementRegister, RegisterQuery

blp = Blueprint("register", __name__, description="Agreement register and global feed")

STATUSES = ("in_force", "review_due", "expired", "ended")
FORMATS = ("ledger", "cloudevents")
CE_BATCH = "application/cloudevents-batch+json"
CSV_COLUMNS = ("collaboration_id", "agreement_id", "title", "formality", "status",
               "agreement_version", "valid_from", "valid_to", "parties", "budget_commitments",
               "review_on", "valid_until", "recorded_from")  # fmt: skip
STREAM_SECONDS = 300  # a stream ends after this; clients resume with Last-Event-ID
HEARTBEAT_SECONDS = 5  # also how soon a departed client's thread is freed
POLL_SECONDS = 0.5


class RegisterQuerySchema(Schema):
    party = Id()
    capacity = Choice(v.Capacity)
    formality = Choice(v.Formality)
    status = fields.String(validate=validate.OneOf(STATUSES))
    at = Instant()
    known_at = Instant()
    review_due_before = IsoDate()
    collaboration = fields.List(fields.UUID())
    limit = PageLimit()
    cursor = fields.String(validate=Pattern(r"^[0-9a-f-]{36}/[A-Za-z0-9_.:-]{1,100}$",
                                                    error="Use the next_cursor of a previous page."))  # fmt: skip


class SummaryQuerySchema(Schema):
    party = Id()
    at = Instant()
    known_at = Instant()
    collaboration = fields.List(fields.UUID())


class FeedQuerySchema(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**53))
    limit = PageLimit()
    format = fields.String(validate=validate.OneOf(FORMATS))


class StreamQuerySchema(Schema):
    after = fields.Integer(validate=validate.Range(min=0, max=2**53))
    format = fields.String(validate=validate.OneOf(FORMATS))


def wants_cloudevents(query: dict[str, Any]) -> bool:
    """CloudEvents when asked with ?format=cloudevents or by Accept."""
    if "format" in query:
        return bool(query["format"] == "cloudevents")
    best = request.accept_mimetypes.best_match(["application/json", CE_BATCH])
    return best == CE_BATCH


def register() -> AgreementRegister:
    found: AgreementRegister = current_app.extensions["ledger.register"]
    return found


def register_query(query: dict[str, Any], limit: int = 100) -> RegisterQuery:
    now = format_instant(datetime.now(UTC))
    cursor = query.get("cursor")
    requested = {str(c) for c in query.get("collaboration") or ()}
    scope = principal().scope()
    collaborations = (requested & scope if requested else scope) if scope is not None else requested
    return RegisterQuery(
        at=query.get("at", now),
        known_at=query.get("known_at", now),
        party=query.get("party"),
        capacity=query.get("capacity"),
        formality=query.get("formality"),
        status=query.get("status"),
        review_due_before=query.get("review_due_before"),
        collaborations=sorted(collaborations) if collaborations or scope is not None else None,
        limit=limit,
        cursor=tuple(cursor.split("/", 1)) if cursor else None,
    )


def as_csv(items: list[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        agreement = item["agreement"]
        writer.writerow([
            item["collaboration_id"], item["agreement_id"], agreement["title"],
            agreement["formality"], item["status"], agreement["version"], item["valid_from"],
            item["valid_to"] or "",
            ";".join(f"{p['partner_id']}:{p['capacity']}" for p in agreement["parties"] or []),
            ";".join(f"{b['partner_id']}:{b['amount']} {b['currency']}"
                     for b in agreement["budget_commitments"] or []),
            agreement["review_on"] or "", agreement["valid_until"] or "", item["recorded_from"],
        ])  # fmt: skip
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="agreements.csv"'})  # fmt: skip


@blp.route("/agreements")
class Agreements(MethodView):
    @blp.arguments(RegisterQuerySchema, location="query", error_status_code=400)
    @blp.response(200)
    def get(self, query: dict[str, Any]) -> Any:
        """Agreements across collaborations in force (or with a status) at a moment, as known
        at a record time; `Accept: text/csv` for a spreadsheet."""
        q = register_query(query, limit_of(query))
        items = register().query(q)
        last = items[-1] if len(items) == q.limit else None
        next_cursor = f"{last['collaboration_id']}/{last['agreement_id']}" if last else None
        if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
            csv_response = as_csv(items)
            if next_cursor:  # a spreadsheet has no room for it: the next page is a Link
                args: dict[str, Any] = {**request.args.to_dict(flat=False), "cursor": next_cursor}
                next_url = url_for(request.endpoint or "", **args)
                csv_response.headers["Link"] = f'<{next_url}>; rel="next"'
            return csv_response
        basis = {"at": q.at, "known_at": q.known_at}
        return {"basis": basis, "items": items, "next_cursor": next_cursor}


@blp.route("/agreements/summary")
class AgreementSummary(MethodView):
    @blp.arguments(SummaryQuerySchema, location="query", error_status_code=400)
    @blp.response(200)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Budget committed per currency and per collaboration by the agreements in force."""
        return register().summary(register_query(query))


@blp.route("/feed")
class Feed(MethodView):
    @blp.arguments(FeedQuerySchema, location="query", error_status_code=400)
    @blp.response(200)
    def get(self, query: dict[str, Any]) -> Any:
        """Every event of every collaboration, gap-free in commit order, after `after`;
        as a CloudEvents batch with `Accept: application/cloudevents-batch+json`."""
        limit = limit_of(query)
        who = principal()
        events = service().feed(query["after"], limit, who.scope())
        next_after = events[-1].position if len(events) == limit else None
        items = [present_event(who, e.as_dict()) for e in events]
        if wants_cloudevents(query):
            # A batch is a bare array: the next page's `after` travels in a header.
            base_url = request.host_url.rstrip("/")
            body = json.dumps([to_cloudevent(item, base_url) for item in items])
            headers = {"Next-After": str(next_after)} if next_after is not None else {}
            return Response(body, mimetype=CE_BATCH, headers=headers)
        return {"items": items, "next_after": next_after}


def _last_event_id(query: dict[str, Any]) -> int:
    raw = request.headers.get("Last-Event-ID")
    if raw is None:
        return int(query.get("after", 0))
    if not raw.isdigit() or len(raw) > 15:
        raise ApiProblem(400, "malformed-last-event-id",
                         "Last-Event-ID must be the id (a position) of an event you received.")  # fmt: skip
    return int(raw)


@blp.route("/feed/stream")
class FeedStream(MethodView):
    @blp.arguments(StreamQuerySchema, location="query", error_status_code=400)
    @blp.response(200, content_type="text/event-stream")
    def get(self, query: dict[str, Any]) -> Response:
        """Server-Sent Events: `id:` is the position; resume with Last-Event-ID (or `after`);
        heartbeats; `format=cloudevents` for CloudEvents."""
        after = _last_event_id(query)
        ledger = service()
        who = principal()
        as_cloudevents = query.get("format") == "cloudevents"
        base_url = request.host_url.rstrip("/")

        def events() -> Iterator[str]:
            nonlocal after
            started = last_beat = time.monotonic()
            yield "retry: 2000\n\n"
            while time.monotonic() - started < STREAM_SECONDS:
                batch = ledger.feed(after, 100, who.scope())
                for event in batch:
                    shown = present_event(who, event.as_dict())
                    if as_cloudevents:
                        shown = to_cloudevent(shown, base_url)
                    body = json.dumps(shown, sort_keys=True, ensure_ascii=False)
                    yield f"id: {event.position}\nevent: {event.type}\ndata: {body}\n\n"
                    after = event.position
                if batch:
                    continue
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    last_beat = time.monotonic()
                    yield ": heartbeat\n\n"
                time.sleep(POLL_SECONDS)

        return Response(stream_with_context(events()), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip
