"""A Python client of the Governance Ledger's HTTP API, on `requests`: typed results, problems as
exceptions, safe retries.

Usage::

    from ledger.client import LedgerClient, PreconditionFailed, RuleViolated

    with LedgerClient("https://ledger.example", token) as ledger:
        founded = ledger.found_collaboration("Leerecosysteem Noord", "Every child reads")
        cid = founded.collaboration_id
        ledger.post_event(cid, "PartnerJoined", {"partner_id": "bib", "name": "Bibliotheek",
                          "kind": "library", "capacities": ["host"]},
                          effective_at="2025-03-01T09:00:00Z", source={"system": "crm", "id": "42"})
        state = ledger.state(cid, at="2025-03-01T12:00:00Z")   # or version=…, known_at=…
        try:
            ledger.post_event(cid, "PhaseStarted", {"name": "opbouw"},
                              expected_version=state.stream_version)   # If-Match
        except PreconditionFailed as stale:
            ...  # someone else wrote first: read again (stale.current_version)
        except RuleViolated as broken:
            print(broken.rule, broken.detail)
        for event in ledger.iter_events(cid):          # pages follow `next_after` for you
            print(event.version, event.type)
        in_force = list(ledger.iter_agreements(party="bib", at="2025-03-01T00:00:00Z"))
        spreadsheet = ledger.agreements_csv(status="in_force")
        for event in ledger.stream_feed(after=0):       # Server-Sent Events, resumed on failure
            ...

Every post carries an Idempotency-Key, a UUID made once per call (or yours, `idempotency_key=`)
and reused by its retries: when a connection drops, a request times out or a gateway answers
502/503/504, the client retries up to `RetryPolicy.attempts` times with exponential backoff and
full jitter, and the ledger stores the event once and returns the same result (with
`replayed=True`). Errors raise `LedgerProblem` (status, type, title, detail, rule, errors):
`ValidationFailed` (400, 422), `Unauthorized` (401), `Forbidden` (403), `NotFound` (404),
`RuleViolated` (409), `PreconditionFailed` (412), `RateLimited` (429, `retry_after`),
`ServerError` (5xx). A ledger that stays unreachable raises the `requests` exception.
"""

from ledger.client.client import Instant, LedgerClient, Moment, RegisterFilters
from ledger.client.problems import (
    FieldProblem,
    Forbidden,
    LedgerProblem,
    NotFound,
    PreconditionFailed,
    RateLimited,
    RuleViolated,
    ServerError,
    Unauthorized,
    ValidationFailed,
)
from ledger.client.results import (
    Basis,
    BudgetSummary,
    CauseAndEffect,
    Change,
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
    Tenure,
    TokenInfo,
)
from ledger.client.retry import NO_RETRY, RetryPolicy

__all__ = [
    "NO_RETRY",
    "Basis",
    "BudgetSummary",
    "CauseAndEffect",
    "Change",
    "CollaborationSummary",
    "Diff",
    "Entry",
    "EventType",
    "FieldProblem",
    "Forbidden",
    "GovernanceState",
    "Instant",
    "IssuedToken",
    "ItemLife",
    "LedgerClient",
    "LedgerProblem",
    "Moment",
    "NotFound",
    "Page",
    "PreconditionFailed",
    "RateLimited",
    "RegisterEntry",
    "RegisterFilters",
    "RetryPolicy",
    "RoleHistory",
    "RuleViolated",
    "ServerError",
    "StoredEvent",
    "Tenure",
    "TokenInfo",
    "Unauthorized",
    "ValidationFailed",
]
