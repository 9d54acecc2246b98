"""A small world for the access tests: collaborations A (in scope), B (out of scope) and C (the
scope of the "elsewhere" tokens), a token per role and scope, and ways of being unauthenticated.

Confidential text is marked: what funders must never see starts with "SECRET-", what an event
opened to funders (`shared_with_funders`) holds starts with "SHARED-". Import explicitly:
`from tests.integration.access_fixtures import ...`.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ledger.api import create_app
from ledger.integrity.signing import create_key_files
from ledger.persistence import LedgerStore
from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests.e2e.conftest import free_port, stop, wait_until_healthy
from tests.integration.helpers import (
    UNKNOWN_UUID,
    LedgerApi,
    agreement,
    assignment,
    decision,
    handover,
    mandate,
    member,
    partner,
    reflection,
    role,
)

SECRET = "SECRET-"
SHARED = "SHARED-"
SYSTEM_EVENT_TYPE = "PhaseStarted"  # the one event type the system tokens may post
UNKNOWN_SUBSCRIPTION = "00000000-0000-4000-8000-00000000beef"
HOOK_URL = "http://127.0.0.1:9/hook"  # never called: integration tests run no deliverer


@dataclass(frozen=True)
class Caller:
    """Who calls: a role and the collaborations in its scope ("A", "B", "C"), or no valid token
    at all (role None) with the Authorization header it sends, if any."""

    name: str
    role: str | None
    scope: frozenset[str] = frozenset()
    header: str | None = None

    @property
    def sees_everything(self) -> bool:
        return self.role in ("admin", "auditor")


CALLERS: tuple[Caller, ...] = (
    Caller("admin", "admin"),
    Caller("recorder", "recorder", frozenset({"A"})),
    Caller("funder", "funder", frozenset({"A"})),
    Caller("evaluator", "evaluator", frozenset({"A"})),
    Caller("auditor", "auditor"),
    Caller("system", "system", frozenset({"A"})),
    # Out of scope: tokens of another collaboration see neither A nor B.
    Caller("recorder-elsewhere", "recorder", frozenset({"C"})),
    Caller("funder-elsewhere", "funder", frozenset({"C"})),
    Caller("evaluator-elsewhere", "evaluator", frozenset({"C"})),
    Caller("system-elsewhere", "system", frozenset({"C"})),
    # No valid token.
    Caller("no-token", None),
    Caller("basic-scheme", None, header="Basic YWRtaW46YWRtaW4="),
    Caller("empty-bearer", None, header="Bearer "),
    Caller("invalid-token", None, header="Bearer glt_" + "x" * 43),
    Caller("revoked-token", None),
    Caller("expired-token", None),
)
SCOPED_CALLERS = tuple(c for c in CALLERS if c.role is not None and not c.sees_everything)


@dataclass
class World:
    app: Flask
    client: FlaskClient
    ids: dict[str, str]  # "A", "B", "C" -> collaboration id; "unknown" -> a UUID never used
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # caller name -> headers
    tokens: dict[str, str] = field(default_factory=dict)  # caller name -> secret
    subscriptions: dict[str, str] = field(default_factory=dict)  # "A", "B" -> a subscription id

    @property
    def a(self) -> str:
        return self.ids["A"]

    @property
    def b(self) -> str:
        return self.ids["B"]

    def get(self, caller: str, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, headers=self.headers[caller], **kwargs)

    def token_store(self) -> TokenStore:
        store: TokenStore = self.app.extensions["ledger.tokens"]
        return store


def world_settings(directory: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings with a signing key, so that integrity routes can answer once they exist."""
    key = directory / "keys" / "signing.pem"
    create_key_files(key)
    return Settings(
        database_url=database_url,
        signing_key_file=str(key),
        webhook_allow_private=True,
        log_level="WARNING",
        **overrides,
    )


def record_history(api: LedgerApi, cid: str, label: str) -> None:
    """A governance history whose confidential parts are marked SECRET- and SHARED-."""
    secret, shared = f"{SECRET}{label}-", f"{SHARED}{label}-"
    api.record(cid, "PartnerJoined", partner("school", "funder", "implementing"))
    api.record(cid, "PartnerJoined", partner("city", kind="government"))
    for person, partner_id in (("ann", "school"), ("bob", "city"), ("cleo", None)):
        api.record(cid, "MemberJoined", {**member(person, partner_id), "name": f"{secret}{person}"})
    api.record(cid, "MemberLeft", {"person_id": "cleo", "reason": f"{secret}left"})
    api.record(cid, "RoleDefined", role("chair"))
    api.record(cid, "RoleAssigned", assignment("chair", "ann"))
    api.record(cid, "RoleHandedOver", handover("chair", "ann", "bob"))
    api.record(cid, "MandateGranted", mandate("m1", "person", "ann"))
    api.record(cid, "MandateGranted", mandate("m2", "role", "chair"))
    budget = [{"partner_id": "city", "amount": "10000.00", "currency": "EUR"}]
    api.record(cid, "AgreementMade", agreement("a1", "school", "city", budget_commitments=budget))
    for decision_id, mark, envelope in (("d1", secret, {}), ("d2", shared, {"shared_with_funders": True})):  # fmt: skip
        data = {
            **decision(decision_id, "ann", "bob"),
            "objections": [{"person_id": "ann", "text": f"{mark}objection"}],
            "minority_views": [f"{mark}minority"],
        }
        api.record(cid, "DecisionRecorded", data, **envelope)
    for reflection_id, mark, envelope in (("r1", secret, {}), ("r2", shared, {"shared_with_funders": True})):  # fmt: skip
        data = {
            **reflection(reflection_id, "ann", "bob"),
            "findings": [f"{mark}finding"],
            "actions": [f"{mark}action"],
        }
        api.record(cid, "ReflectionHeld", data, **envelope)
    api.record(cid, "MandateRevoked", {"mandate_id": "m2", "reason": "done"}, cause={"decision_id": "d1"})  # fmt: skip


