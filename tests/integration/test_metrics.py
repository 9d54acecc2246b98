"""Operating it: `GET /metrics` in Prometheus text format, and one JSON log line per request.

The metrics of a test process are shared by every app it creates, so tests compare counts
before and after what they do."""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from ledger.integrity.signing import create_key_files
from ledger.logs import JsonFormatter
from ledger.settings import Settings
from tests.conftest import database_url
from tests.integration.helpers import LedgerApi, agreement, assert_problem, partner

EVENTS_ROUTE = "/collaborations/<collaboration_id>/events"


def scrape(client: FlaskClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of /metrics by sample name: its labels and its value."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(client: FlaskClient, name: str, **labels: str) -> float:
    """The sum of the samples of `name` that carry these labels (0 when there are none)."""
    found = scrape(client).get(name, [])
    return sum(v for have, v in found if labels.items() <= have.items())


def partner_and_agreement(api: LedgerApi, cid: str) -> None:
    api.record(cid, "PartnerJoined", partner("school"))
    api.record(cid, "AgreementMade", agreement("a1", "school"))


# /metrics


def test_metrics_are_prometheus_text_that_needs_no_token(client: FlaskClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "version=0.0.4" in response.content_type
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"ledger_http_requests", "ledger_http_request_duration_seconds",
            "ledger_projection_lag_events"} <= names  # fmt: skip


def test_an_append_counts_its_event_type(api: LedgerApi) -> None:
    cid = api.found_id()
    before = value(api.client, "ledger_events_appended_total", type="PartnerJoined")

    api.record(cid, "PartnerJoined", partner("school"))

    after = value(api.client, "ledger_events_appended_total", type="PartnerJoined")
    assert after - before == 1


def test_a_retry_with_the_same_idempotency_key_is_a_replay_not_an_append(api: LedgerApi) -> None:
    cid = api.found_id()
    key = {"Idempotency-Key": "metrics-replay-1"}
    assert api.post_event(cid, "PhaseStarted", {"name": "Pilot"}, key).status_code == 201
    appended = value(api.client, "ledger_events_appended_total", type="PhaseStarted")
    replays = value(api.client, "ledger_idempotent_replays_total")

    retry = api.post_event(cid, "PhaseStarted", {"name": "Pilot"}, key)

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert value(api.client, "ledger_idempotent_replays_total") - replays == 1
    assert value(api.client, "ledger_events_appended_total", type="PhaseStarted") == appended


def test_a_broken_rule_counts_a_conflict_named_by_the_rule(api: LedgerApi) -> None:
    cid = api.found_id()
    before = value(api.client, "ledger_conflicts_total", reason="unknown-partner")

    response = api.post_event(cid, "AgreementMade", agreement("a1", "nobody"))

    assert assert_problem(response, 409)["rule"] == "unknown-partner"
    assert value(api.client, "ledger_conflicts_total", reason="unknown-partner") - before == 1


def test_a_stale_if_match_counts_a_version_mismatch(api: LedgerApi) -> None:
    cid = api.found_id()
    api.record(cid, "PhaseStarted", {"name": "Pilot"})
    before = value(api.client, "ledger_conflicts_total", reason="version-mismatch")

    response = api.post_event(cid, "PhaseStarted", {"name": "Scale"}, {"If-Match": '"1"'})

    assert_problem(response, 412)
    assert value(api.client, "ledger_conflicts_total", reason="version-mismatch") - before == 1


def test_requests_are_counted_and_timed_by_route_never_by_path(api: LedgerApi) -> None:
    cid = api.found_id()
    labels = {"route": EVENTS_ROUTE, "method": "GET"}
    before = value(api.client, "ledger_http_requests_total", status="200", **labels)
    timed = value(api.client, "ledger_http_request_duration_seconds_count", **labels)

    api.events(cid)

    samples = scrape(api.client)
    ok = [v for have, v in samples["ledger_http_requests_total"]
          if have == {**labels, "status": "200"}]  # fmt: skip
    assert ok == [before + 1]
    assert value(api.client, "ledger_http_request_duration_seconds_count", **labels) == timed + 1
    label_values = {v for series in samples.values() for have, _ in series for v in have.values()}
    assert not any(cid in v for v in label_values)


def test_requests_no_route_matched_share_one_label(client: FlaskClient) -> None:
    before = value(client, "ledger_http_requests_total", route="unmatched", status="404")

    assert client.get("/no/such/place/for/alice").status_code == 404

    assert (
        value(client, "ledger_http_requests_total", route="unmatched", status="404") == before + 1
    )
    assert "alice" not in client.get("/metrics").text


def test_projection_lag_counts_agreement_events_the_register_has_yet_to_process(
    api: LedgerApi,
) -> None:
    partner_and_agreement(api, api.found_id())
    assert value(api.client, "ledger_projection_lag_events") == 1

    assert api.client.get("/agreements", headers=api.auth).status_code == 200  # catches up

    assert value(api.client, "ledger_projection_lag_events") == 0


def test_checkpoint_age_is_absent_without_a_signing_key(client: FlaskClient) -> None:
    assert "ledger_checkpoint_age_seconds" not in scrape(client)


class TestWithASigningKey:
    @pytest.fixture
    def settings(self, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
        key = tmp_path / "ledger.key"
        create_key_files(key)
        return Settings(
            database_url=database_url(backend, tmp_path, request), signing_key_file=str(key)
        )

    def test_checkpoint_age_is_nan_until_the_first_checkpoint(self, api: LedgerApi) -> None:
        api.found_id()

        assert math.isnan(value(api.client, "ledger_checkpoint_age_seconds"))

    def test_checkpoint_age_counts_seconds_since_the_newest(self, api: LedgerApi) -> None:
        api.found_id()
        assert api.client.post("/checkpoints", json={}, headers=api.auth).status_code == 201

        assert 0 <= value(api.client, "ledger_checkpoint_age_seconds") < 60


# The request log


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """The access log's lines, formatted as they are written (inside the request)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ledger.access")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def logged(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_logs_one_json_line_with_route_status_duration_and_actor(
    api: LedgerApi, access_log: io.StringIO
) -> None:
    cid = api.found_id()
    access_log.truncate(0)
    access_log.seek(0)

    api.client.get(f"/collaborations/{cid}", query_string={"version": 1}, headers=api.auth)

    [line] = logged(access_log)
    assert line["route"] == "/collaborations/<collaboration_id>"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["collaboration_id"] == cid
    assert line["actor"] == "tester"
    assert isinstance(line["duration_ms"], float | int)
    assert line["request_id"]


def test_the_log_line_holds_no_token_query_or_body(api: LedgerApi, access_log: io.StringIO) -> None:
    cid = api.found_id()
    member = {"person_id": "p-1", "name": "Annelies Vermeulen"}

    api.record(cid, "MemberJoined", member)
    api.client.get("/agreements", query_string={"party": "secret-party"}, headers=api.auth)

    text = access_log.getvalue()
    assert '"status": 201' in text, "the append was not logged: this test would prove nothing"
    token = api.auth["Authorization"].split()[1]
    for leak in (token, "glt_", "Annelies", "secret-party", "p-1", "Bearer"):
        assert leak not in text


class TestWithATightRateLimit:
    @pytest.fixture
    def settings(self, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
        url = database_url(backend, tmp_path, request)
        return Settings(database_url=url, rate_limit="1 per minute")

    def test_a_request_the_rate_limiter_refuses_is_logged_with_its_request_id(
        self, client: FlaskClient, access_log: io.StringIO
    ) -> None:
        client.get("/collaborations")
        access_log.truncate(0)
        access_log.seek(0)

        response = client.get("/collaborations", headers={"X-Request-Id": "req-metrics-1"})

        assert response.status_code == 429
        [line] = logged(access_log)
        assert line["request_id"] == "req-metrics-1"
        assert line["status"] == 429
        assert line["route"] == "/collaborations"
