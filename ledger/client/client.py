"""`LedgerClient`: the ledger's HTTP API as Python methods returning typed results."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import requests

from ledger.client.problems import problem_from_response
from ledger.client.results import (
    Basis,
    BudgetSummary,
    CauseAndEffect,
    CollaborationSummary,
    Diff,
    Entry,
    EventType,
    GovernanceState,
    IssuedToken,
    ItemLife,
    Page,
    RegisterEntry,
    RoleHistory,
    StoredEvent,
    TokenInfo,
)
from ledger.client.retry import RetryPolicy, outcome_unknown
from ledger.client.sse import EventStreamParser
from ledger.domain.timefmt import format_instant

T = TypeVar("T")
C = TypeVar("C")

Instant = datetime | str  # an aware datetime, or an RFC 3339 date-time as the ledger writes it
Moment = int | datetime | str  # a version of the stream, or a valid time
Timeout = float | tuple[float, float]  # seconds: (connect, read), or one for both

DEFAULT_TIMEOUT: Timeout = (3.05, 30.0)
DEFAULT_RETRY = RetryPolicy()
STREAM_READ_TIMEOUT = 60.0  # the feed stream sends a heartbeat every 15 seconds
CSV_PAGE_SIZE = 100


class RegisterFilters(TypedDict, total=False):
    """Which agreements the register lists (all optional; the moment defaults to now)."""

    party: str
    capacity: str
    formality: str
    status: str  # in_force, review_due, expired, ended
    at: Instant
    known_at: Instant
    review_due_before: date | str
    collaborations: Sequence[str]


def _value(value: Any) -> Any:
    """JSON (or a query string) as the ledger writes it: instants in UTC with microseconds,
    ISO dates, amounts as decimal strings."""
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_value(item) for item in value]
    return value


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _value(value) for name, value in values.items() if value is not None}


def _register_query(filters: RegisterFilters) -> dict[str, Any]:
    query: dict[str, Any] = dict(filters)
    query["collaboration"] = query.pop("collaborations", None)
    return _without_none(query)


def _walk(
    fetch: Callable[[C], Page[T]], start: C, next_of: Callable[[Page[T]], C | None]
) -> Iterator[T]:
    """Every item of every page, fetching the next page only when the previous is used up."""
    page = fetch(start)
    while True:
        yield from page.items
        cursor = next_of(page)
        if cursor is None:
            return
        page = fetch(cursor)


def _etag_version(response: requests.Response) -> int | None:
    etag = response.headers.get("ETag", "").removeprefix("W/").strip('"')
    return int(etag) if etag.isdigit() else None


class LedgerClient:
    """A session with one ledger, as one token. Every request has a timeout; requests whose
    outcome is unknown (no connection, a dropped one, a timeout, 502/503/504) are retried per
    `retry`, and posts carry an Idempotency-Key so that a retry is never stored twice. Errors
    raise `LedgerProblem` subclasses. Use it in a `with` block, or call `close()`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self._sleep = sleep
        self._owns_session = session is None
        self.session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (of the session this client made; a given one stays open)."""
        if self._owns_session:
            self.session.close()

    def __repr__(self) -> str:
        return f"LedgerClient({self.base_url!r})"

    # Writing

    def found_collaboration(
        self,
        name: str,
        mission: str,
        *,
        languages: Sequence[str] | None = None,
        effective_at: Instant | None = None,
        capacity: str | None = None,
        source: Mapping[str, str] | None = None,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> StoredEvent:
        """Found a collaboration; its id is the result's `collaboration_id`."""
        body = _without_none({"name": name, "mission": mission, "languages": languages,
                              "effective_at": effective_at, "capacity": capacity,
                              "source": source, "note": note})  # fmt: skip
        return self._post_event(("collaborations",), body, idempotency_key, None)

    def post_event(
        self,
        collaboration_id: str,
        event_type: str,
        data: Mapping[str, Any],
        *,
        effective_at: Instant | None = None,
        acting_for: Mapping[str, str] | None = None,
        capacity: str | None = None,
        cause: Mapping[str, str] | None = None,
        source: Mapping[str, str] | None = None,
        note: str | None = None,
        shared_with_funders: bool | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> StoredEvent:
        """Record one governance event. The keyword arguments are the envelope's fields (so an
        envelope dict can be passed as `**envelope`); `expected_version` sends If-Match and
        raises PreconditionFailed if the stream moved on. A retry reuses this call's
        Idempotency-Key (a new UUID unless given): the event is stored at most once."""
        body = {"type": event_type, "data": _value(data)} | _without_none(
            {"effective_at": effective_at, "acting_for": acting_for, "capacity": capacity,
             "cause": cause, "source": source, "note": note,
             "shared_with_funders": shared_with_funders}
        )  # fmt: skip
        path = ("collaborations", collaboration_id, "events")
        return self._post_event(path, body, idempotency_key, expected_version)

    def _post_event(
        self,
        path: tuple[str, ...],
        body: Mapping[str, Any],
        idempotency_key: str | None,
        expected_version: int | None,
    ) -> StoredEvent:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        if expected_version is not None:
            headers["If-Match"] = f'"{expected_version}"'
        response = self._request("POST", path, body=body, headers=headers)
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return StoredEvent.from_json(response.json(), replayed=replayed)

    # One collaboration

    def collaborations(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[CollaborationSummary]:
        """Collaborations this token sees, oldest first."""
        body = self._get_json(("collaborations",), {"cursor": cursor, "limit": limit})
        items = tuple(CollaborationSummary.from_json(item) for item in body["items"])
        return Page(items, next_cursor=body.get("next_cursor"))

    def iter_collaborations(
        self, *, page_size: int | None = None
    ) -> Iterator[CollaborationSummary]:
        return _walk(
            lambda cursor: self.collaborations(cursor=cursor, limit=page_size),
            None,
            lambda page: page.next_cursor,
        )

    def state(
        self,
        collaboration_id: str,
        *,
        version: int | None = None,
        known_at: Instant | None = None,
        at: Instant | None = None,
    ) -> GovernanceState:
        """The state after `version` events, or as the ledger knew it at `known_at`; of those
        events, the ones in force `at` a valid time. Nothing given: in force now."""
        query = {"version": version, "known_at": known_at, "at": at}
        return GovernanceState.from_json(
            self._get_json(("collaborations", collaboration_id), query)
        )

    def events(
        self, collaboration_id: str, *, after: int = 0, limit: int | None = None
    ) -> Page[StoredEvent]:
        """The stream's events after version `after`, oldest first."""
        response = self._request(
            "GET",
            ("collaborations", collaboration_id, "events"),
            query={"after": after, "limit": limit},
        )
        body = response.json()
        items = tuple(StoredEvent.from_json(item) for item in body["items"])
        return Page(items, next_after=body.get("next_after"),
                    stream_version=_etag_version(response))  # fmt: skip

    def iter_events(
        self, collaboration_id: str, *, after: int = 0, page_size: int | None = None
    ) -> Iterator[StoredEvent]:
        return _walk(
            lambda a: self.events(collaboration_id, after=a, limit=page_size),
            after,
            lambda page: page.next_after,
        )

    def timeline(
        self,
        collaboration_id: str,
        *,
        from_: Moment | None = None,
        to: Moment | None = None,
        known_at: Instant | None = None,
        lang: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> Page[Entry]:
        """Events between two moments (versions or valid times), each with a one-line summary
        and the changes it made; `total` counts them all."""
        query = {"from": from_, "to": to, "known_at": known_at, "lang": lang,
                 "offset": offset, "limit": limit}  # fmt: skip
        body = self._get_json(("collaborations", collaboration_id, "timeline"), query)
        items = tuple(Entry.from_json(item) for item in body["items"])
        return Page(items, next_offset=body.get("next_offset"), total=body.get("total"))

    def iter_timeline(
        self,
        collaboration_id: str,
        *,
        from_: Moment | None = None,
        to: Moment | None = None,
        known_at: Instant | None = None,
        lang: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Entry]:
        return _walk(
            lambda offset: self.timeline(collaboration_id, from_=from_, to=to, known_at=known_at,
                                         lang=lang, offset=offset, limit=page_size),
            0,
            lambda page: page.next_offset,
        )  # fmt: skip

    def diff(
        self,
        collaboration_id: str,
        from_: Moment,
        to: Moment,
        *,
        known_at: Instant | None = None,
    ) -> Diff:
        """What was added, removed and changed between two moments."""
        query = {"from": from_, "to": to, "known_at": known_at}
        return Diff.from_json(self._get_json(("collaborations", collaboration_id, "diff"), query))

    def role_history(
        self, collaboration_id: str, role_id: str, *, lang: str | None = None
    ) -> RoleHistory:
        """Who held the role when (valid time), with when the ledger learned of it."""
        path = ("collaborations", collaboration_id, "roles", role_id, "history")
        return RoleHistory.from_json(self._get_json(path, {"lang": lang}))

    def mandate_history(
        self, collaboration_id: str, mandate_id: str, *, lang: str | None = None
    ) -> ItemLife:
        return self._item_life(collaboration_id, "mandates", mandate_id, lang)

    def agreement_history(
        self, collaboration_id: str, agreement_id: str, *, lang: str | None = None
    ) -> ItemLife:
        return self._item_life(collaboration_id, "agreements", agreement_id, lang)

    def _item_life(
        self, collaboration_id: str, section: str, item_id: str, lang: str | None
    ) -> ItemLife:
        path = ("collaborations", collaboration_id, section, item_id, "history")
        return ItemLife.from_json(self._get_json(path, {"lang": lang}))

    def decision(
        self, collaboration_id: str, decision_id: str, *, lang: str | None = None
    ) -> CauseAndEffect:
        """A decision and every event that cites it as its cause."""
        return self._cause_and_effect(collaboration_id, "decision", decision_id, lang)

    def reflection(
        self, collaboration_id: str, reflection_id: str, *, lang: str | None = None
    ) -> CauseAndEffect:
        """A reflection and every event that cites it as its cause."""
        return self._cause_and_effect(collaboration_id, "reflection", reflection_id, lang)

    def _cause_and_effect(
        self, collaboration_id: str, kind: str, item_id: str, lang: str | None
    ) -> CauseAndEffect:
        path = ("collaborations", collaboration_id, f"{kind}s", item_id)
        return CauseAndEffect.from_json(kind, self._get_json(path, {"lang": lang}))

    # Across collaborations

    def agreements(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        **filters: Unpack[RegisterFilters],
    ) -> Page[RegisterEntry]:
        """The agreement register: agreements in force (or with a `status`) `at` a moment, as
        known at `known_at`, across the collaborations this token sees."""
        query = {**_register_query(filters), "cursor": cursor, "limit": limit}
        body = self._get_json(("agreements",), query)
        items = tuple(RegisterEntry.from_json(item) for item in body["items"])
        basis = body.get("basis")
        return Page(
            items,
            next_cursor=body.get("next_cursor"),
            basis=Basis.from_json(basis) if basis else None,
        )

    def iter_agreements(
        self, *, page_size: int | None = None, **filters: Unpack[RegisterFilters]
    ) -> Iterator[RegisterEntry]:
        return _walk(
            lambda cursor: self.agreements(cursor=cursor, limit=page_size, **filters),
            None,
            lambda page: page.next_cursor,
        )

    def agreements_csv(
        self, *, page_size: int = CSV_PAGE_SIZE, **filters: Unpack[RegisterFilters]
    ) -> str:
        """The register as one CSV document (a header, then every matching agreement): fetched
        page by page, the next cursor being the last row's collaboration and agreement ids."""
        query = {**_register_query(filters), "limit": page_size}
        document, cursor = "", None
        while True:
            text = self._request(
                "GET", ("agreements",), query={**query, "cursor": cursor},
                headers={"Accept": "text/csv"},
            ).text  # fmt: skip
            rows = list(csv.reader(io.StringIO(text)))[1:]
            document += text if not document else text.partition("\n")[2]
            if len(rows) < page_size:
                return document
            cursor = f"{rows[-1][0]}/{rows[-1][1]}"

    def agreement_summary(
        self,
        *,
        party: str | None = None,
        at: Instant | None = None,
        known_at: Instant | None = None,
        collaborations: Sequence[str] | None = None,
    ) -> BudgetSummary:
        """Budget committed per currency and per collaboration by the agreements in force."""
        query = {"party": party, "at": at, "known_at": known_at, "collaboration": collaborations}
        return BudgetSummary.from_json(self._get_json(("agreements", "summary"), query))

    def feed(self, *, after: int = 0, limit: int | None = None) -> Page[StoredEvent]:
        """Every event of every collaboration this token sees, after global position `after`,
        gap-free in commit order."""
        body = self._get_json(("feed",), {"after": after, "limit": limit})
        items = tuple(StoredEvent.from_json(item) for item in body["items"])
        return Page(items, next_after=body.get("next_after"))

    def iter_feed(self, *, after: int = 0, page_size: int | None = None) -> Iterator[StoredEvent]:
        return _walk(
            lambda a: self.feed(after=a, limit=page_size), after, lambda page: page.next_after
        )

    def stream_feed(self, *, after: int = 0, reconnect: bool = True) -> Iterator[StoredEvent]:
        """Events after position `after` as they are recorded (Server-Sent Events), without end.
        When the stream ends or breaks, it reconnects with Last-Event-ID set to the last
        position received (after `retry.attempts` failures in a row it raises). Stop by
        leaving the loop; the connection closes with the generator."""
        last, failures = after, 0
        timeout = (self._connect_timeout(), STREAM_READ_TIMEOUT)
        while True:
            parser = EventStreamParser()
            headers = {"Accept": "text/event-stream", "Last-Event-ID": str(last)}
            response = self._request(
                "GET", ("feed", "stream"), headers=headers, stream=True, timeout=timeout
            )
            try:
                with response:
                    for chunk in response.iter_content(chunk_size=None):
                        for message in parser.feed(chunk):
                            event = StoredEvent.from_json(json.loads(message.data))
                            last, failures = event.position, 0
                            yield event
            except requests.RequestException as error:
                failures += 1
                if not reconnect or not outcome_unknown(error) or failures >= self.retry.attempts:
                    raise
                self._sleep(self.retry.delay(failures - 1))
                continue
            if not reconnect:
                return
            self._sleep((parser.retry_ms or 0) / 1000)

    def event_types(self) -> tuple[EventType, ...]:
        """The catalogue: every event type with its description and the schema of its data."""
        body = self._get_json(("event-types",), {})
        return tuple(EventType.from_json(item) for item in body["items"])

    # Tokens (admin tokens only)

    def tokens(self) -> tuple[TokenInfo, ...]:
        """Every token's name, role, scope and dates; never the secrets."""
        return tuple(TokenInfo.from_json(item) for item in self._get_json(("tokens",), {})["items"])

    def create_token(
        self,
        name: str,
        role: str,
        *,
        collaborations: Sequence[str] = (),
        event_types: Sequence[str] = (),
        expires_in_days: int | None = None,
    ) -> IssuedToken:
        """Issue a token. The secret is in the answer only, so this post is retried only when
        it certainly never reached the ledger."""
        body = _without_none({"name": name, "role": role, "collaborations": list(collaborations),
                              "event_types": list(event_types),
                              "expires_in_days": expires_in_days})  # fmt: skip
        answer = self._request("POST", ("tokens",), body=body, idempotent=False).json()
        return IssuedToken(str(answer["name"]), str(answer["role"]), str(answer["token"]))

    def revoke_token(self, name: str) -> None:
        """Revoke a token at once (revoking it again changes nothing)."""
        self._request("DELETE", ("tokens", name)).close()

    # Plumbing

    def _connect_timeout(self) -> float:
        return self.timeout[0] if isinstance(self.timeout, tuple) else self.timeout

    def _url(self, path: Sequence[str]) -> str:
        return self.base_url + "".join("/" + quote(part, safe="") for part in path)

    def _get_json(self, path: Sequence[str], query: Mapping[str, Any]) -> Any:
        return self._request("GET", path, query=query).json()

    def _request(
        self,
        method: str,
        path: Sequence[str],
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        stream: bool = False,
        timeout: Timeout | None = None,
    ) -> requests.Response:
        """Send, retrying per the policy; the response if it succeeded, else raise its problem.
        `idempotent`: sending it again does no harm (reads, revocations, posts with a key)."""
        retry = 0
        while True:
            last = retry + 1 >= self.retry.attempts
            try:
                response = self.session.request(
                    method,
                    self._url(path),
                    params=_without_none(query or {}),
                    json=body,
                    headers={**self._headers, **(headers or {})},
                    timeout=timeout or self.timeout,
                    stream=stream,
                )
            except requests.RequestException as error:
                if last or not self.retry.retries_error(error, idempotent=idempotent):
                    raise
            else:
                if response.status_code < 400:
                    return response
                if last or not self.retry.retries_status(response.status_code,
                                                         idempotent=idempotent):  # fmt: skip
                    raise problem_from_response(response)
                response.close()
            self._sleep(self.retry.delay(retry))
            retry += 1