def build_world(app: Flask) -> World:
    """Collaborations B, A and C (B's events before and after A's, so that a leak of B into a
    page or stream of A cannot hide at its end) and a token for every caller."""
    tokens: TokenStore = app.extensions["ledger.tokens"]
    admin = tokens.create("admin")
    client = app.test_client()
    api = LedgerApi(client, {"Authorization": f"Bearer {admin}"})
    ids = {"B": api.found_id("Samenwerking B"), "unknown": UNKNOWN_UUID}
    api.record(ids["B"], "PhaseStarted", {"name": "B before A"})
    ids["A"] = api.found_id("Samenwerking A")
    record_history(api, ids["A"], "A")
    record_history(api, ids["B"], "B")
    ids["C"] = api.found_id("Samenwerking C")
    api.record(ids["C"], "PhaseStarted", {"name": "C"})
    world = World(app=app, client=client, ids=ids)
    world.tokens["admin"] = admin
    service = app.extensions["ledger.service"]
    if service.settings.signing_key_file:  # so that /checkpoints/latest has one to show
        service.integrity.issue_checkpoint()
    for caller in CALLERS:
        if caller.role is not None and caller.name != "admin":
            world.tokens[caller.name] = tokens.create(
                caller.name,
                caller.role,
                collaborations=sorted(ids[label] for label in caller.scope),
                event_types=[SYSTEM_EVENT_TYPE] if caller.role == "system" else [],
            )
    world.tokens["revoked-token"] = tokens.create("revoked", "recorder", collaborations=[ids["A"]])
    tokens.revoke("revoked")
    world.tokens["expired-token"] = tokens.create("expired", "admin", expires_in_days=1)
    expire(app, "expired")
    for caller in CALLERS:
        if caller.name in world.tokens:
            world.headers[caller.name] = {"Authorization": f"Bearer {world.tokens[caller.name]}"}
        else:
            world.headers[caller.name] = {"Authorization": caller.header} if caller.header else {}
    return world


def subscribe(world: World, collaboration_id: str) -> str:
    """A webhook subscription of a collaboration, as the admin makes it; returns its id."""
    created = world.app.extensions["ledger.webhooks"].subscribe(
        url=HOOK_URL, secret="s" * 32, types=[], collaboration_id=collaboration_id,
        actor="admin", scope=None,
    )  # fmt: skip
    return str(created["id"])


def expire(app: Flask, name: str) -> None:
    """Move a token's expiry into the past, as if its days had gone by."""
    expire_in(app.extensions["ledger.tokens"].store, name)


def expire_in(store: LedgerStore, name: str) -> None:
    with store.writing() as cursor:
        store.run(
            cursor,
            "UPDATE ledger_tokens SET expires_at=? WHERE name=?",
            ("2000-01-01T00:00:00.000000Z", name),
        )


def open_world(directory: Path, database_url: str) -> Iterator[World]:
    app = create_app(world_settings(directory, database_url))
    try:
        yield build_world(app)
    finally:
        app.extensions["ledger.service"].close()


def read_stream(response: TestResponse, events: int) -> list[str]:
    """The first `events` Server-Sent Events of a stream (the stream itself never ends)."""
    chunks: list[str] = []
    try:
        iterator = iter(response.response)
        while sum(chunk.startswith("id:") for chunk in chunks) < events:
            chunk = next(iterator)
            chunks.append(chunk.decode() if isinstance(chunk, bytes) else str(chunk))
    finally:
        response.close()
    return [chunk for chunk in chunks if chunk.startswith("id:")]


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@contextmanager
def serving(env: dict[str, str], directory: Path, workers: int = 2) -> Iterator[str]:
    """`ledger serve` (gunicorn) on a free port with this environment; yields its base URL."""
    port = free_port()
    with (directory / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledger",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            yield url
        finally:
            quit_quickly(process)


def quit_quickly(process: subprocess.Popen[bytes]) -> None:
    """SIGQUIT: gunicorn's quick shutdown, without waiting for idle keep-alive connections."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop(process)
