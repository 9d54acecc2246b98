"""Webhooks end to end: gunicorn serves the API and `ledger webhooks run` delivers; the deliverer
is killed (SIGKILL) mid-way and started again, and the receiver still gets every event, in order,
signed, with at most a repeat of the delivery the kill interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from ledger.cli import main
from tests.e2e.conftest import Server
from tests.integration.test_webhooks_delivery import SECRET, Receiver, check_in_order, report

MAX_ATTEMPTS = 6
WORKER = [sys.executable, "-m", "ledger", "webhooks", "run", "--backoff", "0.05",
          "--backoff-max", "0.2", "--timeout", "1", "--lease", "2", "--poll", "0.05",
          "--max-attempts", str(MAX_ATTEMPTS)]  # fmt: skip
EVENTS = 20


@pytest.fixture(scope="module", autouse=True)
def private_targets_allowed() -> Iterator[None]:
    """The module's gunicorn and deliverers may deliver to the loopback receivers."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEDGER_WEBHOOK_ALLOW_PRIVATE", "y")
        yield


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def start_worker(server: Server, log: Path, *options: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*WORKER, *options], env=server.env, stdout=out, stderr=out)


def call(server: Server, method: str, path: str, **body: Any) -> dict[str, Any]:
    response = requests.request(
        method, f"{server.url}{path}", json=body or None, headers=server.auth, timeout=10
    )
    assert response.status_code in (200, 201), response.text
    found: dict[str, Any] = response.json()
    return found


def post_partners(server: Server, cid: str, names: range) -> list[int]:
    return [
        call(server, "POST", f"/collaborations/{cid}/events", type="PartnerJoined",
             data={"partner_id": f"p{n}", "name": f"P{n}", "kind": "school",
                   "capacities": ["participant"]})["position"]
        for n in names
    ]  # fmt: skip


def test_a_killed_deliverer_resumes_and_every_event_arrives_in_order(
    server: Server,
    backend: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "deliverer.log"
    with Receiver(fail_first=3, delay=0.02) as receiver, Receiver(always_fail=True) as broken:
        good = call(server, "POST", "/subscriptions", url=receiver.url, secret=SECRET)
        dead = call(server, "POST", "/subscriptions", url=broken.url, secret=SECRET)
        founded = call(server, "POST", "/collaborations", name="Webhooks", mission="Deliver")
        cid = founded["collaboration_id"]
        expected = [founded["position"], *post_partners(server, cid, range(EVENTS))]

        first = start_worker(server, log)
        wait_for(lambda: len(receiver.accepted()) >= 8, 30, "8 deliveries")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        delivered_before_kill = len(receiver.accepted())
        receiver.mark()
        second = start_worker(server, log)
        try:
            wait_for(lambda: [int(d.event["id"]) for d in receiver.accepted()][-1:]
                     == expected[-1:], 30, "the last event")  # fmt: skip
            wait_for(
                lambda: (
                    call(server, "GET", f"/subscriptions/{dead['id']}")["state"] == "dead_lettered"
                ),
                30,
                "the dead letter",
            )
        finally:
            os.kill(second.pid, signal.SIGTERM)
            assert second.wait(timeout=15) == 0, log.read_text()

        # Events stored while no deliverer runs are delivered by the next one: `--once`.
        expected += post_partners(server, cid, range(EVENTS, EVENTS + 3))
        once = subprocess.run([*WORKER, "--once"], env=server.env, capture_output=True, timeout=60)
        assert once.returncode == 0, once.stderr

    repeats = check_in_order(receiver, expected)
    assert repeats <= 1
    shown = call(server, "GET", f"/subscriptions/{good['id']}")
    assert (shown["state"], shown["position"], shown["attempts"]) == ("active", expected[-1], 0)
    assert shown["delivered"] == len(expected)  # a repeat's first success was never stored
    dead_shown = call(server, "GET", f"/subscriptions/{dead['id']}")
    assert (dead_shown["attempts"], dead_shown["failing_position"]) == (MAX_ATTEMPTS, expected[0])
    assert dead_shown["last_error"].startswith("HTTP 500")
    assert len(broken.deliveries) >= MAX_ATTEMPTS  # one more if the kill cut an attempt short
    assert SECRET not in log.read_text()
    cli = CliRunner()
    assert cli.invoke(main, ["webhooks", "retry", dead["id"]], env=server.env).exit_code == 0
    listing = cli.invoke(main, ["webhooks", "list"], env=server.env)
    listed = [json.loads(line) for line in listing.stdout.splitlines()]
    assert {item["id"]: (item["state"], item["attempts"]) for item in listed} == {
        good["id"]: ("active", 0),
        dead["id"]: ("active", 0),
    }
    assert all("secret" not in item for item in listed)
    report(capsys, f"killed and restarted deliverer [{backend}]",
           delivered=len(receiver.accepted()), duplicates=repeats, retries=receiver.retries(),
           dead_lettered=1, dead_letter_attempts=len(broken.deliveries),
           delivered_before_kill=delivered_before_kill)  # fmt: skip
