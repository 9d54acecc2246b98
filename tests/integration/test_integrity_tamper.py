"""The tamper suite: raw SQL edits of a real ledger database (a SQLite file; PostgreSQL), each
caught at its exact position by `GET /verify` and by verifying a bundle exported after it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import rfc8785

from ledger.integrity import merkle
from ledger.integrity.bundle import verify_bundle
from ledger.integrity.export import export_bundle
from ledger.integrity.report import Report
from ledger.integrity.signing import create_key_files, load_public_key
from ledger.service import LedgerService
from ledger.settings import Settings
from tests.conftest import database_url
from tests.integration.helpers import LedgerApi

INTERVAL = 10
ENVELOPE = {"actor": "importer"}
EVENTS = 42  # two collaborations of 21 events; checkpoints at 10, 20, 30 and 40


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    key = tmp_path / "ledger.key"
    create_key_files(key)
    return Settings(
        database_url=database_url(backend, tmp_path, request),
        signing_key_file=str(key),
        checkpoint_interval=INTERVAL,
    )


class RawDatabase:
    """The ledger's database as a forger sees it: tables and bytes, through plain SQL."""

    def __init__(self, settings: Settings) -> None:
        url = settings.database_url
        self.sqlite = url.startswith("sqlite:///")
        self.connection: Any = (
            sqlite3.connect(url.removeprefix("sqlite:///"))
            if self.sqlite
            else psycopg.connect(url, autocommit=True)
        )
        self.events, self.id = (
            ("stored_events", "rowid") if self.sqlite else ("ledger_events", "notification_id")
        )

    def run(self, statement: str, *params: Any) -> list[Any]:
        statement = statement.replace("{events}", self.events).replace("{id}", self.id)
        if not self.sqlite:
            statement = statement.replace("?", "%s")
        cursor = self.connection.execute(statement, params)
        rows = cursor.fetchall() if cursor.description else []
        if self.sqlite:
            self.connection.commit()
        return list(rows)

    def close(self) -> None:
        self.connection.close()

    def storage_id(self, position: int) -> int:
        return int(
            self.run("SELECT notification_id FROM ledger_event_index WHERE position=?", position)[
                0
            ][0]
        )

    def state(self, position: int) -> dict[str, Any]:
        (state,) = self.run("SELECT state FROM {events} WHERE {id}=?", self.storage_id(position))[0]
        return dict(json.loads(bytes(state)))

    def set_state(self, position: int, state: dict[str, Any]) -> None:
        raw = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
        self.run("UPDATE {events} SET state=? WHERE {id}=?", raw, self.storage_id(position))

    def edit_event(self, position: int, change: Callable[[dict[str, Any]], None]) -> None:
        state = self.state(position)
        change(state)
        self.set_state(position, state)

    def delete(self, position: int, *, index: bool, record: bool, leaf: bool = False) -> None:
        leaf_index = self.run(
            "SELECT leaf_index FROM ledger_integrity_records WHERE position=?", position
        )[0][0]
        self.run("DELETE FROM {events} WHERE {id}=?", self.storage_id(position))
        if index:
            self.run("DELETE FROM ledger_event_index WHERE position=?", position)
        if record:
            self.run("DELETE FROM ledger_integrity_records WHERE position=?", position)
        if leaf:
            self.run("DELETE FROM ledger_merkle_nodes WHERE level=0 AND idx=?", leaf_index)

    def swap(self, first: int, second: int) -> None:
        columns = "originator_id, originator_version, topic, state"
        a, b = self.storage_id(first), self.storage_id(second)
        row_a = self.run(f"SELECT {columns} FROM {{events}} WHERE {{id}}=?", a)[0]
        row_b = self.run(f"SELECT {columns} FROM {{events}} WHERE {{id}}=?", b)[0]
        self.run("UPDATE {events} SET originator_version=-1 WHERE {id}=?", a)
        self.run("UPDATE {events} SET originator_version=-2 WHERE {id}=?", b)
        assign = "originator_id=?, originator_version=?, topic=?, state=?"
        self.run(f"UPDATE {{events}} SET {assign} WHERE {{id}}=?", *row_b, a)
        self.run(f"UPDATE {{events}} SET {assign} WHERE {{id}}=?", *row_a, b)

    def rechain(self, start: int, *, tree: bool) -> None:
        """Recompute the record at `start` from its (edited) event, and every later hash."""
        data = self.state(start)["data"]
        rows = self.run("SELECT position, record FROM ledger_integrity_records ORDER BY position")
        previous = None
        for position, text in rows:
            if position >= start:
                record = json.loads(text)
                if position == start:
                    record["data_hash"] = hashlib.sha256(rfc8785.dumps(data)).hexdigest()
                record["previous_hash"] = previous
                text = rfc8785.dumps(record).decode()
                digest = hashlib.sha256(text.encode()).hexdigest()
                self.run(
                    "UPDATE ledger_integrity_records SET record=?, hash=? WHERE position=?",
                    text,
                    digest,
                    position,
                )
            previous = hashlib.sha256(text.encode()).hexdigest()
        if tree:
            self.rebuild_tree()

    def rebuild_tree(self) -> None:
        hashes = self.run("SELECT hash FROM ledger_integrity_records ORDER BY leaf_index")
        levels = merkle.Levels([merkle.leaf_hash(bytes.fromhex(h)) for (h,) in hashes])
        for level, nodes in enumerate(levels.levels):
            for index, node in enumerate(nodes):
                self.run(
                    "UPDATE ledger_merkle_nodes SET hash=? WHERE level=? AND idx=?",
                    node.hex(),
                    level,
                    index,
                )


