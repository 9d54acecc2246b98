"""Schemathesis against a real gunicorn on each backend, driven by the app's own /openapi.json: every
stateless check (examples, coverage and fuzzing phases) with an admin token, bounded to a few
examples per operation; then generated requests of a recorder of collaboration A to the routes
of collaboration B, which must all be 404."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger.demo import seed_demo
from ledger.integrity.signing import create_key_files
from ledger.service import LedgerService
from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests.conftest import IN_CI, database_url
from tests.integration.access_fixtures import serving

try:
    import schemathesis
except ImportError:  # a dev dependency (pyproject.toml); CI must run this test
    if IN_CI:
        raise
    pytest.skip("schemathesis is not installed (pip install -e '.[dev]')", allow_module_level=True)
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings

MAX_EXAMPLES = 3
SEED = 20250301
# Left out of the run: the stream never ends by design (it is tested in tests/integration), and
# revoking tokens at random would revoke the very token the run uses (tested in test_access_*).
EXCLUDED_PATHS = ("/feed/stream", "/tokens/{name}")
REJECTED_POSITIVE_DATA = "RejectedPositiveData"  # ST202, the positive_data_acceptance check
# schemathesis's default statuses for a request the document calls valid, or invalid.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
# A body over LEDGER_MAX_BODY_BYTES is refused whole, before its fields are read.
REJECTED_TOO = ["413"]
# Answers to valid requests that depend on the ledger's state or on the network, which OpenAPI
# cannot state (checked by hand): per operation, each status accepted besides ACCEPTED, and why.
# What the document can describe but not require (a fresh Idempotency-Key, a CloudEvent's
# subject, known_at only where it applies) is made so in the requests instead, by HOOKS.
RULES_THE_SPEC_CANNOT_STATE: dict[str, dict[int, str]] = {
    "GET /collaborations/{collaboration_id}": {422: "a version beyond the stream"},
    "GET /proofs/inclusion": {422: "a position or tree_size beyond the current tree"},
    "GET /proofs/consistency": {422: "a tree size beyond the current tree"},
    "POST /collaborations/{collaboration_id}/events": {
        412: "If-Match names a version the stream is no longer at",
    },
    "POST /subscriptions": {422: "the url's host must resolve, now, to public addresses only"},
}
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# The coverage phase walks the data of every event type in three media types: about two
# minutes on SQLite and three on PostgreSQL here.
RUN_SECONDS = 420


@dataclass(frozen=True)
class Target:
    url: str
    a: str
    b: str
    admin: str
    recorder: str
    directory: Path

    @property
    def schema_url(self) -> str:
        return f"{self.url}/openapi.json"


@pytest.fixture(scope="module")
def target(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Target]:
    directory: Path = tmp_path_factory.mktemp("schemathesis")
    key = directory / "keys" / "signing.pem"
    create_key_files(key)
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database_url(backend, directory, request),
        "LEDGER_LOG_LEVEL": "WARNING",
        "LEDGER_RATE_LIMIT": "off",  # a fuzzer is not a client to throttle
        "LEDGER_SIGNING_KEY_FILE": str(key),
    }
    service = LedgerService(Settings.from_env(env))
    try:
        a, b = seed_demo(service), seed_demo(service)
        tokens = TokenStore(service.store)
        admin = tokens.create("schemathesis")
        recorder = tokens.create("recorder-of-a", "recorder", collaborations=[a])
    finally:
        service.close()
    with serving(env, directory) as url:
        yield Target(url, a, b, admin, recorder, directory)


@pytest.fixture(scope="module")
def report(target: Target) -> dict[str, Any]:
    """One bounded run of every stateless check; its JSON report."""
    config = target.directory / "schemathesis.toml"
    config.write_text(configuration(target))
    path = target.directory / "report.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
        target.schema_url, "--header", f"Authorization: Bearer {target.admin}",
        "--checks", "all", "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--continue-on-failure",
        "--request-timeout", "10", "--no-shrink", "--output-truncate", "false",
        *[arg for p in EXCLUDED_PATHS for arg in ("--exclude-path", p)],
        "--report", "json", "--report-json-path", str(path),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=target.directory, capture_output=True, text=True,
                         timeout=RUN_SECONDS, env={**os.environ, "NO_COLOR": "1",
                                           "SCHEMATHESIS_HOOKS": str(HOOKS)})  # fmt: skip
    assert path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    found: dict[str, Any] = json.loads(path.read_text())
    found["output"] = run.stdout
    return found


def configuration(target: Target) -> str:
    """schemathesis.toml: real ids, so that the checks reach the ledger's logic rather than its
    404s, and the statuses the checks accept besides their defaults."""
    lines = [
        "[parameters]",
        f'"path.collaboration_id" = "{target.a}"',
        '"path.role_id" = "coordinator"',
        "[checks.negative_data_rejection]",
        f"expected-statuses = {json.dumps(REJECTED + REJECTED_TOO)}",
    ]
    for operation, rules in RULES_THE_SPEC_CANNOT_STATE.items():
        accepted = ACCEPTED + [str(status) for status in rules]
        lines += ["[[operations]]", f"include-name = {json.dumps(operation)}",
                  f"checks.positive_data_acceptance.expected-statuses = {json.dumps(accepted)}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def failures(report: dict[str, Any], *, rejected_positive_data: bool) -> list[dict[str, Any]]:
    return [
        f for f in report["failures"]
        if (f["type"] == REJECTED_POSITIVE_DATA) == rejected_positive_data
    ]  # fmt: skip


def summary(found: list[dict[str, Any]]) -> str:
    return "\n".join(f"{f['code']} {f['title']}: {f['operations']}" for f in found)


@pytest.mark.timeout(RUN_SECONDS + 60)
def test_schemathesis_finds_no_failure_with_any_stateless_check(report: dict[str, Any]) -> None:
    cases = report["test_cases"]
    others = failures(report, rejected_positive_data=False)
    print(f"\nschemathesis: {cases['generated']} cases generated over "
          f"{report['operations']['tested']} operations, {cases['with_failures']} with failures "
          f"({len(others)} kinds of failure besides ST202)")  # fmt: skip
    assert report["complete"], report["stop_reason"]
    assert report["operations"]["tested"] >= 25
    assert report["operations"]["errored"] == 0, report["output"][-5000:]
    assert cases["generated"] >= 500
    assert not report["errors"], report["errors"]
    assert not others, summary(others) + "\n" + report["output"][-8000:]


@pytest.mark.timeout(RUN_SECONDS + 60)
def test_schemathesis_accepts_every_request_the_spec_calls_valid(report: dict[str, Any]) -> None:
    rejected = failures(report, rejected_positive_data=True)
    assert not rejected, summary(rejected) + "\n" + report["output"][-8000:]


PROBE_SETTINGS = hypothesis_settings(
    max_examples=10,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def operations_of_a_collaboration(target: Target) -> list[Any]:
    schema = schemathesis.openapi.from_url(target.schema_url)
    found = []
    for result in schema.get_all_operations():
        operation: Any = result.ok()  # type: ignore[union-attr]  # an Err would fail the test
        if "{collaboration_id}" in operation.path:
            found.append(operation)
    return found


@pytest.mark.timeout(300)
def test_a_recorder_of_a_gets_404_for_every_generated_request_to_b(target: Target) -> None:
    operations = operations_of_a_collaboration(target)
    assert len(operations) >= 8
    headers = {"Authorization": f"Bearer {target.recorder}"}
    answers: list[tuple[str, int]] = []

    def probe(operation: Any) -> None:
        strategy = operation.as_strategy(path_parameters={"collaboration_id": target.b})

        @given(case=strategy)
        @PROBE_SETTINGS
        def call(case: Any) -> None:
            response = case.call(base_url=target.url, session=session, headers=headers,
                                 timeout=10)  # fmt: skip
            answers.append((f"{case.method} {case.formatted_path}", response.status_code))
            # The 404 names the id it was asked about, and nothing else of B.
            assert target.b not in response.text.replace(f"'{target.b}'", "")

        call()

    with requests.Session() as session:  # closed after, so gunicorn stops without waiting
        for operation in operations:
            probe(operation)
    wrong = [answer for answer in answers if answer[1] != 404]
    print(f"\ncross-tenant: {len(answers)} generated requests to B, {len(wrong)} not 404")
    assert answers and not wrong, wrong[:20]
    # And the same token reaches its own collaboration: the 404s are about scope.
    own = requests.get(f"{target.url}/collaborations/{target.a}", headers=headers, timeout=10)
    assert own.status_code == 200
