"""Prometheus metrics: what the ledger counts, and their text for `GET /metrics`, summed over
gunicorn's workers when PROMETHEUS_MULTIPROC_DIR names the directory they share."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from ledger.domain import errors

if TYPE_CHECKING:
    from ledger.service import RecordedEvent

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Requests no route matched share one label: raw paths would grow the series without bound.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Requests refused because they clash with what is stored: a stale If-Match, a broken rule, a
# source id or Idempotency-Key reused with other content. Labelled with the problem's `rule`.
CONFLICT_ERRORS = (
    errors.VersionMismatchError,
    errors.RuleViolation,
    errors.SourceIdReusedError,
    errors.IdempotencyKeyReusedError,
)

# Defined once per process: the default registry refuses a second metric of the same name.
REQUESTS = Counter("ledger_http_requests", "HTTP requests answered.", ["route", "method", "status"])
REQUEST_DURATION = Histogram(
    "ledger_http_request_duration_seconds",
    "Time from the request's arrival to its response.",
    ["route", "method"],
)
EVENTS_APPENDED = Counter("ledger_events_appended", "Governance events stored.", ["type"])
IDEMPOTENT_REPLAYS = Counter(
    "ledger_idempotent_replays",
    "Write requests answered with the result stored for an earlier copy of them.",
)
CONFLICTS = Counter(
    "ledger_conflicts",
    "Write requests refused because they clash with what is stored.",
    ["reason"],
)


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request; `route` is the URL rule that matched it, if any."""
    route = route or UNMATCHED
    method = method if method in METHODS else "other"
    REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    REQUEST_DURATION.labels(route=route, method=method).observe(seconds)


def count_recorded(events: Iterable[RecordedEvent]) -> None:
    """Count the events a write request stored, or its replay of an earlier copy."""
    replayed = False
    for event in events:
        if event.replayed:
            replayed = True
        else:
            EVENTS_APPENDED.labels(type=event.type).inc()
    if replayed:
        IDEMPOTENT_REPLAYS.inc()


def count_conflict(error: errors.LedgerError) -> None:
    if isinstance(error, CONFLICT_ERRORS):
        CONFLICTS.labels(reason=error.rule).inc()


@dataclass(frozen=True)
class Readings:
    """Gauges read from the database at scrape time: the same whichever worker answers, so
    they live in no worker's files."""

    projection_lag: int
    checkpoint_age: float | None  # None: no signing key, so no checkpoints; NaN: none yet

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "ledger_projection_lag_events",
            "Agreement events stored that the agreement register has not processed yet.",
            value=self.projection_lag,
        )
        if self.checkpoint_age is not None:
            yield GaugeMetricFamily(
                "ledger_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint was issued (NaN: none yet).",
                value=self.checkpoint_age,
            )


def render(readings: Readings) -> bytes:
    """Every metric in Prometheus text format: this process's, or all workers' added up."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIR):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    else:
        registry.register(REGISTRY)
    registry.register(readings)
    return generate_latest(registry)
