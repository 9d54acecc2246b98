"""Schemathesis hooks for test_schemathesis.py, loaded by the schemathesis process through
SCHEMATHESIS_HOOKS: a request generated as valid is made valid in what the document can only
describe, so that a refusal of it is a mismatch of the document."""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

IDEMPOTENCY_KEY = "Idempotency-Key"
CLOUDEVENT_TYPES = ("application/cloudevents+json", "application/cloudevents-batch+json")
VERSION = re.compile("[0-9]{1,15}")  # a moment given as a version (ledger.api.readmodels)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.meta is not None and case.meta.generation.mode.is_positive:
        _drop_headers_that_break_their_schema(case)
        _give_each_request_its_own_idempotency_key(case)
        _name_this_collaboration_as_subject(case)
        _leave_out_known_at_where_it_does_not_apply(case)


def _give_each_request_its_own_idempotency_key(case: Any) -> None:
    """A key names one request: reused with another body it is 422 by design (the key was
    spent). Generated keys repeat across requests ("0"), so a valid request gets a key of its
    own: the generated one, made unique."""
    key = (case.headers or {}).get(IDEMPOTENCY_KEY)
    if key is not None:
        case.headers[IDEMPOTENCY_KEY] = f"{key[:200]}-{uuid.uuid4().hex}"


def _drop_headers_that_break_their_schema(case: Any) -> None:
    """Schemathesis 4.32's coverage phase draws no value from a header pattern with a quote in
    it (If-Match's ETag), then sends a wrong-type value (If-Match: 0) with every valid body it
    covers, as in schemathesis#4592. Without that optional header, the bodies stay covered."""
    for parameter in case.operation.headers:
        value = (case.headers or {}).get(parameter.name)
        if value is not None and not parameter.is_required and not parameter.is_valid(value):
            del case.headers[parameter.name]


def _name_this_collaboration_as_subject(case: Any) -> None:
    """A CloudEvent's subject, when given, is the id of the collaboration it is posted to: a
    value of the path, which the document can describe but not require."""
    if case.media_type not in CLOUDEVENT_TYPES:
        return
    collaboration_id = (case.path_parameters or {}).get("collaboration_id")
    cloudevents = case.body if isinstance(case.body, list) else [case.body]
    for cloudevent in cloudevents:
        if isinstance(cloudevent, dict) and "subject" in cloudevent:
            cloudevent["subject"] = collaboration_id


def _leave_out_known_at_where_it_does_not_apply(case: Any) -> None:
    """known_at excludes version (the state), and does not apply between two versions (the
    diff): rules between query parameters, which OpenAPI 3.0 states for each one alone."""
    query = case.query or {}
    path = case.operation.path
    if path == "/collaborations/{collaboration_id}":
        excluded = "version" in query
    elif path == "/collaborations/{collaboration_id}/diff":
        excluded = all(VERSION.fullmatch(str(query.get(end))) for end in ("from", "to"))
    else:
        return
    if excluded:
        query.pop("known_at", None)