@pytest.fixture
def ledger(app: Any, api: LedgerApi) -> LedgerService:
    """42 events in two collaborations, checkpointed every 10."""
    service: LedgerService = app.extensions["ledger.service"]
    for name in ("Noord", "Zuid"):
        cid = service.found_collaboration({"name": name, "mission": "Lezen"}, ENVELOPE)
        items = [
            ("MissionRevised", {"mission": f"{name} {i}"}, {**ENVELOPE, "note": f"n{i}"})
            for i in range(EVENTS // 2 - 1)
        ]
        service.import_events(cid.collaboration_id, items)
    return service


@pytest.fixture
def raw(settings: Settings, ledger: LedgerService) -> Iterator[RawDatabase]:
    database = RawDatabase(settings)
    yield database
    database.close()


def live_report(api: LedgerApi) -> dict[str, Any]:
    response = api.client.get("/verify", headers=api.auth)
    assert response.status_code == 200
    return dict(response.get_json())


def bundle_report(ledger: LedgerService, settings: Settings, directory: Path) -> Report:
    export_bundle(ledger.integrity, directory)
    key = Path(str(settings.signing_key_file) + ".pub")
    return verify_bundle(directory, load_public_key(key))


def test_a_clean_ledger_has_no_findings_but_its_unsigned_tail(
    api: LedgerApi, ledger: LedgerService, settings: Settings, tmp_path: Path
) -> None:
    live = live_report(api)
    bundle = bundle_report(ledger, settings, tmp_path / "bundle")

    assert live["ok"] and live["manipulated_at"] == []
    assert [f["check"] for f in live["findings"]] == ["not-checkpointed"]
    assert bundle.ok and bundle.findings == []


TAMPERS: dict[str, tuple[Callable[[RawDatabase], None], list[int]]] = {
    "event data changed": (
        lambda db: db.edit_event(17, lambda s: s["data"].update(mission="vervalst")),
        [17],
    ),
    "envelope field changed": (
        lambda db: db.edit_event(18, lambda s: s["envelope"].update(note="anders")),
        [18],
    ),
    "effective_at changed": (
        lambda db: db.edit_event(
            19, lambda s: s["envelope"].update(effective_at="2020-01-01T00:00:00.000000Z")
        ),
        [19],
    ),
    "event deleted in the middle": (
        lambda db: db.delete(20, index=False, record=False),
        [20],
    ),
    "event deleted with its index row and record": (
        lambda db: db.delete(21, index=True, record=True),
        [21],
    ),
    "tail deleted inside a checkpointed range": (
        lambda db: [db.delete(p, index=True, record=True, leaf=True) for p in range(37, 43)],
        [37],
    ),
    "two events swapped": (lambda db: db.swap(5, 30), [5, 30]),
    "event rewritten and every later hash recomputed": (
        lambda db: (
            db.edit_event(12, lambda s: s["data"].update(mission="vervalst")),
            db.rechain(12, tree=False),
        ),
        [12],
    ),
}


@pytest.mark.parametrize("tamper", TAMPERS, ids=list(TAMPERS))
def test_a_tamper_is_caught_at_its_exact_position(
    api: LedgerApi,
    ledger: LedgerService,
    settings: Settings,
    raw: RawDatabase,
    tmp_path: Path,
    tamper: str,
) -> None:
    change, positions = TAMPERS[tamper]
    change(raw)

    live = live_report(api)
    bundle = bundle_report(ledger, settings, tmp_path / "bundle")

    assert live["ok"] is False
    assert live["manipulated_at"] == positions, live["findings"]
    assert not bundle.ok
    assert bundle.manipulated_at() == positions, bundle.text()


def test_an_index_row_out_of_step_with_its_event_is_caught(
    api: LedgerApi, raw: RawDatabase
) -> None:
    raw.run(
        "UPDATE ledger_event_index SET recorded_at=? WHERE position=?",
        "2020-01-01T00:00:00.000000Z",
        23,
    )

    live = live_report(api)

    assert live["manipulated_at"] == [23]
    assert {f["check"] for f in live["findings"] if f["kind"] == "manipulation"} == {
        "index-differs"
    }


def test_a_rewrite_with_the_stored_tree_rebuilt_is_caught_within_its_signed_range(
    api: LedgerApi, ledger: LedgerService, settings: Settings, raw: RawDatabase, tmp_path: Path
) -> None:
    raw.edit_event(12, lambda s: s["data"].update(mission="vervalst"))
    raw.rechain(12, tree=True)

    live = live_report(api)
    bundle = bundle_report(ledger, settings, tmp_path / "bundle")

    (finding,) = [f for f in live["findings"] if f["kind"] == "manipulation"]
    assert (finding["check"], finding["position"], finding["through"]) == ("tree-mismatch", 11, 20)
    assert [(f.position, f.through) for f in bundle.of_kind("manipulation")] == [(11, 20)]


def test_deleted_positions_are_listed_as_gaps(
    api: LedgerApi, ledger: LedgerService, settings: Settings, raw: RawDatabase, tmp_path: Path
) -> None:
    raw.delete(8, index=True, record=True)
    for position in (38, 39, 40):
        raw.delete(position, index=True, record=True, leaf=True)

    live = live_report(api)
    bundle = bundle_report(ledger, settings, tmp_path / "bundle")

    assert live["gaps"] == [{"from": 8, "through": 8}, {"from": 38, "through": 40}]
    assert bundle.gaps == [(8, 8), (38, 40)]
