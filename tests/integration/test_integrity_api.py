"""The integrity API: receipts on every 201, proofs that verify, signed checkpoints, the key,
and verification of the live log — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from flask.testing import FlaskClient

from ledger.integrity import merkle
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.signing import PublicKey, create_key_files
from ledger.settings import Settings
from ledger.tokens import TokenStore
from tests.conftest import database_url
from tests.integration.helpers import LedgerApi, assert_problem

INTERVAL = 5


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    key = tmp_path / "ledger.key"
    create_key_files(key)
    return Settings(
        database_url=database_url(backend, tmp_path, request),
        signing_key_file=str(key),
        checkpoint_interval=INTERVAL,
    )


def grow(api: LedgerApi, events: int) -> str:
    """A collaboration whose stream holds `events` events."""
    cid = api.found_id()
    for i in range(events - 1):
        api.record(cid, "MissionRevised", {"mission": f"Missie {i}"})
    return cid


def get(api: LedgerApi, path: str, **query: Any) -> dict[str, Any]:
    response = api.client.get(path, query_string=query, headers=api.auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


def public_key(api: LedgerApi) -> PublicKey:
    (key,) = get(api, "/keys")["keys"]
    return PublicKey(Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])))


def test_every_201_carries_a_receipt_of_position_and_hash(api: LedgerApi) -> None:
    founded = api.found()
    cid = founded.get_json()["collaboration_id"]
    recorded = api.record(cid, "PhaseStarted", {"name": "Pilot"})

    for body in (founded.get_json(), recorded):
        assert set(body["receipt"]) == {"position", "hash"}
        assert body["receipt"]["position"] == body["position"]
        proof = get(api, "/proofs/inclusion", position=body["position"])
        assert body["receipt"]["hash"] == proof["record_hash"]


def test_the_receipt_is_documented_in_the_stored_event_schema(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]

    assert "receipt" in schemas["StoredEvent"]["properties"]


def test_an_inclusion_proof_verifies_against_the_tree_head(api: LedgerApi) -> None:
    grow(api, 7)

    for position in range(1, 8):
        proof = get(api, "/proofs/inclusion", position=position)
        assert merkle.verify_inclusion(
            proof["leaf_index"],
            proof["tree_size"],
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(h) for h in proof["audit_path"]],
            bytes.fromhex(proof["root"]),
        ), position


def test_an_inclusion_proof_at_a_checkpoint_comes_with_it(api: LedgerApi) -> None:
    grow(api, INTERVAL + 2)

    proof = get(api, "/proofs/inclusion", position=3, tree_size=INTERVAL)
    checkpoint = Checkpoint.from_dict(proof["checkpoint"])

    assert checkpoint.is_signed_by(public_key(api))
    assert checkpoint.root.hex() == proof["root"]
    assert merkle.verify_inclusion(
        2,
        INTERVAL,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        checkpoint.root,
    )


def test_a_consistency_proof_links_two_signed_checkpoints(api: LedgerApi) -> None:
    grow(api, 2 * INTERVAL + 1)
    first, second = (Checkpoint.from_dict(c) for c in get(api, "/checkpoints")["items"])

    proof = get(api, "/proofs/consistency", **{"from": first.tree_size, "to": second.tree_size})

    assert merkle.verify_consistency(
        first.tree_size,
        second.tree_size,
        first.root,
        second.root,
        [bytes.fromhex(h) for h in proof["proof"]],
    )
    assert proof["from_root"] == first.root.hex()
    assert proof["to_checkpoint"]["hash"] == second.hash


def test_checkpoints_are_issued_every_interval_and_signed_by_the_published_key(
    api: LedgerApi,
) -> None:
    grow(api, 2 * INTERVAL + 3)
    key = public_key(api)

    items = [Checkpoint.from_dict(c) for c in get(api, "/checkpoints")["items"]]
    latest = Checkpoint.from_dict(get(api, "/checkpoints/latest"))

    assert [c.tree_size for c in items] == [INTERVAL, 2 * INTERVAL]
    assert all(c.is_signed_by(key) for c in items)
    assert latest == items[-1]
    assert items[1].previous == items[0].hash


def test_checkpoints_page_after_a_tree_size(api: LedgerApi) -> None:
    grow(api, 3 * INTERVAL)

    page = get(api, "/checkpoints", after=INTERVAL, limit=1)

    assert [c["body"]["tree_size"] for c in page["items"]] == [2 * INTERVAL]
    assert page["next_after"] == 2 * INTERVAL


def test_an_admin_issues_a_checkpoint_on_demand_once(api: LedgerApi) -> None:
    grow(api, 3)

    first = api.client.post("/checkpoints", json={}, headers=api.auth)
    again = api.client.post("/checkpoints", json={}, headers=api.auth)

    assert first.status_code == 201
    assert again.status_code == 200
    assert first.get_json() == again.get_json()
    assert first.get_json()["body"]["tree_size"] == 3


def test_an_auditor_may_verify_but_not_issue_checkpoints(api: LedgerApi, app: Flask) -> None:
    grow(api, 2)
    tokens: TokenStore = app.extensions["ledger.tokens"]
    auditor = {"Authorization": f"Bearer {tokens.create('auditor-1', 'auditor')}"}

    assert api.client.get("/verify", headers=auditor).status_code == 200
    assert_problem(api.client.post("/checkpoints", json={}, headers=auditor), 403)


def test_the_live_log_verifies_clean(api: LedgerApi) -> None:
    grow(api, 2 * INTERVAL + 2)

    report = get(api, "/verify")

    assert report["ok"] is True
    assert report["counts"]["manipulation"] == 0
    assert report["checked"] == {"events": 12, "records": 12, "checkpoints": 2}
    assert report["basis"]["tree_size"] == 12


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/proofs/inclusion", {"position": 99}, 404),
        ("/proofs/inclusion", {"position": 2, "tree_size": 99}, 422),
        ("/proofs/inclusion", {"position": 3, "tree_size": 2}, 422),
        ("/proofs/inclusion", {}, 400),
        ("/proofs/consistency", {"from": 3, "to": 2}, 422),
        ("/proofs/consistency", {"from": 0}, 400),
    ],
)
def test_impossible_proof_requests_are_problems_that_say_why(
    api: LedgerApi, path: str, query: dict[str, Any], status: int
) -> None:
    grow(api, 3)

    problem = assert_problem(api.client.get(path, query_string=query, headers=api.auth), status)

    assert problem["detail"]


class TestWithoutASigningKey:
    @pytest.fixture
    def settings(self, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
        return Settings(database_url=database_url(backend, tmp_path, request))

    def test_events_are_recorded_with_receipts(self, api: LedgerApi) -> None:
        cid = api.found_id()

        assert api.record(cid, "PhaseStarted", {"name": "Pilot"})["receipt"]["position"] == 2

    def test_issuing_a_checkpoint_says_a_key_is_needed(self, api: LedgerApi) -> None:
        api.found_id()

        problem = assert_problem(api.client.post("/checkpoints", json={}, headers=api.auth), 503)

        assert "LEDGER_SIGNING_KEY_FILE" in problem["detail"]
        assert problem["type"].endswith("/no-signing-key")

    @pytest.mark.parametrize(("path", "status"), [("/keys", 503), ("/checkpoints/latest", 404)])
    def test_reading_the_key_or_checkpoints_says_why_there_are_none(
        self, api: LedgerApi, path: str, status: int
    ) -> None:
        problem = assert_problem(api.client.get(path, headers=api.auth), status)

        assert "LEDGER_SIGNING_KEY_FILE" in problem["detail"]

    def test_verification_notes_that_nothing_is_signed(self, api: LedgerApi) -> None:
        api.found_id()

        report = get(api, "/verify")

        assert report["ok"] is True
        assert "no-signing-key" in {f["check"] for f in report["findings"]}
